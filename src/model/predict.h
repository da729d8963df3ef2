// predict.h: the steps every front end shares: weights -> network, image -> input, logits ->
// top-k with names, class names and search. The CLI and the web app are thin layers over these.
#pragma once
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "io/image.h"
#include "model/vgg.h"

namespace cnnlens {

// Builds the network from a weight file held in memory: parsed once, the architecture inferred
// once (model/vgg_file.h: ov, image_side), the operators packed. The file's bytes are handed
// over: float32 fully connected weights are used in place in them.
std::unique_ptr<Vgg> vgg_load(std::shared_ptr<std::vector<uint8_t>> file, const ArchOverrides& ov = {},
                              int image_side = 0);
std::unique_ptr<Vgg> vgg_load(std::vector<uint8_t>&& bytes, const ArchOverrides& ov = {}, int image_side = 0);
// A copy of the bytes is used (they may be freed afterwards).
std::unique_ptr<Vgg> vgg_load(const uint8_t* data, size_t size, const ArchOverrides& ov = {}, int image_side = 0);

// The resize a weight source expects when the image is not already the input size:
// greyscale models -> object fit, Keras -> squash, torchvision/timm -> resize + centre crop.
ResizeMode default_resize(const VggArch& arch);

// image -> input_size x input_size x in_channels floats (HWC), ready for Vgg::forward.
std::vector<float> prepare_input(const Image& img, const VggArch& arch, ResizeMode mode, Preprocess pre);
// A blank input value, what "nothing here" means to the model (after preprocessing): the mean
// for photo models (0: the preprocessing subtracts it), black for greyscale models of objects on
// a black background (Fashion-MNIST: -mean / std), where grey would be a pattern they never saw.
// Occlusion patches, deleted pixels and the Integrated Gradients baseline are made of it.
float blank_value(const VggArch& arch);
// The RGB pixel that preprocesses to (nearest) blank_value: what the page's eraser paints
// (black for Fashion-MNIST-like models, the ImageNet mean colour for photo models).
std::array<uint8_t, 3> blank_rgb(const VggArch& arch);
// The same in the oracle's layout, [in_channels][input_size][input_size] (input_nchw.npy).
std::vector<float> input_nchw(const float* hwc, int side, int channels);

struct Prediction {
    int index;
    float logit, prob;
};
// The k highest logits with their softmax probabilities (computed in double).
std::vector<Prediction> top_k(const float* logits, int n, int k);

// Class names: the model's own (metadata), ImageNet's for 1000-class heads, else "class 7".
// The UI, which has the names but no network, calls the same functions.
std::string class_name(const std::vector<std::string>& names, int num_classes, int index);
// A class given by index, name (any case) or WordNet id; -1 if unknown.
int class_find(const std::vector<std::string>& names, int num_classes, const std::string& query);
// Every class whose name contains the query (any case), or whose WordNet id starts with it, or
// whose index it is: the first max_out in `out`, the total count returned.
int class_search(const std::vector<std::string>& names, int num_classes, const std::string& query,
                 std::vector<int>& out, int max_out);
// The images a model was trained on: its metadata's "dataset" (lower case), "imagenet" for an
// unnamed 1000-class head, else "". The page matches it with its gallery's groups.
std::string model_dataset(const VggArch& a);
// What a model knows, in a few words for the page ("10 kinds of clothing (Fashion-MNIST)", "1000
// kinds of objects and animals (ImageNet)", "10 classes: cat, dog, ..."), from the same sources.
std::string model_knows(const VggArch& a);

inline std::string class_name(const VggArch& a, int index) { return class_name(a.class_names, a.num_classes, index); }
inline int class_find(const VggArch& a, const std::string& q) { return class_find(a.class_names, a.num_classes, q); }

}  // namespace cnnlens
