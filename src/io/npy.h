// npy.h: NumPy .npy files (version 1.0, little-endian float32, C order), for dumps and tests.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace cnnlens {

void npy_write(const std::string& path, const float* data, const std::vector<int64_t>& shape);

struct NpyArray {
    std::vector<int64_t> shape;
    std::vector<float> data;
};
// Reads '<f4' (or '<f8', converted) arrays in C order.
NpyArray npy_read(const std::string& path);

}  // namespace cnnlens
