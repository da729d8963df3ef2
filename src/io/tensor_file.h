// tensor_file.h: the common result of every weight-file reader.
//
// A reader (safetensors, torch .pth zip or legacy, Keras HDF5) parses a whole file held in
// memory and returns a TensorFile: the named tensors in file order, each a view of
// little-endian, C-contiguous bytes. Views point into the caller's file buffer wherever the
// file stores a tensor contiguously (no copy); a reader that has to assemble a tensor (a
// strided torch view, a chunked HDF5 dataset) keeps the assembled bytes in `owned`.
// The caller keeps the file buffer alive as long as the TensorFile is used.
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace cnnlens {

// I8: only as fully connected weights with one float scale per row (tensor NAME_scale, [out]).
enum class DType { F32, F16, BF16, F64, I8 };

const char* dtype_name(DType t);
size_t dtype_size(DType t);

struct TensorRef {
    std::string name;
    std::vector<int64_t> shape;
    DType dtype = DType::F32;
    const uint8_t* data = nullptr;   // numel * dtype_size bytes, C order, little-endian
    size_t nbytes = 0;

    int64_t numel() const;
    std::string shape_str() const;   // "[64,3,3,3]"
};

struct TensorFile {
    std::string format;                          // "safetensors", "pth-zip", "pth-legacy", "keras-h5"
    std::vector<TensorRef> tensors;              // in file order
    std::map<std::string, std::string> metadata; // free-form strings (safetensors __metadata__, Keras layer_names, ...)
    std::vector<std::shared_ptr<std::vector<uint8_t>>> owned;  // bytes assembled by the reader

    const TensorRef* find(const std::string& name) const;
};

// Converts any float dtype to float32 (n = t.numel() values into out); I8 (no scale here) throws.
void tensor_to_f32(const TensorRef& t, float* out);

}  // namespace cnnlens
