// vgg.cpp: the engine. Sections: the layer plan (names, shapes, offsets into one arena); building
// and reshaping the XNNPACK operators; forward; backward.
#include "model/vgg.h"

#include <pthreadpool.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "model/layers.h"

namespace cnnlens {

const char* layer_kind_name(LayerInfo::Kind k) {
    switch (k) {
        case LayerInfo::Conv: return "conv";
        case LayerInfo::Pool: return "pool";
        case LayerInfo::Dense: return "dense";
        case LayerInfo::Gap: return "gap";
    }
    return "?";
}

// ---------------------------------------------------------------------------- layer plan

void Vgg::plan_layers() {
    check_activation_budget(arch_);   // before anything of this size is allocated
    layers_.clear();
    int block = 1, conv_i = 0, s = arch_.input_size, c = arch_.in_channels;
    size_t off = 0;
    auto add = [&](LayerInfo l) {
        l.offset = off;
        off += (l.size() + 15) / 16 * 16 + 16;   // aligned, with the slack XNNPACK may read past the end
        layers_.push_back(l);
    };
    for (int v : arch_.cfg) {
        if (v == 0) {
            s /= 2;
            add({LayerInfo::Pool, strformat("block%d_pool", block), s, s, c});
            block++, conv_i = 0;
        } else {
            LayerInfo l{LayerInfo::Conv, strformat("block%d_conv%d", block, ++conv_i), s, s, v};
            l.cin = c;
            add(l);
            c = v;
        }
    }
    if (arch_.head == Head::Fc) {
        add({LayerInfo::Dense, "fc1", 1, 1, arch_.hidden1});
        add({LayerInfo::Dense, "fc2", 1, 1, arch_.hidden2});
    } else {
        add({LayerInfo::Gap, "gap", 1, 1, c});
    }
    add({LayerInfo::Dense, "predictions", 1, 1, arch_.num_classes});
    arena_.assign(off, 0.0f);
    grads_.clear();
    input_.assign((size_t)arch_.input_size * arch_.input_size * arch_.in_channels + 16, 0.0f);
    grad_cls_ = -1;
}

const LayerInfo* Vgg::layer(const std::string& name) const {
    for (const LayerInfo& l : layers_)
        if (l.name == name) return &l;
    return nullptr;
}

const float* Vgg::act(const std::string& name) const {
    const LayerInfo* l = layer(name);
    if (!l) fail("no layer named '%s'", name.c_str());
    return act(*l);
}

const LayerInfo& Vgg::last_conv() const {
    for (size_t i = layers_.size(); i-- > 0;)
        if (layers_[i].kind == LayerInfo::Conv) return layers_[i];
    CNN_ASSERT(false);   // vgg_parse_cfg and the file readers refuse a network without a conv
}

const LayerInfo& Vgg::head_input() const {
    const size_t head = layers_.size() - dense_.size() - (arch_.head == Head::Gap ? 1 : 0);
    return layers_[head - 1];
}

// ---------------------------------------------------------------------------- operators

Vgg::Vgg(VggParams p, int input_size) : arch_(std::move(p.arch)), dense_(std::move(p.dense)), file_(std::move(p.file)) {
    xnn_init();
    if (input_size > 0) check_input_size(input_size), arch_.input_size = input_size;
    plan_layers();
    try {
        // Conv + ReLU and max-pool operators, in order; each conv also as its input gradient.
        const float inf = std::numeric_limits<float>::infinity();
        size_t k = 0;
        for (const LayerInfo& l : layers_) {
            xnn_operator_t op = nullptr;
            if (l.kind == LayerInfo::Pool) {
                xnn_check(xnn_create_max_pooling2d_nhwc_f32(0, 0, 0, 0, 2, 2, 2, 2, 1, 1, -inf, inf, 0, &op), "create max-pool");
                ops_.push_back(op);
            }
            if (l.kind != LayerInfo::Conv) continue;
            ConvParams& cp = p.convs[k++];
            CNN_ASSERT(cp.cin == l.cin && cp.cout == l.c);
            const int co = l.c, ci = l.cin;
            xnn_check(xnn_create_convolution2d_nhwc_f32(1, 1, 1, 1, 3, 3, 1, 1, 1, 1, 1, ci, co, ci, co, cp.w.data(),
                                                        cp.b.data(), 0.0f, inf, 0, nullptr, nullptr, &op),
                      "create convolution");
            ops_.push_back(op);
            // The input gradient is a conv with the flipped kernel (layers.h), also on XNNPACK.
            std::vector<float> wt(cp.w.size());
            conv3x3_flip_kernel(cp.w.data(), co, ci, wt.data());
            xnn_check(xnn_create_convolution2d_nhwc_f32(1, 1, 1, 1, 3, 3, 1, 1, 1, 1, 1, co, ci, co, ci, wt.data(),
                                                        nullptr, -inf, inf, 0, nullptr, nullptr, &op),
                      "create convolution (backward)");
            back_ops_.push_back(op);
            cp = ConvParams();   // XNNPACK holds the packed copies
        }
        stats_.operator_builds++;
        reshape_ops();
    } catch (...) {
        for (xnn_operator_t op : ops_) xnn_delete_operator(op);
        for (xnn_operator_t op : back_ops_) xnn_delete_operator(op);
        throw;
    }
}

Vgg::~Vgg() {
    for (xnn_operator_t op : ops_) xnn_delete_operator(op);
    for (xnn_operator_t op : back_ops_) xnn_delete_operator(op);
    if (pool_) pthreadpool_destroy(pool_);
}

void Vgg::set_threads(int n) {
    n = std::max(1, n);
    if (n == threads_) return;
    if (pool_) pthreadpool_destroy(pool_);
    pool_ = n > 1 ? pthreadpool_create((size_t)n) : nullptr;
    threads_ = n;
    reshape_ops();   // XNNPACK plans its parallel work for the pool at reshape time
}

void Vgg::check_input_size(int side) const {
    const int f = final_side(arch_.cfg, side);
    if (side < 1 || f < 1) fail("input size %d is too small for this network's max-pools", side);
    if (arch_.head == Head::Fc && f != arch_.final_side())
        fail("input size %d gives a %dx%d final map, but the classifier expects %dx%d", side, f, f, arch_.final_side(),
             arch_.final_side());
}

void Vgg::set_input_size(int side) {
    if (side == arch_.input_size) return;
    check_input_size(side);
    VggArch next = arch_;
    next.input_size = side;
    check_activation_budget(next);   // before the old plan is given up
    arch_.input_size = side;
    plan_layers();
    reshape_ops();
}

void Vgg::reshape_ops() {
    size_t ws_max = 0, k = 0, kb = 0;
    int s = arch_.input_size;
    for (const LayerInfo& l : layers_) {
        if (l.kind == LayerInfo::Conv) {
            size_t ws = 0, align = 0, oh = 0, ow = 0;
            xnn_check(xnn_reshape_convolution2d_nhwc_f32(ops_[k++], 1, s, s, &ws, &align, &oh, &ow, pool_), "reshape convolution");
            CNN_ASSERT((int)oh == l.h && (int)ow == l.w);
            ws_max = std::max(ws_max, ws + align);
            xnn_check(xnn_reshape_convolution2d_nhwc_f32(back_ops_[kb++], 1, s, s, &ws, &align, &oh, &ow, pool_),
                      "reshape convolution (backward)");
            ws_max = std::max(ws_max, ws + align);
        } else if (l.kind == LayerInfo::Pool) {
            size_t oh = 0, ow = 0, c = (size_t)l.c;
            xnn_check(xnn_reshape_max_pooling2d_nhwc_f32(ops_[k++], 1, s, s, c, c, c, &oh, &ow, pool_), "reshape max-pool");
            CNN_ASSERT((int)oh == l.h && (int)ow == l.w);
        }
        s = l.h;
    }
    workspace_.reserve(ws_max);
    stats_.reshapes++;
}

// ---------------------------------------------------------------------------- forward

void Vgg::forward(const float* input) {
    // XNNPACK may read a few bytes past the end of an input: a padded copy (planned with the layers).
    const size_t n = (size_t)arch_.input_size * arch_.input_size * arch_.in_channels;
    std::memcpy(input_.data(), input, n * sizeof(float));
    run_layers(0, input_.data());
}

void Vgg::forward_from(const LayerInfo& l) {
    const size_t i = (size_t)layer_index(l);
    CNN_ASSERT(i < layers_.size());
    if (i + 1 < layers_.size()) run_layers(i + 1, act(l));
}

void Vgg::run_layers(size_t first, const float* x) {
    void* ws = workspace_.data();
    size_t k = 0;   // the operator of layer `first`: one per conv or pool before it
    for (size_t i = 0; i < first; i++) k += layers_[i].kind == LayerInfo::Conv || layers_[i].kind == LayerInfo::Pool;
    for (size_t i = first; i < layers_.size(); i++) {
        const LayerInfo& l = layers_[i];
        float* y = arena_.data() + l.offset;
        if (l.kind == LayerInfo::Conv) {
            xnn_check(xnn_setup_convolution2d_nhwc_f32(ops_[k], ws, x, y), "setup convolution");
            xnn_check(xnn_run_operator(ops_[k++], pool_), "run convolution");
        } else if (l.kind == LayerInfo::Pool) {
            xnn_check(xnn_setup_max_pooling2d_nhwc_f32(ops_[k], x, y), "setup max-pool");
            xnn_check(xnn_run_operator(ops_[k++], pool_), "run max-pool");
        } else if (l.kind == LayerInfo::Gap) {
            const LayerInfo& prev = (&l)[-1];
            gap_forward(x, prev.h, prev.w, prev.c, y);
        } else {
            const DenseParams& d = dense_[(size_t)(&l - &layers_[0]) - (layers_.size() - dense_.size())];
            linear_forward(d.w.data(), d.b.data(), x, d.in, d.out, d.relu, y, pool_);
        }
        x = y;
    }
    grad_cls_ = -1;
    stats_.forwards++;
}

// ---------------------------------------------------------------------------- backward

const float* Vgg::grad(const std::string& name) const {
    const LayerInfo* l = layer(name);
    if (!l) fail("no layer named '%s'", name.c_str());
    if (grads_.empty()) fail("no backward pass has run");
    return grad(*l);
}

// Walks the layers in reverse: dense layers by the transposed product over their one copy of
// the weights, ReLUs by masks from the saved outputs, max-pools by routing to the first
// maximum, convs by XNNPACK with the flipped kernels. Stops once `down_to` has its gradient.
void Vgg::backward(int cls, bool guided, const std::string& down_to) {
    if (cls < 0 || cls >= arch_.num_classes) fail("class %d is out of range (0..%d)", cls, arch_.num_classes - 1);
    const LayerInfo* stop = down_to.empty() ? nullptr : layer(down_to);
    if (!down_to.empty() && !stop) fail("no layer named '%s'", down_to.c_str());
    const int reach = stop ? layer_index(*stop) : -1;   // -1: the input
    if (grad_cls_ == cls && grad_guided_ == guided && grad_reach_ <= reach) return;
    if (grads_.size() != arena_.size()) grads_.assign(arena_.size(), 0.0f);
    size_t scratch = 0;
    for (const LayerInfo& l : layers_) scratch = std::max(scratch, l.size());
    scratch_.resize(scratch + 16);
    input_grad_.resize((size_t)arch_.input_size * arch_.input_size * arch_.in_channels);
    void* ws = workspace_.data();

    const int n = (int)layers_.size(), first_dense = n - (int)dense_.size();
    float* g_last = grads_.data() + layers_.back().offset;
    std::fill(g_last, g_last + arch_.num_classes, 0.0f);
    g_last[cls] = 1.0f;
    size_t kconv = back_ops_.size();
    for (int li = n - 1; li >= 0; li--) {
        const LayerInfo& l = layers_[(size_t)li];
        if (&l == stop) break;
        float* g = grads_.data() + l.offset;      // d logit / d output of l
        const float* y = act(l);
        const bool first = li == 0;
        float* gx = first ? input_grad_.data() : grads_.data() + layers_[(size_t)li - 1].offset;
        const float* x = first ? input_.data() : act(layers_[(size_t)li - 1]);
        if (li >= first_dense) {                  // dense: through its ReLU, then W^T
            const DenseParams& d = dense_[(size_t)(li - first_dense)];
            const float* gz = g;
            if (d.relu) {
                relu_backward(y, g, l.size(), guided, scratch_.data());
                gz = scratch_.data();
            }
            linear_backward(d.w.data(), gz, d.in, d.out, gx, pool_);
        } else if (l.kind == LayerInfo::Gap) {
            const LayerInfo& p = layers_[(size_t)li - 1];
            gap_backward(g, p.h, p.w, p.c, gx);
        } else if (l.kind == LayerInfo::Pool) {
            const LayerInfo* p = first ? nullptr : &layers_[(size_t)li - 1];
            int H = p ? p->h : arch_.input_size, C = l.c;
            maxpool2x2_backward(x, y, g, H, H, C, gx);
        } else {                                  // conv: through its ReLU, then the flipped conv
            relu_backward(y, g, l.size(), guided, scratch_.data());
            xnn_operator_t op = back_ops_[--kconv];
            xnn_check(xnn_setup_convolution2d_nhwc_f32(op, ws, scratch_.data(), gx), "setup convolution (backward)");
            xnn_check(xnn_run_operator(op, pool_), "run convolution (backward)");
        }
    }
    grad_cls_ = cls, grad_guided_ = guided, grad_reach_ = reach;
    stats_.backwards++;
}

}  // namespace cnnlens
