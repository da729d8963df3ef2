// safetensors_write.h: writes float32 tensors and string metadata as a safetensors file
// (the layout load_safetensors reads: u64 header length, JSON header padded with spaces to a
// multiple of 8, then the raw little-endian data in the order given).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace cnnlens {

struct SafetensorsEntry {
    std::string name;
    std::vector<int64_t> shape;
    std::vector<float> data;     // numel values, C order
};

std::vector<uint8_t> safetensors_serialize(const std::vector<SafetensorsEntry>& tensors,
                                           const std::map<std::string, std::string>& metadata);

}  // namespace cnnlens
