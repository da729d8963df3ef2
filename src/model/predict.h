// predict.h: the steps every front end shares: weights -> network, image -> input, logits ->
// top-k with names. The CLI and the web app are thin layers over these.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "io/image.h"
#include "model/vgg.h"

namespace cnnlens {

// Builds the network from a weight file held in memory (see vgg_infer_arch for ov and
// image_side). The bytes may be freed afterwards.
std::unique_ptr<Vgg> vgg_load(const uint8_t* data, size_t size, const ArchOverrides& ov = {}, int image_side = 0);
// The same, taking the file's bytes over: float32 fully connected weights are used in place.
std::unique_ptr<Vgg> vgg_load(std::vector<uint8_t>&& bytes, const ArchOverrides& ov = {}, int image_side = 0);

// The resize a weight source expects when the image is not already the input size:
// Keras -> squash, torchvision/timm -> resize + centre crop.
ResizeMode default_resize(const VggArch& arch);

// image -> input_size x input_size x in_channels floats (HWC), ready for Vgg::forward.
std::vector<float> prepare_input(const Image& img, const VggArch& arch, ResizeMode mode, Preprocess pre);

struct Prediction {
    int index;
    float logit, prob;
};
// The k highest logits with their softmax probabilities (computed in double).
std::vector<Prediction> top_k(const float* logits, int n, int k);

// The metadata's class name, "tabby cat" for ImageNet-sized heads, "class 7" otherwise.
std::string class_name(const VggArch& arch, int index);
// Resolves a class given by index, name or WordNet id; -1 if unknown.
int class_find(const VggArch& arch, const std::string& query);

}  // namespace cnnlens
