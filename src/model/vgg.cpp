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

Vgg::Vgg(VggParams p, int input_size)
    : arch_(std::move(p.arch)), convs_(std::move(p.convs)), dense_(std::move(p.dense)), file_(std::move(p.file)) {
    xnn_init();
    if (input_size > 0) check_input_size(input_size), arch_.input_size = input_size;
    plan_layers();
    try {
        // Conv + ReLU and max-pool operators, in order; each conv by the algorithm measured faster
        // for it. Its input gradient (a conv with the flipped kernel, layers.h) is made by the
        // first backward pass that reaches it (Grad-CAM at the last conv needs none).
        const float inf = std::numeric_limits<float>::infinity();
        size_t k = 0;
        for (const LayerInfo& l : layers_) {
            if (l.kind == LayerInfo::Pool) {
                xnn_operator_t op = nullptr;
                xnn_check(xnn_create_max_pooling2d_nhwc_f32(0, 0, 0, 0, 2, 2, 2, 2, 1, 1, -inf, inf, 0, &op), "create max-pool");
                pools_.push_back(op);
            }
            if (l.kind != LayerInfo::Conv) continue;
            const ConvParams& cp = convs_[k++];
            CNN_ASSERT(cp.cin == l.cin && cp.cout == l.c);
            const int co = l.c, ci = l.cin, side = l.h;
            fwd_.push_back(std::make_unique<Conv3x3>(cp.w.data(), cp.b.data(), ci, co, true, conv3x3_algo(ci, co, side, side)));
        }
        back_.resize(fwd_.size());
        stats_.operator_builds++;
        reshape_ops();
    } catch (...) {
        for (xnn_operator_t op : pools_) xnn_delete_operator(op);
        throw;
    }
}

Vgg::~Vgg() {
    for (xnn_operator_t op : pools_) xnn_delete_operator(op);
    fwd_.clear(), back_.clear();   // before the pool their reshapes planned for
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

// The max-pools at the whole maps' sizes (the convs reshape themselves when a size changes).
void Vgg::reshape_ops() {
    size_t k = 0;
    int s = arch_.input_size;
    pool_hw_.clear();
    for (const LayerInfo& l : layers_) {
        if (l.kind == LayerInfo::Pool) {
            size_t oh = 0, ow = 0, c = (size_t)l.c;
            xnn_check(xnn_reshape_max_pooling2d_nhwc_f32(pools_[k++], 1, s, s, c, c, c, &oh, &ow, pool_), "reshape max-pool");
            CNN_ASSERT((int)oh == l.h && (int)ow == l.w);
            pool_hw_.push_back({s, s});
        }
        s = l.h;
    }
    windowed_ = false;
    stats_.reshapes++;
}

// ---------------------------------------------------------------------------- forward

VggParams Vgg::params() const {
    VggParams p;
    p.arch = arch_;
    p.convs = convs_;
    p.dense = dense_;   // shares the weights
    p.file = file_;
    return p;
}

void Vgg::forward(const float* input) {
    if (windowed_) reshape_ops();
    // XNNPACK may read a few bytes past the end of an input: a padded copy (planned with the layers).
    const size_t n = (size_t)arch_.input_size * arch_.input_size * arch_.in_channels;
    std::memcpy(input_.data(), input, n * sizeof(float));
    run_layers(0, input_.data());
}

void Vgg::forward_from(const LayerInfo& l) {
    if (windowed_) reshape_ops();
    const size_t i = (size_t)layer_index(l);
    CNN_ASSERT(i < layers_.size());
    if (i + 1 < layers_.size()) run_layers(i + 1, act(l));
}

void Vgg::run_layers(size_t first, const float* x) {
    size_t kc = 0, kp = 0;   // the conv and the max-pool operators of layer `first`
    for (size_t i = 0; i < first; i++) kc += layers_[i].kind == LayerInfo::Conv, kp += layers_[i].kind == LayerInfo::Pool;
    for (size_t i = first; i < layers_.size(); i++) {
        const LayerInfo& l = layers_[i];
        float* y = arena_.data() + l.offset;
        if (l.kind == LayerInfo::Conv) {
            fwd_[kc++]->run(x, l.h, l.w, y, workspace_, pool_);
        } else if (l.kind == LayerInfo::Pool) {
            xnn_check(xnn_setup_max_pooling2d_nhwc_f32(pools_[kp], x, y), "setup max-pool");
            xnn_check(xnn_run_operator(pools_[kp++], pool_), "run max-pool");
        } else if (l.kind == LayerInfo::Gap) {
            const LayerInfo& prev = (&l)[-1];
            gap_forward(x, prev.h, prev.w, prev.c, y);
        } else {
            const DenseParams& d = dense_[(size_t)(&l - &layers_[0]) - (layers_.size() - dense_.size())];
            // the batched product at n = 1: the same sums, in the same order, as occlusion's batched head
            linear_forward_batch(d.w.rows, d.b.data(), x, 1, d.in, d.out, d.relu, y, pool_);
        }
        x = y;
    }
    grad_cls_ = -1;
    stats_.forwards++;
}

// ---------------------------------------------------------------------------- local edits

// Each spatial layer again on the rectangle its input's edit reaches: a conv one pixel further
// each way (its 3x3 taps; Winograd: its tiles, Conv3x3::reach), a max-pool half as far. A conv computes just that rectangle
// (Conv3x3::run_region: the same numbers as a whole pass), the pool the 2x2 blocks under it with
// the network's own operator reshaped to that window.
void Vgg::forward_region(int y0, int x0, int y1, int x1, bool head) {
    CNN_ASSERT(undo_n_ == 0);   // one edit at a time
    const int S = arch_.input_size;
    y0 = std::max(y0, 0), x0 = std::max(x0, 0), y1 = std::min(y1, S), x1 = std::min(x1, S);
    if (y0 >= y1 || x0 >= x1) return;
    windowed_ = true;
    const float* x = input_.data();
    int H = S, W = S, C = arch_.in_channels;
    size_t kc = 0, kp = 0, i = 0;
    for (; i < layers_.size(); i++) {
        const LayerInfo& l = layers_[i];
        if (l.kind != LayerInfo::Conv && l.kind != LayerInfo::Pool) break;
        float* y = arena_.data() + l.offset;
        if (l.kind == LayerInfo::Conv) {
            Conv3x3& conv = *fwd_[kc++];
            conv.reach(y0, y1, l.h, &y0, &y1);
            conv.reach(x0, x1, l.w, &x0, &x1);
            save_region(i, y0, x0, y1, x1);
            conv.run_region(x, H, W, y, y0, x0, y1, x1, workspace_, pool_);
        } else {
            y0 /= 2, x0 /= 2, y1 = std::min((y1 + 1) / 2, l.h), x1 = std::min((x1 + 1) / 2, l.w);
            const int wh = 2 * (y1 - y0), ww = 2 * (x1 - x0);
            win_in_.resize((size_t)wh * ww * C + 16);
            for (int r = 0; r < wh; r++)
                std::memcpy(&win_in_[(size_t)r * ww * C], x + ((size_t)(2 * y0 + r) * W + 2 * x0) * C, (size_t)ww * C * sizeof(float));
            if (pool_hw_[kp] != std::make_pair(wh, ww)) {   // positions in a row share a window size
                size_t oh = 0, ow = 0;
                xnn_check(xnn_reshape_max_pooling2d_nhwc_f32(pools_[kp], 1, wh, ww, C, C, C, &oh, &ow, pool_), "reshape max-pool");
                pool_hw_[kp] = {wh, ww};
            }
            const size_t ow = (size_t)ww / 2;
            win_out_.resize((size_t)wh / 2 * ow * C + 16);
            xnn_check(xnn_setup_max_pooling2d_nhwc_f32(pools_[kp], win_in_.data(), win_out_.data()), "setup max-pool");
            xnn_check(xnn_run_operator(pools_[kp++], pool_), "run max-pool");
            save_region(i, y0, x0, y1, x1);
            for (int r = y0; r < y1; r++)
                std::memcpy(y + ((size_t)r * l.w + x0) * l.c, &win_out_[(size_t)(r - y0) * ow * l.c],
                            (size_t)(x1 - x0) * l.c * sizeof(float));
        }
        x = y, H = l.h, W = l.w, C = l.c;
    }
    if (head && i < layers_.size()) {   // the head: whole (its first layer reads everything)
        head_offset_ = layers_[i].offset;
        head_saved_.assign(arena_.begin() + (long)head_offset_, arena_.end());
        run_layers(i, x);
    }
    grad_cls_ = -1;
}

void Vgg::head_batch(const float* maps, int n, float* logits) {
    const LayerInfo& in = head_input();
    std::vector<float> a, b;
    const float* x = maps;
    int width = (int)in.size();
    if (arch_.head == Head::Gap) {   // the pooled features of every map
        a.resize((size_t)n * in.c);
        for (int j = 0; j < n; j++) gap_forward(maps + (size_t)j * in.size(), in.h, in.w, in.c, a.data() + (size_t)j * in.c);
        x = a.data(), width = in.c;
    }
    for (size_t d = 0; d < dense_.size(); d++) {
        const DenseParams& p = dense_[d];
        CNN_ASSERT(p.in == width);
        float* y = d + 1 == dense_.size() ? logits : (b.resize((size_t)n * p.out), b.data());
        linear_forward_batch(p.w.rows, p.b.data(), x, n, p.in, p.out, p.relu, y, pool_);
        if (y == b.data()) std::swap(a, b), x = a.data();
        width = p.out;
    }
}

Vgg::Saved& Vgg::save_region(size_t layer, int y0, int x0, int y1, int x1) {
    if (undo_n_ == undo_.size()) undo_.emplace_back();
    Saved& s = undo_[undo_n_++];
    s.layer = layer, s.y0 = y0, s.x0 = x0, s.y1 = y1, s.x1 = x1;
    const LayerInfo& l = layers_[layer];
    const size_t n = (size_t)(x1 - x0) * l.c;
    s.values.resize((size_t)(y1 - y0) * n);
    for (int r = y0; r < y1; r++)
        std::memcpy(&s.values[(size_t)(r - y0) * n], arena_.data() + l.offset + ((size_t)r * l.w + x0) * l.c, n * sizeof(float));
    return s;
}

void Vgg::undo_region() {
    for (size_t u = 0; u < undo_n_; u++) {
        const Saved& s = undo_[u];
        const LayerInfo& l = layers_[s.layer];
        const size_t n = (size_t)(s.x1 - s.x0) * l.c;
        for (int r = s.y0; r < s.y1; r++)
            std::memcpy(arena_.data() + l.offset + ((size_t)r * l.w + s.x0) * l.c, &s.values[(size_t)(r - s.y0) * n],
                        n * sizeof(float));
    }
    undo_n_ = 0;
    if (head_offset_) std::copy(head_saved_.begin(), head_saved_.end(), arena_.begin() + (long)head_offset_);
    head_offset_ = 0;
    grad_cls_ = -1;
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
// maximum, convs by the flipped kernels' convolutions (Conv3x3). Stops once `down_to` has its gradient.
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
    const int n = (int)layers_.size(), first_dense = n - (int)dense_.size();
    float* g_last = grads_.data() + layers_.back().offset;
    std::fill(g_last, g_last + arch_.num_classes, 0.0f);
    g_last[cls] = 1.0f;
    size_t kconv = back_.size();
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
            linear_backward(d.w.rows, gz, d.in, d.out, gx, pool_);
        } else if (l.kind == LayerInfo::Gap) {
            const LayerInfo& p = layers_[(size_t)li - 1];
            gap_backward(g, p.h, p.w, p.c, gx);
        } else if (l.kind == LayerInfo::Pool) {
            const LayerInfo* p = first ? nullptr : &layers_[(size_t)li - 1];
            int H = p ? p->h : arch_.input_size, C = l.c;
            maxpool2x2_backward(x, y, g, H, H, C, gx);
        } else {                                  // conv: through its ReLU, then the flipped conv
            relu_backward(y, g, l.size(), guided, scratch_.data());
            std::unique_ptr<Conv3x3>& back = back_[--kconv];
            if (!back) {
                const ConvParams& cp = convs_[kconv];
                std::vector<float> wt(cp.w.size());
                conv3x3_flip_kernel(cp.w.data(), cp.cout, cp.cin, wt.data());
                back = std::make_unique<Conv3x3>(wt.data(), nullptr, cp.cout, cp.cin, false,
                                                 conv3x3_algo(cp.cout, cp.cin, l.h, l.w));
            }
            back->run(scratch_.data(), l.h, l.w, gx, workspace_, pool_);
        }
    }
    grad_cls_ = cls, grad_guided_ = guided, grad_reach_ = reach;
    stats_.backwards++;
}

}  // namespace cnnlens
