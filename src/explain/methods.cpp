#include "explain/methods.h"

#include "core/error.h"
#include "explain/explain.h"
#include "model/predict.h"

namespace cnnlens {

const std::vector<MethodInfo>& methods() {
    static const std::vector<MethodInfo> table = {
        // id                      name              label                about
        {Method::GradCam, "gradcam", "Grad-CAM",
         "channels weighted by their mean gradient (Selvaraju et al. 2017)", true, false, false, true},
        {Method::GradCamPP, "gradcampp", "Grad-CAM++",
         "channels weighted by positive gradients with pixel-wise coefficients (Chattopadhay et al. 2018)", true, false,
         false, true},
        {Method::LayerCam, "layercam", "LayerCAM",
         "every position weighted by its own positive gradient (Jiang et al. 2021): sharp at early layers", true, false,
         false, true},
        {Method::Cam, "cam", "CAM",
         "the classifier's weights over the last feature map (Zhou et al. 2016): gap heads only", true, true, true, true},
        {Method::Counterfactual, "counterfactual", "Counterfactual",
         "Grad-CAM of the negative gradient: what speaks against the class", true, false, false, true},
        {Method::Saliency, "saliency", "Saliency",
         "the gradient of the class score with respect to the input pixels (Simonyan et al. 2014)", false, false, false,
         false},
        {Method::GuidedBackprop, "guided_backprop", "Guided backprop",
         "the input gradient with only positive gradients through every ReLU (Springenberg et al. 2015)", false, false,
         false, false},
        {Method::GuidedGradCam, "guided_gradcam", "Guided Grad-CAM",
         "guided backprop times the upsampled Grad-CAM map (Selvaraju et al. 2017)", false, false, false, false},
    };
    return table;
}

const MethodInfo& method_info(Method m) {
    for (const MethodInfo& i : methods())
        if (i.id == m) return i;
    CNN_ASSERT(false);
}

const MethodInfo* method_find(const std::string& name) {
    for (const MethodInfo& i : methods())
        if (name == i.name) return &i;
    return nullptr;
}

std::string method_names(bool menu_only) {
    std::string s;
    for (const MethodInfo& i : methods())
        if (!menu_only || i.in_menu) s += (s.empty() ? "" : ", ") + std::string(i.name);
    return s;
}

std::string method_unavailable(const MethodInfo& m, const Vgg& net, const LayerInfo* layer) {
    if (m.gap_only && net.arch().head != Head::Gap)
        return strformat("%s needs a model with a gap head (global average pooling); this one has an fc head", m.label);
    if (m.head_input_only && layer && layer != &net.head_input())
        return strformat("%s exists only at the layer the head reads (%s)", m.label, net.head_input().name.c_str());
    if (layer && layer->kind != LayerInfo::Conv) return strformat("'%s' is not a conv layer", layer->name.c_str());
    return "";
}

ExplainResult explain(Vgg& net, const ExplainRequest& req) {
    const MethodInfo& m = method_info(req.method);
    ExplainResult r;
    r.method = req.method;
    r.cls = req.cls >= 0 ? req.cls : top_k(net.logits(), net.num_classes(), 1)[0].index;
    if (r.cls >= net.num_classes()) fail("class %d is out of range (0..%d)", r.cls, net.num_classes() - 1);
    const LayerInfo& l = req.layer ? *req.layer : m.head_input_only ? net.head_input() : net.last_conv();
    const std::string why = method_unavailable(m, net, &l);
    if (!why.empty()) fail("%s", why.c_str());
    if (m.at_layer || req.method == Method::GuidedGradCam) r.layer = &l;

    const VggArch& a = net.arch();
    const int S = a.input_size, C = a.in_channels;
    if (!m.at_layer) {
        r.h = r.w = S, r.c = C;
        r.map.resize((size_t)S * S * C);
        if (req.method == Method::GuidedGradCam) {
            std::vector<float> cam_map((size_t)l.h * l.w);
            net.backward(r.cls, false, l.name);
            gradcam(net.act(l), net.grad(l), l.h, l.w, l.c, cam_map.data(), nullptr);
            net.backward(r.cls, true);
            guided_gradcam(cam_map.data(), l.h, l.w, net.input_grad(), S, S, C, r.map.data());
        } else {
            net.backward(r.cls, req.method == Method::GuidedBackprop);
            r.map.assign(net.input_grad(), net.input_grad() + r.map.size());
        }
        return r;
    }

    r.h = l.h, r.w = l.w;
    r.map.assign((size_t)l.h * l.w, 0.0f);
    r.weights.assign((size_t)l.c, 0.0f);
    const float* A = net.act(l);
    if (req.method == Method::Cam) {   // from the forward pass alone
        const float* row = net.dense().back().w.data() + (size_t)r.cls * l.c;
        cam(A, l.h, l.w, l.c, row, r.map.data());
        r.weights.assign(row, row + l.c);
        return r;
    }
    net.backward(r.cls, false, l.name);
    const float* G = net.grad(l);
    switch (req.method) {
        case Method::GradCam: gradcam(A, G, l.h, l.w, l.c, r.map.data(), r.weights.data()); break;
        case Method::Counterfactual: gradcam(A, G, l.h, l.w, l.c, r.map.data(), r.weights.data(), true); break;
        case Method::GradCamPP: gradcampp(A, G, l.h, l.w, l.c, r.map.data(), r.weights.data()); break;
        case Method::LayerCam:
            layercam(A, G, l.h, l.w, l.c, r.map.data());
            r.weights.clear();   // pixel-wise weights: no per-channel ones
            break;
        default: CNN_ASSERT(false);
    }
    return r;
}

std::string map_file_name(const ExplainResult& r, bool weights) {
    const char* name = method_info(r.method).name;
    if (!r.layer) return strformat("%s_c%d", name, r.cls);
    return strformat("%s%s_%s_c%d", name, weights ? "_weights" : "", r.layer->name.c_str(), r.cls);
}

}  // namespace cnnlens
