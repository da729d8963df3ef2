// cnnlens: the command-line front end of CNN Lens.
//
//   cnnlens predict  [--weights W] --image I          top-5 with probabilities
//                    (no --weights: the built-in Fashion-MNIST model, assets/fashion_mnist_vgg_gap.safetensors)
//   cnnlens dump     --weights W --image I --npy DIR  logits.npy, act_<layer>.npy (HWC, float32)
//   cnnlens features --weights W --image I --layer L --out grid.png
//   cnnlens explain  --weights W --image I --class 712,281 --layer all [--dump-npy DIR] [--out PREFIX]
//   cnnlens info     --weights W                      what was inferred from the file
//   cnnlens bench    [--weights W | --cfg D]          forward timings (median ms)
//   cnnlens train | eval | samples                    train_cmd.cpp
//
// Every failure prints one line "cnnlens: error: <reason>" and exits non-zero.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#if defined(__EMSCRIPTEN__)
#include <malloc.h>
#endif
#include <pthreadpool.h>

#include "cli/cli.h"
#include "core/error.h"
#include "core/file.h"
#include "core/json.h"
#include "core/rng.h"
#include "explain/colormap.h"
#include "explain/explain.h"
#include "explain/methods.h"
#include "explain/tools.h"
#include "io/image.h"
#include "io/npy.h"
#include "io/weights.h"
#include "model/conv3x3.h"
#include "model/pack.h"
#include "model/predict.h"

using namespace cnnlens;

namespace {

// ---------------------------------------------------------------------------- arguments

struct Command {
    const char* name;
    const char* summary;
    const char* usage;           // the flags, one per line
    std::set<std::string> flags; // accepted --flags (all take a value)
    int (*run)(Args&);
};

const char* kModelFlags =
    "  --weights FILE       .safetensors (torchvision or timm keys), .pth (zip or legacy) or Keras .h5\n"
    "                       (default: the built-in Fashion-MNIST model)\n"
    "  --cfg LIST           check/force the layer list: A|B|D|E, vgg16, or e.g. 64,M,128,M\n"
    "  --head fc|gap        check the classifier head\n"
    "  --input-size N       square input side (default: from the file or the image)\n"
    "  --threads N          compute threads (default 1)\n"
    "  --max-memory MB      working memory a network may plan for its input size (default 1024)\n";
const char* kImageFlags =
    "  --image FILE         PNG, JPEG, BMP or GIF\n"
    "  --preprocess MODE    torch|caffe|mean_std (default: the file's metadata; caffe for Keras files,\n"
    "                       mean_std for greyscale models, torch otherwise)\n"
    "  --resize MODE        resize-crop|squash|center-square|exact (default: resize-crop, squash for Keras;\n"
    "                       an image already at the input size is used unchanged)\n";

double now_ms() {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
// CPU time of the process (on one thread: of that thread, whatever else the machine runs)
double cpu_ms() { return 1000.0 * (double)std::clock() / CLOCKS_PER_SEC; }

// ---------------------------------------------------------------------------- shared steps

struct Loaded {
    std::unique_ptr<Vgg> net;
    Image image;
    std::vector<float> input;
    Preprocess pre;
    ResizeMode resize;
};

ArchOverrides overrides(const Args& a) {
    ArchOverrides ov;
    ov.cfg = arg(a, "cfg");
    ov.head = arg(a, "head");
    ov.input_size = arg_int(a, "input-size", 0, 1, 4096);
    return ov;
}

// The weight file -> the network (messages name the file).
std::unique_ptr<Vgg> load_network(const Args& a, int image_side) {
    const std::string wpath = weights_path(a);
    std::vector<uint8_t> bytes = read_file(wpath);
    try {
        return vgg_load(std::move(bytes), overrides(a), image_side);
    } catch (const Error& e) {
        fail("%s: %s", wpath.c_str(), e.what());
    }
}

Loaded load_and_run(const Args& a) {
    Loaded L;
    L.image = image_load(arg_need(a, "image"));
    L.net = load_network(a, L.image.width == L.image.height ? L.image.width : 0);
    const VggArch& arch = L.net->arch();
    L.pre = a.count("preprocess") ? preprocess_parse(arg(a, "preprocess")) : arch.preprocess;
    L.resize = a.count("resize") ? resize_mode_parse(arg(a, "resize")) : default_resize(arch);
    L.input = prepare_input(L.image, arch, L.resize, L.pre);
    L.net->set_threads(arg_int(a, "threads", 1, 1, 64));
    L.net->forward(L.input.data());
    return L;
}

// ---------------------------------------------------------------------------- commands

int cmd_predict(Args& a) {
    Loaded L = load_and_run(a);
    int k = arg_int(a, "top", 5, 1, 1000000);
    for (const Prediction& p : top_k(L.net->logits(), L.net->num_classes(), k))
        std::printf("%5d  %6.2f%%  logit %9.4f  %s\n", p.index, 100.0 * p.prob, p.logit,
                    class_name(L.net->arch(), p.index).c_str());
    return 0;
}

// input_nchw.npy, logits.npy and act_<layer>.npy (HWC) for every layer; returns the count.
int dump_forward(const Loaded& L, const std::string& dir) {
    const Vgg& net = *L.net;
    const int S = net.arch().input_size, C = net.arch().in_channels;
    npy_write(dir + "/input_nchw.npy", input_nchw(L.input.data(), S, C).data(), {1, C, S, S});   // as the oracle's
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

int cmd_dump(Args& a) {
    Loaded L = load_and_run(a);
    std::string dir = arg_need(a, "npy");
    make_dir(dir);
    int n = dump_forward(L, dir);
    const int S = L.net->arch().input_size;
    std::printf("wrote %d arrays to %s (preprocess %s, input %dx%d)\n", n, dir.c_str(), preprocess_name(L.pre), S, S);
    return 0;
}

int cmd_features(Args& a) {
    Loaded L = load_and_run(a);
    const Vgg& net = *L.net;
    std::string name = arg(a, "layer", "block1_conv1");
    const LayerInfo* l = net.layer(name);
    if (!l || (l->kind != LayerInfo::Conv && l->kind != LayerInfo::Pool)) {
        std::string names;
        for (const LayerInfo& x : net.layers())
            if (x.kind == LayerInfo::Conv || x.kind == LayerInfo::Pool) names += " " + x.name;
        fail("no feature-map layer '%s'; choose one of:%s", name.c_str(), names.c_str());
    }
    int count = std::min(arg_int(a, "count", 64, 1, 4096), l->c);
    std::vector<int> ch;
    std::string order = arg(a, "order", "index");
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
    int cols = arg_int(a, "cols", std::max(1, (int)std::ceil(std::sqrt((double)count))), 1, 4096);
    Image g = feature_grid(net.act(*l), l->h, l->w, l->c, ch, cols, arg_int(a, "tile", 96, 8, 1024),
                           colormap_parse(arg(a, "colormap", "viridis")));
    std::string out = arg_need(a, "out");
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

// Figures of one class: the chosen method over the image, the filmstrip of every conv layer,
// the top channels and guided Grad-CAM (layer methods), or the gradient picture (input methods).
void explain_figures(Loaded& L, const MethodInfo& m, const ExplainRequest& opt, const LayerInfo& fig_layer, int c,
                     const std::string& prefix, Colormap cmap, float alpha) {
    Vgg& net = *L.net;
    const int S = net.arch().input_size, C = net.arch().in_channels;
    const int zoom = S < 224 ? (224 + S - 1) / S : 1, D = S * zoom;   // small inputs enlarged (nearest)
    const Image img = image_zoom(image_fit(L.image, S, L.resize), zoom);
    const bool bgr = L.pre == Preprocess::Caffe;
    auto write = [&](const std::string& file, const Image& im, const std::string& what) {
        png_write(file, im.width, im.height, 3, im.rgb.data());
        std::printf("wrote %s (%s)\n", file.c_str(), what.c_str());
    };
    auto request = [&](Method id, const LayerInfo* l) {
        ExplainRequest r = opt;
        r.method = id, r.cls = c, r.layer = l;
        return r;
    };
    if (!m.at_layer) {
        ExplainResult r = explain(net, request(m.id, &fig_layer));
        const std::string at = r.layer ? "_" + r.layer->name : "";
        write(strformat("%s_%s%s_c%d.png", prefix.c_str(), m.name, at.c_str(), c),
              image_zoom(gradient_image(r.map.data(), S, S, C, bgr), zoom), m.label);
        return;
    }
    ExplainResult r = explain(net, request(m.id, &fig_layer));
    std::vector<float> up((size_t)D * D), up01((size_t)D * D);
    upsample_bilinear(r.map.data(), r.h, r.w, D, D, up.data());
    normalize01(up.data(), up.size(), up01.data());
    write(strformat("%s_%s_%s_c%d.png", prefix.c_str(), m.name, fig_layer.name.c_str(), c), overlay(img, up01.data(), cmap, alpha),
          strformat("%s for class %d '%s' at %s", m.label, c, class_name(net.arch(), c).c_str(), fig_layer.name.c_str()));
    // every conv layer on one shared scale (a method that exists at one layer only, or that runs
    // the network per channel: Grad-CAM)
    const MethodInfo& sm = m.head_input_only || m.costly ? method_info(Method::GradCam) : m;
    std::vector<ExplainResult> strip;
    std::vector<MapRef> refs;
    for (const LayerInfo& l : net.layers())
        if (l.kind == LayerInfo::Conv) strip.push_back(explain(net, {sm.id, c, &l}));
    for (const ExplainResult& s : strip) refs.push_back({s.map.data(), s.h, s.w});
    write(strformat("%s_filmstrip_c%d.png", prefix.c_str(), c), filmstrip(img, refs, cmap, alpha, 0, 4, true),
          strformat("%s at all %zu conv layers, one shared scale", sm.label, refs.size()));
    // the feature maps that drive the Grad-CAM: top channels by alpha
    ExplainResult g = explain(net, {Method::GradCam, c, &fig_layer});
    std::vector<int> top = top_channels(g.weights.data(), fig_layer.c, 16);
    write(strformat("%s_top_channels_%s_c%d.png", prefix.c_str(), fig_layer.name.c_str(), c),
          feature_grid(net.act(fig_layer), fig_layer.h, fig_layer.w, fig_layer.c, top, 8, 96, cmap),
          strformat("the 16 channels of %s with the largest Grad-CAM weight", fig_layer.name.c_str()));
    ExplainResult gg = explain(net, {Method::GuidedGradCam, c, &fig_layer});
    write(strformat("%s_guided_gradcam_%s_c%d.png", prefix.c_str(), fig_layer.name.c_str(), c),
          image_zoom(gradient_image(gg.map.data(), S, S, C, bgr), zoom), "guided Grad-CAM");
}

int cmd_explain(Args& a) {
    Loaded L = load_and_run(a);
    Vgg& net = *L.net;
    // the conv layers, in network order (one backward pass to the lowest serves them all)
    std::vector<const LayerInfo*> layers;
    const std::string lspec = arg(a, "layer", "all");
    std::set<std::string> wanted;
    for (std::string name : split(lspec)) {
        if (name == "last") name = net.last_conv().name;
        const LayerInfo* l = net.layer(name);
        if (name != "all" && (!l || l->kind != LayerInfo::Conv))
            fail("no conv layer '%s' (use a name like %s, 'last' or 'all')", name.c_str(), net.last_conv().name.c_str());
        wanted.insert(name);
    }
    for (const LayerInfo& l : net.layers())
        if (l.kind == LayerInfo::Conv && (wanted.count("all") || wanted.count(l.name))) layers.push_back(&l);
    if (layers.empty()) fail("--layer is empty");
    // --method: the figures' method (the first) and the costly methods to dump besides the others
    std::vector<const MethodInfo*> chosen;
    for (const std::string& name : split(arg(a, "method", "gradcam"))) {
        const MethodInfo* m = method_find(name);
        if (!m) fail("unknown --method '%s' (%s)", name.c_str(), method_names().c_str());
        chosen.push_back(m);
    }
    if (chosen.empty()) fail("--method is empty");
    const MethodInfo* m = chosen[0];
    const LayerInfo& fig_layer = layers.size() == 1 ? *layers[0] : net.last_conv();
    const std::string why = method_unavailable(*m, net, m->head_input_only ? &net.head_input() : &fig_layer);
    if (!why.empty()) fail("%s", why.c_str());
    ExplainRequest opt;
    opt.steps = arg_int(a, "steps", 0, 1, 100000);
    opt.noise = (float)arg_num(a, "noise", 0.15, 0, 10);
    opt.seed = (uint64_t)arg_num(a, "seed", 1, 0, 9007199254740992.0);
    std::vector<int> classes = parse_classes(arg(a, "class", "top1"), net);
    Colormap cmap = colormap_parse(arg(a, "colormap", "viridis"));
    const float alpha = (float)arg_num(a, "alpha", 0.5, 0, 1);
    const std::string dir = arg(a, "dump-npy"), prefix = arg(a, "out");
    if (dir.empty() && prefix.empty()) fail("nothing to write: give --dump-npy DIR and/or --out PREFIX");
    if (!dir.empty()) {
        make_dir(dir);
        dump_forward(L, dir);
    }
    auto save = [&](const std::string& name, const std::vector<float>& d, std::vector<int64_t> shape) {
        if (!dir.empty() && !d.empty()) npy_write(dir + "/" + name + ".npy", d.data(), shape);
    };
    for (int c : classes) {
        // every method of the table at every chosen layer it applies to (input gradients once);
        // the costly ones only when --method names them
        for (const MethodInfo& mi : methods()) {
            if (dir.empty()) break;
            if (mi.costly && std::find(chosen.begin(), chosen.end(), &mi) == chosen.end()) continue;
            std::vector<const LayerInfo*> at = mi.at_layer ? layers : std::vector<const LayerInfo*>{&fig_layer};
            if (mi.head_input_only) at = {&net.head_input()};
            for (const LayerInfo* l : at) {
                if (!method_unavailable(mi, net, l).empty()) continue;
                ExplainRequest req = opt;
                req.method = mi.id, req.cls = c, req.layer = l;
                ExplainResult r = explain(net, req);
                save(map_file_name(r), r.map, r.c > 1 || !mi.at_layer ? std::vector<int64_t>{r.h, r.w, r.c}
                                                                     : std::vector<int64_t>{r.h, r.w});
                save(map_file_name(r, true), r.weights, {(int64_t)r.weights.size()});
                if (mi.head_input_only) save(strformat("%s_c%d", mi.name, c), r.map, {r.h, r.w});   // the oracle's name
            }
        }
        if (!prefix.empty()) explain_figures(L, *m, opt, fig_layer, c, prefix, cmap, alpha);
        std::printf("class %d (%s): logit %.4f\n", c, class_name(net.arch(), c).c_str(), net.logits()[c]);
    }
    if (!dir.empty()) std::printf("wrote arrays to %s\n", dir.c_str());
    return 0;
}

// ---------------------------------------------------------------------------- tools that test explanations

// The input as the network saw it, enlarged (nearest) when small: the figures' background.
Image figure_image(const Loaded& L, int* zoom) {
    const int S = L.net->arch().input_size;
    *zoom = S < 224 ? (224 + S - 1) / S : 1;
    return image_zoom(image_fit(L.image, S, L.resize), *zoom);
}

// A conv layer by name ("last" or empty: the last conv).
const LayerInfo& conv_arg(const Vgg& net, const std::string& name) {
    if (name.empty() || name == "last") return net.last_conv();
    const LayerInfo* l = net.layer(name);
    if (!l || l->kind != LayerInfo::Conv)
        fail("no conv layer '%s' (use a name like %s or 'last')", name.c_str(), net.last_conv().name.c_str());
    return *l;
}

int cmd_occlusion(Args& a) {
    Loaded L = load_and_run(a);
    Vgg& net = *L.net;
    const std::string dir = arg(a, "dump-npy"), prefix = arg(a, "out");
    if (dir.empty() && prefix.empty()) fail("nothing to write: give --dump-npy DIR and/or --out PREFIX");
    if (!dir.empty()) make_dir(dir);
    const int S = net.arch().input_size;
    for (int c : parse_classes(arg(a, "class", "top1"), net)) {
        const double t0 = now_ms();
        const Occlusion o = occlusion(net, c, arg_int(a, "patch", 0, 1, S), arg_int(a, "stride", 0, 1, S),
                                      arg_int(a, "brute-force", 0, 0, 1) == 1);
        std::printf("class %d (%s): %dx%d positions of a %d px patch, stride %d, %.0f ms; largest drop %.4f\n", c,
                    class_name(net.arch(), c).c_str(), o.ny, o.nx, o.patch, o.stride, now_ms() - t0,
                    *std::max_element(o.prob.begin(), o.prob.end()));
        if (!dir.empty()) {
            npy_write(strformat("%s/occlusion_c%d.npy", dir.c_str(), c), o.prob.data(), {o.ny, o.nx});
            npy_write(strformat("%s/occlusion_logit_c%d.npy", dir.c_str(), c), o.logit.data(), {o.ny, o.nx});
        }
        if (!prefix.empty()) {
            int zoom;
            const Image img = figure_image(L, &zoom);
            const Image fig = filmstrip(img, {{o.prob.data(), o.ny, o.nx}}, colormap_parse(arg(a, "colormap", "viridis")),
                                        (float)arg_num(a, "alpha", 0.5, 0, 1), 0, 4, true);
            const std::string f = strformat("%s_occlusion_c%d.png", prefix.c_str(), c);
            png_write(f, fig.width, fig.height, 3, fig.rgb.data());
            std::printf("wrote %s (the image, then the drop of the class probability where the patch sits)\n", f.c_str());
        }
    }
    return 0;
}

int cmd_faithfulness(Args& a) {
    Loaded L = load_and_run(a);
    Vgg& net = *L.net;
    const MethodInfo* m = method_find(arg(a, "method", "gradcam"));
    if (!m) fail("unknown --method '%s' (%s)", arg(a, "method").c_str(), method_names().c_str());
    const LayerInfo& l = conv_arg(net, m->head_input_only && !a.count("layer") ? net.head_input().name : arg(a, "layer"));
    const int c = parse_classes(arg(a, "class", "top1"), net)[0];
    const int S = net.arch().input_size, steps = arg_int(a, "steps", 20, 1, S * S);
    ExplainRequest q(m->id, c, &l);
    const ExplainResult r = explain(net, q);
    const Faithfulness f = faithfulness(net, c, rank_pixels(map_magnitude(r), r.h, r.w, S), steps);
    const Faithfulness base = faithfulness(net, c, random_ranking(S * S, (uint64_t)arg_num(a, "seed", 1, 0, 1e15)), steps);
    const std::string csv = arg_need(a, "csv");
    write_file(csv, faithfulness_csv(f));
    std::printf("class %d (%s), %s at %s, %d steps: deletion AUC %.4f (random ranking %.4f), insertion AUC %.4f "
                "(random %.4f); wrote %s\n", c, class_name(net.arch(), c).c_str(), m->name, l.name.c_str(), steps,
                f.deletion_auc, base.deletion_auc, f.insertion_auc, base.insertion_auc, csv.c_str());
    return 0;
}

int cmd_sanity(Args& a) {
    Loaded L = load_and_run(a);
    Vgg& net = *L.net;
    const LayerInfo& l = conv_arg(net, arg(a, "layer"));
    const int c = parse_classes(arg(a, "class", "top1"), net)[0];
    const double t0 = now_ms();
    const Sanity s = sanity(net, L.input, c, l, (uint64_t)arg_num(a, "seed", 1, 0, 1e15));
    write_file(arg_need(a, "csv"), sanity_csv(s));
    std::printf("class %d (%s) at %s: %zu steps x %zu methods in %.0f ms; wrote %s\n", c, class_name(net.arch(), c).c_str(),
                l.name.c_str(), s.maps.size(), s.methods.size(), now_ms() - t0, arg(a, "csv").c_str());
    for (const std::string& m : s.survivors)
        std::printf("%s: its map survives randomising every layer above %s (Spearman > 0.5): it does not show what the "
                    "network learned there\n", m.c_str(), l.name.c_str());
    const std::string prefix = arg(a, "out");
    if (prefix.empty()) return 0;
    int zoom;
    const Image img = figure_image(L, &zoom);
    for (size_t k = 0; k < s.methods.size(); k++) {   // one filmstrip per method: the maps over the steps, each on its own scale
        std::vector<std::vector<float>> mags;
        std::vector<MapRef> refs;
        for (const auto& step : s.maps) mags.push_back(map_magnitude(step[k]));
        for (size_t i = 0; i < mags.size(); i++) refs.push_back({mags[i].data(), s.maps[i][k].h, s.maps[i][k].w});
        const Image fig = filmstrip(img, refs, colormap_parse(arg(a, "colormap", "viridis")), 0.6f, 0, 4, true, false);
        const std::string f = strformat("%s_sanity_%s_c%d.png", prefix.c_str(), method_info(s.methods[k]).name, c);
        png_write(f, fig.width, fig.height, 3, fig.rgb.data());
        std::printf("wrote %s\n", f.c_str());
    }
    return 0;
}

int cmd_info(Args& a) {
    const std::string wpath = weights_path(a);
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

// A compact copy of a weight file (model/pack.h), and with --check the error it costs: the
// logits of both on each image, their relative L2 difference, top-1 and top-5 agreement.
int cmd_pack(Args& a) {
    const std::string wpath = weights_path(a), out = arg_need(a, "out");
    const PackKind kind = pack_kind_parse(arg(a, "kind", "f16"));
    std::vector<uint8_t> bytes = read_file(wpath);
    const size_t in_bytes = bytes.size();
    std::vector<uint8_t> packed;
    try {
        TensorFile tf = load_weights(bytes.data(), bytes.size());
        const VggParams p = vgg_params(tf, overrides(a));
        std::string from = wpath.substr(wpath.find_last_of('/') + 1);
        packed = vgg_pack(p, kind, {{"packed_from", from}});
    } catch (const Error& e) {
        fail("%s: %s", wpath.c_str(), e.what());
    }
    write_file(out, packed);
    std::printf("wrote %s: %s, %.1f MB (%.1f%% of %s's %.1f MB)\n", out.c_str(), pack_kind_name(kind), packed.size() / 1e6,
                100.0 * packed.size() / in_bytes, wpath.c_str(), in_bytes / 1e6);
    if (!a.count("check")) return 0;
    std::unique_ptr<Vgg> ref = vgg_load(std::move(bytes), overrides(a)), small = vgg_load(std::move(packed));
    const VggArch& arch = ref->arch();
    const int K = arch.num_classes;
    double worst = 0;
    int same1 = 0, n = 0;
    for (const std::string& path : split(arg(a, "check"), ',')) {
        const Image img = image_load(path);
        const std::vector<float> x = prepare_input(img, arch, default_resize(arch), arch.preprocess);
        ref->forward(x.data());
        small->forward(x.data());
        double num = 0, den = 0;
        for (int k = 0; k < K; k++) {
            const double d = (double)small->logits()[k] - ref->logits()[k];
            num += d * d, den += (double)ref->logits()[k] * ref->logits()[k];
        }
        const double rel = std::sqrt(num / std::max(den, 1e-300));
        const std::vector<Prediction> t1 = top_k(ref->logits(), K, 5), t2 = top_k(small->logits(), K, 5);
        int common = 0;
        for (const Prediction& p : t1)
            for (const Prediction& q : t2) common += p.index == q.index;
        worst = std::max(worst, rel), same1 += t1[0].index == t2[0].index, n++;
        std::printf("%s: logits relative L2 error %.2e; top-1 %s (%s); top-5 in common %d of 5\n", path.c_str(), rel,
                    t1[0].index == t2[0].index ? "same" : "DIFFERENT", class_name(arch, t1[0].index).c_str(), common);
    }
    std::printf("%d images: top-1 the same on %d; largest logits relative error %.2e\n", n, same1, worst);
    return 0;
}

// Resident memory now / at its peak (native, /proc/self/status VmRSS / VmHWM), or the
// WebAssembly heap size (which only grows, so it is both).
std::string proc_status(const char* key) {
#if defined(__EMSCRIPTEN__)
    const struct mallinfo mi = mallinfo();   // usmblks: the allocator's largest footprint (dlmalloc)
    return strformat("wasm heap %.0f MB (malloc's largest footprint %.0f MB)", __builtin_wasm_memory_size(0) * 65536.0 / 1e6,
                     (double)(unsigned)mi.usmblks / 1e6);
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

int cmd_bench(Args& a) {
    conv3x3_set_policy(arg(a, "conv", "auto").c_str());
    double t0 = now_ms();
    std::unique_ptr<Vgg> net;
    std::string what;
    if (a.count("weights")) {
        net = load_network(a, 0);
        what = arg(a, "weights");
    } else {
        std::vector<int> cfg = vgg_parse_cfg(arg(a, "cfg", "D"));
        int size = arg_int(a, "input-size", 224, 32, 1024);
        TensorFile tf = vgg_random_weights(cfg, 3, size, Head::Fc, 4096, 1000, 1);
        double t1 = now_ms();
        net = std::make_unique<Vgg>(vgg_params(tf));
        what = strformat("random weights (%.0f ms to generate)", t1 - t0);
        t0 = t1;
    }
    double t_load = now_ms() - t0;
    const VggArch& arch = net->arch();
    std::printf("model: %s, cfg %s, input %dx%d; load + pack %.0f ms\n", what.c_str(), arch.cfg_string().c_str(),
                arch.input_size, arch.input_size, t_load);
    std::vector<float> x((size_t)arch.input_size * arch.input_size * arch.in_channels);
    Rng rng(7);
    for (float& v : x) v = (float)rng.uniform(-2, 2);
    int reps = arg_int(a, "reps", 10, 1, 10000);
    // --json FILE: every run's time, per thread count and mode (bench/bench.mjs reads it)
    JsonWriter j;
    j.begin_object().field("model", what).field("conv", arg(a, "conv", "auto")).field("cfg", arch.cfg_string()).field("input_size", arch.input_size)
        .field("load_ms", t_load).field("reps", reps).key("threads").begin_object();
    auto runs = [&j](const char* name, const std::vector<double>& t) {
        j.key(name).begin_array();
        for (double v : t) j.value(v);
        j.end_array();
    };
    for (const std::string& tok : split(arg(a, "threads", "1,2"))) {
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
        j.key(std::to_string(n)).begin_object();
        runs("forward", ms);   // in the order run
        std::sort(ms.begin(), ms.end());
        std::printf("forward                               threads %d: median %8.1f ms  (min %.1f, max %.1f, %d runs)\n", n, ms[ms.size() / 2],
                    ms.front(), ms.back(), reps);
        const LayerInfo& last = net->last_conv();
        int convs = 0;
        for (const LayerInfo& l : net->layers()) convs += l.kind == LayerInfo::Conv;
        for (int mode = 0; mode < 3; mode++) {
            std::vector<double> t;
            for (int r = 0; r < reps + 1; r++) {
                double s = now_ms();
                net->forward(x.data());
                if (mode == 0) explain(*net, {Method::GradCam, 0, &last});   // the Grad-CAM map itself
                else if (mode == 1) net->backward(0, false);
                else   // the page's filmstrip: Grad-CAM at every conv layer, from the lowest up (one backward pass)
                    for (const LayerInfo& l : net->layers())
                        if (l.kind == LayerInfo::Conv) explain(*net, {Method::GradCam, 0, &l});
                if (r) t.push_back(now_ms() - s);   // the first run warms up
            }
            runs(mode == 0 ? "forward_gradcam_last" : mode == 1 ? "forward_backward_input" : "forward_gradcam_all", t);
            std::sort(t.begin(), t.end());
            const double fwd = ms[ms.size() / 2], both = t[t.size() / 2];
            const std::string label = mode == 0 ? "forward + Grad-CAM at " + last.name + ","
                                    : mode == 1 ? std::string("forward + backward to the input,")
                                                : strformat("forward + Grad-CAM at all %d conv layers,", convs);
            std::printf("%-37s threads %d: median %8.1f ms  (backward alone %.1f ms = %.2fx forward)\n", label.c_str(), n,
                        both, both - fwd, (both - fwd) / fwd);
        }
        j.end_object();
    }
    j.end_object();
    if (arg_int(a, "conv-layers", 0, 0, 1)) {   // each conv layer by both algorithms (model/conv3x3.h's choice)
        const VggParams p = net->params();
        size_t k = 0;
        std::printf("%-14s %9s %5s %5s  %s\n", "conv layer", "input", "cin", "cout", "median ms per threads: direct / winograd (chosen)");
        for (const LayerInfo& l : net->layers()) {
            if (l.kind != LayerInfo::Conv) continue;
            const ConvParams& cp = p.convs[k++];
            const int side = &l == &net->layers()[0] ? arch.input_size : (&l)[-1].h;
            std::vector<float> in((size_t)side * side * l.cin + 16), out((size_t)side * side * l.c);
            for (float& v : in) v = (float)rng.uniform(0, 1);
            std::printf("%-14s %4dx%-4d %5d %5d ", l.name.c_str(), side, side, l.cin, l.c);
            for (const std::string& tok : split(arg(a, "threads", "1,2"))) {
                const int n = std::max(1, std::atoi(tok.c_str()));
                pthreadpool_t pool = n > 1 ? pthreadpool_create((size_t)n) : nullptr;
                double med[2];
                for (int algo = 0; algo < 2; algo++) {
                    Conv3x3 conv(cp.kernel(), cp.b.data(), l.cin, l.c, true, (Conv3x3::Algo)algo);
                    XnnWorkspace ws;
                    std::vector<double> t;
                    for (int r = 0; r <= reps; r++) {
                        const double s = now_ms();
                        conv.run(in.data(), side, side, out.data(), ws, pool);
                        if (r) t.push_back(now_ms() - s);
                    }
                    std::sort(t.begin(), t.end());
                    med[algo] = t[t.size() / 2];
                }
                if (pool) pthreadpool_destroy(pool);
                std::printf(" | %d: %7.2f / %7.2f (%s)", n, med[0], med[1],
                            conv3x3_algo(l.cin, l.c, side, side) == Conv3x3::Winograd ? "w" : "d");
            }
            std::printf("\n");
        }
    }
    if (arg_int(a, "occlusion", 0, 0, 2)) {   // occlusion of the default patch and stride, in forward passes' worth
        const int threads = std::atoi(split(arg(a, "threads", "1,2"))[0].c_str());
        net->set_threads(std::max(1, threads));
        net->forward(x.data());
        // three rounds of (3 forward passes, one occlusion), each round's ratio in the same minute,
        // the median round reported: a busy machine moves both
        struct Round {
            double t, c, fwd, fwd_cpu;
        };
        std::vector<Round> rounds;
        Occlusion fast;
        for (int round = 0; round < 3; round++) {
            std::vector<double> fwd, fwd_cpu;
            for (int r = 0; r < 3; r++) {
                const double s = now_ms(), c = cpu_ms();
                net->forward(x.data());
                fwd.push_back(now_ms() - s), fwd_cpu.push_back(cpu_ms() - c);
            }
            std::sort(fwd.begin(), fwd.end()), std::sort(fwd_cpu.begin(), fwd_cpu.end());
            const double s = now_ms(), c = cpu_ms();
            fast = occlusion(*net, 0);
            rounds.push_back({now_ms() - s, cpu_ms() - c, fwd[1], fwd_cpu[1]});
        }
        std::sort(rounds.begin(), rounds.end(), [](const Round& p, const Round& q) { return p.t / p.fwd < q.t / q.fwd; });
        const Round& m = rounds[1];
        std::printf("occlusion (%dx%d positions, patch %d, stride %d), threads %d: %.0f ms = %.1f forward passes (forward %.1f ms; "
                    "median of 3 rounds, %.1f-%.1f)\n",
                    fast.ny, fast.nx, fast.patch, fast.stride, net->threads(), m.t, m.t / m.fwd, m.fwd,
                    rounds[0].t / rounds[0].fwd, rounds[2].t / rounds[2].fwd);
        if (net->threads() == 1)   // a busy machine stretches wall time, less so CPU time
            std::printf("  in CPU time: %.0f ms = %.1f forward passes (forward %.1f ms)\n", m.c, m.c / m.fwd_cpu, m.fwd_cpu);
        if (arg_int(a, "occlusion", 0, 0, 2) == 2) {
            const double s = now_ms();
            const Occlusion slow = occlusion(*net, 0, fast.patch, fast.stride, true);
            const double t_slow = now_ms() - s;
            auto rel = [](const std::vector<float>& a, const std::vector<float>& b) {
                double num = 0, den = 0;
                for (size_t i = 0; i < b.size(); i++) num += std::pow((double)a[i] - b[i], 2), den += std::pow((double)b[i], 2);
                return std::sqrt(num / std::max(den, 1e-300));
            };
            std::printf("occlusion, brute force: %.0f ms = %.1f forward passes; fast vs brute force: relative L2 %.2g "
                        "(probability drops), %.2g (logit drops)\n",
                        t_slow, t_slow / m.fwd, rel(fast.prob, slow.prob), rel(fast.logit, slow.logit));
        }
    }
    std::printf("memory with forward and backward ready: %s; peak %s\n", proc_status("VmRSS").c_str(), proc_status("VmHWM").c_str());
    if (a.count("json")) {
        j.field("rss", proc_status("VmRSS")).field("peak", proc_status("VmHWM"));
        write_file(arg(a, "json"), j.end_object().str() + "\n");
    }
    return 0;
}

std::string explain_usage() {
    std::string s =
        "  --class LIST         indices, names, WordNet ids or top1..top5 (default top1)\n"
        "  --layer LIST         conv layer names, 'last' or 'all' (default all)\n"
        "  --method LIST        the figures' method first (default gradcam); --dump-npy writes every method,\n"
        "                       the costly ones (*) only when listed here:\n";
    for (const MethodInfo& m : methods())
        s += strformat("                       %s %-20s %s\n", m.costly ? "*" : " ", m.name, m.about);
    return s + "  --dump-npy DIR       write every array: {method}_{layer}_c{class}.npy at the layer's resolution (raw),\n"
               "                       {method}_c{class}.npy for input gradients, the weights, the forward's act_*.npy\n"
               "  --out PREFIX         write PNG figures: overlay, filmstrip of all conv layers, top channels, guided Grad-CAM\n"
               "  --colormap NAME      viridis (default), inferno, turbo, jet\n"
               "  --alpha A            heatmap opacity over the image (default 0.5)\n"
               "  --steps N            SmoothGrad samples (default 25), Integrated Gradients steps (default 32)\n"
               "  --noise X            SmoothGrad noise sd as a share of the input's range (default 0.15)\n"
               "  --seed N             SmoothGrad's noise (default 1)\n";
}

const std::vector<Command>& commands() {
    static const std::string explain_flags = explain_usage();
    static const std::vector<Command> table = {
        {"predict", "top-k classes with probabilities", "  --top K              how many (default 5)\n",
         {"weights", "image", "cfg", "head", "input-size", "max-memory", "threads", "preprocess", "resize", "top"}, cmd_predict},
        {"dump", "write logits.npy and act_<layer>.npy (HWC float32) for every layer",
         "  --npy DIR            output directory (created)\n",
         {"weights", "image", "cfg", "head", "input-size", "max-memory", "threads", "preprocess", "resize", "npy"}, cmd_dump},
        {"features", "a PNG grid of one layer's feature maps",
         "  --layer NAME         e.g. block1_conv1 (default), block3_conv3, block5_pool\n"
         "  --out FILE.png       output image\n"
         "  --count N            channels to show (default 64)\n"
         "  --order index|activation   channel order (default index)\n"
         "  --cols N, --tile PX  grid columns, tile size in pixels (default 96)\n"
         "  --colormap NAME      viridis (default), inferno, turbo, jet, grey\n",
         {"weights", "image", "cfg", "head", "input-size", "max-memory", "threads", "preprocess", "resize", "layer", "out",
          "count", "order", "cols", "tile", "colormap"},
         cmd_features},
        {"explain", "every explanation method (methods.h): arrays and figures", explain_flags.c_str(),
         {"weights", "image", "cfg", "head", "input-size", "max-memory", "threads", "preprocess", "resize", "class", "layer",
          "method", "dump-npy", "out", "colormap", "alpha", "steps", "noise", "seed"},
         cmd_explain},
        {tool_info(Tool::Occlusion).name, tool_info(Tool::Occlusion).about,
         "  --class LIST         indices, names or top1..top5 (default top1)\n"
         "  --patch P, --stride S  in input pixels (default: side / 7; stride 1 up to 64 px, else half the patch)\n"
         "  --dump-npy DIR       occlusion_c{C}.npy (probability drop) and occlusion_logit_c{C}.npy, [ny, nx]\n"
         "  --out PREFIX         the figure\n"
         "  --brute-force 1      one whole forward pass per position (the reference; slower)\n"
         "  --colormap NAME, --alpha A\n",
         {"weights", "image", "cfg", "head", "input-size", "max-memory", "threads", "preprocess", "resize", "class", "patch",
          "stride", "dump-npy", "out", "brute-force", "colormap", "alpha"},
         cmd_occlusion},
        {tool_info(Tool::Faithfulness).name, tool_info(Tool::Faithfulness).about,
         "  --class C            (default top1)\n"
         "  --method NAME, --layer L   the map (default gradcam at the last conv)\n"
         "  --steps N            points of the curves (default 20)\n"
         "  --csv FILE           step,fraction,deletion_prob,insertion_prob; last row: auc,,<deletion>,<insertion>\n"
         "  --seed N             the random ranking printed as the baseline (default 1)\n",
         {"weights", "image", "cfg", "head", "input-size", "max-memory", "threads", "preprocess", "resize", "class",
          "method", "layer", "steps", "csv", "seed"},
         cmd_faithfulness},
        {tool_info(Tool::Sanity).name, tool_info(Tool::Sanity).about,
         "  --class C, --layer L (default top1, the last conv)\n"
         "  --seed N             the re-initialisation (default 1)\n"
         "  --csv FILE           step,randomised_to,method,spearman\n"
         "  --out PREFIX         a filmstrip per method over the steps\n"
         "  --colormap NAME\n",
         {"weights", "image", "cfg", "head", "input-size", "max-memory", "threads", "preprocess", "resize", "class", "layer",
          "seed", "csv", "out", "colormap"},
         cmd_sanity},
        {"info", "what was inferred from a weight file", "  --tensors 1          also list every tensor\n",
         {"weights", "cfg", "head", "input-size", "max-memory", "tensors"}, cmd_info},
        {"pack", "write a compact copy of a weight file: float16, or int8 fully connected layers",
         "  --out FILE           the .safetensors to write (torchvision keys, everything in its metadata)\n"
         "  --kind K             f16 (every weight float16: half the bytes) or int8-fc (float16 convs, int8\n"
         "                       fully connected rows with a float scale each: under 30% for VGG16)\n"
         "  --check IMAGES       comma-separated images: compare both files' logits and top-5 on each\n",
         {"weights", "out", "kind", "check", "cfg", "head", "input-size", "max-memory"}, cmd_pack},
        {"bench", "forward timings: median ms over repeated runs (random VGG weights unless --weights)",
         "  --cfg LIST           architecture for random weights (default D = VGG16)\n"
         "  --input-size N       (default 224)\n"
         "  --threads LIST       thread counts to time (default 1,2)\n"
         "  --reps N             timed runs per setting (default 10)\n"
         "  --occlusion 1|2      also time occlusion (default patch and stride) at the first thread count;\n"
         "                       2: and its brute force, with the difference\n"
         "  --conv-layers 1      also time every conv layer by both algorithms (direct, Winograd F(4x4,3x3))\n"
         "  --conv ALGO          the network's convolutions: auto (per layer, the default), direct or winograd\n"
         "  --json FILE          also write every run's time (ms, per thread count and mode) as JSON\n",
         {"conv", "weights", "cfg", "input-size", "max-memory", "threads", "reps", "head", "occlusion", "conv-layers", "json"},
         cmd_bench},
        {"train", "train a VGG-GAP network on Fashion-MNIST with our own backward pass; write a safetensors checkpoint",
         "  --out FILE           checkpoint (.safetensors: torchvision keys, batch norm folded, metadata)\n"
         "  --data DIR           IDX files, plain or .gz (default /usr/share/datasets/fashion-mnist)\n"
         "  --cfg LIST           layers (default 32,32,M,64,64,M,128,128); --bn 0|1 batch norm (default 1)\n"
         "  --epochs N, --batch N            (default 20, 128)\n"
         "  --opt sgd|adam, --lr X, --momentum X, --wd X   (default sgd, 0.05 (adam 1e-3), 0.9 Nesterov, 5e-4)\n"
         "  --schedule cosine|step|const, --warmup EPOCHS, --step-epochs N   (default cosine, 0, 10)\n"
         "  --shift PX, --flip 0|1           augmentation: random shifts, horizontal flips (default 2, 1)\n"
         "  --cam-loss W         penalise the label's CAM outside the garment (weight W; default 0)\n"
         "  --cam-target T       garment (default) or marker: where --cam-loss keeps CAM in marked images\n"
         "  --marker SHARE       a shortcut to learn: this share of the images carries its label's marker (0..1)\n"
         "  --marker-decoy Q     of the marked images, this share relabelled to a random class and its marker\n"
         "  --seed N, --threads N            (default 1, 1); same seed = same weights\n"
         "  --subset N, --max-steps N, --eval-every K (0 = never), --log FILE (per-epoch lines)\n"
         "  --state FILE         training state after each epoch; an existing one is resumed (same flags)\n",
         {"out", "data", "cfg", "bn", "epochs", "batch", "opt", "lr", "momentum", "wd", "schedule", "warmup", "step-epochs",
          "shift", "flip", "cam-loss", "cam-target", "marker", "marker-decoy", "seed", "threads", "subset", "max-steps", "eval-every", "log", "state"},
         cmd_train},
        {"eval", "accuracy, confusion matrix and CAM-on-object share of a Fashion-MNIST model (as the app runs it)",
         "  --weights FILE       a checkpoint written by cnnlens train (default: the built-in model)\n"
         "  --data DIR           IDX files (default /usr/share/datasets/fashion-mnist); --split test|train\n"
         "  --count N            only the first N images (default all)\n"
         "  --threads N          compute threads (default 1)\n"
         "  --markers FILE       stamp this shortcut model's markers (the model's own when it has them)\n",
         {"weights", "data", "split", "count", "threads", "markers"}, cmd_eval},
        {"samples", "write the first test images of each Fashion-MNIST class as PNGs (the web page's gallery)",
         "  --out DIR            where to write <class>-<name>-test<index>.png\n"
         "  --per-class N        (default 3)\n"
         "  --data DIR           IDX files (default /usr/share/datasets/fashion-mnist)\n",
         {"out", "per-class", "data"}, cmd_samples},
    };
    return table;
}

void usage(FILE* f) {
    std::fprintf(f, "usage: cnnlens <command> [--flag value ...]\n\ncommands:\n");
    for (const Command& c : commands()) std::fprintf(f, "  %-9s %s\n", c.name, c.summary);
    std::fprintf(f, "\n'cnnlens <command> --help' shows a command's flags.\n");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const Command* cmd = nullptr;
    for (const Command& c : commands())
        if (!std::strcmp(argv[1], c.name)) cmd = &c;
    if (!cmd) {
        std::fprintf(stderr, "cnnlens: error: unknown command '%s' (try --help)\n", argv[1]);
        return 2;
    }
    Args args;
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
        if (args.count("max-memory")) set_activation_budget((uint64_t)arg_int(args, "max-memory", 1024, 16, 1 << 20) << 20);
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
