// weights.h: open any supported weight file by its content (not its name).
//
//   safetensors (torchvision or timm keys)  -> load_safetensors
//   PyTorch .pth: zip (torch >= 1.6) or legacy pickle (torchvision's own vgg16-397923af.pth)
//   Keras HDF5 (vgg16_weights_tf_dim_ordering_tf_kernels.h5 layout)
#pragma once
#include <string>
#include <vector>

#include "core/file.h"   // read_file
#include "io/tensor_file.h"

namespace cnnlens {

// Which reader a file needs, from its first bytes: "safetensors", "pth", "keras-h5" or "" (unknown).
std::string weights_sniff(const uint8_t* data, size_t size);

// Parses a whole weight file held in memory (which must outlive the result).
TensorFile load_weights(const uint8_t* data, size_t size);


}  // namespace cnnlens
