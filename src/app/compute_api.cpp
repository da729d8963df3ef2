// compute_api.cpp: the compute module of the web app, a thin C API over the core that
// web/worker.js calls from a dedicated Web Worker (the page's UI thread never computes).
//
//   p = cl_weights_buffer(n); <stream the file into HEAPU8[p..p+n)>; cl_load_weights(n, threads)
//   cl_model_json()                      architecture and layer list (JSON)
//   cl_set_image(bytes, n) | cl_set_image_rgba(w, h, rgba)
//   cl_run()                             fit + preprocess + forward (+ explain when built)
//   cl_result_json()                     top-5, per-layer min/max, timings (JSON)
//   cl_fitted_rgb()                      the input_size^2 RGB image the network saw
//   cl_act(layer)                        HWC float32 activations of a layer
//
// Every entry point returns 0 on success and -1 on failure, with the message in cl_error():
// the core's errors are exceptions (cnnlens::Error), caught here so the worker keeps running.
#include <emscripten/emscripten.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/image.h"
#include "io/weights.h"
#include "model/predict.h"
#include "explain/explain.h"

using namespace cnnlens;

namespace {

struct State {
    std::unique_ptr<Vgg> net;
    std::vector<uint8_t> flexible_weights;   // gap models with no fixed input size: rebuilt per image side
    Image image;
    bool have_image = false;
    Image fitted;
    std::vector<float> input;
    std::vector<float> lo, hi;               // per layer min/max of the last forward
    std::string error, json;
    std::vector<float> scratch;
    double ms_load = 0, ms_forward = 0, ms_backward = 0, ms_explain = 0;
    int threads = 1;
    // gradients currently held by the network: class, guided, and the lowest layer index they
    // reach (-1: down to the input); cls -2 = none (after a forward)
    int grad_cls = -2, grad_reach = 1 << 30;
    bool grad_guided = false;
    std::vector<float> maps;                 // cl_explain's maps and weights, back to back
    std::vector<uint8_t> guided_rgb;         // guided Grad-CAM and guided backprop pictures
    std::vector<float> chan_w;
    std::shared_ptr<std::vector<uint8_t>> incoming;   // the weight file being streamed in
};
State S;

double now_ms() {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

template <class F>
int guarded(F&& f) {
    try {
        f();
        S.error.clear();
        return 0;
    } catch (const std::bad_alloc&) {
        S.error = "out of memory";
    } catch (const std::exception& e) {
        S.error = e.what();
    }
    return -1;
}

void json_str(std::string& o, const std::string& s) {
    o += '"';
    for (char c : s) {
        if (c == '"' || c == '\\') o += '\\', o += c;
        else if ((unsigned char)c < 0x20) {
            char b[8];
            std::snprintf(b, sizeof b, "\\u%04x", c);
            o += b;
        } else o += c;
    }
    o += '"';
}

void json_num(std::string& o, double v) {
    char b[32];
    if (!std::isfinite(v)) v = 0;
    std::snprintf(b, sizeof b, "%.9g", v);
    o += b;
}

const char* kind_name(LayerInfo::Kind k) {
    switch (k) {
        case LayerInfo::Conv: return "conv";
        case LayerInfo::Pool: return "pool";
        case LayerInfo::Dense: return "dense";
        case LayerInfo::Gap: return "gap";
    }
    return "?";
}

void need_net() {
    if (!S.net) fail("no model is loaded");
}

// gap-head models take the image's side when it is square (as the CLI does): rebuild when the
// side the file implies for this image differs from the current network's.
void fit_model_to_image() {
    if (S.flexible_weights.empty() || !S.have_image) return;
    int side = S.image.width == S.image.height ? S.image.width : 0;
    TensorFile tf = load_weights(S.flexible_weights.data(), S.flexible_weights.size());
    VggArch arch = vgg_infer_arch(tf, {}, side);
    if (arch.input_size == S.net->arch().input_size) return;
    auto net = std::make_unique<Vgg>(arch, tf);
    net->set_threads(S.threads);
    S.net = std::move(net);
    S.grad_cls = -2;
}

int resolve_class(int cls) {
    if (cls >= 0 && cls < S.net->num_classes()) return cls;
    return top_k(S.net->logits(), S.net->num_classes(), 1)[0].index;
}

// One backward pass from logit `cls` unless the held gradients already cover `layer`.
void ensure_grad(int cls, bool guided, int layer) {
    if (S.grad_cls == cls && S.grad_guided == guided && S.grad_reach <= layer) return;
    const double t0 = now_ms();
    S.net->backward(cls, guided, layer >= 0 ? S.net->layers()[(size_t)layer].name : std::string());
    S.ms_backward = now_ms() - t0;
    S.grad_cls = cls, S.grad_guided = guided, S.grad_reach = layer;
}

const LayerInfo& conv_layer(int layer) {
    const auto& L = S.net->layers();
    if (layer < 0 || layer >= (int)L.size() || L[(size_t)layer].kind != LayerInfo::Conv) fail("not a conv layer");
    return L[(size_t)layer];
}

// method: 0 gradcam, 1 gradcampp, 2 layercam, 3 cam, 4 counterfactual (web/app.js METHODS)
void map_of(int method, const LayerInfo& l, int cls, float* map, float* w) {
    const float* A = S.net->act(l);
    if (method == 3) {
        if (S.net->arch().head != Head::Gap) fail("CAM needs a model with a gap head (global average pooling); this one has an fc head");
        const LayerInfo* last = nullptr;
        for (const LayerInfo& x : S.net->layers())
            if (x.kind == LayerInfo::Conv) last = &x;
        if (&l != last) fail("CAM exists only at the last conv layer (%s)", last->name.c_str());
        cam(A, l.h, l.w, l.c, S.net->dense().back().w.data() + (size_t)cls * l.c, map);
        gradcam(A, S.net->grad(l), l.h, l.w, l.c, S.scratch.data(), w);
        return;
    }
    const float* G = S.net->grad(l);
    if (method == 0 || method == 4) gradcam(A, G, l.h, l.w, l.c, map, w, method == 4);
    else if (method == 1) gradcampp(A, G, l.h, l.w, l.c, map, w);
    else gradcam(A, G, l.h, l.w, l.c, S.scratch.data(), w), layercam(A, G, l.h, l.w, l.c, map);
}

}  // namespace

extern "C" {

EMSCRIPTEN_KEEPALIVE uint8_t* cl_alloc(size_t n) { return (uint8_t*)std::malloc(n ? n : 1); }
EMSCRIPTEN_KEEPALIVE void cl_free(void* p) { std::free(p); }
EMSCRIPTEN_KEEPALIVE const char* cl_error() { return S.error.c_str(); }
EMSCRIPTEN_KEEPALIVE int cl_has_explain() { return 1; }   // kept for the worker's feature check

// The buffer a weight file is streamed into (n bytes); cl_weights_resize grows it when the
// length was unknown or wrong; cl_load_weights hands it to the network, which uses its float32
// fully connected weights in place (VGG16's 411 MB fc6 exists once, also while loading).
EMSCRIPTEN_KEEPALIVE uint8_t* cl_weights_buffer(size_t n) {
    S.incoming.reset();
    try {
        S.incoming = std::make_shared<std::vector<uint8_t>>(n);
    } catch (const std::bad_alloc&) {
        return nullptr;
    }
    return S.incoming->data();
}
EMSCRIPTEN_KEEPALIVE uint8_t* cl_weights_resize(size_t n) {
    if (!S.incoming) return nullptr;
    try {
        S.incoming->resize(n);
    } catch (const std::bad_alloc&) {
        return nullptr;
    }
    return S.incoming->data();
}
EMSCRIPTEN_KEEPALIVE void cl_weights_drop() { S.incoming.reset(); }

// Builds the network from the first `size` bytes of the streamed-in weight file.
EMSCRIPTEN_KEEPALIVE int cl_load_weights(size_t size, int threads) {
    const double t0 = now_ms();
    int rc = guarded([&] {
        if (!S.incoming) fail("no weight file was streamed in");
        std::shared_ptr<std::vector<uint8_t>> buf = std::move(S.incoming);
        if (size > buf->size()) fail("weight file size mismatch");
        buf->resize(size);
        const uint8_t* data = buf->data();
        TensorFile tf = load_weights(data, size);
        VggArch fixed = vgg_infer_arch(tf, {}, 0);
        VggArch wide = vgg_infer_arch(tf, {}, fixed.input_size * 2);
        const bool flexible = wide.input_size != fixed.input_size;
        int side = 0;
        if (flexible && S.have_image && S.image.width == S.image.height) side = S.image.width;
        VggArch arch = side ? vgg_infer_arch(tf, {}, side) : fixed;
        std::vector<uint8_t> keep;
        if (flexible && size <= (64u << 20)) keep.assign(data, data + size);
        // built before the old model goes, so a file that fails here leaves the old one working
        auto net = std::make_unique<Vgg>(arch, tf, buf);
        S.threads = std::max(1, threads);
        net->set_threads(S.threads);
        S.flexible_weights = std::move(keep);
        S.net = std::move(net);
        S.lo.clear(), S.hi.clear();
        S.grad_cls = -2;
    });
    S.ms_load = now_ms() - t0;
    return rc;
}

// Architecture and layers, for the UI.
EMSCRIPTEN_KEEPALIVE const char* cl_model_json() {
    S.json.clear();
    if (!S.net) return "null";
    const VggArch& a = S.net->arch();
    std::string& o = S.json;
    o += "{\"layout\":";
    json_str(o, a.layout);
    o += ",\"cfg\":";
    json_str(o, a.cfg_string());
    o += ",\"input_size\":" + std::to_string(a.input_size);
    o += ",\"head\":";
    json_str(o, a.head == Head::Gap ? "gap" : "fc");
    o += ",\"num_classes\":" + std::to_string(a.num_classes);
    o += ",\"class_names\":[";
    for (size_t i = 0; i < a.class_names.size(); i++) {
        if (i) o += ',';
        json_str(o, a.class_names[i]);
    }
    o += "]";
    o += ",\"batch_norm\":" + std::string(a.batch_norm ? "true" : "false");
    o += ",\"preprocess\":";
    json_str(o, preprocess_name(a.preprocess));
    o += ",\"resize\":";
    json_str(o, resize_mode_name(default_resize(a)));
    o += ",\"describe\":";
    json_str(o, a.describe());
    o += ",\"threads\":" + std::to_string(S.threads);
    o += ",\"explain\":" + std::string(cl_has_explain() ? "true" : "false");
    o += ",\"ms_load\":";
    json_num(o, S.ms_load);
    o += ",\"layers\":[";
    for (size_t i = 0; i < S.net->layers().size(); i++) {
        const LayerInfo& l = S.net->layers()[i];
        if (i) o += ',';
        o += "{\"name\":";
        json_str(o, l.name);
        o += ",\"kind\":";
        json_str(o, kind_name(l.kind));
        o += ",\"h\":" + std::to_string(l.h) + ",\"w\":" + std::to_string(l.w) + ",\"c\":" + std::to_string(l.c) + "}";
    }
    o += "]}";
    return o.c_str();
}

// An encoded image (JPEG, PNG, BMP, GIF, ...: whatever stb_image reads). The bytes stay the caller's.
EMSCRIPTEN_KEEPALIVE int cl_set_image(const uint8_t* data, size_t size) {
    return guarded([&] {
        Image img = image_decode(data, size);
        S.image = std::move(img);
        S.have_image = true;
    });
}

// 0 if a w x h image can be used, else -1 and cl_error() says why (before the browser decodes one).
EMSCRIPTEN_KEEPALIVE int cl_check_image_size(int w, int h) {
    return guarded([&] { image_check_size(w, h); });
}

// Raw RGBA8 pixels (the browser decoded the file, or a webcam frame). Alpha is dropped.
EMSCRIPTEN_KEEPALIVE int cl_set_image_rgba(int w, int h, const uint8_t* rgba) {
    return guarded([&] {
        image_check_size(w, h);
        Image img;
        img.width = w, img.height = h;
        img.rgb.resize((size_t)w * h * 3);
        for (size_t i = 0; i < (size_t)w * h; i++)
            for (int k = 0; k < 3; k++) img.rgb[i * 3 + k] = rgba[i * 4 + k];
        S.image = std::move(img);
        S.have_image = true;
    });
}

// Fit the image to the network, preprocess, forward. Keeps per-layer min/max for the UI's
// "whole network" normalisation.
EMSCRIPTEN_KEEPALIVE int cl_run() {
    return guarded([&] {
        need_net();
        if (!S.have_image) fail("no image");
        fit_model_to_image();
        const VggArch& arch = S.net->arch();
        S.fitted = image_fit(S.image, arch.input_size, default_resize(arch));
        S.input = prepare_input(S.fitted, arch, ResizeMode::Exact, arch.preprocess);
        const double t0 = now_ms();
        S.net->forward(S.input.data());
        S.ms_forward = now_ms() - t0;
        S.grad_cls = -2;
        const auto& L = S.net->layers();
        S.lo.assign(L.size(), 0), S.hi.assign(L.size(), 0);
        for (size_t i = 0; i < L.size(); i++) {
            const float* a = S.net->act(L[i]);
            float lo = INFINITY, hi = -INFINITY;
            for (size_t k = 0; k < L[i].size(); k++) lo = std::min(lo, a[k]), hi = std::max(hi, a[k]);
            S.lo[i] = lo, S.hi[i] = hi;
        }
    });
}

EMSCRIPTEN_KEEPALIVE const char* cl_result_json(int k) {
    S.json.clear();
    if (!S.net || S.lo.empty()) return "null";
    std::string& o = S.json;
    o += "{\"top\":[";
    auto top = top_k(S.net->logits(), S.net->num_classes(), std::max(1, k));
    for (size_t i = 0; i < top.size(); i++) {
        if (i) o += ',';
        o += "{\"index\":" + std::to_string(top[i].index) + ",\"name\":";
        json_str(o, class_name(S.net->arch(), top[i].index));
        o += ",\"prob\":";
        json_num(o, top[i].prob);
        o += ",\"logit\":";
        json_num(o, top[i].logit);
        o += '}';
    }
    o += "],\"range\":[";
    for (size_t i = 0; i < S.lo.size(); i++) {
        if (i) o += ',';
        o += '[';
        json_num(o, S.lo[i]);
        o += ',';
        json_num(o, S.hi[i]);
        o += ']';
    }
    o += "],\"image\":{\"width\":" + std::to_string(S.image.width) + ",\"height\":" + std::to_string(S.image.height) +
         "},\"input_size\":" + std::to_string(S.net->arch().input_size) + ",\"ms\":{\"load\":";
    json_num(o, S.ms_load);
    o += ",\"forward\":";
    json_num(o, S.ms_forward);
    o += ",\"backward\":";
    json_num(o, S.ms_backward);
    o += ",\"explain\":";
    json_num(o, S.ms_explain);
    o += "}}";
    return o.c_str();
}

EMSCRIPTEN_KEEPALIVE const uint8_t* cl_fitted_rgb() { return S.fitted.rgb.empty() ? nullptr : S.fitted.rgb.data(); }
EMSCRIPTEN_KEEPALIVE int cl_fitted_side() { return S.fitted.width; }

EMSCRIPTEN_KEEPALIVE const float* cl_act(int layer) {
    if (!S.net || layer < 0 || layer >= (int)S.net->layers().size()) return nullptr;
    return S.net->act(S.net->layers()[(size_t)layer]);
}
EMSCRIPTEN_KEEPALIVE const float* cl_logits() { return S.net ? S.net->logits() : nullptr; }
EMSCRIPTEN_KEEPALIVE int cl_num_classes() { return S.net ? S.net->num_classes() : 0; }

EMSCRIPTEN_KEEPALIVE int cl_class_find(const char* q) { return S.net ? class_find(S.net->arch(), q) : -1; }

// The explanation maps of the current view, after cl_run(): slot 0 the class `cls` (-1 = top-1)
// at conv layer `layer` by `method`; slot 1 the same for `cls2` (if >= 0); slots 100+i every
// conv layer (if strip; CAM falls back to Grad-CAM there); guided Grad-CAM then guided backprop
// as two RGB pictures back to back in cl_guided_rgb() (if guided). Returns JSON describing the maps in cl_explain_buf() (raw, layer resolution;
// "weights": the channel weights (Grad-CAM alpha, Grad-CAM++ weights) of the map), or null.
EMSCRIPTEN_KEEPALIVE const char* cl_explain(int layer, int cls, int cls2, int method, int guided, int strip) {
    S.json.clear();
    int rc = guarded([&] {
        need_net();
        if (S.lo.empty()) fail("no image has been run");
        if (method < 0 || method > 4) fail("unknown method %d", method);
        const LayerInfo& l = conv_layer(layer);
        const auto& L = S.net->layers();
        const int c1 = resolve_class(cls);
        double t_maps = 0;
        S.maps.clear();
        std::string& o = S.json;
        o = "{\"maps\":[";
        bool first = true;
        auto add = [&](int slot, int meth, const LayerInfo& x, int c) {
            S.scratch.assign((size_t)x.h * x.w, 0.0f);
            std::vector<float> map((size_t)x.h * x.w), w((size_t)x.c, 0.0f);
            const double t0 = now_ms();
            map_of(meth, x, c, map.data(), w.data());
            t_maps += now_ms() - t0;
            const size_t off = S.maps.size();
            S.maps.insert(S.maps.end(), map.begin(), map.end());
            S.maps.insert(S.maps.end(), w.begin(), w.end());
            static const char* names[] = {"gradcam", "gradcampp", "layercam", "cam", "counterfactual"};
            if (!first) o += ',';
            first = false;
            o += "{\"slot\":" + std::to_string(slot) + ",\"layer\":";
            json_str(o, x.name);
            o += ",\"method\":";
            json_str(o, names[meth]);
            o += ",\"cls\":" + std::to_string(c) + ",\"h\":" + std::to_string(x.h) + ",\"w\":" + std::to_string(x.w) +
                 ",\"offset\":" + std::to_string(off) + ",\"nweights\":" + std::to_string(x.c) + "}";
        };
        int lowest = layer;   // the held gradient must reach this layer
        if (strip)
            for (size_t i = 0; i < L.size(); i++)
                if (L[i].kind == LayerInfo::Conv) { lowest = (int)i; break; }
        if (cls2 >= 0 && cls2 < S.net->num_classes()) {
            ensure_grad(cls2, false, layer);
            add(1, method, l, cls2);
        }
        ensure_grad(c1, false, lowest);
        add(0, method, l, c1);
        if (strip) {
            int k = 0;
            for (const LayerInfo& x : L)
                if (x.kind == LayerInfo::Conv) add(100 + k++, method == 3 ? 0 : method, x, c1);
        }
        S.guided_rgb.clear();
        int side = 0;
        if (guided) {
            std::vector<float> m0(S.maps.begin(), S.maps.begin() + (size_t)l.h * l.w);
            ensure_grad(c1, true, -1);
            const int n = S.net->arch().input_size;
            const int C = S.net->arch().in_channels;
            std::vector<float> gg((size_t)n * n * C);
            const double t0 = now_ms();
            guided_gradcam(m0.data(), l.h, l.w, S.net->input_grad(), n, n, C, gg.data());
            const bool bgr = S.net->arch().preprocess == Preprocess::Caffe;
            Image gi = gradient_image(gg.data(), n, n, C, bgr);                 // guided Grad-CAM
            Image gb = gradient_image(S.net->input_grad(), n, n, C, bgr);       // guided backprop
            t_maps += now_ms() - t0;
            S.guided_rgb = std::move(gi.rgb);
            S.guided_rgb.insert(S.guided_rgb.end(), gb.rgb.begin(), gb.rgb.end());
            side = n;
        }
        S.ms_explain = t_maps;
        o += "],\"guided\":" + std::to_string(side) + ",\"cls\":" + std::to_string(c1) + ",\"ms\":{\"backward\":";
        json_num(o, S.ms_backward);
        o += ",\"maps\":";
        json_num(o, t_maps);
        o += "}}";
    });
    return rc == 0 ? S.json.c_str() : nullptr;
}
EMSCRIPTEN_KEEPALIVE const float* cl_explain_buf() { return S.maps.data(); }
EMSCRIPTEN_KEEPALIVE const uint8_t* cl_guided_rgb() { return S.guided_rgb.data(); }

// Grad-CAM weights (alpha) of every channel of conv layer `layer` for class `cls` (-1 = top-1):
// the order in which the feature-map grid can be sorted. Null if `layer` is not a conv layer.
EMSCRIPTEN_KEEPALIVE const float* cl_channel_weights(int layer, int cls) {
    int rc = guarded([&] {
        need_net();
        const LayerInfo& l = conv_layer(layer);
        const int c = resolve_class(cls);
        if (!(S.grad_cls == c && !S.grad_guided && S.grad_reach <= layer)) ensure_grad(c, false, layer);
        S.chan_w.assign((size_t)l.c, 0.0f);
        S.scratch.assign((size_t)l.h * l.w, 0.0f);
        gradcam(S.net->act(l), S.net->grad(l), l.h, l.w, l.c, S.scratch.data(), S.chan_w.data());
    });
    return rc == 0 ? S.chan_w.data() : nullptr;
}

}  // extern "C"
