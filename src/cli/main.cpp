// cnnlens: the command-line front end of CNN Lens.
//
//   cnnlens predict  [--weights W] --image I          top-5 with probabilities
//                    (no --weights: the built-in Fashion-MNIST model, assets/fashion_mnist_vgg_gap.safetensors)
//   cnnlens dump     --weights W --image I --npy DIR  logits.npy, act_<layer>.npy (HWC, float32)
//   cnnlens features --weights W --image I --layer L --out grid.png
//   cnnlens explain  --weights W --image I --class 712,281 --layer all [--dump-npy DIR] [--out PREFIX]
//   cnnlens info     --weights W                      what was inferred from the file
//   cnnlens bench    [--weights W | --cfg D]          forward timings (median ms)
//
// Every failure prints one line "cnnlens: error: <reason>" and exits non-zero.
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "cli/cli.h"
#include "core/error.h"
#include "explain/colormap.h"
#include "explain/explain.h"
#include "io/image.h"
#include "io/npy.h"
#include "io/weights.h"
#include "model/predict.h"

using namespace cnnlens;

namespace {

// ---------------------------------------------------------------------------- arguments

struct Command {
    const char* name;
    const char* summary;
    const char* usage;           // the flags, one per line
    std::set<std::string> flags; // accepted --flags (all take a value)
    int (*run)(std::map<std::string, std::string>&);
};

const char* kModelFlags =
    "  --weights FILE       .safetensors (torchvision or timm keys), .pth (zip or legacy) or Keras .h5\n"
    "                       (default: the built-in Fashion-MNIST model)\n"
    "  --cfg LIST           check/force the layer list: A|B|D|E, vgg16, or e.g. 64,M,128,M\n"
    "  --head fc|gap        check the classifier head\n"
    "  --input-size N       square input side (default: from the file or the image)\n"
    "  --threads N          compute threads (default 1)\n";
const char* kImageFlags =
    "  --image FILE         JPEG, PNG, BMP, GIF, TGA ...\n"
    "  --preprocess MODE    torch|caffe|mean_std (default: the file's metadata; caffe for Keras files,\n"
    "                       mean_std for greyscale models, torch otherwise)\n"
    "  --resize MODE        resize-crop|squash|center-square|exact (default: resize-crop, squash for Keras;\n"
    "                       an image already at the input size is used unchanged)\n";

std::string get(std::map<std::string, std::string>& a, const char* k, const char* def = "") {
    auto it = a.find(k);
    return it == a.end() ? def : it->second;
}
std::string need(std::map<std::string, std::string>& a, const char* k) {
    auto it = a.find(k);
    if (it == a.end()) fail("missing --%s (see --help)", k);
    return it->second;
}
int get_int(std::map<std::string, std::string>& a, const char* k, int def, int lo, int hi) {
    std::string s = get(a, k);
    if (s.empty()) return def;
    char* end = nullptr;
    long v = std::strtol(s.c_str(), &end, 10);
    if (*end || v < lo || v > hi) fail("--%s must be an integer in [%d, %d], got '%s'", k, lo, hi, s.c_str());
    return (int)v;
}

double now_ms() {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// ---------------------------------------------------------------------------- shared steps

struct Loaded {
    std::unique_ptr<Vgg> net;
    Image image;
    std::vector<float> input;
    Preprocess pre;
    ResizeMode resize;
};

ArchOverrides overrides(std::map<std::string, std::string>& a) {
    ArchOverrides ov;
    ov.cfg = get(a, "cfg");
    ov.head = get(a, "head");
    ov.input_size = get_int(a, "input-size", 0, 1, 4096);
    return ov;
}

Loaded load_and_run(std::map<std::string, std::string>& a) {
    Loaded L;
    std::string wpath = weights_path(a), ipath = need(a, "image");
    L.image = image_load(ipath);
    int side = L.image.width == L.image.height ? L.image.width : 0;
    {
        std::vector<uint8_t> bytes = read_file(wpath);
        try {
            L.net = vgg_load(std::move(bytes), overrides(a), side);
        } catch (const Error& e) {
            fail("%s: %s", wpath.c_str(), e.what());
        }
    }
    const VggArch& arch = L.net->arch();
    L.pre = a.count("preprocess") ? preprocess_parse(a["preprocess"]) : arch.preprocess;
    L.resize = a.count("resize") ? resize_mode_parse(a["resize"]) : default_resize(arch);
    L.input = prepare_input(L.image, arch, L.resize, L.pre);
    L.net->set_threads(get_int(a, "threads", 1, 1, 64));
    L.net->forward(L.input.data());
    return L;
}

// ---------------------------------------------------------------------------- commands

int cmd_predict(std::map<std::string, std::string>& a) {
    Loaded L = load_and_run(a);
    int k = get_int(a, "top", 5, 1, 1000000);
    for (const Prediction& p : top_k(L.net->logits(), L.net->num_classes(), k))
        std::printf("%5d  %6.2f%%  logit %9.4f  %s\n", p.index, 100.0 * p.prob, p.logit,
                    class_name(L.net->arch(), p.index).c_str());
    return 0;
}

void make_dir(const std::string& d) {
    if (mkdir(d.c_str(), 0755) != 0 && errno != EEXIST) fail("cannot create directory '%s'", d.c_str());
}

// input_nchw.npy, logits.npy and act_<layer>.npy (HWC) for every layer; returns the count.
int dump_forward(const Loaded& L, const std::string& dir) {
    const Vgg& net = *L.net;
    const int S = net.arch().input_size, C = net.arch().in_channels;   // 1 for greyscale models
    std::vector<float> nchw((size_t)C * S * S);   // the network input, as the oracle's input_nchw.npy
    for (int c = 0; c < C; c++)
        for (int p = 0; p < S * S; p++) nchw[(size_t)c * S * S + p] = L.input[(size_t)p * C + c];
    npy_write(dir + "/input_nchw.npy", nchw.data(), {1, C, S, S});
    npy_write(dir + "/logits.npy", net.logits(), {net.num_classes()});
    int n = 2;
    for (const LayerInfo& l : net.layers()) {
        if (l.name == "predictions") continue;
        std::vector<int64_t> shape = l.kind == LayerInfo::Conv || l.kind == LayerInfo::Pool
                                         ? std::vector<int64_t>{l.h, l.w, l.c}
                                         : std::vector<int64_t>{l.c};
        npy_write(dir + "/act_" + l.name + ".npy", net.act(l), shape);
        n++;
    }
    return n;
}

int cmd_dump(std::map<std::string, std::string>& a) {
    Loaded L = load_and_run(a);
    std::string dir = need(a, "npy");
    make_dir(dir);
    int n = dump_forward(L, dir);
    const int S = L.net->arch().input_size;
    std::printf("wrote %d arrays to %s (preprocess %s, input %dx%d)\n", n, dir.c_str(), preprocess_name(L.pre), S, S);
    return 0;
}

int cmd_features(std::map<std::string, std::string>& a) {
    Loaded L = load_and_run(a);
    const Vgg& net = *L.net;
    std::string name = get(a, "layer", "block1_conv1");
    const LayerInfo* l = net.layer(name);
    if (!l || (l->kind != LayerInfo::Conv && l->kind != LayerInfo::Pool)) {
        std::string names;
        for (const LayerInfo& x : net.layers())
            if (x.kind == LayerInfo::Conv || x.kind == LayerInfo::Pool) names += " " + x.name;
        fail("no feature-map layer '%s'; choose one of:%s", name.c_str(), names.c_str());
    }
    int count = std::min(get_int(a, "count", 64, 1, 4096), l->c);
    std::vector<int> ch;
    std::string order = get(a, "order", "index");
    for (int c = 0; c < l->c; c++) ch.push_back(c);
    if (order == "activation") {   // strongest mean activation first
        std::vector<double> m((size_t)l->c, 0.0);
        const float* x = net.act(*l);
        for (size_t p = 0; p < (size_t)l->h * l->w; p++)
            for (int c = 0; c < l->c; c++) m[(size_t)c] += x[p * l->c + c];
        std::stable_sort(ch.begin(), ch.end(), [&](int i, int j) { return m[(size_t)i] > m[(size_t)j]; });
    } else if (order != "index") {
        fail("--order must be index or activation");
    }
    ch.resize((size_t)count);
    int cols = get_int(a, "cols", std::max(1, (int)std::ceil(std::sqrt((double)count))), 1, 4096);
    RgbImage g = feature_grid(net.act(*l), l->h, l->w, l->c, ch, cols, get_int(a, "tile", 96, 8, 1024),
                              colormap_parse(get(a, "colormap", "viridis")));
    std::string out = need(a, "out");
    png_write(out, g.width, g.height, 3, g.rgb.data());
    std::printf("wrote %s: %d of %d channels of %s (%dx%d each), %dx%d pixels\n", out.c_str(), count, l->c,
                name.c_str(), l->h, l->w, g.width, g.height);
    return 0;
}

// "top1".."top5", an index, a class name or a WordNet id; several separated by commas.
std::vector<int> parse_classes(const std::string& spec, const Vgg& net) {
    std::vector<int> out;
    std::vector<Prediction> top = top_k(net.logits(), net.num_classes(), 5);
    for (const std::string& tok : split(spec)) {
        int c = -1;
        if (tok.size() == 4 && tok.compare(0, 3, "top") == 0 && tok[3] >= '1' && tok[3] <= '5')
            c = tok[3] - '1' < (int)top.size() ? top[(size_t)(tok[3] - '1')].index : -1;
        else
            c = class_find(net.arch(), tok);
        if (c < 0) fail("unknown class '%s' (use an index 0..%d, top1..top5, or a class name)", tok.c_str(), net.num_classes() - 1);
        if (std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
    }
    if (out.empty()) fail("--class is empty");
    return out;
}

int cmd_explain(std::map<std::string, std::string>& a) {
    Loaded L = load_and_run(a);
    Vgg& net = *L.net;
    const VggArch& arch = net.arch();
    const int S = arch.input_size;
    std::vector<const LayerInfo*> convs;
    for (const LayerInfo& l : net.layers())
        if (l.kind == LayerInfo::Conv) convs.push_back(&l);
    const LayerInfo* last = convs.back();
    std::vector<const LayerInfo*> layers;
    std::string lspec = get(a, "layer", "all");
    if (lspec == "all") layers = convs;
    else for (std::string name : split(lspec)) {
        if (name == "last") name = last->name;
        const LayerInfo* l = net.layer(name);
        if (!l || l->kind != LayerInfo::Conv) fail("no conv layer '%s' (use a name like %s, 'last' or 'all')", name.c_str(), last->name.c_str());
        layers.push_back(l);
    }
    std::vector<int> classes = parse_classes(get(a, "class", "top1"), net);
    std::string method = get(a, "method", "gradcam");
    if (method != "gradcam" && method != "gradcampp" && method != "layercam" && method != "counterfactual" && method != "cam")
        fail("unknown --method '%s' (gradcam, gradcampp, layercam, counterfactual, cam)", method.c_str());
    if (method == "cam" && arch.head != Head::Gap) fail("CAM needs a model with a gap head; this one has an fc head");
    Colormap cmap = colormap_parse(get(a, "colormap", "viridis"));
    float alpha = (float)std::atof(get(a, "alpha", "0.5").c_str());
    std::string dir = get(a, "dump-npy"), prefix = get(a, "out");
    if (dir.empty() && prefix.empty()) fail("nothing to write: give --dump-npy DIR and/or --out PREFIX");
    if (!dir.empty()) {
        make_dir(dir);
        dump_forward(L, dir);
    }
    // the figures: the input as the network saw it, enlarged (nearest) when it is small
    const int zoom = S < 224 ? (224 + S - 1) / S : 1, D = S * zoom;
    Image img = image_zoom(image_fit(L.image, S, L.resize), zoom);
    const bool bgr = L.pre == Preprocess::Caffe;
    auto save = [&](const std::string& name, const float* d, std::vector<int64_t> shape) {
        if (!dir.empty()) npy_write(dir + "/" + name + ".npy", d, shape);
    };
    // one layer's map for the chosen method (the overlay figure) or any method (the files)
    auto map_of = [&](const std::string& m, const LayerInfo& l, int c, std::vector<float>& map, std::vector<float>& w) {
        map.assign((size_t)l.h * l.w, 0.0f);
        w.assign((size_t)l.c, 0.0f);
        const float* A = net.act(l);
        const float* G = net.grad(l);
        if (m == "gradcam" || m == "counterfactual") gradcam(A, G, l.h, l.w, l.c, map.data(), w.data(), m == "counterfactual");
        else if (m == "gradcampp") gradcampp(A, G, l.h, l.w, l.c, map.data(), w.data());
        else if (m == "layercam") layercam(A, G, l.h, l.w, l.c, map.data());
        else cam(A, l.h, l.w, l.c, net.dense().back().w.data() + (size_t)c * l.c, map.data());
    };
    const LayerInfo* fig_layer = layers.size() == 1 ? layers[0] : last;
    std::vector<float> map, w;
    for (int c : classes) {
        net.backward(c, false);
        for (const LayerInfo* l : layers) {
            map_of("gradcam", *l, c, map, w);
            save(strformat("gradcam_%s_c%d", l->name.c_str(), c), map.data(), {l->h, l->w});
            save(strformat("gradcam_weights_%s_c%d", l->name.c_str(), c), w.data(), {l->c});
            if (method == "layercam" || method == "counterfactual") {
                map_of(method, *l, c, map, w);
                save(strformat("%s_%s_c%d", method.c_str(), l->name.c_str(), c), map.data(), {l->h, l->w});
            }
        }
        map_of("gradcampp", *last, c, map, w);
        save(strformat("gradcampp_%s_c%d", last->name.c_str(), c), map.data(), {last->h, last->w});
        save(strformat("gradcampp_weights_%s_c%d", last->name.c_str(), c), w.data(), {last->c});
        if (arch.head == Head::Gap) {
            map_of("cam", *last, c, map, w);
            save(strformat("cam_c%d", c), map.data(), {last->h, last->w});
        }
        save(strformat("saliency_c%d", c), net.input_grad(), {S, S, arch.in_channels});
        std::string cname = class_name(arch, c);
        if (!prefix.empty()) {
            // the chosen method at one layer, over the image
            std::vector<float> cam_map, up((size_t)D * D), up01((size_t)D * D);
            map_of(method, *fig_layer, c, cam_map, w);
            upsample_bilinear(cam_map.data(), fig_layer->h, fig_layer->w, D, D, up.data());
            normalize01(up.data(), up.size(), up01.data());
            Image ov = overlay(img, up01.data(), cmap, alpha);
            std::string f = strformat("%s_%s_%s_c%d.png", prefix.c_str(), method.c_str(), fig_layer->name.c_str(), c);
            png_write(f, ov.width, ov.height, 3, ov.rgb.data());
            std::printf("wrote %s (%s for class %d '%s' at %s)\n", f.c_str(), method.c_str(), c, cname.c_str(), fig_layer->name.c_str());
            // every conv layer on one shared scale
            std::vector<std::vector<float>> maps;
            std::vector<MapRef> refs;
            for (const LayerInfo* l : convs) {
                std::vector<float> m, ww;
                map_of(method == "cam" ? "gradcam" : method, *l, c, m, ww);
                maps.push_back(std::move(m));
                refs.push_back({maps.back().data(), l->h, l->w});
            }
            for (size_t i = 0; i < refs.size(); i++) refs[i].data = maps[i].data();
            RgbImage fs = filmstrip(img, refs, cmap, alpha, 0, 4, true);
            f = strformat("%s_filmstrip_c%d.png", prefix.c_str(), c);
            png_write(f, fs.width, fs.height, 3, fs.rgb.data());
            std::printf("wrote %s (%s at all %zu conv layers, one shared scale)\n", f.c_str(),
                        method == "cam" ? "gradcam" : method.c_str(), convs.size());
            // the feature maps that drive the Grad-CAM: top channels by alpha
            map_of("gradcam", *fig_layer, c, cam_map, w);
            std::vector<int> top = top_channels(w.data(), fig_layer->c, 16);
            RgbImage grid = feature_grid(net.act(*fig_layer), fig_layer->h, fig_layer->w, fig_layer->c, top, 8, 96, cmap);
            f = strformat("%s_top_channels_%s_c%d.png", prefix.c_str(), fig_layer->name.c_str(), c);
            png_write(f, grid.width, grid.height, 3, grid.rgb.data());
            std::printf("wrote %s (the 16 channels of %s with the largest Grad-CAM weight)\n", f.c_str(), fig_layer->name.c_str());
            map = cam_map;
        }
        net.backward(c, true);
        save(strformat("guided_backprop_c%d", c), net.input_grad(), {S, S, arch.in_channels});
        if (!prefix.empty()) {
            const int C = arch.in_channels;
            std::vector<float> gg((size_t)S * S * C);
            guided_gradcam(map.data(), fig_layer->h, fig_layer->w, net.input_grad(), S, S, C, gg.data());
            Image gi = image_zoom(gradient_image(gg.data(), S, S, C, bgr), zoom);
            std::string f = strformat("%s_guided_gradcam_%s_c%d.png", prefix.c_str(), fig_layer->name.c_str(), c);
            png_write(f, gi.width, gi.height, 3, gi.rgb.data());
            std::printf("wrote %s (guided Grad-CAM)\n", f.c_str());
        }
        std::printf("class %d (%s): logit %.4f\n", c, cname.c_str(), net.logits()[c]);
    }
    if (!dir.empty()) std::printf("wrote arrays to %s\n", dir.c_str());
    return 0;
}

int cmd_info(std::map<std::string, std::string>& a) {
    std::string wpath = weights_path(a);
    std::vector<uint8_t> bytes = read_file(wpath);
    try {
        TensorFile tf = load_weights(bytes.data(), bytes.size());
        VggArch arch = vgg_infer_arch(tf, overrides(a), 0);
        size_t params = 0;
        for (const TensorRef& t : tf.tensors) params += (size_t)t.numel();
        std::printf("file:         %s (%.1f MB, %s, %zu tensors, %.2f M parameters)\n", wpath.c_str(),
                    bytes.size() / 1e6, tf.format.c_str(), tf.tensors.size(), params / 1e6);
        std::printf("%s", arch.describe().c_str());
        if (a.count("tensors"))
            for (const TensorRef& t : tf.tensors)
                std::printf("  %-32s %-5s %s\n", t.name.c_str(), dtype_name(t.dtype), t.shape_str().c_str());
    } catch (const Error& e) {
        fail("%s: %s", wpath.c_str(), e.what());
    }
    return 0;
}

// Resident memory now / at its peak (native, /proc/self/status VmRSS / VmHWM), or the
// WebAssembly heap size (which only grows, so it is both).
std::string proc_status(const char* key) {
#if defined(__EMSCRIPTEN__)
    return strformat("wasm heap %.0f MB", __builtin_wasm_memory_size(0) * 65536.0 / 1e6);
#else
    FILE* f = std::fopen("/proc/self/status", "r");
    if (!f) return "unknown";
    char line[256];
    std::string out = "unknown";
    while (std::fgets(line, sizeof line, f))
        if (!std::strncmp(line, key, std::strlen(key))) out = strformat("%s %.0f MB", key, std::atof(line + std::strlen(key) + 1) / 1024);
    std::fclose(f);
    return out;
#endif
}
std::string memory_now() { return proc_status("VmRSS"); }
std::string peak_memory() { return proc_status("VmHWM"); }

int cmd_bench(std::map<std::string, std::string>& a) {
    double t0 = now_ms();
    std::unique_ptr<Vgg> net;
    std::string what;
    if (a.count("weights")) {
        std::vector<uint8_t> bytes = read_file(a["weights"]);
        net = vgg_load(std::move(bytes), overrides(a));
        what = a["weights"];
    } else {
        std::vector<int> cfg = vgg_parse_cfg(get(a, "cfg", "D"));
        int size = get_int(a, "input-size", 224, 32, 1024);
        TensorFile tf = vgg_random_weights(cfg, 3, size, Head::Fc, 4096, 1000, 1);
        double t1 = now_ms();
        VggArch arch = vgg_infer_arch(tf, {}, 0);
        net = std::make_unique<Vgg>(arch, tf);
        what = strformat("random weights (%.0f ms to generate)", t1 - t0);
        t0 = t1;
    }
    double t_load = now_ms() - t0;
    const VggArch& arch = net->arch();
    std::printf("model: %s, cfg %s, input %dx%d; load + pack %.0f ms\n", what.c_str(), arch.cfg_string().c_str(),
                arch.input_size, arch.input_size, t_load);
    std::vector<float> x((size_t)arch.input_size * arch.input_size * arch.in_channels);
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> ud(-2, 2);
    for (float& v : x) v = ud(rng);
    int reps = get_int(a, "reps", 10, 1, 10000);
    std::string threads = get(a, "threads", "1,2");
    for (const std::string& tok : split(threads)) {
        int n = std::atoi(tok.c_str());
        if (n < 1) continue;
        net->set_threads(n);
        net->forward(x.data());   // warm-up
        std::vector<double> ms;
        for (int r = 0; r < reps; r++) {
            double s = now_ms();
            net->forward(x.data());
            ms.push_back(now_ms() - s);
        }
        std::sort(ms.begin(), ms.end());
        std::printf("forward                               threads %d: median %8.1f ms  (min %.1f, max %.1f, %d runs)\n", n, ms[ms.size() / 2],
                    ms.front(), ms.back(), reps);
        std::string last_conv;
        for (const LayerInfo& l : net->layers())
            if (l.kind == LayerInfo::Conv) last_conv = l.name;
        std::vector<float> cam_map((size_t)net->layer(last_conv)->h * net->layer(last_conv)->w);
        for (int mode = 0; mode < 2; mode++) {
            std::vector<double> t;
            for (int r = 0; r < reps + 1; r++) {
                double s = now_ms();
                net->forward(x.data());
                net->backward(0, false, mode == 0 ? last_conv : "");
                if (mode == 0) {   // the Grad-CAM map itself
                    const LayerInfo& l = *net->layer(last_conv);
                    gradcam(net->act(l), net->grad(l), l.h, l.w, l.c, cam_map.data(), nullptr);
                }
                if (r) t.push_back(now_ms() - s);   // the first run warms up
            }
            std::sort(t.begin(), t.end());
            const double fwd = ms[ms.size() / 2], both = t[t.size() / 2];
            std::printf("%-37s threads %d: median %8.1f ms  (backward alone %.1f ms = %.2fx forward)\n",
                        mode == 0 ? ("forward + Grad-CAM at " + last_conv + ",").c_str() : "forward + backward to the input,", n,
                        both, both - fwd, (both - fwd) / fwd);
        }
    }
    std::printf("memory with forward and backward ready: %s; peak %s\n", memory_now().c_str(), peak_memory().c_str());
    return 0;
}

const Command kCommands[] = {
    {"predict", "top-k classes with probabilities", "  --top K              how many (default 5)\n",
     {"weights", "image", "cfg", "head", "input-size", "threads", "preprocess", "resize", "top"}, cmd_predict},
    {"dump", "write logits.npy and act_<layer>.npy (HWC float32) for every layer",
     "  --npy DIR            output directory (created)\n",
     {"weights", "image", "cfg", "head", "input-size", "threads", "preprocess", "resize", "npy"}, cmd_dump},
    {"features", "a PNG grid of one layer's feature maps",
     "  --layer NAME         e.g. block1_conv1 (default), block3_conv3, block5_pool\n"
     "  --out FILE.png       output image\n"
     "  --count N            channels to show (default 64)\n"
     "  --order index|activation   channel order (default index)\n"
     "  --cols N, --tile PX  grid columns, tile size in pixels (default 96)\n"
     "  --colormap NAME      viridis (default), inferno, turbo, jet, grey\n",
     {"weights", "image", "cfg", "head", "input-size", "threads", "preprocess", "resize", "layer", "out", "count",
      "order", "cols", "tile", "colormap"},
     cmd_features},
    {"explain", "Grad-CAM (all layers at once), Grad-CAM++, LayerCAM, CAM, saliency, guided backprop: arrays and figures",
     "  --class LIST         indices, names, WordNet ids or top1..top5 (default top1)\n"
     "  --layer LIST         conv layer names, 'last' or 'all' (default all)\n"
     "  --method NAME        gradcam (default), gradcampp, layercam, counterfactual, cam (gap heads): the figures\n"
     "  --dump-npy DIR       write every array (names as the oracle: gradcam_<layer>_c<c>.npy, ...)\n"
     "  --out PREFIX         write PNG figures: overlay, filmstrip of all conv layers, top channels, guided Grad-CAM\n"
     "  --colormap NAME      viridis (default), inferno, turbo, jet\n"
     "  --alpha A            heatmap opacity over the image (default 0.5)\n",
     {"weights", "image", "cfg", "head", "input-size", "threads", "preprocess", "resize", "class", "layer", "method",
      "dump-npy", "out", "colormap", "alpha"},
     cmd_explain},
    {"info", "what was inferred from a weight file", "  --tensors 1          also list every tensor\n",
     {"weights", "cfg", "head", "input-size", "tensors"}, cmd_info},
    {"bench", "forward timings: median ms over repeated runs (random VGG weights unless --weights)",
     "  --cfg LIST           architecture for random weights (default D = VGG16)\n"
     "  --input-size N       (default 224)\n"
     "  --threads LIST       thread counts to time (default 1,2)\n"
     "  --reps N             timed runs per setting (default 10)\n",
     {"weights", "cfg", "input-size", "threads", "reps", "head"}, cmd_bench},
    {"train", "train a VGG-GAP network on Fashion-MNIST with our own backward pass; write a safetensors checkpoint",
     "  --out FILE           checkpoint (.safetensors: torchvision keys, batch norm folded, metadata)\n"
     "  --data DIR           IDX files, plain or .gz (default /usr/share/datasets/fashion-mnist)\n"
     "  --cfg LIST           layers (default 32,32,M,64,64,M,128,128); --bn 0|1 batch norm (default 1)\n"
     "  --epochs N, --batch N            (default 20, 128)\n"
     "  --opt sgd|adam, --lr X, --momentum X, --wd X   (default sgd, 0.05 (adam 1e-3), 0.9 Nesterov, 5e-4)\n"
     "  --schedule cosine|step|const, --warmup EPOCHS, --step-epochs N   (default cosine, 0, 10)\n"
     "  --shift PX, --flip 0|1           augmentation: random shifts, horizontal flips (default 2, 1)\n"
     "  --cam-loss W         penalise the label's CAM outside the garment (weight W; default 0)\n"
     "  --seed N, --threads N            (default 1, 1); same seed = same weights\n"
     "  --subset N, --max-steps N, --eval-every K (0 = never), --log FILE (per-epoch lines)\n"
     "  --state FILE         training state after each epoch; an existing one is resumed (same flags)\n",
     {"out", "data", "cfg", "bn", "epochs", "batch", "opt", "lr", "momentum", "wd", "schedule", "warmup", "step-epochs",
      "shift", "flip", "cam-loss", "seed", "threads", "subset", "max-steps", "eval-every", "log", "state"},
     cnnlens::cmd_train},
    {"eval", "accuracy, confusion matrix and CAM-on-object share of a Fashion-MNIST model (as the app runs it)",
     "  --weights FILE       a checkpoint written by cnnlens train (default: the built-in model)\n"
     "  --data DIR           IDX files (default /usr/share/datasets/fashion-mnist); --split test|train\n"
     "  --count N            only the first N images (default all)\n"
     "  --threads N          compute threads (default 1)\n",
     {"weights", "data", "split", "count", "threads"}, cnnlens::cmd_eval},
    {"samples", "write the first test images of each Fashion-MNIST class as PNGs (the web page's gallery)",
     "  --out DIR            where to write <class>-<name>-test<index>.png\n"
     "  --per-class N        (default 3)\n"
     "  --data DIR           IDX files (default /usr/share/datasets/fashion-mnist)\n",
     {"out", "per-class", "data"}, cnnlens::cmd_samples},
};

void usage(FILE* f) {
    std::fprintf(f, "usage: cnnlens <command> [--flag value ...]\n\ncommands:\n");
    for (const Command& c : kCommands) std::fprintf(f, "  %-9s %s\n", c.name, c.summary);
    std::fprintf(f, "\n'cnnlens <command> --help' shows a command's flags.\n");
}

}  // namespace

#ifndef CNNLENS_BUILTIN_MODEL
#define CNNLENS_BUILTIN_MODEL "assets/fashion_mnist_vgg_gap.safetensors"
#endif
// --weights, or the built-in model (its path in the source tree is compiled in).
std::string cnnlens::weights_path(Args& a) {
    auto it = a.find("weights");
    if (it != a.end()) return it->second;
    struct stat st;
    if (stat(CNNLENS_BUILTIN_MODEL, &st) != 0)
        fail("no --weights given and the built-in model is missing (%s)", CNNLENS_BUILTIN_MODEL);
    return CNNLENS_BUILTIN_MODEL;
}

int main(int argc, char** argv) {
    if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const Command* cmd = nullptr;
    for (const Command& c : kCommands)
        if (!std::strcmp(argv[1], c.name)) cmd = &c;
    if (!cmd) {
        std::fprintf(stderr, "cnnlens: error: unknown command '%s' (try --help)\n", argv[1]);
        return 2;
    }
    std::map<std::string, std::string> args;
    for (int i = 2; i < argc; i++) {
        std::string f = argv[i];
        if (f == "--help" || f == "-h") {
            bool model = cmd->flags.count("weights"), image = cmd->flags.count("image");
            std::printf("usage: cnnlens %s [flags]\n%s\n\nflags:\n%s%s%s", cmd->name, cmd->summary,
                        model ? kModelFlags : "", image ? kImageFlags : "", cmd->usage);
            return 0;
        }
        if (f.rfind("--", 0) != 0 || !cmd->flags.count(f.substr(2))) {
            std::fprintf(stderr, "cnnlens: error: unknown argument '%s' for '%s' (try cnnlens %s --help)\n", f.c_str(),
                         cmd->name, cmd->name);
            return 2;
        }
        if (i + 1 >= argc) {
            std::fprintf(stderr, "cnnlens: error: %s needs a value\n", f.c_str());
            return 2;
        }
        args[f.substr(2)] = argv[++i];
    }
    try {
        return cmd->run(args);
    } catch (const Error& e) {
        std::fprintf(stderr, "cnnlens: error: %s\n", e.what());
    } catch (const std::bad_alloc&) {
        std::fprintf(stderr, "cnnlens: error: out of memory\n");
    } catch (const std::exception& e) {
        std::fprintf(stderr, "cnnlens: error: %s\n", e.what());
    }
    return 1;
}
