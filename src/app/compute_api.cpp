// compute_api.cpp: the compute module of the web app, a thin C API over the core that
// web/worker.js calls from a dedicated Web Worker (the page's UI thread never computes).
//
//   p = cl_weights_buffer(n); <stream the file into HEAPU8[p..p+n)>; cl_load_weights(n, threads)
//   cl_model_json()                      the model: architecture, layers, methods (JSON)
//   cl_set_image(bytes, n) | cl_set_image_rgba(w, h, rgba)
//   cl_run()                             fit (reshaping a gap model to the image) + preprocess + forward
//   cl_run_threads()                     the threads cl_run will use (1 for small inputs: no pool started)
//   cl_result_json(k)                    top-k, per-layer value ranges, timings (JSON)
//   cl_fitted_rgb(), cl_fitted_side()    the image the network saw (RGB)
//   cl_act(layer)                        HWC float32 activations of a layer
//   cl_explain(request_json)             explanation maps (explain/methods.h), described as JSON
//   cl_channel_weights(layer, cls)       Grad-CAM's weight of every channel of a conv layer
//   cl_tool(request_json)                the tools that test explanations (explain/tools.h)
//   cl_set_edits(json)                   brush strokes and stamped markers over the image (applied by cl_run)
//   cl_figure(request_json)              the article's figure of an explanation (image, heatmap, overlay)
//   cl_set_mask(mask, side)              the object for the pointing game
//
// Every entry point returns 0 (or a pointer) on success and -1 (or null) on failure, with the
// message in cl_error(): the core's errors are exceptions, caught here so the worker keeps running.
// It also builds natively (the tests call it as the worker does).
#if defined(__EMSCRIPTEN__)
#include <emscripten/emscripten.h>
// A costly method's progress goes straight to the page (the worker is busy until it returns):
// it keeps the page's watchdog quiet and drives its progress bar; cancelling replaces the worker.
// At most about ten a second: a 28x28 occlusion has 625 positions, each a few hundred microseconds.
// The label is a key of the UI's string table with its argument ("Running %s", the tool's label,
// itself a key: [label]): the page says both in its language.
EM_JS(void, js_progress, (const char* label, const char* arg, int done, int total), {
    const now = performance.now();
    if (done > 0 && now - (self.cnnlensProgressAt || 0) < 100) return;
    self.cnnlensProgressAt = now;
    postMessage({op: 'progress', label: UTF8ToString(label), args: [[UTF8ToString(arg)]], done: done, total: total,
                 cancellable: true, steps: true});
});
#else
#define EMSCRIPTEN_KEEPALIVE
static void js_progress(const char*, const char*, int, int) {}
#endif

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/json.h"
#include "explain/colormap.h"
#include "explain/explain.h"
#include "explain/methods.h"
#include "explain/tools.h"
#include "io/image.h"
#include "io/weights.h"
#include "model/predict.h"

using namespace cnnlens;

namespace {

struct State {
    std::unique_ptr<Vgg> net;
    Image image;
    bool have_image = false;
    Image fitted;
    std::vector<float> input;
    std::vector<Range> ranges;               // per layer, of the last forward
    std::string error, json;
    double ms_load = 0, ms_forward = 0, ms_backward = 0, ms_explain = 0;
    int threads = 1;
    std::vector<float> maps;                 // cl_explain's maps and weights, back to back
    std::vector<uint8_t> guided_rgb;         // guided Grad-CAM and guided backprop pictures
    Image figure;                            // cl_figure's picture
    std::vector<float> chan_w;
    std::vector<uint8_t> mask;               // the object the user marked (pointing game), fitted side^2
    Json edits;                              // brush strokes over the fitted image (cl_set_edits)
    std::shared_ptr<std::vector<uint8_t>> incoming;   // the weight file being streamed in
};
State S;

double now_ms() {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

constexpr int kSmallInput = 64;   // px: inputs up to this side run on one thread (cl_run)

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

Vgg& net() {
    if (!S.net) fail("no model is loaded");
    return *S.net;
}

const LayerInfo& layer_at(int index) {
    const auto& L = net().layers();
    if (index < 0 || index >= (int)L.size()) fail("no layer %d", index);
    return L[(size_t)index];
}

// A stamped marker as an edit carries the geometry of the model it came from (its metadata, as
// cl_model_json's "marker" gives it), so it stays when another model looks at the image.
Marker edit_marker(const Json& e) {
    Marker m;
    m.size = e["size"].integer(0), m.value = e["value"].integer(255);
    for (const Json& p : e["positions"].items()) m.positions.push_back({p[0].integer(-1), p[1].integer(-1)});
    return m;
}

// The brush strokes of cl_set_edits over the image the network sees (coordinates and radius in
// units of its side, so they survive a change of model): erase paints blank_rgb, the preprocessing
// mean; otherwise the stroke's colour. A marker edit stamps that class's square (model/arch.h).
void paint_edits(Image& fitted, const VggArch& arch) {
    const float side = (float)fitted.width;
    for (const Json& e : S.edits["strokes"].items()) {
        if (!e["marker"].is_null()) {
            stamp_marker(edit_marker(e), e["marker"].integer(-1), fitted);
            continue;
        }
        std::vector<float> xy;
        for (const Json& v : e["xy"].items()) xy.push_back((float)v.number() * side);
        std::array<uint8_t, 3> rgb = blank_rgb(arch);
        if (!e["erase"].boolean())
            for (int k = 0; k < 3; k++) rgb[(size_t)k] = (uint8_t)std::clamp(e["rgb"][k].integer(0), 0, 255);
        image_paint(fitted, xy, (float)e["radius"].number() * side, rgb.data());
    }
}

// One explain() call, its time counted as backward when it ran a backward pass; costly methods
// report their progress to the page.
ExplainResult timed(ExplainRequest r) {
    const int before = net().stats().backwards;
    const double t0 = now_ms();
    const char* label = method_info(r.method).label;
    r.progress = [label](int done, int total) { js_progress("Computing %s", label, done, total); };
    ExplainResult out = explain(net(), r);
    (net().stats().backwards != before ? S.ms_backward : S.ms_explain) += now_ms() - t0;
    return out;
}

}  // namespace

extern "C" {

EMSCRIPTEN_KEEPALIVE uint8_t* cl_alloc(size_t n) { return (uint8_t*)std::malloc(n ? n : 1); }
EMSCRIPTEN_KEEPALIVE void cl_free(void* p) { std::free(p); }
EMSCRIPTEN_KEEPALIVE const char* cl_error() { return S.error.c_str(); }

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

// Builds the network from the first `size` bytes of the streamed-in weight file: parsed once,
// at the current image's size when the model takes any. A file that fails leaves the old model.
EMSCRIPTEN_KEEPALIVE int cl_load_weights(size_t size, int threads) {
    const double t0 = now_ms();
    int rc = guarded([&] {
        if (!S.incoming) fail("no weight file was streamed in");
        std::shared_ptr<std::vector<uint8_t>> buf = std::move(S.incoming);
        if (size > buf->size()) fail("weight file size mismatch");
        buf->resize(size);
        const int side = S.have_image && S.image.width == S.image.height ? S.image.width : 0;
        auto n = vgg_load(std::move(buf), {}, side);
        S.threads = std::max(1, threads);
        // no pool yet: cl_run starts it when an input needs it (the built-in model's never does)
        n->set_threads(1);
        S.net = std::move(n);
        S.ranges.clear();
    });
    S.ms_load = now_ms() - t0;
    return rc;
}

// The model for the UI: architecture, layers, the explanation methods it can run.
EMSCRIPTEN_KEEPALIVE const char* cl_model_json() {
    if (!S.net) return "null";
    const VggArch& a = S.net->arch();
    JsonWriter j;
    j.begin_object()
        .field("layout", layout_name(a.layout))
        .field("cfg", a.cfg_string())
        .field("input_size", a.input_size)
        .field("head", a.head == Head::Gap ? "gap" : "fc")
        .field("num_classes", a.num_classes)
        .field("batch_norm", a.batch_norm)
        .field("preprocess", preprocess_name(a.preprocess))
        .field("resize", resize_mode_name(default_resize(a)))
        .field("describe", a.describe())
        .field("dataset", model_dataset(a))
        .field("knows", model_knows(a))
        .field("threads", S.threads)
        .field("ms_load", S.ms_load)
        .field("lean", S.net->lean())
        .field("last_conv", S.net->last_conv().name);
    j.key("class_names").begin_array();
    for (const std::string& n : a.class_names) j.value(n);
    j.end_array().key("layers").begin_array();
    for (const LayerInfo& l : S.net->layers())
        j.begin_object().field("name", l.name).field("kind", layer_kind_name(l.kind)).field("h", l.h).field("w", l.w)
            .field("c", l.c).end_object();
    // every method of the table: the heatmap menu's (in_menu) and the others, which the tools rank by
    j.end_array().key("methods").begin_array();
    for (const MethodInfo& m : methods()) {
        const std::string why = method_unavailable(m, *S.net, nullptr);
        j.begin_object().field("name", m.name).field("label", m.label).field("about", m.about)
            .field("at_head_input_only", m.head_input_only).field("costly", m.costly).field("in_menu", m.in_menu)
            .field("at_layer", m.at_layer).field("unavailable", why).end_object();
    }
    j.end_array().key("tools").begin_array();
    for (const ToolInfo& t : tools()) j.begin_object().field("name", t.name).field("label", t.label).field("about", t.about).end_object();
    const OcclusionDefaults od = occlusion_defaults(a.input_size);
    const std::array<uint8_t, 3> blank = blank_rgb(a);
    j.end_array().key("occlusion").begin_object().field("patch", od.patch).field("stride", od.stride).end_object();
    j.key("blank_rgb").begin_array().value(blank[0]).value(blank[1]).value(blank[2]).end_array();
    if (!a.marker.empty()) {   // a shortcut model's markers (metadata marker_*): what "stamp a marker" stamps
        j.key("marker").begin_object().field("size", a.marker.size).field("value", a.marker.value).key("positions").begin_array();
        for (auto [r, c] : a.marker.positions) j.begin_array().value(r).value(c).end_array();
        j.end_array().end_object();
    }
    S.json = j.end_object().str();
    return S.json.c_str();
}

// An encoded image (PNG, JPEG, BMP, GIF). The bytes stay the caller's.
EMSCRIPTEN_KEEPALIVE int cl_set_image(const uint8_t* data, size_t size) {
    return guarded([&] {
        S.image = image_decode(data, size);
        S.have_image = true;
        S.edits = Json();   // a new image: no strokes, no object marked
        S.mask.clear();
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
        S.edits = Json();   // a new image: no strokes, no object marked
        S.mask.clear();
    });
}

// The threads cl_run will use on the current model and image: a small input (the built-in
// model's 28x28) runs faster on one thread: its layers are too small to share, and handing them
// to a pool costs more than it saves (occlusion's windows of a few pixels most of all: 3x slower
// on two threads). web/worker.js asks first: a pool's threads must have started loading.
EMSCRIPTEN_KEEPALIVE int cl_run_threads() {
    if (!S.net || !S.have_image) return 1;
    const int side = vgg_input_size(S.net->arch(), S.image.width == S.image.height ? S.image.width : 0);
    return side <= kSmallInput ? 1 : S.threads;
}

// Fit the image to the network (a model that takes any size is reshaped to a square image's
// side), preprocess, forward. Keeps per-layer value ranges for the "whole network" scale.
EMSCRIPTEN_KEEPALIVE int cl_run() {
    return guarded([&] {
        Vgg& n = net();
        if (!S.have_image) fail("no image");
        const int threads = cl_run_threads();
        n.set_input_size(vgg_input_size(n.arch(), S.image.width == S.image.height ? S.image.width : 0));
        const VggArch& arch = n.arch();
        n.set_threads(threads);
        S.fitted = image_fit(S.image, arch.input_size, default_resize(arch));
        paint_edits(S.fitted, arch);
        S.input = prepare_input(S.fitted, arch, ResizeMode::Exact, arch.preprocess);
        const double t0 = now_ms();
        n.forward(S.input.data());
        S.ms_forward = now_ms() - t0;
        S.ranges.clear();
        for (const LayerInfo& l : n.layers()) S.ranges.push_back(value_range(n.act(l), l.size()));
    });
}

// The brush strokes painted over the current image, replacing those set before (cl_run applies
// them): {"strokes": [{"xy": [x0, y0, x1, y1, ...], "radius": r, "erase": bool, "rgb": [r, g, b]}]},
// coordinates and radius in units of the side of the image the network sees (0..1); or a marker
// stamped, {"marker": class, "size": s, "value": v, "positions": [[row, col], ...]} (a shortcut
// model's metadata, input pixels). A new image starts without strokes. Returns the number of
// strokes, or -1.
EMSCRIPTEN_KEEPALIVE int cl_set_edits(const char* json) {
    int n = 0;
    const int rc = guarded([&] {
        Json e = Json::parse(json ? json : "");
        if (!e["strokes"].is_null() && e["strokes"].type() != Json::Array) fail("strokes must be an array");
        for (const Json& st : e["strokes"].items())
            if (!st["marker"].is_null()) {
                const Marker m = edit_marker(st);
                const int k = st["marker"].integer(-1);
                if (m.size < 1 || m.size > kMaxImageSide || m.value < 0 || m.value > 255)
                    fail("a marker needs a size >= 1 and a grey value in [0, 255]");
                for (auto [r, c] : m.positions)
                    if (r < 0 || c < 0 || r > kMaxImageSide || c > kMaxImageSide) fail("a marker position is not [row, col] >= 0");
                if (k < 0 || k >= (int)m.positions.size()) fail("no marker for class %d", k);
            } else if (st["xy"].size() < 2 || st["xy"].size() % 2 || !(st["radius"].number() > 0))
                fail("a stroke needs an even number (>= 2) of coordinates in \"xy\" and a radius > 0");
        n = (int)e["strokes"].size();
        S.edits = std::move(e);
    });
    return rc == 0 ? n : -1;
}

EMSCRIPTEN_KEEPALIVE const char* cl_result_json(int k) {
    if (!S.net || S.ranges.empty()) return "null";
    JsonWriter j;
    j.begin_object().key("top").begin_array();
    for (const Prediction& p : top_k(S.net->logits(), S.net->num_classes(), std::max(1, k)))
        j.begin_object().field("index", p.index).field("name", class_name(S.net->arch(), p.index))
            .field("prob", (double)p.prob).field("logit", (double)p.logit).end_object();
    j.end_array().key("range").begin_array();
    for (const Range& r : S.ranges) j.begin_array().value((double)r.lo).value((double)r.hi).end_array();
    j.end_array();
    j.key("image").begin_object().field("width", S.image.width).field("height", S.image.height).end_object();
    j.field("input_size", S.net->arch().input_size).field("edits", (int)S.edits["strokes"].size());
    j.key("ms").begin_object().field("load", S.ms_load).field("forward", S.ms_forward).field("backward", S.ms_backward)
        .field("explain", S.ms_explain).end_object();
    S.json = j.end_object().str();
    return S.json.c_str();
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

// The explanation maps of the current view, after cl_run(). request: {"method": name, "layer":
// index of a conv layer, "cls": class (-1 = top-1), "cls2": a second class (-1 = none),
// "guided": bool, "filmstrip": bool}. Slot 0 the class's map at the layer; slot 1 the same for
// cls2; slots 100+i every conv layer (filmstrip; a method that exists at one layer only shows
// Grad-CAM there); guided Grad-CAM then guided backprop as two RGB pictures back to back in
// cl_guided_rgb() (guided). Returns JSON describing the maps in cl_explain_buf() (raw, layer
// resolution, each followed by its channel weights), or null.
EMSCRIPTEN_KEEPALIVE const char* cl_explain(const char* request) {
    int rc = guarded([&] {
        Vgg& n = net();
        if (S.ranges.empty()) fail("no image has been run");
        const Json q = Json::parse(request ? request : "");
        const MethodInfo* m = method_find(q["method"].string());
        if (!m || !m->in_menu) fail("unknown method '%s' (%s)", q["method"].string().c_str(), method_names(true).c_str());
        const LayerInfo& l = layer_at(q["layer"].integer(-1));
        const int cls = q["cls"].integer(-1), cls2 = q["cls2"].integer(-1);
        S.ms_backward = S.ms_explain = 0;
        S.maps.clear();
        JsonWriter j;
        j.begin_object().key("maps").begin_array();
        auto add = [&](int slot, const ExplainResult& r) {
            const size_t off = S.maps.size();
            S.maps.insert(S.maps.end(), r.map.begin(), r.map.end());
            S.maps.insert(S.maps.end(), r.weights.begin(), r.weights.end());
            j.begin_object().field("slot", slot).field("layer", r.layer->name).field("method", method_info(r.method).name)
                .field("cls", r.cls).field("h", r.h).field("w", r.w).field("offset", (int64_t)off)
                .field("nweights", (int64_t)r.weights.size()).end_object();
        };
        const int c1 = cls >= 0 ? cls : top_k(n.logits(), n.num_classes(), 1)[0].index;
        if (cls2 >= 0 && cls2 < n.num_classes()) add(1, timed({m->id, cls2, &l}));
        if (q["filmstrip"].boolean()) {   // from the lowest layer up: one backward pass serves them all
            const Method sm = m->head_input_only || m->costly ? Method::GradCam : m->id;
            int k = 0;
            for (const LayerInfo& x : n.layers())
                if (x.kind == LayerInfo::Conv) add(100 + k++, timed({sm, c1, &x}));
        }
        const ExplainResult main = timed({m->id, c1, &l});
        add(0, main);
        S.guided_rgb.clear();
        int side = 0;
        if (q["guided"].boolean()) {
            const int S_ = n.arch().input_size, C = n.arch().in_channels;
            const bool bgr = n.arch().preprocess == Preprocess::Caffe;
            ExplainResult gg = timed({Method::GuidedGradCam, main.cls, &l}), gb = timed({Method::GuidedBackprop, main.cls});
            Image gi = gradient_image(gg.map.data(), S_, S_, C, bgr), bi = gradient_image(gb.map.data(), S_, S_, C, bgr);
            S.guided_rgb = std::move(gi.rgb);
            S.guided_rgb.insert(S.guided_rgb.end(), bi.rgb.begin(), bi.rgb.end());
            side = S_;
        }
        j.end_array().field("guided", side).field("cls", main.cls);
        j.key("ms").begin_object().field("backward", S.ms_backward).field("maps", S.ms_explain).end_object();
        S.json = j.end_object().str();
    });
    return rc == 0 ? S.json.c_str() : nullptr;
}
EMSCRIPTEN_KEEPALIVE const float* cl_explain_buf() { return S.maps.data(); }

// The article's figure of an explanation (explain.h: explanation_figure): the image as the network
// saw it, the heatmap and the overlay. request: {"method", "layer" (index), "cls" (-1: top-1),
// "colormap", "alpha", "tile" (pixels per picture), "gap"}. Returns its JSON {width, height,
// method, label, layer, cls, class}, the RGB pixels at cl_figure_rgb(); null on failure.
EMSCRIPTEN_KEEPALIVE const char* cl_figure(const char* request) {
    int rc = guarded([&] {
        Vgg& n = net();
        if (S.ranges.empty()) fail("no image has been run");
        const Json q = Json::parse(request ? request : "");
        auto text = [&](const char* key, const char* def) { return q[key].string().empty() ? std::string(def) : q[key].string(); };
        const MethodInfo* m = method_find(text("method", "gradcam"));
        if (!m || !m->in_menu) fail("unknown method '%s'", q["method"].string().c_str());
        const LayerInfo* at = m->head_input_only ? &n.head_input() : &layer_at(q["layer"].integer(-1));
        const std::string why = method_unavailable(*m, n, at);
        if (!why.empty()) fail("%s: %s", m->label, why.c_str());
        const int cls = q["cls"].integer(-1) >= 0 ? q["cls"].integer(-1) : top_k(n.logits(), n.num_classes(), 1)[0].index;
        if (cls >= n.num_classes()) fail("no class %d", cls);
        const ExplainResult r = timed({m->id, cls, at});
        const std::vector<float> map = map_magnitude(r);
        S.figure = explanation_figure(S.fitted, map.data(), r.h, r.w, q["tile"].integer(224),
                                      colormap_parse(text("colormap", "viridis")), (float)q["alpha"].number(0.5),
                                      q["gap"].integer(8));
        JsonWriter j;
        j.begin_object().field("width", S.figure.width).field("height", S.figure.height).field("method", m->name)
            .field("label", m->label).field("layer", r.layer ? r.layer->name : std::string()).field("cls", cls)
            .field("class", class_name(n.arch(), cls));
        S.json = j.end_object().str();
    });
    return rc == 0 ? S.json.c_str() : nullptr;
}
EMSCRIPTEN_KEEPALIVE const uint8_t* cl_figure_rgb() { return S.figure.rgb.data(); }
EMSCRIPTEN_KEEPALIVE const uint8_t* cl_guided_rgb() { return S.guided_rgb.data(); }

// Grad-CAM weights (alpha) of every channel of conv layer `layer` for class `cls` (-1 = top-1):
// the order in which the feature-map grid can be sorted. Null if `layer` is not a conv layer.
EMSCRIPTEN_KEEPALIVE const float* cl_channel_weights(int layer, int cls) {
    int rc = guarded([&] { S.chan_w = timed({Method::GradCam, cls, &layer_at(layer)}).weights; });
    return rc == 0 ? S.chan_w.data() : nullptr;
}

// The object the user marked for the pointing game: side x side bytes (1 = object); side 0
// clears it (the model's default: the garment for Fashion-MNIST models).
EMSCRIPTEN_KEEPALIVE int cl_set_mask(const uint8_t* mask, int side) {
    return guarded([&] {
        if (side < 0 || side > kMaxImageSide) fail("mask side %d", side);
        S.mask.assign(mask, mask + (size_t)side * side);
    });
}

// A tool (explain/tools.h) on the current image. request: {"tool": name, "cls": class (-1 = top-1),
// and per tool: occlusion "patch", "stride"; faithfulness "method", "layer" (index; CAM: the head's
// input), "steps", "seed", "baseline" (false: without the random ranking's curves); sanity "layer",
// "seed"; pointing "layer" (the mask used follows the maps, 0/1 floats)}. Maps go to cl_explain_buf(), described by
// the JSON returned (null on failure). Long tools report progress to the page.
EMSCRIPTEN_KEEPALIVE const char* cl_tool(const char* request) {
    int rc = guarded([&] {
        Vgg& n = net();
        if (S.ranges.empty()) fail("no image has been run");
        const Json q = Json::parse(request ? request : "");
        const ToolInfo* t = tool_find(q["tool"].string());
        if (!t) fail("unknown tool '%s'", q["tool"].string().c_str());
        const int cls = q["cls"].integer(-1) >= 0 ? q["cls"].integer(-1) : top_k(n.logits(), n.num_classes(), 1)[0].index;
        const Progress progress = [t](int done, int total) { js_progress("Running %s", t->label, done, total); };
        const double t0 = now_ms();
        S.maps.clear();
        JsonWriter j;
        j.begin_object().field("tool", t->name).field("cls", cls);
        switch (t->id) {
            case Tool::Occlusion: {
                const Occlusion o = occlusion(n, cls, q["patch"].integer(0), q["stride"].integer(0), false, progress);
                S.maps = o.prob;
                S.maps.insert(S.maps.end(), o.logit.begin(), o.logit.end());
                j.field("ny", o.ny).field("nx", o.nx).field("patch", o.patch).field("stride", o.stride);
                break;
            }
            case Tool::Faithfulness: {
                const MethodInfo* m = method_find(q["method"].string());
                if (!m) fail("unknown method '%s'", q["method"].string().c_str());
                const LayerInfo* at = m->head_input_only ? &n.head_input() : &layer_at(q["layer"].integer(-1));
                const std::string why = method_unavailable(*m, n, at);
                if (!why.empty()) fail("%s: %s", m->label, why.c_str());
                const ExplainResult r = explain(n, {m->id, cls, at});
                const int side = n.arch().input_size, steps = q["steps"].integer(20);
                if (steps < 1 || steps > side * side) fail("steps must be in [1, %d]", side * side);
                const Faithfulness f = faithfulness(n, cls, rank_pixels(map_magnitude(r), r.h, r.w, side), steps, progress);
                Faithfulness b;   // the random ranking's curves: asked for once per plot ("baseline": false skips them)
                if (q["baseline"].boolean(true))
                    b = faithfulness(n, cls, random_ranking(side * side, (uint64_t)q["seed"].integer(1)), steps);
                j.field("method", m->name).field("layer", r.layer ? r.layer->name : std::string()).field("steps", steps);
                std::vector<std::pair<const char*, const Faithfulness*>> curves = {{"map", &f}};
                if (!b.fraction.empty()) curves.push_back({"random", &b});
                for (auto [key, c] : curves) {
                    j.key(key).begin_object().field("deletion_auc", c->deletion_auc).field("insertion_auc", c->insertion_auc);
                    for (auto [k, v] : {std::pair<const char*, const std::vector<double>*>{"fraction", &c->fraction},
                                        {"deletion", &c->deletion}, {"insertion", &c->insertion}}) {
                        j.key(k).begin_array();
                        for (double x : *v) j.value(x);
                        j.end_array();
                    }
                    j.end_object();
                }
                break;
            }
            case Tool::Sanity: {
                const Sanity s = sanity(n, S.input, cls, layer_at(q["layer"].integer(-1)), (uint64_t)q["seed"].integer(1), progress);
                j.key("rows").begin_array();
                for (size_t i = 0; i < s.rows.size(); i++) {
                    const ExplainResult& r = s.maps[(size_t)s.rows[i].step][i % s.methods.size()];
                    const std::vector<float> mag = map_magnitude(r);
                    j.begin_object().field("step", s.rows[i].step).field("randomised_to", s.rows[i].randomised_to)
                        .field("method", s.rows[i].method).field("spearman", s.rows[i].spearman).field("h", r.h)
                        .field("w", r.w).field("offset", (int64_t)S.maps.size()).end_object();
                    S.maps.insert(S.maps.end(), mag.begin(), mag.end());
                }
                j.end_array().key("survivors").begin_array();
                for (const std::string& m : s.survivors) j.value(m);
                j.end_array();
                break;
            }
            case Tool::Pointing: {   // every cheap method at the layer (input gradients: their magnitude), against the object
                const LayerInfo& l = layer_at(q["layer"].integer(-1));
                const int side = n.arch().input_size;
                std::vector<uint8_t> mask = S.mask.size() == (size_t)side * side ? S.mask : default_object_mask(S.fitted, n.arch());
                if (mask.empty()) fail("mark the object first (no default object for this model)");
                j.key("rows").begin_array();
                for (const MethodInfo& m : methods()) {
                    if (m.costly) continue;
                    const LayerInfo* at = m.head_input_only ? &n.head_input() : &l;
                    if (!method_unavailable(m, n, at).empty()) continue;
                    const ExplainResult r = explain(n, {m.id, cls, at});
                    const Pointing p = pointing(map_magnitude(r), r.h, r.w, mask, side);
                    j.begin_object().field("method", m.name).field("label", m.label).field("layer", m.at_layer ? at->name : "input")
                        .field("energy_inside", p.energy_inside).field("max_inside", p.max_inside).end_object();
                }
                size_t area = 0;
                for (uint8_t v : mask) area += v != 0;
                j.end_array().field("object_share", (double)area / (double)mask.size()).field("mask_side", side)
                    .field("mask_offset", (int64_t)S.maps.size()).field("user_mask", S.mask.size() == (size_t)side * side);
                S.maps.insert(S.maps.end(), mask.begin(), mask.end());   // the object used, as 0/1 floats
                break;
            }
        }
        S.json = j.field("ms", now_ms() - t0).end_object().str();
    });
    return rc == 0 ? S.json.c_str() : nullptr;
}

}  // extern "C"
