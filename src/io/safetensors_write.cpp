#include "io/safetensors_write.h"

#include <cstring>

#include "core/error.h"

namespace cnnlens {

std::string json_quote(const std::string& s) {
    std::string o = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') o += '\\', o += (char)c;
        else if (c < 0x20) o += strformat("\\u%04x", c);
        else o += (char)c;
    }
    return o + "\"";
}

std::vector<uint8_t> safetensors_serialize(const std::vector<SafetensorsEntry>& tensors,
                                           const std::map<std::string, std::string>& metadata) {
    std::string h = "{";
    if (!metadata.empty()) {
        h += "\"__metadata__\":{";
        bool first = true;
        for (const auto& [k, v] : metadata) {
            h += (first ? "" : ",") + json_quote(k) + ":" + json_quote(v);
            first = false;
        }
        h += "}";
    }
    size_t off = 0;
    for (const SafetensorsEntry& t : tensors) {
        size_t n = 1;
        for (int64_t d : t.shape) n *= (size_t)d;
        CNN_ASSERT(n == t.data.size());
        h += (h.size() > 1 ? "," : "") + json_quote(t.name) + ":{\"dtype\":\"F32\",\"shape\":[";
        for (size_t i = 0; i < t.shape.size(); i++) h += (i ? "," : "") + std::to_string(t.shape[i]);
        h += strformat("],\"data_offsets\":[%zu,%zu]}", off, off + n * 4);
        off += n * 4;
    }
    h += "}";
    while (h.size() % 8) h += ' ';
    std::vector<uint8_t> out(8 + h.size() + off);
    uint64_t hl = h.size();
    for (int i = 0; i < 8; i++) out[(size_t)i] = (uint8_t)(hl >> (8 * i));
    std::memcpy(out.data() + 8, h.data(), h.size());
    uint8_t* p = out.data() + 8 + h.size();
    for (const SafetensorsEntry& t : tensors) {   // little-endian hosts (x86, wasm)
        std::memcpy(p, t.data.data(), t.data.size() * 4);
        p += t.data.size() * 4;
    }
    return out;
}

}  // namespace cnnlens
