// safetensors_write.h: writes tensors and string metadata as a safetensors file
// (the layout load_safetensors reads: u64 header length, JSON header padded with spaces to a
// multiple of 8, then the raw little-endian data in the order given).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace cnnlens {

struct SafetensorsEntry {
    std::string name;
    std::vector<int64_t> shape;
    std::vector<float> data;     // numel values, C order (dtype F32) ...
    std::string dtype = "F32";
    std::vector<uint8_t> bytes;  // ... or, when not empty, the raw little-endian bytes of dtype ("F16", "I8")

    SafetensorsEntry(std::string n, std::vector<int64_t> s, std::vector<float> d)
        : name(std::move(n)), shape(std::move(s)), data(std::move(d)) {}
    SafetensorsEntry(std::string n, std::vector<int64_t> s, std::string type, std::vector<uint8_t> raw)
        : name(std::move(n)), shape(std::move(s)), dtype(std::move(type)), bytes(std::move(raw)) {}
};

std::vector<uint8_t> safetensors_serialize(const std::vector<SafetensorsEntry>& tensors,
                                           const std::map<std::string, std::string>& metadata);

}  // namespace cnnlens
