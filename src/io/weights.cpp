#include "io/weights.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/error.h"
#include "io/keras_h5.h"
#include "io/safetensors.h"
#include "io/torch_pth.h"

namespace cnnlens {

std::string weights_sniff(const uint8_t* d, size_t n) {
    static const uint8_t hdf5[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    for (size_t off = 0; off + 8 <= n && off <= (1u << 20); off = off ? off * 2 : 512)   // HDF5 user block
        if (std::memcmp(d + off, hdf5, 8) == 0) return "keras-h5";
    if (n >= 4 && d[0] == 'P' && d[1] == 'K' && d[2] == 3 && d[3] == 4) return "pth";
    if (n >= 9 && d[8] == '{') return "safetensors";   // u64 header length, then JSON
    if (n >= 2 && d[0] == 0x80 && d[1] >= 2 && d[1] <= 5) return "pth";    // pickle protocol 2..5
    return "";
}

TensorFile load_weights(const uint8_t* data, size_t size) {
    if (size == 0) fail("the weight file is empty (0 bytes)");
    std::string kind = weights_sniff(data, size);
    if (kind == "safetensors") return load_safetensors(data, size);
    if (kind == "pth") return load_torch_pth(data, size);
    if (kind == "keras-h5") return load_keras_h5(data, size);
    fail("unsupported weight file format: not safetensors, a PyTorch .pth or a Keras .h5 (first bytes %02x %02x %02x %02x)",
         data[0], size > 1 ? data[1] : 0, size > 2 ? data[2] : 0, size > 3 ? data[3] : 0);
}


}  // namespace cnnlens
