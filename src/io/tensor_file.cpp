#include "io/tensor_file.h"

#include <cstring>

#include "core/error.h"
#include "core/half.h"

namespace cnnlens {

const char* dtype_name(DType t) {
    switch (t) {
        case DType::F32: return "F32";
        case DType::F16: return "F16";
        case DType::BF16: return "BF16";
        case DType::F64: return "F64";
        case DType::I8: return "I8";
    }
    return "?";
}

size_t dtype_size(DType t) {
    switch (t) {
        case DType::F32: return 4;
        case DType::F16: return 2;
        case DType::BF16: return 2;
        case DType::F64: return 8;
        case DType::I8: return 1;
    }
    return 0;
}

int64_t TensorRef::numel() const {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

std::string TensorRef::shape_str() const {
    std::string s = "[";
    for (size_t i = 0; i < shape.size(); i++) s += (i ? "," : "") + std::to_string(shape[i]);
    return s + "]";
}

const TensorRef* TensorFile::find(const std::string& name) const {
    for (const TensorRef& t : tensors)
        if (t.name == name) return &t;
    return nullptr;
}


void tensor_to_f32(const TensorRef& t, float* out) {
    const size_t n = (size_t)t.numel();
    CNN_ASSERT(t.nbytes == n * dtype_size(t.dtype));
    if (n == 0) return;
    const uint8_t* p = t.data;
    switch (t.dtype) {
        case DType::I8:
            fail("tensor '%s' is int8: only fully connected weights may be, with their row scales ('%s_scale')",
                 t.name.c_str(), t.name.c_str());
        case DType::F32: std::memcpy(out, p, n * 4); break;
        case DType::F64:
            for (size_t i = 0; i < n; i++) { double d; std::memcpy(&d, p + 8 * i, 8); out[i] = (float)d; }
            break;
        case DType::F16:
            for (size_t i = 0; i < n; i++) { uint16_t h; std::memcpy(&h, p + 2 * i, 2); out[i] = half_to_float(h); }
            break;
        case DType::BF16:
            for (size_t i = 0; i < n; i++) {
                uint16_t h; std::memcpy(&h, p + 2 * i, 2);
                uint32_t bits = (uint32_t)h << 16; float f; std::memcpy(&f, &bits, 4); out[i] = f;
            }
            break;
    }
}

}  // namespace cnnlens
