// pack.h: a VGG's weights as a compact safetensors file (cnnlens pack): torchvision keys, batch
// norm folded, the architecture, preprocessing, class names and description in the metadata, so
// the file needs nothing else; PyTorch loads the float16 kind as a plain state dict.
//
//   F16     every weight IEEE float16 (biases float32): half the bytes.
//   Int8Fc  conv weights float16; fully connected weights int8, one float32 scale per output row
//           (tensor NAME_scale, symmetric: scale = max |row| / 127, q = round(w / scale)): VGG16's
//           fc layers hold 90% of its bytes, so the file is under 30% of float32's.
//
// The engine keeps fully connected weights in the file's type (float16 / int8 matrix-vector
// products), so the memory shrinks with the file.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "model/vgg_file.h"

namespace cnnlens {

enum class PackKind { F16, Int8Fc };
const char* pack_kind_name(PackKind k);           // "f16", "int8-fc"
PackKind pack_kind_parse(const std::string& name);

// extra: more metadata (e.g. where it was packed from); the arch's own fields are written anyway.
std::vector<uint8_t> vgg_pack(const VggParams& p, PackKind kind, const std::map<std::string, std::string>& extra = {});

}  // namespace cnnlens
