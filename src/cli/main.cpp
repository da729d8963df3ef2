// cnnlens: the command-line front end of CNN Lens.
//
//   cnnlens predict  --weights W --image I            top-5 with probabilities
//   cnnlens dump     --weights W --image I --npy DIR  logits.npy, act_<layer>.npy (HWC, float32)
//   cnnlens features --weights W --image I --layer L --out grid.png
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

#include "core/error.h"
#include "explain/colormap.h"
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
    "  --cfg LIST           check/force the layer list: A|B|D|E, vgg16, or e.g. 64,M,128,M\n"
    "  --head fc|gap        check the classifier head\n"
    "  --input-size N       square input side (default: from the file or the image)\n"
    "  --threads N          compute threads (default 1)\n";
const char* kImageFlags =
    "  --image FILE         JPEG, PNG, BMP, GIF, TGA ...\n"
    "  --preprocess MODE    torch|caffe (default: caffe for Keras files, torch otherwise)\n"
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
    std::string wpath = need(a, "weights"), ipath = need(a, "image");
    L.image = image_load(ipath);
    int side = L.image.width == L.image.height ? L.image.width : 0;
    {
        std::vector<uint8_t> bytes = read_file(wpath);
        try {
            L.net = vgg_load(bytes.data(), bytes.size(), overrides(a), side);
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

int cmd_dump(std::map<std::string, std::string>& a) {
    Loaded L = load_and_run(a);
    std::string dir = need(a, "npy");
    make_dir(dir);
    const Vgg& net = *L.net;
    const int S = net.arch().input_size;
    std::vector<float> nchw((size_t)3 * S * S);   // the network input, as the oracle's input_nchw.npy
    for (int c = 0; c < 3; c++)
        for (int p = 0; p < S * S; p++) nchw[(size_t)c * S * S + p] = L.input[(size_t)p * 3 + c];
    npy_write(dir + "/input_nchw.npy", nchw.data(), {1, 3, S, S});
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

int cmd_info(std::map<std::string, std::string>& a) {
    std::string wpath = need(a, "weights");
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

// Peak resident memory (native) or the WebAssembly heap size (which only grows).
std::string peak_memory() {
#if defined(__EMSCRIPTEN__)
    return strformat("wasm heap %.0f MB", __builtin_wasm_memory_size(0) * 65536.0 / 1e6);
#else
    FILE* f = std::fopen("/proc/self/status", "r");
    if (!f) return "unknown";
    char line[256];
    std::string out = "unknown";
    while (std::fgets(line, sizeof line, f))
        if (!std::strncmp(line, "VmHWM:", 6)) out = strformat("VmHWM %.0f MB", std::atof(line + 6) / 1024);
    std::fclose(f);
    return out;
#endif
}

int cmd_bench(std::map<std::string, std::string>& a) {
    double t0 = now_ms();
    std::unique_ptr<Vgg> net;
    std::string what;
    if (a.count("weights")) {
        std::vector<uint8_t> bytes = read_file(a["weights"]);
        net = vgg_load(bytes.data(), bytes.size(), overrides(a));
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
    for (size_t p = 0; p < threads.size();) {
        size_t q = threads.find(',', p);
        if (q == std::string::npos) q = threads.size();
        int n = std::atoi(threads.substr(p, q - p).c_str());
        p = q + 1;
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
        std::printf("forward  threads %d: median %8.1f ms  (min %.1f, max %.1f, %d runs)\n", n, ms[ms.size() / 2],
                    ms.front(), ms.back(), reps);
        std::string last_conv;
        for (const LayerInfo& l : net->layers())
            if (l.kind == LayerInfo::Conv) last_conv = l.name;
        for (int mode = 0; mode < 2; mode++) {
            std::vector<double> t;
            for (int r = 0; r < reps + 1; r++) {
                double s = now_ms();
                net->forward(x.data());
                net->backward(0, false, mode == 0 ? last_conv : "");
                if (r) t.push_back(now_ms() - s);   // the first run warms up
            }
            std::sort(t.begin(), t.end());
            std::printf("%-44s median %8.1f ms  (%.2fx forward)\n",
                        strformat("forward + backward to %s, threads %d:", mode == 0 ? last_conv.c_str() : "the input", n).c_str(),
                        t[t.size() / 2], t[t.size() / 2] / ms[ms.size() / 2]);
        }
    }
    std::printf("peak memory: %s\n", peak_memory().c_str());
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
    {"info", "what was inferred from a weight file", "  --tensors 1          also list every tensor\n",
     {"weights", "cfg", "head", "input-size", "tensors"}, cmd_info},
    {"bench", "forward timings: median ms over repeated runs (random VGG weights unless --weights)",
     "  --cfg LIST           architecture for random weights (default D = VGG16)\n"
     "  --input-size N       (default 224)\n"
     "  --threads LIST       thread counts to time (default 1,2)\n"
     "  --reps N             timed runs per setting (default 10)\n",
     {"weights", "cfg", "input-size", "threads", "reps", "head"}, cmd_bench},
};

void usage(FILE* f) {
    std::fprintf(f, "usage: cnnlens <command> [--flag value ...]\n\ncommands:\n");
    for (const Command& c : kCommands) std::fprintf(f, "  %-9s %s\n", c.name, c.summary);
    std::fprintf(f, "\n'cnnlens <command> --help' shows a command's flags.\n");
}

}  // namespace

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
