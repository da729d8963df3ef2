// safetensors.h: reader for the safetensors format (Hugging Face; timm and torchvision exports).
//
// Layout: u64 little-endian header length N, N bytes of JSON {name: {dtype, shape,
// data_offsets:[begin,end]}, "__metadata__": {str: str}}, then the raw tensor bytes.
// Tensors of dtype F32, F16, BF16 and F64 are returned as zero-copy views; integer tensors
// (e.g. batch norm's num_batches_tracked) are skipped and listed in metadata["skipped"].
#pragma once
#include "io/tensor_file.h"

namespace cnnlens {

TensorFile load_safetensors(const uint8_t* data, size_t size);

}  // namespace cnnlens
