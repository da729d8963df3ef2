// vgg.h: the engine: a VGG-family network (any layer list, any width, fc or gap head) on
// XNNPACK, forward and backward, with every layer's output and gradient kept.
//
//   VggParams p = vgg_params(load_weights(bytes, n));   // model/vgg_file.h
//   Vgg net(std::move(p));                               // packs the operators
//   net.forward(input_hwc);                              // every layer kept
//   net.act("block5_conv3"), net.logits()
//   net.backward(cls, false, "block5_conv3");            // d logit / d output, down to a layer
//   net.set_input_size(320);                             // gap heads: reshape, no rebuild
//
// Layer names are Keras-style: block{b}_conv{i} (after ReLU), block{b}_pool, then fc1, fc2,
// predictions (fc head) or gap, predictions (gap head). Feature maps are HWC, float32.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/xnn.h"
#include "model/conv3x3.h"
#include "model/arch.h"
#include "model/vgg_file.h"

namespace cnnlens {

struct LayerInfo {
    enum Kind { Conv, Pool, Dense, Gap } kind;
    std::string name;            // Keras-style
    int h = 1, w = 1, c = 0;     // output shape (dense: h = w = 1, c = units)
    int cin = 0;                 // conv: input channels
    size_t offset = 0;           // into the activation arena
    size_t size() const { return (size_t)h * w * c; }
};
const char* layer_kind_name(LayerInfo::Kind k);   // "conv", "pool", "dense", "gap"

class Vgg {
public:
    // Creates the XNNPACK operators from the parameters at input_size (0: the arch's). The
    // parameters are kept (conv weights once more beside XNNPACK's packed copies, or a lean
    // network's float16 kernels in its file; fully connected weights once, shared): params() gives
    // them to a second network (the sanity check).
    // The working memory is checked against activation_budget() before it is allocated.
    explicit Vgg(VggParams params, int input_size = 0);
    ~Vgg();
    Vgg(const Vgg&) = delete;
    Vgg& operator=(const Vgg&) = delete;

    void set_threads(int n);     // 1 = calling thread only
    int threads() const { return threads_; }
    pthreadpool_t pool() const { return pool_; }   // the compute threads (nullptr: the calling one)
    // Another square input side (a gap head, or an fc head whose classifier still gets its final
    // map): the operators are reshaped and the activations re-planned; weights are untouched.
    void set_input_size(int side);

    // input: input_size x input_size x in_channels, preprocessed, HWC.
    void forward(const float* input);
    // The layers after l again, from l's output as it is now, edited in place through
    // mutable_act (a channel ablated, a region occluded); a forward() restores everything.
    float* mutable_act(const LayerInfo& l) { return arena_.data() + l.offset; }
    void forward_from(const LayerInfo& l);
    // n local edits of the input (occlusion), after forward(): edit i is the input with the patch
    // edits[i] over it (Patch: model/conv3x3.h). Writes the feature map the head reads
    // (head_input()) of each edited input to maps [n][head_input().size()], with the numbers a
    // whole forward() of it gives, recomputing in each layer only what the edit reaches there, all n
    // edits through each convolution at once (Winograd: one batched GEMM). The network's own
    // activations stay as forward() left them.
    void forward_patches(const Patch* edits, int n, float* maps);
    // The convolutions for batched work (on: conv3x3_algo's ConvUse::Batched, Winograd in more
    // layers) or as built. Returns whether any changed; then the activations are stale until the
    // next forward().
    bool batched_convs(bool on);
    // The head (gap, dense layers) on n feature maps of head_input()'s shape back to back, to
    // logits [n][classes]: the dense weights read once for all n.
    void head_batch(const float* maps, int n, float* logits);
    VggParams params() const;

    const VggArch& arch() const { return arch_; }
    const std::vector<LayerInfo>& layers() const { return layers_; }   // every named output
    Conv3x3::Algo conv_algo(size_t k) const { return fwd_[k]->algo(); }   // conv k's forward, as it runs now
    bool lean() const { return lean_; }   // memory-lean convolutions (VggParams::lean)
    const LayerInfo* layer(const std::string& name) const;
    int layer_index(const LayerInfo& l) const { return (int)(&l - layers_.data()); }
    const LayerInfo& last_conv() const;      // Grad-CAM's default layer
    const LayerInfo& head_input() const;     // the feature map the head reads (gap: the last conv, which CAM needs)
    const float* act(const LayerInfo& l) const { return arena_.data() + l.offset; }
    const float* act(const std::string& name) const;
    const float* logits() const { return act(layers_.back()); }
    int num_classes() const { return arch_.num_classes; }
    const float* input() const { return input_.data(); }   // the last forward's input

    // Backward pass from the pre-softmax logit of class `cls` down to the input, after
    // forward(): keeps d logit / d output of every layer (grad()) and d logit / d input
    // (input_grad(), HWC, the preprocessed input's channel order). guided = guided backprop
    // (every ReLU passes only positive gradients at positive inputs). down_to: stop once that
    // layer's gradient is known (e.g. "block5_conv3" for Grad-CAM there alone); empty = all the
    // way to the input. Nothing is recomputed when the held gradients already cover the request
    // (same class and mode, reaching at least as low, since the last forward).
    void backward(int cls, bool guided = false, const std::string& down_to = "");
    // Per channel, the sum over the map of d logit / d output of l, not guided, in double (Grad-CAM's
    // channel weights times H x W): from l's gradient (backward() down to l as needed); for the
    // network's first layer, when a conv reads it, from that conv's gradient alone, without the
    // conv's input gradient: summed over the map, a transposed convolution is the kernel applied to
    // the gradient's sums over the rows and columns each tap reaches. Grad-CAM at VGG16's lowest conv
    // (the filmstrip's last map) so skips the backward pass's largest convolution (block1_conv2's,
    // 224x224x64), the one gradient no other layer's Grad-CAM needs. The rule does not depend on what
    // is held: the same numbers in every front end.
    void grad_sums(int cls, const LayerInfo& l, double* sums);
    const float* grad(const LayerInfo& l) const { return grads_.data() + l.offset; }
    const float* grad(const std::string& name) const;
    const float* input_grad() const { return input_grad_.data(); }

    // The fully connected layers (fc head: fc1, fc2, predictions; gap: predictions).
    const std::vector<DenseParams>& dense() const { return dense_; }

    struct Stats { int operator_builds = 0, reshapes = 0, forwards = 0, backwards = 0; };
    const Stats& stats() const { return stats_; }

private:
    VggArch arch_;
    std::vector<LayerInfo> layers_;
    std::vector<float> arena_;          // every layer's output
    std::vector<float> input_;          // padded copy of the input
    std::vector<float> grads_;          // d logit / d output, same layout as arena_
    std::vector<float> input_grad_;
    std::vector<float> scratch_;        // a gradient through a ReLU
    std::vector<xnn_operator_t> pools_;   // one per max-pool layer, in order
    std::vector<std::unique_ptr<Conv3x3>> fwd_, back_;   // one per conv: conv + ReLU, its input gradient
    std::vector<Conv3x3::Algo> algo_;                    // each conv's algorithm as built (single passes)
    std::vector<ConvParams> convs_;
    std::vector<DenseParams> dense_;
    std::shared_ptr<std::vector<uint8_t>> file_;   // the weight file, when dense weights live in it
    bool lean_ = false;                            // VggParams::lean
    XnnWorkspace workspace_;
    int threads_ = 1;
    pthreadpool_t pool_ = nullptr;
    // the gradients held: class (-1: none since the last forward), mode, lowest layer reached
    int grad_cls_ = -1, grad_reach_ = 0;
    bool grad_guided_ = false;
    // forward_patches: max-pools reshaped to windows (reshape_ops() before a whole pass), the
    // window buffers, each edit's rectangle of the layer before and of this one
    bool windowed_ = false;
    std::vector<std::pair<int, int>> pool_hw_;   // the input size each max-pool is shaped for
    std::vector<float> win_in_, win_out_;
    std::vector<std::vector<float>> patch_values_[2];
    Stats stats_;

    void check_input_size(int side) const;
    void run_layers(size_t first, const float* x);   // layers first.. from x, the input of layer first
    void plan_layers();
    void reshape_ops();
};

}  // namespace cnnlens
