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
            const ConvParams& cp = convs_[k++];
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
    windowed_ = false;
    op_hw_.clear();
    for (const LayerInfo& l : layers_)
        if (l.kind == LayerInfo::Conv || l.kind == LayerInfo::Pool) {
            const int in = &l == &layers_[0] ? arch_.input_size : (&l)[-1].h;
            op_hw_.push_back({in, in});
        }
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
// each way (its 3x3 taps), a max-pool half as far. The conv runs on a window of its input with a
// one-pixel halo (zeros beyond the image, as its padding), whose inner part is exactly the
// rectangle's output; the pool on the 2x2 blocks under the rectangle. Both are the network's own
// operators, reshaped to the window: the same kernels, so the same numbers as a whole pass.
void Vgg::forward_region(int y0, int x0, int y1, int x1, bool head) {
    CNN_ASSERT(undo_n_ == 0);   // one edit at a time
    const int S = arch_.input_size;
    y0 = std::max(y0, 0), x0 = std::max(x0, 0), y1 = std::min(y1, S), x1 = std::min(x1, S);
    if (y0 >= y1 || x0 >= x1) return;
    windowed_ = true;
    const float* x = input_.data();
    int H = S, W = S, C = arch_.in_channels;
    size_t k = 0, i = 0;
    for (; i < layers_.size(); i++) {
        const LayerInfo& l = layers_[i];
        if (l.kind != LayerInfo::Conv && l.kind != LayerInfo::Pool) break;
        float* y = arena_.data() + l.offset;
        size_t ws = 0, align = 0, oh = 0, ow = 0;
        // an operator is reshaped only when its window's size changes (positions in a row share it)
        auto shape = [&](int wh, int ww, bool pool) {
            if (op_hw_[k] == std::make_pair(wh, ww)) return;
            if (pool)
                xnn_check(xnn_reshape_max_pooling2d_nhwc_f32(ops_[k], 1, wh, ww, C, C, C, &oh, &ow, pool_), "reshape max-pool");
            else
                xnn_check(xnn_reshape_convolution2d_nhwc_f32(ops_[k], 1, wh, ww, &ws, &align, &oh, &ow, pool_),
                          "reshape convolution");
            workspace_.reserve(ws + align);
            op_hw_[k] = {wh, ww};
        };
        if (l.kind == LayerInfo::Conv) {
            y0 = std::max(y0 - 1, 0), x0 = std::max(x0 - 1, 0), y1 = std::min(y1 + 1, l.h), x1 = std::min(x1 + 1, l.w);
            const int wh = y1 - y0 + 2, ww = x1 - x0 + 2;   // the window with its halo
            save_region(i, y0, x0, y1, x1);
            if ((int64_t)wh * ww * 4 >= (int64_t)l.h * l.w * 3) {   // most of the layer: the whole layer, no halo
                shape(H, W, false);
                xnn_check(xnn_setup_convolution2d_nhwc_f32(ops_[k], workspace_.data(), x, y), "setup convolution");
                xnn_check(xnn_run_operator(ops_[k++], pool_), "run convolution");
                // outside the rectangle the values come out as they were (the same input there, the
                // same operator shape as the whole pass): the undo log needs only the rectangle
            } else {
                win_in_.assign((size_t)wh * ww * C + 16, 0.0f);
                for (int r = 0; r < wh; r++) {
                    const int sy = y0 - 1 + r;
                    if (sy < 0 || sy >= H) continue;
                    const int c0 = std::max(x0 - 1, 0), c1 = std::min(x1 + 1, W);
                    std::memcpy(&win_in_[((size_t)r * ww + (c0 - (x0 - 1))) * C], x + ((size_t)sy * W + c0) * C,
                                (size_t)(c1 - c0) * C * sizeof(float));
                }
                shape(wh, ww, false);
                ow = (size_t)ww;
                win_out_.resize((size_t)wh * ww * l.c + 16);
                xnn_check(xnn_setup_convolution2d_nhwc_f32(ops_[k], workspace_.data(), win_in_.data(), win_out_.data()),
                          "setup convolution");
                xnn_check(xnn_run_operator(ops_[k++], pool_), "run convolution");
                for (int r = y0; r < y1; r++)   // the window's inner part is the rectangle's output
                    std::memcpy(y + ((size_t)r * l.w + x0) * l.c, &win_out_[((size_t)(r - y0 + 1) * ow + 1) * l.c],
                                (size_t)(x1 - x0) * l.c * sizeof(float));
            }
        } else {
            y0 /= 2, x0 /= 2, y1 = std::min((y1 + 1) / 2, l.h), x1 = std::min((x1 + 1) / 2, l.w);
            const int wh = 2 * (y1 - y0), ww = 2 * (x1 - x0);
            win_in_.resize((size_t)wh * ww * C + 16);
            for (int r = 0; r < wh; r++)
                std::memcpy(&win_in_[(size_t)r * ww * C], x + ((size_t)(2 * y0 + r) * W + 2 * x0) * C, (size_t)ww * C * sizeof(float));
            shape(wh, ww, true);
            ow = (size_t)ww / 2;
            win_out_.resize((size_t)wh / 2 * ow * C + 16);
            xnn_check(xnn_setup_max_pooling2d_nhwc_f32(ops_[k], win_in_.data(), win_out_.data()), "setup max-pool");
            xnn_check(xnn_run_operator(ops_[k++], pool_), "run max-pool");
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
            xnn_operator_t op = back_ops_[--kconv];
            xnn_check(xnn_setup_convolution2d_nhwc_f32(op, ws, scratch_.data(), gx), "setup convolution (backward)");
            xnn_check(xnn_run_operator(op, pool_), "run convolution (backward)");
        }
    }
    grad_cls_ = cls, grad_guided_ = guided, grad_reach_ = reach;
    stats_.backwards++;
}

}  // namespace cnnlens
