// vgg.h: a VGG-family network (torchvision configs A/B/D/E or any custom layer list, any
// width, any square input size, `fc` or `gap` head), built from a weight file and run on
// XNNPACK.
//
//   TensorFile tf = load_weights(bytes.data(), bytes.size());     // io/weights.h
//   VggArch arch = vgg_infer_arch(tf, overrides, image_side);      // what the file holds
//   Vgg net(arch, tf);                                             // convert, pack, free
//   net.forward(input_hwc);                                        // every layer kept
//   net.act("block5_conv3"), net.logits()
//
// Layer names are Keras-style: block{b}_conv{i} (after ReLU), block{b}_pool, then fc1, fc2,
// predictions (fc head) or gap, predictions (gap head). Feature maps are HWC, float32.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "io/image.h"
#include "io/tensor_file.h"

typedef struct xnn_operator* xnn_operator_t;
typedef struct pthreadpool* pthreadpool_t;

namespace cnnlens {

enum class Head { Fc, Gap };

struct VggArch {
    std::vector<int> cfg;        // conv output channels in order; 0 marks a 2x2 max-pool ('M')
    int in_channels = 3;
    int input_size = 224;        // square input side
    Head head = Head::Fc;
    int hidden1 = 4096, hidden2 = 4096;  // fc head widths (fc1, fc2)
    int num_classes = 1000;
    bool batch_norm = false;     // the file has batch norm after each conv (folded at load)
    std::string layout;          // "torchvision", "timm" or "keras"
    Preprocess preprocess = Preprocess::Torch;  // the default for this weight source
    float mean = 0, std = 1;     // Preprocess::MeanStd constants (metadata "mean", "std")
    std::vector<std::string> class_names;  // metadata "class_names" (a JSON list); empty = none
    std::string about;           // metadata "description" (one paragraph), shown first by describe()

    int num_convs() const;
    int final_side() const;      // feature-map side after the last layer of cfg
    int final_channels() const;
    std::string cfg_string() const;  // "64,64,M,128,..."
    std::string describe() const;    // multi-line human summary
};

// Parses "A"/"B"/"D"/"E", "vgg11".."vgg19" or a list like "64,M,128,M" (M = 2x2 max-pool).
std::vector<int> vgg_parse_cfg(const std::string& text);

// What a user may force on the command line; empty/0 = take it from the file.
struct ArchOverrides {
    std::string cfg;
    std::string head;            // "fc" or "gap"
    int input_size = 0;
    int keep_last_pool = -1;     // gap head: -1 = default (dropped, the CAM architecture)
};

// Reads the architecture from the tensors (key indices, layer names, shapes) and metadata.
// image_side: the side of a square input image, used for heads that do not fix the input
// size (0 = none). A contradiction between file and overrides throws an Error.
VggArch vgg_infer_arch(const TensorFile& tf, const ArchOverrides& ov = {}, int image_side = 0);

// The working memory of a network beyond its weights, which grows with the input size: every
// layer's output and gradient, the input and its gradient, XNNPACK's indirection buffers.
// It is checked against activation_budget() before anything is allocated: vgg_infer_arch fails
// when an input size asked for (flag, metadata) exceeds it, and takes a square image's own side
// only when it fits; Vgg's constructor refuses any larger plan.
uint64_t vgg_activation_bytes(const VggArch& arch);
// 1 GiB natively (VGG16 fits up to about 600x600 inputs), 512 MiB in WebAssembly, whose 4 GiB
// address space also holds the weights.
uint64_t activation_budget();
void set_activation_budget(uint64_t bytes);

// Random weights in torchvision layout, for benchmarks and tests: the variances of the
// oracle's fan-in initialisation (conv and hidden linear 2/fan_in, last linear 1/fan_in) from
// a uniform distribution, biases U(-0.1, 0.1). The gap head drops nothing: pass the cfg you want.
TensorFile vgg_random_weights(const std::vector<int>& cfg, int in_channels, int input_size, Head head, int hidden,
                              int classes, uint32_t seed);

struct LayerInfo {
    enum Kind { Conv, Pool, Dense, Gap } kind;
    std::string name;            // Keras-style
    int h = 1, w = 1, c = 0;     // output shape (dense: h = w = 1, c = units)
    int cin = 0;                 // conv: input channels
    size_t offset = 0;           // into the activation arena
    size_t size() const { return (size_t)h * w * c; }
};

class Vgg {
public:
    // Converts the file's tensors to the engine's layouts (folding batch norm, permuting
    // the flatten order), creates the XNNPACK operators and releases the conv weights
    // (XNNPACK keeps its packed copy). The fully connected weights are kept once.
    // adopt: the buffer the TensorFile's views point into, handed over: float32 fully connected
    // weights are then used in place (fc1's columns reordered in place) instead of copied, so
    // the 411 MB of VGG16's fc6 exist once even while loading. Without it, everything is copied.
    Vgg(const VggArch& arch, const TensorFile& tf, std::shared_ptr<std::vector<uint8_t>> adopt = nullptr);
    ~Vgg();
    Vgg(const Vgg&) = delete;
    Vgg& operator=(const Vgg&) = delete;

    void set_threads(int n);     // 1 = calling thread only
    int threads() const { return threads_; }

    // input: input_size x input_size x in_channels, preprocessed, HWC.
    void forward(const float* input);

    const VggArch& arch() const { return arch_; }
    const std::vector<LayerInfo>& layers() const { return layers_; }   // every named output
    const LayerInfo* layer(const std::string& name) const;
    const float* act(const LayerInfo& l) const { return arena_.data() + l.offset; }
    const float* act(const std::string& name) const;
    const float* logits() const { return act(layers_.back()); }
    int num_classes() const { return arch_.num_classes; }

    // Backward pass from the pre-softmax logit of class `cls` down to the input, after
    // forward(): keeps d logit / d output of every layer (grad()) and d logit / d input
    // (input_grad(), HWC, the preprocessed input's channel order). guided = guided backprop
    // (every ReLU passes only positive gradients at positive inputs). Does not recompute the
    // forward pass. down_to: stop once that layer's gradient is known (e.g. "block5_conv3"
    // for Grad-CAM there alone); empty = all the way to the input.
    void backward(int cls, bool guided = false, const std::string& down_to = "");
    const float* grad(const LayerInfo& l) const { return grads_.data() + l.offset; }
    const float* grad(const std::string& name) const;
    const float* input_grad() const { return input_grad_.data(); }

    // The fully connected layers (fc head: fc1, fc2, predictions; gap: predictions):
    // weight [out][in] with `in` in the HWC flatten order of this engine.
    // w.data() points either into the adopted weight-file buffer (float32 tensors, used in
    // place) or to a converted copy the layer owns.
    struct Weights {
        std::vector<float> own;
        const float* ptr = nullptr;
        const float* data() const { return ptr; }
    };
    struct Dense { Weights w; std::vector<float> b; int in = 0, out = 0; bool relu = false; };
    const std::vector<Dense>& dense() const { return dense_; }

private:
    VggArch arch_;
    std::vector<LayerInfo> layers_;
    std::vector<float> arena_;          // every layer's output
    std::vector<float> input_;          // padded copy of the input
    std::vector<float> grads_;          // d logit / d output, same layout as arena_
    std::vector<float> input_grad_;
    std::vector<float> scratch_;        // a gradient through a ReLU
    std::vector<xnn_operator_t> ops_;     // one per conv/pool layer, in order
    std::vector<xnn_operator_t> back_ops_;  // one per conv: its input gradient
    std::vector<Dense> dense_;
    std::shared_ptr<std::vector<uint8_t>> adopted_;   // the weight file, when dense weights live in it
    std::vector<uint8_t> workspace_;
    int threads_ = 1;
    pthreadpool_t pool_ = nullptr;

    void plan_layers();
    void reshape_ops();
};

}  // namespace cnnlens
