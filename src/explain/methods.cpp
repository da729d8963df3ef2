// methods.cpp: the table of explanation methods and explain(). Sections: the table; layer maps
// from one backward pass; maps that run the network many times (ScoreCAM, AblationCAM);
// input-space maps (saliency, guided backprop, guided Grad-CAM, SmoothGrad, Integrated Gradients).
#include "explain/methods.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/rng.h"
#include "explain/explain.h"
#include "model/predict.h"

namespace cnnlens {

// ---------------------------------------------------------------------------- the table

const std::vector<MethodInfo>& methods() {
    // name, label, about; at_layer, gap_only, head_input_only, in_menu, costly
    static const std::vector<MethodInfo> table = {
        {Method::GradCam, "gradcam", "Grad-CAM", "channels weighted by their mean gradient (Selvaraju et al. 2017)",
         true, false, false, true, false},
        {Method::GradCamPP, "gradcampp", "Grad-CAM++",
         "channels weighted by positive gradients with pixel-wise coefficients (Chattopadhay et al. 2018)", true, false,
         false, true, false},
        {Method::LayerCam, "layercam", "LayerCAM",
         "every position weighted by its own positive gradient (Jiang et al. 2021): sharp at early layers", true, false,
         false, true, false},
        {Method::Cam, "cam", "CAM",
         "the classifier's weights over the last feature map (Zhou et al. 2016): gap heads only", true, true, true, true,
         false},
        {Method::Counterfactual, "counterfactual", "Counterfactual",
         "Grad-CAM of the negative gradient: what speaks against the class", true, false, false, true, false},
        {Method::HiResCam, "hirescam", "HiResCAM",
         "gradient times activation summed over channels, no averaging (Draelos & Carin 2020)", true, false, false, true,
         false},
        {Method::XGradCam, "xgradcam", "XGradCAM",
         "channels weighted by gradient x activation over the activation's sum (Fu et al. 2020)", true, false, false, true,
         false},
        {Method::EigenCam, "eigencam", "EigenCAM",
         "the first principal component of the feature maps: no class, no gradient (Muhammad & Yeasin 2020)", true,
         false, false, true, false},
        {Method::EigenGradCam, "eigengradcam", "EigenGradCAM",
         "the first principal component of gradient x activation: class-specific EigenCAM", true, false, false, true,
         false},
        {Method::ScoreCam, "scorecam", "ScoreCAM",
         "channels weighted by the class score of the input masked by each channel (Wang et al. 2020): one forward "
         "pass per channel",
         true, false, false, true, true},
        {Method::AblationCam, "ablationcam", "AblationCAM",
         "channels weighted by the score drop when each is removed (Desai & Ramaswamy 2020): the rest of the network "
         "once per channel",
         true, false, false, true, true},
        {Method::Saliency, "saliency", "Saliency",
         "the gradient of the class score with respect to the input pixels (Simonyan et al. 2014)", false, false, false,
         false, false},
        {Method::GuidedBackprop, "guided_backprop", "Guided backprop",
         "the input gradient with only positive gradients through every ReLU (Springenberg et al. 2015)", false, false,
         false, false, false},
        {Method::GuidedGradCam, "guided_gradcam", "Guided Grad-CAM",
         "guided backprop times the upsampled Grad-CAM map (Selvaraju et al. 2017)", false, false, false, false, false},
        {Method::SmoothGrad, "smoothgrad", "SmoothGrad",
         "the input gradient averaged over noisy copies of the image (Smilkov et al. 2017)", false, false, false, false,
         true},
        {Method::IntegratedGradients, "integrated_gradients", "Integrated Gradients",
         "the input gradient integrated along the path from a blank image (Sundararajan et al. 2017)", false, false,
         false, false, true},
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

namespace {

// ---------------------------------------------------------------------------- many forward passes

void report(const ExplainRequest& r, int done, int total) {
    if (r.progress) r.progress(done, total);
}

// map = max(0, sum_k w_k A_k) for channel weights computed in double.
void weighted_map(const float* A, const LayerInfo& l, const std::vector<double>& w, ExplainResult& r) {
    for (size_t p = 0, HW = (size_t)l.h * l.w; p < HW; p++) {
        double s = 0;
        for (int k = 0; k < l.c; k++) s += w[(size_t)k] * A[p * l.c + k];
        r.map[p] = (float)std::max(s, 0.0);
    }
    r.weights.assign(w.begin(), w.end());
}

// ScoreCAM (pytorch-grad-cam score_cam.py): each channel upsampled to the input (align_corners
// bilinear), min-max scaled with +1e-8, multiplies the (preprocessed) input; the class logit of
// each masked input, softmaxed over the channels, weights the channels.
void score_cam(Vgg& net, const ExplainRequest& req, const LayerInfo& l, ExplainResult& r) {
    const int S = net.arch().input_size, C = net.arch().in_channels;
    const size_t HW = (size_t)l.h * l.w, P = (size_t)S * S;
    const std::vector<float> x(net.input(), net.input() + P * C), A(net.act(l), net.act(l) + HW * l.c);
    std::vector<float> ch(HW), up(P), masked(P * C);
    std::vector<double> score((size_t)l.c);
    try {
        for (int k = 0; k < l.c; k++) {
            report(req, k, l.c);
            for (size_t p = 0; p < HW; p++) ch[p] = A[p * l.c + k];
            upsample_bilinear(ch.data(), l.h, l.w, S, S, up.data(), true);
            const auto [lo, hi] = std::minmax_element(up.begin(), up.end());
            const double mn = *lo, range = (double)*hi - mn + 1e-8;
            for (size_t p = 0; p < P; p++)
                for (int c = 0; c < C; c++) masked[p * C + c] = (float)(x[p * C + c] * ((up[p] - mn) / range));
            net.forward(masked.data());
            score[(size_t)k] = net.logits()[r.cls];
        }
    } catch (...) {   // cancelled: the network as it was
        net.forward(x.data());
        throw;
    }
    net.forward(x.data());
    const double mx = *std::max_element(score.begin(), score.end());
    double sum = 0;
    for (double& s : score) sum += s = std::exp(s - mx);
    for (double& s : score) s /= sum;
    weighted_map(A.data(), l, score, r);
}

// AblationCAM (pytorch-grad-cam ablation_cam.py): channel k of the layer set to 0, the rest of
// the network run again; w_k = (y - y_k) / y with y the class logit (divided by 1 when y is 0).
void ablation_cam(Vgg& net, const ExplainRequest& req, const LayerInfo& l, ExplainResult& r) {
    const size_t HW = (size_t)l.h * l.w;
    const double y = net.logits()[r.cls], denom = std::fabs(y) > 1e-12 ? y : 1.0;
    float* A = net.mutable_act(l);
    std::vector<float> keep(HW);
    std::vector<double> w((size_t)l.c);
    for (int k = 0; k < l.c; k++) {
        try {
            report(req, k, l.c);
        } catch (...) {   // cancelled: the network as it was
            net.forward_from(l);
            throw;
        }
        for (size_t p = 0; p < HW; p++) keep[p] = A[p * l.c + k], A[p * l.c + k] = 0;
        net.forward_from(l);
        w[(size_t)k] = (y - net.logits()[r.cls]) / denom;
        for (size_t p = 0; p < HW; p++) A[p * l.c + k] = keep[p];
    }
    net.forward_from(l);   // the network as it was
    weighted_map(A, l, w, r);
}

// ---------------------------------------------------------------------------- input gradients

// The mean over `n` inputs of d logit / d input, with inputs made by make(i, x); the network is
// forwarded on x again afterwards.
template <class Make>
std::vector<double> mean_input_grad(Vgg& net, const ExplainRequest& req, int cls, int n, Make make) {
    const size_t N = (size_t)net.arch().input_size * net.arch().input_size * net.arch().in_channels;
    const std::vector<float> x(net.input(), net.input() + N);
    std::vector<float> xi(N);
    std::vector<double> sum(N, 0.0);
    try {
        for (int i = 0; i < n; i++) {
            report(req, i, n);
            make(i, x, xi);
            net.forward(xi.data());
            net.backward(cls);
            for (size_t j = 0; j < N; j++) sum[j] += net.input_grad()[j];
        }
    } catch (...) {   // cancelled: the network as it was
        net.forward(x.data());
        throw;
    }
    net.forward(x.data());
    for (double& s : sum) s /= n;
    return sum;
}

// Grad-CAM of class cls at layer l (map: H*W, alpha: l.c or null), from the gradient's channel
// sums (Vgg::grad_sums): the one way every method that shows a Grad-CAM map computes it.
void gradcam_at(Vgg& net, int cls, const LayerInfo& l, float* map, float* alpha, bool counterfactual = false) {
    std::vector<double> sums((size_t)l.c);
    net.grad_sums(cls, l, sums.data());
    gradcam_sums(net.act(l), sums.data(), l.h, l.w, l.c, map, alpha, counterfactual, net.pool());
}

}  // namespace

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
        switch (req.method) {
            case Method::GuidedGradCam: {
                std::vector<float> cam_map((size_t)l.h * l.w);
                gradcam_at(net, r.cls, l, cam_map.data(), nullptr);
                net.backward(r.cls, true);
                guided_gradcam(cam_map.data(), l.h, l.w, net.input_grad(), S, S, C, r.map.data());
                break;
            }
            case Method::SmoothGrad: {   // noise sd: a share of the input's value range
                const int n = req.steps > 0 ? req.steps : 25;
                const auto [lo, hi] = std::minmax_element(net.input(), net.input() + r.map.size());
                const double sd = req.noise * ((double)*hi - *lo);
                Rng rng(req.seed);
                const std::vector<double> g = mean_input_grad(net, req, r.cls, n, [&](int, const std::vector<float>& x, std::vector<float>& xi) {
                    for (size_t j = 0; j < x.size(); j++) xi[j] = (float)(x[j] + sd * rng.normal());
                });
                for (size_t j = 0; j < g.size(); j++) r.map[j] = (float)g[j];
                break;
            }
            case Method::IntegratedGradients: {   // baseline: the blank image (the mean; black for Fashion-MNIST)
                const int n = req.steps > 0 ? req.steps : 32;
                const double b = blank_value(a);
                const std::vector<double> g = mean_input_grad(net, req, r.cls, n, [&](int i, const std::vector<float>& x, std::vector<float>& xi) {
                    const double t = (double)(i + 1) / n;   // right Riemann sum over (0, 1]
                    for (size_t j = 0; j < x.size(); j++) xi[j] = (float)(b + t * (x[j] - b));
                });
                for (size_t j = 0; j < g.size(); j++) r.map[j] = (float)((net.input()[j] - b) * g[j]);
                break;
            }
            default:
                net.backward(r.cls, req.method == Method::GuidedBackprop);
                r.map.assign(net.input_grad(), net.input_grad() + r.map.size());
        }
        return r;
    }

    r.h = l.h, r.w = l.w;
    r.map.assign((size_t)l.h * l.w, 0.0f);
    r.weights.assign((size_t)l.c, 0.0f);
    const float* A = net.act(l);
    switch (req.method) {   // from the forward pass alone, or (Grad-CAM) the gradient's channel sums
        case Method::Cam: {
            net.dense().back().w.rows.row((size_t)r.cls, (size_t)l.c, 0, (size_t)l.c, r.weights.data());
            cam(A, l.h, l.w, l.c, r.weights.data(), r.map.data());
            return r;
        }
        case Method::EigenCam:
            eigencam(A, l.h, l.w, l.c, r.map.data());
            r.weights.clear();
            return r;
        case Method::ScoreCam: score_cam(net, req, l, r); return r;
        case Method::AblationCam: ablation_cam(net, req, l, r); return r;
        case Method::GradCam:
        case Method::Counterfactual:
            gradcam_at(net, r.cls, l, r.map.data(), r.weights.data(), req.method == Method::Counterfactual);
            return r;
        default: break;
    }
    net.backward(r.cls, false, l.name);
    const float* G = net.grad(l);
    switch (req.method) {
        case Method::GradCamPP: gradcampp(A, G, l.h, l.w, l.c, r.map.data(), r.weights.data()); break;
        case Method::XGradCam: xgradcam(A, G, l.h, l.w, l.c, r.map.data(), r.weights.data()); break;
        case Method::LayerCam:
        case Method::HiResCam:
        case Method::EigenGradCam: {   // pixel-wise weights: no per-channel ones
            if (req.method == Method::LayerCam) layercam(A, G, l.h, l.w, l.c, r.map.data());
            else if (req.method == Method::HiResCam) hirescam(A, G, l.h, l.w, l.c, r.map.data());
            else {
                std::vector<float> ga((size_t)l.h * l.w * l.c);
                for (size_t i = 0; i < ga.size(); i++) ga[i] = G[i] * A[i];
                eigencam(ga.data(), l.h, l.w, l.c, r.map.data());
            }
            r.weights.clear();
            break;
        }
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
