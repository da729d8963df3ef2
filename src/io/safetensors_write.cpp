#include "io/safetensors_write.h"

#include <cstring>

#include "core/error.h"
#include "core/json.h"

namespace cnnlens {

std::vector<uint8_t> safetensors_serialize(const std::vector<SafetensorsEntry>& tensors,
                                           const std::map<std::string, std::string>& metadata) {
    JsonWriter j;
    j.begin_object();
    if (!metadata.empty()) {
        j.key("__metadata__").begin_object();
        for (const auto& [k, v] : metadata) j.field(k, v);
        j.end_object();
    }
    size_t off = 0;
    for (const SafetensorsEntry& t : tensors) {
        size_t n = 1;
        for (int64_t d : t.shape) n *= (size_t)d;
        const size_t nb = t.bytes.empty() ? t.data.size() * 4 : t.bytes.size();
        CNN_ASSERT(nb == n * (t.dtype == "F32" ? 4 : t.dtype == "F16" ? 2 : 1));
        j.key(t.name).begin_object().field("dtype", t.dtype).key("shape").begin_array();
        for (int64_t d : t.shape) j.value(d);
        j.end_array().key("data_offsets").begin_array().value((int64_t)off).value((int64_t)(off + nb)).end_array().end_object();
        off += nb;
    }
    std::string h = j.end_object().str();
    while (h.size() % 8) h += ' ';
    std::vector<uint8_t> out(8 + h.size() + off);
    uint64_t hl = h.size();
    for (int i = 0; i < 8; i++) out[(size_t)i] = (uint8_t)(hl >> (8 * i));
    std::memcpy(out.data() + 8, h.data(), h.size());
    uint8_t* p = out.data() + 8 + h.size();
    for (const SafetensorsEntry& t : tensors) {   // little-endian hosts (x86, wasm)
        if (!t.bytes.empty()) std::memcpy(p, t.bytes.data(), t.bytes.size()), p += t.bytes.size();
        else if (!t.data.empty()) std::memcpy(p, t.data.data(), t.data.size() * 4), p += t.data.size() * 4;
    }
    return out;
}

}  // namespace cnnlens
