#include "model/pack.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/half.h"
#include "core/json.h"
#include "io/safetensors_write.h"

namespace cnnlens {

const char* pack_kind_name(PackKind k) { return k == PackKind::F16 ? "f16" : "int8-fc"; }

PackKind pack_kind_parse(const std::string& name) {
    if (name == "f16") return PackKind::F16;
    if (name == "int8-fc") return PackKind::Int8Fc;
    fail("unknown pack kind '%s' (f16 or int8-fc)", name.c_str());
}

namespace {

SafetensorsEntry f16_entry(const std::string& name, std::vector<int64_t> shape, const float* v, size_t n) {
    SafetensorsEntry e(name, std::move(shape), "F16", std::vector<uint8_t>(n * 2));
    for (size_t i = 0; i < n; i++) {
        const uint16_t h = float_to_half(v[i]);
        if ((h & 0x7c00) == 0x7c00) fail("'%s' holds %g, beyond float16's range (65504)", name.c_str(), (double)v[i]);
        e.bytes[2 * i] = (uint8_t)h, e.bytes[2 * i + 1] = (uint8_t)(h >> 8);
    }
    return e;
}

std::map<std::string, std::string> arch_metadata(const VggArch& a, PackKind kind) {
    std::map<std::string, std::string> m;
    m["cfg"] = a.cfg_string();
    m["head"] = a.head == Head::Fc ? "fc" : "gap";
    if (a.head == Head::Fc || a.input_fixed) m["input_size"] = std::to_string(a.default_input_size);
    m["in_channels"] = std::to_string(a.in_channels);
    m["num_classes"] = std::to_string(a.num_classes);
    m["preprocess"] = preprocess_name(a.preprocess);
    if (a.preprocess == Preprocess::MeanStd) m["mean"] = strformat("%.9g", a.mean), m["std"] = strformat("%.9g", a.std);
    if (!a.class_names.empty()) {
        JsonWriter j;
        j.begin_array();
        for (const std::string& c : a.class_names) j.value(c);
        m["class_names"] = j.end_array().str();
    }
    if (!a.about.empty()) m["description"] = a.about;
    if (!a.dataset.empty()) m["dataset"] = a.dataset;
    if (!a.marker.empty()) {
        m["marker_size"] = std::to_string(a.marker.size);
        m["marker_value"] = std::to_string(a.marker.value);
        m["marker_positions"] = marker_positions_json(a.marker);
    }
    m["packed"] = pack_kind_name(kind);
    return m;
}

}  // namespace

std::vector<uint8_t> vgg_pack(const VggParams& p, PackKind kind, const std::map<std::string, std::string>& extra) {
    const VggArch& a = p.arch;
    // float32 first, then float16, then int8: every tensor starts on its own type's boundary
    std::vector<SafetensorsEntry> f32, f16, i8;
    int idx = 0;
    size_t k = 0;
    for (int v : a.cfg) {
        if (v == 0) { idx++; continue; }   // max-pool
        const ConvParams& c = p.convs[k++];
        const std::vector<float> w = c.weights();
        std::vector<float> oihw((size_t)c.cout * c.cin * 9);
        for (int o = 0; o < c.cout; o++)
            for (int t = 0; t < 9; t++)
                for (int i = 0; i < c.cin; i++) oihw[((size_t)o * c.cin + i) * 9 + t] = w[((size_t)o * 9 + t) * c.cin + i];
        f16.push_back(f16_entry(strformat("features.%d.weight", idx), {c.cout, c.cin, 3, 3}, oihw.data(), oihw.size()));
        f32.push_back({strformat("features.%d.bias", idx), {c.cout}, c.b});
        idx += 2;   // conv, ReLU
    }
    const int S = a.final_side(), C = a.final_channels();
    for (size_t i = 0; i < p.dense.size(); i++) {
        const DenseParams& d = p.dense[i];
        const std::string name = strformat("classifier.%d", 3 * (int)i);
        const bool unflatten = i == 0 && a.head == Head::Fc && S * S > 1;   // ours is H,W,C; torch's C,H,W
        std::vector<float> row((size_t)d.in), w((size_t)d.in * d.out);
        for (int o = 0; o < d.out; o++) {
            d.w.rows.row((size_t)o, (size_t)d.in, 0, (size_t)d.in, row.data());
            float* r = w.data() + (size_t)o * d.in;
            if (!unflatten) std::copy(row.begin(), row.end(), r);
            else
                for (int c = 0; c < C; c++)
                    for (int q = 0; q < S * S; q++) r[(size_t)c * S * S + q] = row[(size_t)q * C + c];
        }
        if (kind == PackKind::F16) {
            f16.push_back(f16_entry(name + ".weight", {d.out, d.in}, w.data(), w.size()));
        } else {
            SafetensorsEntry q(name + ".weight", {d.out, d.in}, "I8", std::vector<uint8_t>(w.size()));
            SafetensorsEntry s(name + ".weight_scale", {d.out}, std::vector<float>((size_t)d.out));
            for (int o = 0; o < d.out; o++) {
                const float* r = w.data() + (size_t)o * d.in;
                float m = 0;
                for (int t = 0; t < d.in; t++) m = std::max(m, std::fabs(r[t]));
                const float scale = m / 127;
                s.data[(size_t)o] = scale;
                for (int t = 0; t < d.in; t++) {
                    const float v = scale > 0 ? std::nearbyint(r[t] / scale) : 0.0f;
                    q.bytes[(size_t)o * d.in + t] = (uint8_t)(int8_t)std::clamp(v, -127.0f, 127.0f);
                }
            }
            i8.push_back(std::move(q));
            f32.push_back(std::move(s));
        }
        f32.push_back({name + ".bias", {d.out}, d.b});
    }
    std::map<std::string, std::string> meta = arch_metadata(a, kind);
    for (const auto& [key, v] : extra) meta[key] = v;
    std::vector<SafetensorsEntry> all = std::move(f32);
    for (auto* part : {&f16, &i8})
        for (SafetensorsEntry& e : *part) all.push_back(std::move(e));
    return safetensors_serialize(all, meta);
}

}  // namespace cnnlens
