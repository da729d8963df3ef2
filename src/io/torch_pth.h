// torch_pth.h: reads PyTorch `torch.save` state dicts without Python or libtorch.
//
// Both on-disk formats are supported: the zip archive of torch >= 1.6 (stored entries,
// zip64 included) and the legacy pre-1.6 sequence of pickles followed by raw storages
// (the format of torchvision's own vgg16-397923af.pth). The pickles are read by a
// restricted unpickler that knows only what a state dict needs (OrderedDict, tensor
// rebuild functions, storage types) and refuses every other global, so a malicious file
// cannot run anything. Float tensors (F32/F16/BF16/F64) are returned; integer/bool
// tensors such as batch-norm `num_batches_tracked` are skipped and their names listed,
// comma-separated, in metadata["skipped"].
#pragma once
#include <cstddef>
#include <cstdint>

#include "io/tensor_file.h"

namespace cnnlens {

// Parses a whole .pth/.pt file held in memory. format is "pth-zip" or "pth-legacy".
// Contiguous tensors point into `data` (zero-copy); strided views are copied into `owned`.
// Throws cnnlens::Error naming the problem for anything it cannot or will not read.
TensorFile load_torch_pth(const uint8_t* data, size_t size);

}  // namespace cnnlens
