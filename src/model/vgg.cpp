#include "model/vgg.h"

#include <pthreadpool.h>
#include <xnnpack.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>

#include "core/error.h"
#include "model/layers.h"

namespace cnnlens {

// ---------------------------------------------------------------------------- architecture

int VggArch::num_convs() const {
    return (int)std::count_if(cfg.begin(), cfg.end(), [](int v) { return v > 0; });
}

int VggArch::final_side() const {
    int s = input_size;
    for (int v : cfg)
        if (v == 0) s /= 2;
    return s;
}

int VggArch::final_channels() const {
    int c = in_channels;
    for (int v : cfg)
        if (v > 0) c = v;
    return c;
}

std::string VggArch::cfg_string() const {
    std::string s;
    for (int v : cfg) s += (s.empty() ? "" : ",") + (v ? std::to_string(v) : std::string("M"));
    return s;
}

std::string VggArch::describe() const {
    std::string s = about.empty() ? std::string() : about + "\n";
    s += strformat("layout:       %s%s\n", layout.c_str(), batch_norm ? " (batch norm, folded into the convs)" : "");
    s += strformat("layers:       %s\n", cfg_string().c_str());
    s += strformat("convs:        %d (3x3, pad 1, ReLU), input channels %d\n", num_convs(), in_channels);
    s += strformat("input:        %dx%d, preprocessing %s", input_size, input_size, preprocess_name(preprocess));
    s += preprocess == Preprocess::MeanStd ? strformat(" (grey / 255 - %g) / %g\n", mean, std) : std::string("\n");
    if (!class_names.empty()) s += strformat("classes:      %s ... %s\n", class_names.front().c_str(), class_names.back().c_str());
    s += strformat("final map:    %dx%dx%d\n", final_side(), final_side(), final_channels());
    if (head == Head::Fc)
        s += strformat("head:         fc (flatten %d -> %d -> %d -> %d)\n",
                       final_side() * final_side() * final_channels(), hidden1, hidden2, num_classes);
    else
        s += strformat("head:         gap (global average pooling -> linear %d -> %d)\n", final_channels(), num_classes);
    return s;
}

std::vector<int> vgg_parse_cfg(const std::string& text) {
    static const std::map<std::string, std::string> named = {
        {"A", "64,M,128,M,256,256,M,512,512,M,512,512,M"},
        {"B", "64,64,M,128,128,M,256,256,M,512,512,M,512,512,M"},
        {"D", "64,64,M,128,128,M,256,256,256,M,512,512,512,M,512,512,512,M"},
        {"E", "64,64,M,128,128,M,256,256,256,256,M,512,512,512,512,M,512,512,512,512,M"},
        {"VGG11", "A"}, {"VGG13", "B"}, {"VGG16", "D"}, {"VGG19", "E"}};
    std::string t;
    for (char c : text)
        if (c != ' ') t += (char)std::toupper((unsigned char)c);
    for (int i = 0; i < 2; i++) {
        auto it = named.find(t);
        if (it != named.end()) t = it->second;
    }
    std::vector<int> cfg;
    for (const std::string& tok : split(t)) {
        if (tok == "M") { cfg.push_back(0); continue; }
        char* end = nullptr;
        long v = std::strtol(tok.c_str(), &end, 10);
        if (*end || v <= 0 || v > 65536) fail("bad layer '%s' in cfg '%s' (use channel counts and M)", tok.c_str(), text.c_str());
        cfg.push_back((int)v);
    }
    if (std::none_of(cfg.begin(), cfg.end(), [](int v) { return v > 0; }))
        fail("cfg '%s' has no conv layer", text.c_str());
    return cfg;
}

namespace {

std::string shape_of(const TensorRef* t) { return t ? t->shape_str() : "missing"; }

// VGGs have up to 512 channels; a wider layer is a broken or hostile file, not a model.
constexpr int64_t kMaxChannels = 16384;

// A tensor that becomes part of the network: no zero-sized dimension. The readers check that
// a tensor's bytes lie in the file, so with every dimension >= 1 its shape is bounded by the
// file's size; a zero would let absurd shapes through at no cost (and a 0-channel conv would
// read as a max-pool).
const TensorRef* layer_tensor(const TensorRef* t) {
    if (!t) return t;
    for (int64_t d : t->shape)
        if (d < 1) fail("tensor '%s' has shape %s: a zero-sized tensor cannot be a layer", t->name.c_str(), t->shape_str().c_str());
    return t;
}

void check_channels(const TensorRef* w, int64_t out, int64_t in) {
    if (out > kMaxChannels || in > kMaxChannels)
        fail("'%s' has shape %s: %lld output and %lld input channels; at most %lld are supported", w->name.c_str(),
             w->shape_str().c_str(), (long long)out, (long long)in, (long long)kMaxChannels);
}

bool starts_with(const std::string& s, const char* p) { return s.compare(0, std::strlen(p), p) == 0; }

// Parses "features.12.weight" -> (12, "weight").
bool parse_indexed(const std::string& key, const char* prefix, int* idx, std::string* param) {
    if (!starts_with(key, prefix)) return false;
    size_t p = std::strlen(prefix), q = key.find('.', p);
    if (q == std::string::npos || q == p || q - p > 6) return false;
    for (size_t i = p; i < q; i++)
        if (!std::isdigit((unsigned char)key[i])) return false;
    *idx = std::atoi(key.substr(p, q - p).c_str());
    *param = key.substr(q + 1);
    return true;
}

// The Keras file as a list of layers with their weights, in model order.
struct KerasLayer {
    std::string name;
    std::vector<const TensorRef*> weights;
};

std::vector<KerasLayer> keras_layers(const TensorFile& tf) {
    std::vector<KerasLayer> out;
    auto it = tf.metadata.find("layer_names");
    if (it == tf.metadata.end()) fail("Keras file has no layer_names");
    for (const std::string& name : split(it->second)) out.push_back({name, {}});
    for (const TensorRef& t : tf.tensors) {
        std::string layer = t.name.substr(0, t.name.find('/'));
        for (KerasLayer& l : out)
            if (l.name == layer) l.weights.push_back(&t);
    }
    return out;
}

// Where each parameter of the network is in the file.
struct Plan {
    VggArch arch;
    struct Conv { const TensorRef *w = nullptr, *b = nullptr, *bn_w = nullptr, *bn_b = nullptr, *bn_mean = nullptr, *bn_var = nullptr; };
    std::vector<Conv> convs;
    std::vector<const TensorRef*> dense_w, dense_b;    // fc1, fc2, predictions  or  predictions
    bool trailing_pool_known = false;
};

void read_torch_features(const TensorFile& tf, Plan& plan) {
    std::map<int, std::map<std::string, const TensorRef*>> mods;
    for (const TensorRef& t : tf.tensors) {
        int i;
        std::string param;
        if (parse_indexed(t.name, "features.", &i, &param)) mods[i][param] = &t;
    }
    if (mods.empty()) fail("no features.N.weight tensors: not a VGG state dict");
    std::vector<int> conv_idx;
    bool bn = false;
    for (auto& [i, params] : mods) {
        auto w = params.find("weight");
        if (params.count("running_mean")) { bn = true; continue; }
        if (w == params.end()) continue;
        if (w->second->shape.size() != 4)
            fail("features.%d.weight has shape %s; expected a conv kernel [out,in,3,3]", i, shape_of(w->second).c_str());
        conv_idx.push_back(i);
    }
    if (conv_idx.empty()) fail("no convolution weights among the features.N tensors");
    if (conv_idx[0] != 0) fail("the first conv is features.%d; a VGG starts with features.0", conv_idx[0]);
    const int step = bn ? 3 : 2;   // conv, [bn,] relu
    int cin = -1;
    for (size_t k = 0; k < conv_idx.size(); k++) {
        int i = conv_idx[k];
        Plan::Conv c;
        c.w = layer_tensor(mods[i]["weight"]);
        c.b = mods[i].count("bias") ? layer_tensor(mods[i]["bias"]) : nullptr;
        const auto& s = c.w->shape;
        if (s[2] != 3 || s[3] != 3)
            fail("features.%d.weight has kernel %lldx%lld; only 3x3 convolutions are supported", i, (long long)s[2], (long long)s[3]);
        check_channels(c.w, s[0], s[1]);
        if (k == 0) plan.arch.in_channels = (int)s[1];
        else if (s[1] != cin)
            fail("features.%d.weight has shape %s: its %lld input channels do not match the previous conv's %d outputs",
                 i, c.w->shape_str().c_str(), (long long)s[1], cin);
        cin = (int)s[0];
        if (c.b && (c.b->shape.size() != 1 || c.b->shape[0] != s[0]))
            fail("features.%d.bias has shape %s; expected [%lld]", i, c.b->shape_str().c_str(), (long long)s[0]);
        if (bn) {
            auto& m = mods[i + 1];
            c.bn_w = layer_tensor(m["weight"]), c.bn_b = layer_tensor(m["bias"]);
            c.bn_mean = layer_tensor(m["running_mean"]), c.bn_var = layer_tensor(m["running_var"]);
            for (const TensorRef* t : {c.bn_w, c.bn_b, c.bn_mean, c.bn_var})
                if (!t || t->shape.size() != 1 || t->shape[0] != s[0])
                    fail("batch norm features.%d after conv features.%d is missing a tensor or has the wrong shape "
                         "(expected weight, bias, running_mean, running_var of [%lld])", i + 1, i, (long long)s[0]);
        }
        plan.convs.push_back(c);
        plan.arch.cfg.push_back(cin);
        if (k + 1 < conv_idx.size()) {
            int gap = conv_idx[k + 1] - i;
            if (gap == step + 1) plan.arch.cfg.push_back(0);
            else if (gap != step)
                fail("features.%d and features.%d: %d modules apart, expected %d (conv%s, ReLU) or %d (with a max-pool)",
                     i, conv_idx[k + 1], gap, step, bn ? ", batch norm" : "", step + 1);
        }
    }
    plan.arch.batch_norm = bn;
}

const TensorRef* need(const TensorFile& tf, const std::string& key) {
    const TensorRef* t = tf.find(key);
    if (!t) fail("missing tensor '%s'", key.c_str());
    return t;
}

void read_torch_head(const TensorFile& tf, Plan& plan, bool timm) {
    auto add = [&](const std::string& w, const std::string& b) {
        plan.dense_w.push_back(layer_tensor(need(tf, w)));
        plan.dense_b.push_back(layer_tensor(tf.find(b)));
    };
    if (timm) {
        if (tf.find("pre_logits.fc1.weight")) {
            add("pre_logits.fc1.weight", "pre_logits.fc1.bias");
            add("pre_logits.fc2.weight", "pre_logits.fc2.bias");
            add("head.fc.weight", "head.fc.bias");
            plan.arch.head = Head::Fc;
        } else {
            add("head.fc.weight", "head.fc.bias");
            plan.arch.head = Head::Gap;
        }
        return;
    }
    std::vector<int> idx;
    for (const TensorRef& t : tf.tensors) {
        int i;
        std::string param;
        if (parse_indexed(t.name, "classifier.", &i, &param) && param == "weight") idx.push_back(i);
    }
    if (idx == std::vector<int>{0, 3, 6}) {
        plan.arch.head = Head::Fc;
    } else if (idx == std::vector<int>{0}) {
        plan.arch.head = Head::Gap;
    } else {
        std::string have;
        for (int i : idx) have += " classifier." + std::to_string(i);
        fail("classifier layers%s: expected classifier.0/3/6 (fc head) or classifier.0 alone (gap head)",
             have.empty() ? " missing" : have.c_str());
    }
    for (int i : idx) add(strformat("classifier.%d.weight", i), strformat("classifier.%d.bias", i));
}

void read_keras(const TensorFile& tf, Plan& plan) {
    std::vector<KerasLayer> layers = keras_layers(tf);
    bool seen_head = false;
    int cin = -1;
    for (const KerasLayer& l : layers) {
        const auto& ws = l.weights;
        for (const TensorRef* t : ws) layer_tensor(t);
        if (!ws.empty() && ws[0]->shape.size() == 4) {
            if (seen_head) fail("Keras layer '%s': a conv after the classifier head", l.name.c_str());
            const auto& s = ws[0]->shape;   // HWIO
            if (s[0] != 3 || s[1] != 3)
                fail("Keras layer '%s' has kernel %lldx%lld; only 3x3 convolutions are supported", l.name.c_str(),
                     (long long)s[0], (long long)s[1]);
            check_channels(ws[0], s[3], s[2]);
            if (cin < 0) plan.arch.in_channels = (int)s[2];
            else if (s[2] != cin)
                fail("Keras layer '%s' kernel %s: %lld input channels, but the previous conv has %d outputs",
                     l.name.c_str(), ws[0]->shape_str().c_str(), (long long)s[2], cin);
            cin = (int)s[3];
            Plan::Conv c;
            c.w = ws[0];
            c.b = ws.size() > 1 ? ws[1] : nullptr;
            if (c.b && (c.b->shape.size() != 1 || c.b->shape[0] != s[3]))
                fail("Keras layer '%s' bias has shape %s; expected [%lld]", l.name.c_str(), c.b->shape_str().c_str(), (long long)s[3]);
            if (ws.size() > 2) fail("Keras layer '%s' has %zu weights; batch norm inside a conv layer is not supported",
                                    l.name.c_str(), ws.size());
            plan.convs.push_back(c);
            plan.arch.cfg.push_back(cin);
        } else if (!ws.empty() && ws[0]->shape.size() == 2) {
            seen_head = true;
            plan.dense_w.push_back(ws[0]);
            plan.dense_b.push_back(ws.size() > 1 ? ws[1] : nullptr);
        } else if (!ws.empty()) {
            fail("Keras layer '%s' holds a weight of shape %s, which a VGG does not have", l.name.c_str(),
                 ws[0]->shape_str().c_str());
        } else if (l.name.find("pool") != std::string::npos && l.name.find("global") == std::string::npos &&
                   l.name != "gap" && l.name.find("avg") == std::string::npos) {
            if (seen_head) fail("Keras layer '%s': a pool after the classifier head", l.name.c_str());
            plan.arch.cfg.push_back(0);
        } else if (l.name == "flatten" || starts_with(l.name, "flatten")) {
            plan.arch.head = Head::Fc;
        } else if (l.name == "gap" || l.name.find("global") != std::string::npos || l.name.find("avg") != std::string::npos) {
            plan.arch.head = Head::Gap;
        }
    }
    if (plan.convs.empty()) fail("the Keras file holds no conv kernels");
    if (plan.dense_w.size() == 3) plan.arch.head = Head::Fc;
    else if (plan.dense_w.size() == 1) plan.arch.head = Head::Gap;
    else fail("the Keras file has %zu dense layers; a VGG has 3 (fc1, fc2, predictions) or 1 (gap head)", plan.dense_w.size());
    plan.trailing_pool_known = true;
}

Plan make_plan(const TensorFile& tf) {
    Plan plan;
    bool timm = false, torchvision = false;
    for (const TensorRef& t : tf.tensors) {
        timm |= starts_with(t.name, "pre_logits.") || starts_with(t.name, "head.");
        torchvision |= starts_with(t.name, "features.");
    }
    if (tf.format == "keras-h5") {
        plan.arch.layout = "keras";
        plan.arch.preprocess = Preprocess::Caffe;
        read_keras(tf, plan);
    } else if (torchvision) {
        plan.arch.layout = timm ? "timm" : "torchvision";
        read_torch_features(tf, plan);
        read_torch_head(tf, plan, timm);
    } else {
        std::string keys;
        for (size_t i = 0; i < tf.tensors.size() && i < 4; i++) keys += (i ? ", " : "") + tf.tensors[i].name;
        fail("unrecognised weight layout: expected torchvision keys (features.N.weight, classifier.N.weight), "
             "timm keys (pre_logits.fc1.weight, head.fc.weight) or a Keras VGG16 .h5; found %s%s",
             keys.empty() ? "no tensors" : keys.c_str(), tf.tensors.size() > 4 ? ", ..." : "");
    }
    return plan;
}

int64_t dim(const TensorRef* t, int i) { return t->shape[(size_t)i]; }

// Dense layer i as (in, out), whatever the layout stores.
void dense_shape(const Plan& plan, size_t i, int64_t* in, int64_t* out) {
    const TensorRef* w = plan.dense_w[i];
    if (plan.arch.layout == "keras") {
        if (w->shape.size() != 2) fail("dense kernel '%s' has shape %s", w->name.c_str(), w->shape_str().c_str());
        *in = dim(w, 0); *out = dim(w, 1);
    } else {
        if (w->shape.size() == 4) { *out = dim(w, 0); *in = dim(w, 1) * dim(w, 2) * dim(w, 3); }
        else if (w->shape.size() == 2) { *out = dim(w, 0); *in = dim(w, 1); }
        else fail("'%s' has shape %s; expected a linear weight [out,in]", w->name.c_str(), w->shape_str().c_str());
    }
}

int final_side_of(const std::vector<int>& cfg, int s) {
    for (int v : cfg)
        if (v == 0) s /= 2;
    return s;
}

std::string gb(uint64_t bytes) { return strformat("%.2f GB", bytes / 1e9); }

int parse_int(const std::string& s, const char* what) {
    char* end = nullptr;
    long v = std::strtol(s.c_str(), &end, 10);
    if (s.empty() || *end || v <= 0 || v > 1 << 20) fail("bad %s '%s'", what, s.c_str());
    return (int)v;
}

// A JSON list of strings, as the metadata's class_names: ["T-shirt/top", "Trouser", ...].
std::vector<std::string> parse_string_list(const std::string& s) {
    std::vector<std::string> out;
    size_t i = 0;
    auto ws = [&] { while (i < s.size() && std::isspace((unsigned char)s[i])) i++; };
    auto bad = [&]() -> void { fail("metadata 'class_names' is not a JSON list of strings (at byte %zu)", i); };
    ws();
    if (i >= s.size() || s[i++] != '[') bad();
    ws();
    if (i < s.size() && s[i] == ']') return out;
    for (;;) {
        ws();
        if (i >= s.size() || s[i++] != '"') bad();
        std::string v;
        while (i < s.size() && s[i] != '"') {
            char c = s[i++];
            if (c == '\\') {
                if (i >= s.size()) bad();
                c = s[i++];
                if (c == 'n') c = '\n';
                else if (c == 't') c = '\t';
                else if (c == 'u') {  // \uXXXX: ASCII only (class names are plain text)
                    unsigned u = 0;
                    if (i + 4 > s.size() || std::sscanf(s.c_str() + i, "%4x", &u) != 1 || u > 127) bad();
                    c = (char)u, i += 4;
                } else if (c != '"' && c != '\\' && c != '/') bad();
            }
            v += c;
        }
        if (i++ >= s.size()) bad();
        out.push_back(v);
        ws();
        if (i < s.size() && s[i] == ',') { i++; continue; }
        if (i < s.size() && s[i] == ']') break;
        bad();
    }
    i++;
    ws();
    if (i != s.size()) bad();
    return out;
}

}  // namespace

#if defined(__EMSCRIPTEN__)
static uint64_t g_activation_budget = uint64_t(512) << 20;
#else
static uint64_t g_activation_budget = uint64_t(1) << 30;
#endif
uint64_t activation_budget() { return g_activation_budget; }
void set_activation_budget(uint64_t bytes) { g_activation_budget = bytes; }

// What Vgg allocates for a given architecture (plan_layers, forward, backward), in 64-bit
// arithmetic so that an absurd input size cannot wrap around on a 32-bit (wasm) size_t.
uint64_t vgg_activation_bytes(const VggArch& a) {
    uint64_t s = (uint64_t)std::max(a.input_size, 0), c = (uint64_t)std::max(a.in_channels, 0);
    uint64_t floats = 0, largest = 0, pointers = 0;
    auto layer = [&](uint64_t n) { floats += (n + 15) / 16 * 16 + 16, largest = std::max(largest, n); };
    const uint64_t input = s * s * c;
    for (int v : a.cfg) {
        if (v == 0) {
            s /= 2;
            layer(s * s * c);
            pointers += s * s * 4;                 // the max-pool's indirection buffer
        } else {
            layer(s * s * (uint64_t)v);
            pointers += 2 * (s * s + 16) * 9;      // forward and input-gradient convs: 9 taps per pixel
            c = (uint64_t)v;
        }
    }
    if (a.head == Head::Fc) layer((uint64_t)std::max(a.hidden1, 0)), layer((uint64_t)std::max(a.hidden2, 0));
    else layer(c);
    layer((uint64_t)std::max(a.num_classes, 0));
    return 4 * (2 * floats + 2 * (input + 16) + largest) + sizeof(void*) * pointers;
}

static void check_budget(const VggArch& a, const char* from) {
    const uint64_t need = vgg_activation_bytes(a);
    if (need > g_activation_budget)
        fail("%s input size %dx%d needs %s of working memory (activations and gradients); the limit is %s", from,
             a.input_size, a.input_size, gb(need).c_str(), gb(g_activation_budget).c_str());
}

static Plan plan_arch(const TensorFile& tf, const ArchOverrides& ov, int image_side) {
    Plan plan = make_plan(tf);
    VggArch& a = plan.arch;
    auto meta = [&](const char* k) -> std::string {
        auto it = tf.metadata.find(k);
        return it == tf.metadata.end() ? std::string() : it->second;
    };

    // Head: the file decides; a flag or the metadata may only agree.
    for (const std::string& h : {meta("head"), ov.head}) {
        if (h.empty()) continue;
        if (h != "fc" && h != "gap") fail("unknown head '%s' (fc or gap)", h.c_str());
        Head want = h == "fc" ? Head::Fc : Head::Gap;
        if (want != a.head)
            fail("head '%s' was asked for, but the file holds a %s head", h.c_str(), a.head == Head::Fc ? "fc" : "gap");
    }

    // Layer list: the convs come from the file; a given cfg must match them and may add the
    // trailing pool that torchvision/timm keys cannot show.
    auto apply_cfg = [&](const std::string& text, const char* from) {
        std::vector<int> want = vgg_parse_cfg(text);
        std::vector<int> a_convs, w_convs, a_inner = a.cfg, w_inner = want;
        for (int v : a.cfg) if (v) a_convs.push_back(v);
        for (int v : want) if (v) w_convs.push_back(v);
        while (!a_inner.empty() && a_inner.back() == 0) a_inner.pop_back();
        while (!w_inner.empty() && w_inner.back() == 0) w_inner.pop_back();
        if (a_convs != w_convs || (plan.trailing_pool_known ? want != a.cfg : a_inner != w_inner)) {
            VggArch t; t.cfg = want;
            fail("%s cfg %s does not match the file's layers %s", from, t.cfg_string().c_str(), a.cfg_string().c_str());
        }
        a.cfg = want;
        plan.trailing_pool_known = true;
    };
    if (!meta("cfg").empty()) apply_cfg(meta("cfg"), "the metadata's");
    if (!ov.cfg.empty()) apply_cfg(ov.cfg, "the requested");

    // Dense layers: shapes chain, and the fc head fixes the final map.
    const int C = a.final_channels();
    std::vector<int64_t> ins, outs;
    for (size_t i = 0; i < plan.dense_w.size(); i++) {
        int64_t in, out;
        dense_shape(plan, i, &in, &out);
        if (in <= 0 || out <= 0 || in > (1 << 30) || out > (1 << 24))
            fail("'%s' has an absurd shape %s", plan.dense_w[i]->name.c_str(), plan.dense_w[i]->shape_str().c_str());
        ins.push_back(in); outs.push_back(out);
        if (i > 0 && in != outs[i - 1])
            fail("'%s' has shape %s: it takes %lld inputs but the previous dense layer gives %lld",
                 plan.dense_w[i]->name.c_str(), plan.dense_w[i]->shape_str().c_str(), (long long)in, (long long)outs[i - 1]);
        const TensorRef* b = plan.dense_b[i];
        if (b && (b->shape.size() != 1 || b->shape[0] != out))
            fail("'%s' has shape %s; expected [%lld]", b->name.c_str(), b->shape_str().c_str(), (long long)out);
    }
    a.num_classes = (int)outs.back();
    int need_side = 0;   // fc head: the final map side the classifier expects
    if (a.head == Head::Fc) {
        a.hidden1 = (int)outs[0];
        a.hidden2 = (int)outs[1];
        const TensorRef* w0 = plan.dense_w[0];
        if (a.layout == "timm") {
            if (w0->shape.size() != 4 || dim(w0, 1) != C || dim(w0, 2) != dim(w0, 3))
                fail("pre_logits.fc1.weight has shape %s; expected [hidden,%d,k,k]", w0->shape_str().c_str(), C);
            need_side = (int)dim(w0, 2);
        } else {
            if (ins[0] % C) fail("fc1 takes %lld inputs, not a multiple of the last conv's %d channels", (long long)ins[0], C);
            int64_t hw = ins[0] / C;
            need_side = (int)std::lround(std::sqrt((double)hw));
            if ((int64_t)need_side * need_side != hw)
                fail("fc1 takes %lld = %d x %lld inputs: %lld is not a square feature map", (long long)ins[0], C,
                     (long long)hw, (long long)hw);
        }
    } else if (ins[0] != C) {
        fail("the gap head's linear layer takes %lld inputs, but the last conv has %d channels", (long long)ins[0], C);
    }

    if (!plan.trailing_pool_known) {
        // torchvision and timm VGGs end with a max-pool; a gap head (CAM) drops it. An fc head
        // whose classifier fits the image only without that pool is a custom list without it.
        bool pool = a.head == Head::Fc || ov.keep_last_pool == 1;
        if (pool && a.head == Head::Fc && image_side > 0 && !ov.input_size) {
            std::vector<int> with = a.cfg;
            with.push_back(0);
            if (final_side_of(with, image_side) != need_side && final_side_of(a.cfg, image_side) == need_side) pool = false;
        }
        if (pool) a.cfg.push_back(0);
    }

    // Input size: flag > metadata > the image's own side (within the memory budget) > what the
    // head implies > 224.
    auto fits = [&](int s) { return s > 0 && final_side_of(a.cfg, s) >= 1 && (!need_side || final_side_of(a.cfg, s) == need_side); };
    auto affordable = [&](int s) {
        VggArch t = a;
        t.input_size = s;
        return vgg_activation_bytes(t) <= g_activation_budget;
    };
    int pools = (int)std::count(a.cfg.begin(), a.cfg.end(), 0);
    if (pools > 12) fail("the layer list %s has %d max-pools; at most 12 are supported", a.cfg_string().c_str(), pools);
    int size = 0;
    for (auto [s, from] : {std::pair<int, const char*>{ov.input_size, "the requested"},
                           {meta("input_size").empty() ? 0 : parse_int(meta("input_size"), "input_size"), "the metadata's"}}) {
        if (!s) continue;
        if (!fits(s)) {
            if (need_side)
                fail("%s input size %d gives a %dx%d final map, but the classifier expects %dx%d", from, s,
                     final_side_of(a.cfg, s), final_side_of(a.cfg, s), need_side, need_side);
            fail("%s input size %d is too small for %d max-pools", from, s, pools);
        }
        if (!size) size = s;
    }
    if (!size && image_side > 0 && fits(image_side) && affordable(image_side)) size = image_side;
    if (!size) size = need_side ? need_side << pools : 224;
    if (!fits(size)) fail("input size %d is too small for %d max-pools", size, pools);
    a.input_size = size;
    check_budget(a, "the");
    if (!meta("num_classes").empty() && parse_int(meta("num_classes"), "num_classes") != a.num_classes)
        fail("the metadata says %s classes, the classifier has %d", meta("num_classes").c_str(), a.num_classes);
    // Preprocessing: the metadata's, else the weight source's; greyscale models use mean_std.
    if (!meta("preprocess").empty()) a.preprocess = preprocess_parse(meta("preprocess"));
    else if (a.in_channels == 1) a.preprocess = Preprocess::MeanStd;
    if ((a.preprocess == Preprocess::MeanStd) != (a.in_channels == 1))
        fail("preprocessing '%s' does not fit a model with %d input channels", preprocess_name(a.preprocess), a.in_channels);
    if (a.preprocess == Preprocess::MeanStd) {
        for (auto [k, v] : {std::pair<const char*, float*>{"mean", &a.mean}, {"std", &a.std}}) {
            if (meta(k).empty()) continue;
            char* end = nullptr;
            *v = std::strtof(meta(k).c_str(), &end);
            if (*end || !std::isfinite(*v)) fail("metadata '%s' is not a number: '%s'", k, meta(k).c_str());
        }
        if (!(a.std > 0)) fail("metadata 'std' must be positive, got %g", (double)a.std);
    }
    if (!meta("class_names").empty()) {
        a.class_names = parse_string_list(meta("class_names"));
        if ((int)a.class_names.size() != a.num_classes)
            fail("the metadata names %zu classes, the classifier has %d", a.class_names.size(), a.num_classes);
    }
    a.about = meta("description");
    return plan;
}

VggArch vgg_infer_arch(const TensorFile& tf, const ArchOverrides& ov, int image_side) {
    return plan_arch(tf, ov, image_side).arch;
}

TensorFile vgg_random_weights(const std::vector<int>& cfg, int in_channels, int input_size, Head head, int hidden,
                              int classes, uint32_t seed) {
    TensorFile tf;
    tf.format = "random";
    uint64_t state = seed * 0x9E3779B97F4A7C15ull + 1;
    auto uniform = [&]() {   // xorshift64*: fast enough for VGG16's 138 M values
        state ^= state >> 12, state ^= state << 25, state ^= state >> 27;
        return (float)((state * 0x2545F4914F6CDD1Dull) >> 40) * (2.0f / 16777216.0f) - 1.0f;   // [-1, 1)
    };
    auto add = [&](const std::string& name, std::vector<int64_t> shape, float stdev) {
        size_t n = 1;
        for (int64_t d : shape) n *= (size_t)d;
        auto buf = std::make_unique<std::vector<uint8_t>>(n * 4);
        float* f = (float*)buf->data();
        const float a = stdev > 0 ? stdev * std::sqrt(3.0f) : 0.1f;   // uniform with that standard deviation
        for (size_t i = 0; i < n; i++) f[i] = a * uniform();
        TensorRef t;
        t.name = name, t.shape = shape, t.data = buf->data(), t.nbytes = buf->size();
        tf.tensors.push_back(t);
        tf.owned.push_back(std::move(buf));
    };
    int c = in_channels, idx = 0, s = input_size;
    for (int v : cfg) {
        if (v == 0) { idx++; s /= 2; continue; }
        add(strformat("features.%d.weight", idx), {v, c, 3, 3}, std::sqrt(2.0f / (9 * c)));
        add(strformat("features.%d.bias", idx), {v}, 0);
        c = v, idx += 2;
    }
    std::vector<int> outs = head == Head::Fc ? std::vector<int>{hidden, hidden, classes} : std::vector<int>{classes};
    int in = head == Head::Fc ? c * s * s : c;
    for (size_t i = 0; i < outs.size(); i++) {
        add(strformat("classifier.%d.weight", 3 * (int)i), {outs[i], in}, std::sqrt((i + 1 < outs.size() ? 2.0f : 1.0f) / in));
        add(strformat("classifier.%d.bias", 3 * (int)i), {outs[i]}, 0);
        in = outs[i];
    }
    VggArch a;
    a.cfg = cfg;
    tf.metadata["cfg"] = a.cfg_string();
    tf.metadata["input_size"] = std::to_string(input_size);
    return tf;
}

// ---------------------------------------------------------------------------- the network

static void xnn_check(xnn_status s, const char* what) {
    if (s != xnn_status_success) fail("XNNPACK: %s failed (status %d)", what, (int)s);
}

static std::vector<float> to_f32(const TensorRef* t) {
    std::vector<float> v((size_t)t->numel());
    tensor_to_f32(*t, v.data());
    for (float x : v)
        if (!std::isfinite(x)) fail("tensor '%s' contains NaN or infinity", t->name.c_str());
    return v;
}

void Vgg::plan_layers() {
    layers_.clear();
    int block = 1, conv_i = 0, s = arch_.input_size, c = arch_.in_channels;
    size_t off = 0;
    auto add = [&](LayerInfo l) {
        l.offset = off;
        off += (l.size() + 15) / 16 * 16 + 16;   // aligned, with the slack XNNPACK may read past the end
        layers_.push_back(l);
    };
    for (int v : arch_.cfg) {
        if (v == 0) {
            s /= 2;
            add({LayerInfo::Pool, strformat("block%d_pool", block), s, s, c});
            block++, conv_i = 0;
        } else {
            LayerInfo l{LayerInfo::Conv, strformat("block%d_conv%d", block, ++conv_i), s, s, v};
            l.cin = c;
            add(l);
            c = v;
        }
    }
    if (arch_.head == Head::Fc) {
        add({LayerInfo::Dense, "fc1", 1, 1, arch_.hidden1});
        add({LayerInfo::Dense, "fc2", 1, 1, arch_.hidden2});
    } else {
        add({LayerInfo::Gap, "gap", 1, 1, c});
    }
    add({LayerInfo::Dense, "predictions", 1, 1, arch_.num_classes});
    arena_.assign(off, 0.0f);
}

Vgg::Vgg(const VggArch& arch, const TensorFile& tf, std::shared_ptr<std::vector<uint8_t>> adopt) : arch_(arch) {
    static bool initialized = false;
    if (!initialized) {
        xnn_check(xnn_initialize(nullptr), "xnn_initialize");
        initialized = true;
    }
    // Re-derive where each tensor lives; the given arch may carry the caller's choices.
    ArchOverrides ov;
    ov.cfg = arch.cfg_string();
    ov.input_size = arch.input_size;
    Plan plan = plan_arch(tf, ov, 0);
    arch_.cfg = plan.arch.cfg;
    check_budget(arch_, "the");
    plan_layers();

    try {
        // Conv + ReLU and max-pool operators, in order.
        size_t k = 0;
        for (const LayerInfo& l : layers_) {
            if (l.kind == LayerInfo::Pool) {
                xnn_operator_t op = nullptr;
                xnn_check(xnn_create_max_pooling2d_nhwc_f32(0, 0, 0, 0, 2, 2, 2, 2, 1, 1,
                                                            -std::numeric_limits<float>::infinity(),
                                                            std::numeric_limits<float>::infinity(), 0, &op),
                          "create max-pool");
                ops_.push_back(op);
            }
            if (l.kind != LayerInfo::Conv) continue;
            const Plan::Conv& pc = plan.convs[k++];
            const int co = l.c, ci = l.cin;
            std::vector<float> src = to_f32(pc.w), w((size_t)co * 9 * ci), b((size_t)co, 0.0f);
            if (pc.b) b = to_f32(pc.b);
            for (int o = 0; o < co; o++)
                for (int y = 0; y < 3; y++)
                    for (int x = 0; x < 3; x++)
                        for (int i = 0; i < ci; i++) {
                            size_t from = arch_.layout == "keras" ? (((size_t)y * 3 + x) * ci + i) * co + o   // HWIO
                                                                  : (((size_t)o * ci + i) * 3 + y) * 3 + x;  // OIHW
                            w[(((size_t)o * 3 + y) * 3 + x) * ci + i] = src[from];
                        }
            if (pc.bn_w) {   // fold batch norm (eval): y = gamma (conv - mean) / sqrt(var + eps) + beta
                std::vector<float> g = to_f32(pc.bn_w), be = to_f32(pc.bn_b), m = to_f32(pc.bn_mean), v = to_f32(pc.bn_var);
                for (int o = 0; o < co; o++) {
                    if (v[o] < 0) fail("batch norm running_var of conv %s is negative", l.name.c_str());
                    double sc = g[o] / std::sqrt((double)v[o] + 1e-5);
                    for (size_t j = 0; j < (size_t)9 * ci; j++) w[(size_t)o * 9 * ci + j] = (float)(w[(size_t)o * 9 * ci + j] * sc);
                    b[o] = (float)((b[o] - (double)m[o]) * sc + be[o]);
                }
            }
            const float inf = std::numeric_limits<float>::infinity();
            xnn_operator_t op = nullptr;
            xnn_check(xnn_create_convolution2d_nhwc_f32(1, 1, 1, 1, 3, 3, 1, 1, 1, 1, 1, ci, co, ci, co, w.data(),
                                                        b.data(), 0.0f, inf, 0, nullptr, nullptr, &op),
                      "create convolution");
            ops_.push_back(op);
            // The input gradient is a conv with the flipped kernel (layers.h), also on XNNPACK.
            std::vector<float> wt(w.size());
            conv3x3_flip_kernel(w.data(), co, ci, wt.data());
            xnn_check(xnn_create_convolution2d_nhwc_f32(1, 1, 1, 1, 3, 3, 1, 1, 1, 1, 1, co, ci, co, ci, wt.data(),
                                                        nullptr, -inf, inf, 0, nullptr, nullptr, &op),
                      "create convolution (backward)");
            back_ops_.push_back(op);   // w, wt and b are freed here: XNNPACK holds the packed copies
        }

        // Fully connected layers, kept once as [out][in] with `in` in HWC flatten order.
        const int S = arch_.final_side(), C = arch_.final_channels();
        for (size_t i = 0; i < plan.dense_w.size(); i++) {
            Dense d;
            int64_t in, out;
            dense_shape(plan, i, &in, &out);
            d.in = (int)in, d.out = (int)out;
            d.relu = i + 1 < plan.dense_w.size();
            const TensorRef* t = plan.dense_w[i];
            bool in_place = adopt && arch_.layout != "keras" && t->dtype == DType::F32 && t->data >= adopt->data() + 4 &&
                            t->data + t->nbytes <= adopt->data() + adopt->size();
            uint8_t* at = in_place ? adopt->data() + (t->data - adopt->data()) : nullptr;
            if (in_place && (uintptr_t)at % alignof(float)) {
                // Unaligned (legacy .pth storages follow pickles of any length): slide the
                // tensor back onto a float boundary, over bytes no other tensor uses.
                const size_t shift = (uintptr_t)at % alignof(float);
                for (const TensorRef& o : tf.tensors)
                    if (&o != t && o.data < t->data + t->nbytes && o.data + o.nbytes > t->data - shift) in_place = false;
                if (in_place) std::memmove(at - shift, at, t->nbytes), at -= shift;
            }
            float* w;
            if (in_place) {
                w = (float*)at;
                adopted_ = adopt;
            } else {
                d.w.own.resize((size_t)in * out);
                w = d.w.own.data();
            }
            d.w.ptr = w;
            if (arch_.layout == "keras") {   // [in][out] -> [out][in], in blocks for the cache
                std::vector<float> src = to_f32(t);
                const size_t B = 64;
                for (size_t i0 = 0; i0 < (size_t)in; i0 += B)
                    for (size_t o0 = 0; o0 < (size_t)out; o0 += B)
                        for (size_t ii = i0; ii < std::min(i0 + B, (size_t)in); ii++)
                            for (size_t oo = o0; oo < std::min(o0 + B, (size_t)out); oo++)
                                w[oo * in + ii] = src[ii * out + oo];
            } else {
                if (!in_place) tensor_to_f32(*t, w);
                for (size_t k = 0; k < (size_t)in * out; k++)
                    if (!std::isfinite(w[k])) fail("tensor '%s' contains NaN or infinity", t->name.c_str());
                if (i == 0 && arch_.head == Head::Fc && S * S > 1) {   // torch flattens C,H,W; we flatten H,W,C
                    std::vector<float> row((size_t)in);
                    for (int64_t o = 0; o < out; o++) {
                        float* r = w + o * in;
                        std::memcpy(row.data(), r, (size_t)in * 4);
                        for (int c = 0; c < C; c++)
                            for (int p = 0; p < S * S; p++) r[(size_t)p * C + c] = row[(size_t)c * S * S + p];
                    }
                }
            }
            d.b = plan.dense_b[i] ? to_f32(plan.dense_b[i]) : std::vector<float>((size_t)out, 0.0f);
            dense_.push_back(std::move(d));
        }
        reshape_ops();
    } catch (...) {
        for (xnn_operator_t op : ops_) xnn_delete_operator(op);
        for (xnn_operator_t op : back_ops_) xnn_delete_operator(op);
        throw;
    }
}

Vgg::~Vgg() {
    for (xnn_operator_t op : ops_) xnn_delete_operator(op);
    for (xnn_operator_t op : back_ops_) xnn_delete_operator(op);
    if (pool_) pthreadpool_destroy(pool_);
}

void Vgg::set_threads(int n) {
    n = std::max(1, n);
    if (n == threads_) return;
    if (pool_) pthreadpool_destroy(pool_);
    pool_ = n > 1 ? pthreadpool_create((size_t)n) : nullptr;
    threads_ = n;
    reshape_ops();   // XNNPACK plans its parallel work for the pool at reshape time
}

void Vgg::reshape_ops() {
    size_t ws_max = 0, k = 0, kb = 0;
    int s = arch_.input_size;
    for (const LayerInfo& l : layers_) {
        if (l.kind == LayerInfo::Conv) {
            size_t ws = 0, align = 0, oh = 0, ow = 0;
            xnn_check(xnn_reshape_convolution2d_nhwc_f32(ops_[k++], 1, s, s, &ws, &align, &oh, &ow, pool_), "reshape convolution");
            CNN_ASSERT((int)oh == l.h && (int)ow == l.w);
            ws_max = std::max(ws_max, ws + align);
            xnn_check(xnn_reshape_convolution2d_nhwc_f32(back_ops_[kb++], 1, s, s, &ws, &align, &oh, &ow, pool_),
                      "reshape convolution (backward)");
            ws_max = std::max(ws_max, ws + align);
        } else if (l.kind == LayerInfo::Pool) {
            size_t oh = 0, ow = 0, c = (size_t)l.c;
            xnn_check(xnn_reshape_max_pooling2d_nhwc_f32(ops_[k++], 1, s, s, c, c, c, &oh, &ow, pool_), "reshape max-pool");
            CNN_ASSERT((int)oh == l.h && (int)ow == l.w);
        }
        s = l.h;
    }
    workspace_.assign(ws_max + 64, 0);
}

const LayerInfo* Vgg::layer(const std::string& name) const {
    for (const LayerInfo& l : layers_)
        if (l.name == name) return &l;
    return nullptr;
}

const float* Vgg::act(const std::string& name) const {
    const LayerInfo* l = layer(name);
    if (!l) fail("no layer named '%s'", name.c_str());
    return act(*l);
}

void Vgg::forward(const float* input) {
    // XNNPACK may read a few bytes past the end of an input: give it a padded copy.
    const size_t n = (size_t)arch_.input_size * arch_.input_size * arch_.in_channels;
    input_.resize(n + 16);
    std::memcpy(input_.data(), input, n * sizeof(float));
    void* ws = (void*)(((uintptr_t)workspace_.data() + 63) & ~(uintptr_t)63);
    const float* x = input_.data();
    size_t k = 0;
    for (const LayerInfo& l : layers_) {
        float* y = arena_.data() + l.offset;
        if (l.kind == LayerInfo::Conv) {
            xnn_check(xnn_setup_convolution2d_nhwc_f32(ops_[k], ws, x, y), "setup convolution");
            xnn_check(xnn_run_operator(ops_[k++], pool_), "run convolution");
        } else if (l.kind == LayerInfo::Pool) {
            xnn_check(xnn_setup_max_pooling2d_nhwc_f32(ops_[k], x, y), "setup max-pool");
            xnn_check(xnn_run_operator(ops_[k++], pool_), "run max-pool");
        } else if (l.kind == LayerInfo::Gap) {
            const LayerInfo& prev = (&l)[-1];
            gap_forward(x, prev.h, prev.w, prev.c, y);
        } else {
            const Dense& d = dense_[(size_t)(&l - &layers_[0]) - (layers_.size() - dense_.size())];
            linear_forward(d.w.data(), d.b.data(), x, d.in, d.out, d.relu, y, pool_);
        }
        x = y;
    }
}

const float* Vgg::grad(const std::string& name) const {
    const LayerInfo* l = layer(name);
    if (!l) fail("no layer named '%s'", name.c_str());
    if (grads_.empty()) fail("no backward pass has run");
    return grad(*l);
}

// Walks the layers in reverse: dense layers by the transposed product over their one copy of
// the weights, ReLUs by masks from the saved outputs, max-pools by routing to the first
// maximum, convs by XNNPACK with the flipped kernels. Stops once `down_to` has its gradient.
void Vgg::backward(int cls, bool guided, const std::string& down_to) {
    if (cls < 0 || cls >= arch_.num_classes) fail("class %d is out of range (0..%d)", cls, arch_.num_classes - 1);
    const LayerInfo* stop = down_to.empty() ? nullptr : layer(down_to);
    if (!down_to.empty() && !stop) fail("no layer named '%s'", down_to.c_str());
    if (grads_.size() != arena_.size()) grads_.assign(arena_.size(), 0.0f);
    size_t scratch = 0;
    for (const LayerInfo& l : layers_) scratch = std::max(scratch, l.size());
    scratch_.resize(scratch + 16);
    input_grad_.resize((size_t)arch_.input_size * arch_.input_size * arch_.in_channels);
    void* ws = (void*)(((uintptr_t)workspace_.data() + 63) & ~(uintptr_t)63);

    const int n = (int)layers_.size(), first_dense = n - (int)dense_.size();
    float* g_last = grads_.data() + layers_.back().offset;
    std::fill(g_last, g_last + arch_.num_classes, 0.0f);
    g_last[cls] = 1.0f;
    size_t kconv = back_ops_.size();
    for (int li = n - 1; li >= 0; li--) {
        const LayerInfo& l = layers_[(size_t)li];
        if (&l == stop) break;
        float* g = grads_.data() + l.offset;      // d logit / d output of l
        const float* y = act(l);
        const bool first = li == 0;
        float* gx = first ? input_grad_.data() : grads_.data() + layers_[(size_t)li - 1].offset;
        const float* x = first ? input_.data() : act(layers_[(size_t)li - 1]);
        if (li >= first_dense) {                  // dense: through its ReLU, then W^T
            const Dense& d = dense_[(size_t)(li - first_dense)];
            const float* gz = g;
            if (d.relu) {
                relu_backward(y, g, l.size(), guided, scratch_.data());
                gz = scratch_.data();
            }
            linear_backward(d.w.data(), gz, d.in, d.out, gx, pool_);
        } else if (l.kind == LayerInfo::Gap) {
            const LayerInfo& p = layers_[(size_t)li - 1];
            gap_backward(g, p.h, p.w, p.c, gx);
        } else if (l.kind == LayerInfo::Pool) {
            const LayerInfo* p = first ? nullptr : &layers_[(size_t)li - 1];
            int H = p ? p->h : arch_.input_size, C = l.c;
            maxpool2x2_backward(x, y, g, H, H, C, gx);
        } else {                                  // conv: through its ReLU, then the flipped conv
            relu_backward(y, g, l.size(), guided, scratch_.data());
            xnn_operator_t op = back_ops_[--kconv];
            xnn_check(xnn_setup_convolution2d_nhwc_f32(op, ws, scratch_.data(), gx), "setup convolution (backward)");
            xnn_check(xnn_run_operator(op, pool_), "run convolution (backward)");
        }
    }
}

}  // namespace cnnlens
