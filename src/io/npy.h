// npy.h: NumPy .npy files (version 1.0, little-endian float32, C order), for dumps and tests.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace cnnlens {

void npy_write(const std::string& path, const float* data, const std::vector<int64_t>& shape);

struct NpyArray {
    std::vector<int64_t> shape;
    std::vector<float> data;
};
// Parses a whole .npy file held in memory: format versions 1.0 to 3.0, '<f4' (or '<f8',
// converted) arrays in C order. The header is read as the Python dict literal it is
// ({'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }); anything else, a shape whose
// size overflows, or data shorter than the shape needs throws Error.
NpyArray npy_parse(const uint8_t* data, size_t size);
// Reads a file and parses it; the message names the path on failure.
NpyArray npy_read(const std::string& path);

}  // namespace cnnlens
