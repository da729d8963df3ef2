// methods.h: every explanation method, in one table, and the one service that computes them.
//
//   Vgg& net = ...; net.forward(x);
//   ExplainResult r = explain(net, {Method::GradCam, cls, &net.last_conv()});
//   r.map (h x w, raw), r.weights (one per channel)
//
// The CLI (`cnnlens explain --method NAME`, the --dump-npy file names), the web page's compute
// module and its menus all read this table; none keeps a list of its own. A new method is one
// row in methods() and one case in explain() (methods.cpp), with its maths in explain.h.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/vgg.h"

namespace cnnlens {

enum class Method {
    GradCam, GradCamPP, LayerCam, Cam, Counterfactual, HiResCam, XGradCam, EigenCam, EigenGradCam, ScoreCam,
    AblationCam, Saliency, GuidedBackprop, GuidedGradCam, SmoothGrad, IntegratedGradients
};

struct MethodInfo {
    Method id;
    const char* name;        // "gradcampp": CLI, URL parameter, file names, the page's API
    const char* label;       // "Grad-CAM++": menus and figures
    const char* about;       // one line: tooltips and --help
    bool at_layer;           // a map at a conv layer (h x w); otherwise at the input (side x side x channels)
    bool gap_only;           // needs a gap head (CAM)
    bool head_input_only;    // only at the layer the head reads (CAM)
    bool in_menu;            // one of the page's heatmap methods
    bool costly;             // runs the network once per channel or step: progress, cancel; not in a default dump
};

const std::vector<MethodInfo>& methods();
const MethodInfo& method_info(Method m);
const MethodInfo* method_find(const std::string& name);   // nullptr if unknown
std::string method_names(bool menu_only = false);         // "gradcam, gradcampp, ...", for messages
// Why a method cannot run on this network at this layer ("" if it can; layer may be null).
std::string method_unavailable(const MethodInfo& m, const Vgg& net, const LayerInfo* layer);

struct ExplainRequest {
    ExplainRequest(Method m = Method::GradCam, int c = -1, const LayerInfo* l = nullptr) : method(m), cls(c), layer(l) {}
    Method method = Method::GradCam;
    int cls = -1;                        // -1: the top-1 class
    const LayerInfo* layer = nullptr;    // at_layer methods: a conv layer (null: the last conv); for
                                         // guided Grad-CAM the layer of its Grad-CAM
    int steps = 0;                       // SmoothGrad samples (default 25), Integrated Gradients steps (32)
    float noise = 0.15f;                 // SmoothGrad: noise sd as a share of the input's value range
    uint64_t seed = 1;                   // SmoothGrad's noise
    // Costly methods report (done, total) as they go; throwing from it cancels.
    std::function<void(int, int)> progress;
};

struct ExplainResult {
    Method method = Method::GradCam;
    int cls = 0;
    const LayerInfo* layer = nullptr;    // the layer of the map (at_layer methods, guided Grad-CAM)
    int h = 0, w = 0, c = 1;             // h x w (x c channels for input-space maps, HWC)
    std::vector<float> map;              // raw: no upsampling, no normalisation
    std::vector<float> weights;          // per channel of the layer (Grad-CAM alpha, Grad-CAM++ w,
                                         // CAM's classifier row); empty for methods without
};

// After net.forward(): the backward pass the method needs (Vgg::backward recomputes nothing the
// held gradients cover), then its map. Throws for a method the network or layer cannot run.
// Methods that run the network on other inputs (ScoreCAM, SmoothGrad, Integrated Gradients)
// or edit a layer (AblationCAM) leave it as they found it: forwarded on the same input.
ExplainResult explain(Vgg& net, const ExplainRequest& r);

// The file --dump-npy writes for a result (without .npy): "{name}_{layer}_c{cls}" for maps made
// at a layer (guided Grad-CAM too), "{name}_c{cls}" for input gradients; weights:
// "{name}_weights_{layer}_c{cls}".
std::string map_file_name(const ExplainResult& r, bool weights = false);

}  // namespace cnnlens
