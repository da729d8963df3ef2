// vgg_file.h: a weight file -> the canonical parameters of a VGG, in the engine's layouts.
//
//   TensorFile tf = load_weights(bytes, n);        // io/weights.h: any supported format
//   VggParams p = vgg_params(tf, overrides, side);  // the architecture, inferred once, + weights
//   Vgg net(std::move(p));                          // model/vgg.h: packs the operators
//
// The architecture comes from the file: conv layers and max-pools from the key indices (or the
// Keras layer names), channel counts from the shapes, batch norm, the head (fc or gap) and the
// input size; metadata and overrides only check or complete it. Every tensor that becomes part
// of the network is checked (no zero-sized or absurdly wide layers, finite values), converted
// to float32 in the engine's layout once (conv kernels OHWI with batch norm folded in, fully
// connected weights [out][in] in HWC flatten order), and the file is not needed afterwards,
// unless fully connected weights are used in place in it (`file`).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/tensor_file.h"
#include "model/arch.h"
#include "model/conv3x3.h"
#include "model/layers.h"

namespace cnnlens {

// What a user may force on the command line; empty/0 = take it from the file.
struct ArchOverrides {
    std::string cfg;
    std::string head;            // "fc" or "gap"
    int input_size = 0;
    int keep_last_pool = -1;     // gap head: -1 = default (dropped, the CAM architecture)
};

struct ConvParams {
    int cin = 0, cout = 0;
    std::vector<float> w;        // [cout][3][3][cin], batch norm folded in; empty when f16 holds it:
    const uint16_t* f16 = nullptr;   // a lean network's float16 kernel used in place in VggParams::file
                                     // (OIHW, exact: no batch norm to fold)
    std::vector<float> b;        // [cout]
    ConvKernel kernel() const { return {w.empty() ? nullptr : w.data(), f16}; }
    std::vector<float> weights() const;   // [cout][3][3][cin] float32 either way
};

// A fully connected layer: weight [out][in] with `in` in the engine's HWC flatten order, kept
// in the file's float32, float16 or int8 + row scales (cnnlens pack) without widening.
struct DenseParams {
    struct Weights {
        std::shared_ptr<std::vector<uint8_t>> own;   // converted weights, unless used in place in the file
        std::shared_ptr<std::vector<float>> scale;   // int8: one per row
        WeightRows rows;                             // into own or into VggParams::file
        const float* data() const;                   // float32 weights only
    };
    Weights w;
    std::vector<float> b;
    int in = 0, out = 0;
    bool relu = false;
};

struct VggParams {
    VggArch arch;
    std::vector<ConvParams> convs;
    std::vector<DenseParams> dense;               // fc1, fc2, predictions  or  predictions
    std::shared_ptr<std::vector<uint8_t>> file;   // kept alive when dense weights live in it
    // Memory-lean convolutions (conv3x3_algo): the file keeps its conv kernels in 16 bits (a
    // compact pack), a choice of size over speed that the engine follows; its float16 torchvision
    // kernels are then used in place (ConvParams::f16), as the dense layers are.
    bool lean = false;
};

// The architecture and the weights. image_side: the side of a square input image (0 = none),
// which gap heads (and fc heads without a given size) may take as their input size, and which
// decides whether a torchvision fc file ends with a max-pool. adopt: the buffer the TensorFile's
// views point into, handed over: float32 fully connected weights are then used in place (fc1's
// columns reordered in place), so VGG16's 411 MB fc6 exists once even while loading.
// A contradiction between file and overrides throws an Error that says what did not match.
VggParams vgg_params(const TensorFile& tf, const ArchOverrides& ov = {}, int image_side = 0,
                     std::shared_ptr<std::vector<uint8_t>> adopt = nullptr);
// The architecture alone (cnnlens info, tests): the same inference, no conversion.
VggArch vgg_infer_arch(const TensorFile& tf, const ArchOverrides& ov = {}, int image_side = 0);
// How many times a file's architecture has been inferred in this process (a load does it once).
int vgg_inference_count();

// Cascading randomisation (the sanity check): re-initialises the `count` layers with weights
// nearest the output (predictions, then fc2, fc1, the last conv, ...) with the training code's
// rule: conv weights N(0, 2 / (9 cin)) (He), linear weights N(0, 0.01^2), biases 0; seeded.
// Returns the name of the lowest layer re-initialised ("none" for count 0).
std::string reinit_top_layers(VggParams& p, int count, uint64_t seed);

// Batch norm (eval) folded into the conv before it: w' = w g / sqrt(var + eps),
// b' = (b - mean) g / sqrt(var + eps) + beta, eps 1e-5 (PyTorch's). w: cout rows of k values.
void fold_batch_norm(float* w, float* b, int cout, size_t k, const float* gamma, const float* beta,
                     const float* mean, const float* var);

// Random weights in torchvision layout, for benchmarks and tests: the variances of the
// oracle's fan-in initialisation (conv and hidden linear 2/fan_in, last linear 1/fan_in) from
// a uniform distribution, biases U(-0.1, 0.1). The gap head drops nothing: pass the cfg you want.
TensorFile vgg_random_weights(const std::vector<int>& cfg, int in_channels, int input_size, Head head, int hidden,
                              int classes, uint32_t seed);

}  // namespace cnnlens
