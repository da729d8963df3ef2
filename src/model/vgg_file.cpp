// vgg_file.cpp: the file layouts (torchvision and timm keys, Keras layer names) -> VggArch,
// then the tensors -> VggParams in the engine's layouts. Sections: checks on tensors; reading
// the layouts into a Plan (where each parameter is); inferring and checking the architecture;
// conversion; random weights.
#include "model/vgg_file.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>

#include "core/error.h"
#include "core/json.h"
#include "core/rng.h"

namespace cnnlens {

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
    std::map<std::string, size_t> index;   // (a hostile file may list many layers and tensors)
    for (const std::string& name : split(it->second)) {
        if (!index.emplace(name, out.size()).second) fail("Keras file names layer '%s' twice", name.c_str());
        out.push_back({name, {}});
    }
    for (const TensorRef& t : tf.tensors) {
        auto l = index.find(t.name.substr(0, t.name.find('/')));
        if (l != index.end()) out[l->second].weights.push_back(&t);
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
        plan.arch.layout = Layout::Keras;
        plan.arch.preprocess = Preprocess::Caffe;
        read_keras(tf, plan);
    } else if (torchvision) {
        plan.arch.layout = timm ? Layout::Timm : Layout::Torchvision;
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
    if (plan.arch.layout == Layout::Keras) {
        if (w->shape.size() != 2) fail("dense kernel '%s' has shape %s", w->name.c_str(), w->shape_str().c_str());
        *in = dim(w, 0); *out = dim(w, 1);
    } else {
        if (w->shape.size() == 4) { *out = dim(w, 0); *in = dim(w, 1) * dim(w, 2) * dim(w, 3); }
        else if (w->shape.size() == 2) { *out = dim(w, 0); *in = dim(w, 1); }
        else fail("'%s' has shape %s; expected a linear weight [out,in]", w->name.c_str(), w->shape_str().c_str());
    }
}


int parse_int(const std::string& s, const char* what) {
    char* end = nullptr;
    long v = std::strtol(s.c_str(), &end, 10);
    if (s.empty() || *end || v <= 0 || v > 1 << 20) fail("bad %s '%s'", what, s.c_str());
    return (int)v;
}

int g_inferences = 0;

Plan infer(const TensorFile& tf, const ArchOverrides& ov, int image_side) {
    g_inferences++;
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
            fail("%s cfg %s does not match the file's layers %s", from, cfg_string(want).c_str(), a.cfg_string().c_str());
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
        if (a.layout == Layout::Timm) {
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
            if (final_side(with, image_side) != need_side && final_side(a.cfg, image_side) == need_side) pool = false;
        }
        if (pool) a.cfg.push_back(0);
    }

    // Input size: flag > metadata > the image's own side (within the memory budget) > what the
    // head implies > 224.
    auto fits = [&](int s) { return s > 0 && final_side(a.cfg, s) >= 1 && (!need_side || final_side(a.cfg, s) == need_side); };
    int pools = (int)std::count(a.cfg.begin(), a.cfg.end(), 0);
    if (pools > 12) fail("the layer list %s has %d max-pools; at most 12 are supported", a.cfg_string().c_str(), pools);
    int size = 0;
    for (auto [s, from] : {std::pair<int, const char*>{ov.input_size, "the requested"},
                           {meta("input_size").empty() ? 0 : parse_int(meta("input_size"), "input_size"), "the metadata's"}}) {
        if (!s) continue;
        if (!fits(s)) {
            if (need_side)
                fail("%s input size %d gives a %dx%d final map, but the classifier expects %dx%d", from, s,
                     final_side(a.cfg, s), final_side(a.cfg, s), need_side, need_side);
            fail("%s input size %d is too small for %d max-pools", from, s, pools);
        }
        if (!size) size = s;
    }
    a.input_fixed = size > 0;
    a.need_side = need_side;
    if (!size) size = need_side ? need_side << pools : 224;
    if (!fits(size)) fail("input size %d is too small for %d max-pools", size, pools);
    a.default_input_size = a.input_size = size;
    check_activation_budget(a);
    a.input_size = vgg_input_size(a, image_side);
    if (!meta("num_classes").empty() && parse_int(meta("num_classes"), "num_classes") != a.num_classes)
        fail("the metadata says %s classes, the classifier has %d", meta("num_classes").c_str(), a.num_classes);
    // Preprocessing: the metadata's, else the weight source's; greyscale models use mean_std.
    if (!meta("preprocess").empty()) a.preprocess = preprocess_parse(meta("preprocess"));
    else if (a.in_channels == 1) a.preprocess = Preprocess::MeanStd;
    if ((a.preprocess == Preprocess::MeanStd) != (a.in_channels == 1))
        fail("preprocessing '%s' does not fit a model with %d input channels", preprocess_name(a.preprocess), a.in_channels);
    if (a.preprocess == Preprocess::MeanStd) {
        for (auto [k, v] : {std::pair<const char*, float*>{"mean", &a.mean}, {"std", &a.std}}) {
            const std::string text = meta(k);   // strtof's end points into it: it must outlive the check
            if (text.empty()) continue;
            char* end = nullptr;
            *v = std::strtof(text.c_str(), &end);
            if (*end || !std::isfinite(*v)) fail("metadata '%s' is not a number: '%s'", k, text.c_str());
        }
        if (!(a.std > 0)) fail("metadata 'std' must be positive, got %g", (double)a.std);
    }
    if (!meta("class_names").empty()) {
        try {
            a.class_names = Json::parse(meta("class_names")).strings("it");
        } catch (const Error& e) {
            fail("metadata 'class_names' is not a JSON list of strings: %s", e.what());
        }
        if ((int)a.class_names.size() != a.num_classes)
            fail("the metadata names %zu classes, the classifier has %d", a.class_names.size(), a.num_classes);
    }
    a.about = meta("description");
    if (!meta("marker_positions").empty()) {   // a shortcut model: its markers, checked against the input
        Marker& m = a.marker;
        m.size = parse_int(meta("marker_size").empty() ? "4" : meta("marker_size"), "marker_size");
        m.value = meta("marker_value").empty() ? 255 : parse_int(meta("marker_value"), "marker_value");
        if (m.value > 255) fail("metadata marker_value %d is not a grey level", m.value);
        try {
            const Json positions = Json::parse(meta("marker_positions"));
            for (const Json& p : positions.items()) {
                const int r = p[0].integer(-1), c = p[1].integer(-1);
                if (p.size() != 2 || r < 0 || c < 0 || r + m.size > a.input_size || c + m.size > a.input_size)
                    fail("a position is not [row, col] of a %dx%d square inside the %dx%d input", m.size, m.size,
                         a.input_size, a.input_size);
                m.positions.push_back({r, c});
            }
        } catch (const Error& e) {
            fail("metadata 'marker_positions': %s", e.what());
        }
        if ((int)m.positions.size() != a.num_classes)
            fail("the metadata places %zu markers for %d classes", m.positions.size(), a.num_classes);
    }
    a.dataset = meta("dataset");
    return plan;
}

// ---------------------------------------------------------------------------- conversion

// float32 values of a tensor the network uses, refusing NaN and infinity.
std::vector<float> to_f32(const TensorRef* t) {
    std::vector<float> v((size_t)t->numel());
    tensor_to_f32(*t, v.data());
    for (float x : v)
        if (!std::isfinite(x)) fail("tensor '%s' contains NaN or infinity", t->name.c_str());
    return v;
}

// A conv kernel in the engine's OHWI layout, from OIHW (torch) or HWIO (Keras). A lean network's
// float16 torchvision kernel without batch norm stays in the adopted file buffer as it is.
ConvParams convert_conv(const Plan::Conv& pc, int cin, int cout, Layout layout,
                        const std::shared_ptr<std::vector<uint8_t>>& adopt, bool lean, bool* used_file) {
    ConvParams c;
    c.cin = cin, c.cout = cout;
    const TensorRef* t = pc.w;
    if (lean && adopt && t->dtype == DType::F16 && layout != Layout::Keras && !pc.bn_w &&
        t->nbytes == (size_t)cout * cin * 9 * 2 && t->data >= adopt->data() &&
        t->data + t->nbytes <= adopt->data() + adopt->size()) {
        for (size_t i = 0; i < t->nbytes; i += 2)   // exponent all ones: infinity or NaN
            if ((t->data[i + 1] & 0x7c) == 0x7c) fail("tensor '%s' contains NaN or infinity", t->name.c_str());
        c.f16 = (const uint16_t*)t->data;
        c.b = pc.b ? to_f32(pc.b) : std::vector<float>((size_t)cout, 0.0f);
        *used_file = true;
        return c;
    }
    const std::vector<float> src = to_f32(pc.w);
    c.w.resize(src.size());
    c.b = pc.b ? to_f32(pc.b) : std::vector<float>((size_t)cout, 0.0f);
    for (int o = 0; o < cout; o++)
        for (int t = 0; t < 9; t++)
            for (int i = 0; i < cin; i++)
                c.w[((size_t)o * 9 + t) * cin + i] = layout == Layout::Keras ? src[((size_t)t * cin + i) * cout + o]
                                                                             : src[((size_t)o * cin + i) * 9 + t];
    if (pc.bn_w) {
        const std::vector<float> g = to_f32(pc.bn_w), be = to_f32(pc.bn_b), m = to_f32(pc.bn_mean), v = to_f32(pc.bn_var);
        for (float x : v)
            if (x < 0) fail("batch norm running_var '%s' is negative", pc.bn_var->name.c_str());
        fold_batch_norm(c.w.data(), c.b.data(), cout, (size_t)9 * cin, g.data(), be.data(), m.data(), v.data());
    }
    return c;
}

// Fully connected layer i as [out][in] with `in` in HWC flatten order, in the file's float32,
// float16 or int8 (+ row scales): in place in the adopted file buffer where the file stores it
// as [out][in], else copied (other float types and Keras's [in][out] are widened to float32).
DenseParams convert_dense(const Plan& plan, const TensorFile& tf, size_t i, const std::shared_ptr<std::vector<uint8_t>>& adopt,
                          bool* used_file) {
    const VggArch& a = plan.arch;
    DenseParams d;
    int64_t in, out;
    dense_shape(plan, i, &in, &out);
    d.in = (int)in, d.out = (int)out;
    d.relu = i + 1 < plan.dense_w.size();
    d.b = plan.dense_b[i] ? to_f32(plan.dense_b[i]) : std::vector<float>((size_t)out, 0.0f);
    const TensorRef* t = plan.dense_w[i];
    const size_t n = (size_t)in * out;
    if (a.layout == Layout::Keras) {   // [in][out] -> [out][in], in blocks for the cache
        d.w.own = std::make_shared<std::vector<uint8_t>>(n * sizeof(float));
        float* w = (float*)d.w.own->data();
        d.w.rows = WeightRows(w);
        const std::vector<float> src = to_f32(t);
        const size_t B = 64;
        for (size_t i0 = 0; i0 < (size_t)in; i0 += B)
            for (size_t o0 = 0; o0 < (size_t)out; o0 += B)
                for (size_t ii = i0; ii < std::min(i0 + B, (size_t)in); ii++)
                    for (size_t oo = o0; oo < std::min(o0 + B, (size_t)out); oo++) w[oo * in + ii] = src[ii * out + oo];
        return d;
    }
    const WType type = t->dtype == DType::F16 ? WType::F16 : t->dtype == DType::I8 ? WType::I8 : WType::F32;
    const size_t es = wtype_size(type);
    const bool same_bytes = t->dtype == DType::F32 || type != WType::F32;   // no widening needed
    bool in_place = adopt && same_bytes && t->data >= adopt->data() + es && t->data + t->nbytes <= adopt->data() + adopt->size();
    uint8_t* at = in_place ? adopt->data() + (t->data - adopt->data()) : nullptr;
    if (in_place && (uintptr_t)at % es) {
        // Unaligned (legacy .pth storages follow pickles of any length): slide the tensor back
        // onto an element boundary, over bytes no other tensor uses.
        const size_t shift = (uintptr_t)at % es;
        for (const TensorRef& o : tf.tensors)
            if (&o != t && o.data < t->data + t->nbytes && o.data + o.nbytes > t->data - shift) in_place = false;
        if (in_place) std::memmove(at - shift, at, t->nbytes), at -= shift;
    }
    uint8_t* w;
    if (in_place) {
        w = at;
        *used_file = true;
    } else {
        d.w.own = std::make_shared<std::vector<uint8_t>>(n * es);
        w = d.w.own->data();
        if (same_bytes) std::memcpy(w, t->data, n * es);
        else tensor_to_f32(*t, (float*)w);
    }
    if (type == WType::I8) {
        const TensorRef* sc = tf.find(t->name + "_scale");
        if (!sc) fail("int8 tensor '%s' has no row scales ('%s_scale')", t->name.c_str(), t->name.c_str());
        if (sc->shape.size() != 1 || sc->shape[0] != out)
            fail("'%s' has shape %s: expected [%lld], one scale per row of '%s'", sc->name.c_str(), sc->shape_str().c_str(),
                 (long long)out, t->name.c_str());
        d.w.scale = std::make_shared<std::vector<float>>(to_f32(sc));
        for (float v : *d.w.scale)
            if (!std::isfinite(v)) fail("tensor '%s' contains NaN or infinity", sc->name.c_str());
    }
    d.w.rows = WeightRows(type, w, d.w.scale ? d.w.scale->data() : nullptr);
    if (type == WType::F32) {
        for (size_t k = 0; k < n; k++)
            if (!std::isfinite(((const float*)w)[k])) fail("tensor '%s' contains NaN or infinity", t->name.c_str());
    } else if (type == WType::F16) {   // exponent all ones: inf or NaN
        for (size_t k = 0; k < n; k++) {
            uint16_t h;
            std::memcpy(&h, w + 2 * k, 2);
            if ((h & 0x7c00) == 0x7c00) fail("tensor '%s' contains NaN or infinity", t->name.c_str());
        }
    }
    const int S = a.final_side(), C = a.final_channels();
    if (i == 0 && a.head == Head::Fc && S * S > 1) {   // torch flattens C,H,W; we flatten H,W,C
        std::vector<uint8_t> row((size_t)in * es);
        for (int64_t o = 0; o < out; o++) {
            uint8_t* r = w + (size_t)o * in * es;
            std::memcpy(row.data(), r, row.size());
            for (int c = 0; c < C; c++)
                for (int p = 0; p < S * S; p++)
                    std::memcpy(r + ((size_t)p * C + c) * es, row.data() + ((size_t)c * S * S + p) * es, es);
        }
    }
    return d;
}

}  // namespace

std::vector<float> ConvParams::weights() const {
    std::vector<float> out((size_t)cout * 9 * cin);
    conv3x3_kernel_f32(kernel(), cin, cout, out.data());
    return out;
}

const float* DenseParams::Weights::data() const {
    CNN_ASSERT(rows.type == WType::F32);
    return (const float*)rows.data;
}

int vgg_inference_count() { return g_inferences; }

VggArch vgg_infer_arch(const TensorFile& tf, const ArchOverrides& ov, int image_side) {
    return infer(tf, ov, image_side).arch;
}

VggParams vgg_params(const TensorFile& tf, const ArchOverrides& ov, int image_side,
                     std::shared_ptr<std::vector<uint8_t>> adopt) {
    Plan plan = infer(tf, ov, image_side);
    VggParams p;
    p.arch = plan.arch;
    int cin = p.arch.in_channels;
    for (const Plan::Conv& pc : plan.convs) p.lean |= dtype_size(pc.w->dtype) < 4;
    bool used_file = false;
    size_t k = 0;
    for (int v : p.arch.cfg) {
        if (v == 0) continue;
        p.convs.push_back(convert_conv(plan.convs[k++], cin, v, p.arch.layout, adopt, p.lean, &used_file));
        cin = v;
    }
    for (size_t i = 0; i < plan.dense_w.size(); i++) p.dense.push_back(convert_dense(plan, tf, i, adopt, &used_file));
    // What is used in place must not share bytes: fc1 is rewritten in place after the kernels'
    // values were checked (a .pth may alias storages; safetensors refuses overlaps when read).
    struct Span { const uint8_t* p; size_t n; const std::string* name; };
    std::vector<Span> spans;
    for (size_t i = 0; i < p.convs.size(); i++)
        if (p.convs[i].f16) spans.push_back({(const uint8_t*)p.convs[i].f16, plan.convs[i].w->nbytes, &plan.convs[i].w->name});
    for (size_t i = 0; i < p.dense.size(); i++)
        if (!p.dense[i].w.own)
            spans.push_back({(const uint8_t*)p.dense[i].w.rows.data,
                             (size_t)p.dense[i].in * p.dense[i].out * wtype_size(p.dense[i].w.rows.type), &plan.dense_w[i]->name});
    std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.p < b.p; });
    for (size_t i = 1; i < spans.size(); i++)
        if (spans[i].p < spans[i - 1].p + spans[i - 1].n)
            fail("tensors '%s' and '%s' share bytes in the file", spans[i - 1].name->c_str(), spans[i].name->c_str());
    if (used_file) p.file = std::move(adopt);
    return p;
}

std::string reinit_top_layers(VggParams& p, int count, uint64_t seed) {
    // the layers with weights from the output down: dense layers last to first, then convs
    std::vector<std::string> names;
    const int nconv = (int)p.convs.size();
    if (p.arch.head == Head::Fc) names = {"predictions", "fc2", "fc1"};
    else names = {"predictions"};
    {
        int block = 1, conv_i = 0;
        std::vector<std::string> convs;
        for (int v : p.arch.cfg) {
            if (v == 0) block++, conv_i = 0;
            else convs.push_back(strformat("block%d_conv%d", block, ++conv_i));
        }
        names.insert(names.end(), convs.rbegin(), convs.rend());
    }
    if (count < 0 || count > (int)names.size()) fail("cannot re-initialise %d of %zu layers", count, names.size());
    Rng rng(seed);
    for (int i = 0; i < count; i++) {
        const int nd = (int)p.dense.size();
        if (i < nd) {
            DenseParams& d = p.dense[(size_t)(nd - 1 - i)];
            d.w.own = std::make_shared<std::vector<uint8_t>>((size_t)d.in * d.out * sizeof(float));
            float* w = (float*)d.w.own->data();
            for (size_t k = 0; k < (size_t)d.in * d.out; k++) w[k] = (float)(0.01 * rng.normal());
            d.w.rows = WeightRows(w);
            d.w.scale.reset();
            std::fill(d.b.begin(), d.b.end(), 0.0f);
        } else {
            ConvParams& c = p.convs[(size_t)(nconv - 1 - (i - nd))];
            const double sd = std::sqrt(2.0 / (9.0 * c.cin));
            c.w.resize((size_t)c.cout * 9 * c.cin), c.f16 = nullptr;
            for (float& x : c.w) x = (float)(sd * rng.normal());
            std::fill(c.b.begin(), c.b.end(), 0.0f);
        }
    }
    return count ? names[(size_t)count - 1] : "none";
}

void fold_batch_norm(float* w, float* b, int cout, size_t k, const float* gamma, const float* beta, const float* mean,
                     const float* var) {
    for (int o = 0; o < cout; o++) {
        const double sc = gamma[o] / std::sqrt((double)var[o] + 1e-5);
        for (size_t j = 0; j < k; j++) w[(size_t)o * k + j] = (float)(w[(size_t)o * k + j] * sc);
        b[o] = (float)((b[o] - (double)mean[o]) * sc + beta[o]);
    }
}

TensorFile vgg_random_weights(const std::vector<int>& cfg, int in_channels, int input_size, Head head, int hidden,
                              int classes, uint32_t seed) {
    TensorFile tf;
    tf.format = "random";
    Rng rng(seed);
    auto add = [&](const std::string& name, std::vector<int64_t> shape, float stdev) {
        size_t n = 1;
        for (int64_t d : shape) n *= (size_t)d;
        auto buf = std::make_unique<std::vector<uint8_t>>(n * 4);
        float* f = (float*)buf->data();
        const float a = stdev > 0 ? stdev * std::sqrt(3.0f) : 0.1f;   // uniform with that standard deviation
        for (size_t i = 0; i < n; i++) f[i] = a * (float)rng.uniform(-1, 1);
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
    tf.metadata["cfg"] = cfg_string(cfg);
    tf.metadata["input_size"] = std::to_string(input_size);
    return tf;
}

}  // namespace cnnlens
