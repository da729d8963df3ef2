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
    : arch_(std::move(p.arch)), convs_(std::move(p.convs)), dense_(std::move(p.dense)), file_(std::move(p.file)),
      lean_(p.lean) {
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
            algo_.push_back(conv3x3_algo(l.cin, l.c, l.h, l.w, ConvUse::Single, lean_));
            fwd_.push_back(std::make_unique<Conv3x3>(cp.kernel(), cp.b.data(), l.cin, l.c, true, algo_.back()));
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

bool Vgg::batched_convs(bool on) {
    bool changed = false;
    size_t k = 0;
    for (const LayerInfo& l : layers_) {
        if (l.kind != LayerInfo::Conv) continue;
        Conv3x3::Algo a = algo_[k];
        if (on) a = conv3x3_algo(l.cin, l.c, l.h, l.w, ConvUse::Batched, lean_);
        if (fwd_[k]->algo() != a) {
            const ConvParams& cp = convs_[k];
            fwd_[k] = std::make_unique<Conv3x3>(cp.kernel(), cp.b.data(), l.cin, l.c, true, a);
            changed = true;
        }
        k++;
    }
    return changed;
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
    p.lean = lean_;
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

// Each spatial layer again on the rectangle each edit reaches there: a conv one pixel further
// each way (its 3x3 taps; Winograd: its tiles, Conv3x3::reach), a max-pool half as far. A conv
// computes just those rectangles from its input as each edit sees it (the layer's map with the
// edit's rectangle of the layer before over it), the pool the 2x2 blocks under them with the
// network's own operator reshaped to the window.
void Vgg::forward_patches(const Patch* edits, int n, float* maps) {
    if (n <= 0) return;
    const LayerInfo& hi = head_input();
    const size_t last = (size_t)layer_index(hi);
    std::vector<Patch> cur(edits, edits + n), next((size_t)n);
    for (auto& v : patch_values_) v.resize((size_t)n);
    const float* x = input_.data();
    int H = arch_.input_size, W = H, C = arch_.in_channels;
    for (Patch& p : cur) {
        p.y0 = std::max(p.y0, 0), p.x0 = std::max(p.x0, 0), p.y1 = std::min(p.y1, H), p.x1 = std::min(p.x1, W);
        CNN_ASSERT(p.y0 < p.y1 && p.x0 < p.x1);
    }
    windowed_ = true;
    size_t kc = 0, kp = 0;
    for (size_t i = 0; i <= last; i++) {
        const LayerInfo& l = layers_[i];
        CNN_ASSERT(l.kind == LayerInfo::Conv || l.kind == LayerInfo::Pool);
        std::vector<float>* values = patch_values_[i % 2].data();
        for (int e = 0; e < n; e++) {   // what edit e reaches in this layer
            const Patch& p = cur[(size_t)e];
            Patch& q = next[(size_t)e];
            if (l.kind == LayerInfo::Conv) {
                fwd_[kc]->reach(p.y0, p.y1, l.h, &q.y0, &q.y1);
                fwd_[kc]->reach(p.x0, p.x1, l.w, &q.x0, &q.x1);
            } else {
                q.y0 = p.y0 / 2, q.x0 = p.x0 / 2, q.y1 = std::min((p.y1 + 1) / 2, l.h), q.x1 = std::min((p.x1 + 1) / 2, l.w);
            }
            values[e].resize((size_t)(q.y1 - q.y0) * (q.x1 - q.x0) * l.c + 16);
            q.values = values[e].data();
        }
        if (l.kind == LayerInfo::Conv) {
            fwd_[kc++]->run_patches(x, H, W, cur.data(), next.data(), n, workspace_, pool_);
        } else {
            for (int e = 0; e < n; e++) {
                const Patch& q = next[(size_t)e];
                const int wh = 2 * (q.y1 - q.y0), ww = 2 * (q.x1 - q.x0);
                win_in_.resize((size_t)wh * ww * C + 16);
                patch_read(x, H, W, C, cur[(size_t)e], 2 * q.y0, 2 * q.x0, 2 * q.y1, 2 * q.x1, win_in_.data());
                if (pool_hw_[kp] != std::make_pair(wh, ww)) {   // edits in a row share a window size
                    size_t oh = 0, ow = 0;
                    xnn_check(xnn_reshape_max_pooling2d_nhwc_f32(pools_[kp], 1, wh, ww, C, C, C, &oh, &ow, pool_),
                              "reshape max-pool");
                    pool_hw_[kp] = {wh, ww};
                }
                xnn_check(xnn_setup_max_pooling2d_nhwc_f32(pools_[kp], win_in_.data(), q.values), "setup max-pool");
                xnn_check(xnn_run_operator(pools_[kp], pool_), "run max-pool");
            }
            kp++;
        }
        std::swap(cur, next);
        x = act(l), H = l.h, W = l.w, C = l.c;
    }
    for (int e = 0; e < n; e++) {   // the head's input: the map with the edit's rectangle over it
        float* m = maps + (size_t)e * hi.size();
        patch_read(act(hi), hi.h, hi.w, hi.c, cur[(size_t)e], 0, 0, hi.h, hi.w, m);
    }
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

// ---------------------------------------------------------------------------- backward

const float* Vgg::grad(const std::string& name) const {
    const LayerInfo* l = layer(name);
    if (!l) fail("no layer named '%s'", name.c_str());
    if (grads_.empty()) fail("no backward pass has run");
    return grad(*l);
}

// The max-pool gradient, a pair of input rows per task (the dropped odd row: zeros).
static void pool_backward(const float* x, const float* y, const float* dy, int H, int W, int C, float* dx,
                          pthreadpool_t pool) {
    const size_t in = (size_t)2 * W * C, out = (size_t)(W / 2) * C;
    parallel_for(pool, (size_t)(H / 2), [&](size_t h) {
        maxpool2x2_backward(x + h * in, y + h * out, dy + h * out, 2, W, C, dx + h * in);
    });
    if (H % 2) std::fill(dx + (size_t)(H - 1) * W * C, dx + (size_t)H * W * C, 0.0f);
}

// grad_sums cuts its passes into this many bands (of pixels, rows, kernel rows), each band's sums
// added in order at the end: the same numbers on any number of threads.
static constexpr int kSumBands = 8;

static void band(size_t n, size_t b, size_t* i0, size_t* i1) {
    *i0 = n * b / kSumBands, *i1 = n * (b + 1) / kSumBands;
}

void Vgg::grad_sums(int cls, const LayerInfo& l, double* sums) {
    const int i = layer_index(l);
    std::vector<double> part((size_t)kSumBands * l.c, 0.0);   // each band's sums
    auto add_parts = [&] {
        std::fill(sums, sums + l.c, 0.0);
        for (int b = 0; b < kSumBands; b++)
            for (int k = 0; k < l.c; k++) sums[k] += part[(size_t)b * l.c + k];
    };
    if (i != 0 || layers_.size() < 2 || layers_[1].kind != LayerInfo::Conv) {
        backward(cls, false, l.name);
        const float* g = grad(l);
        parallel_for(pool_, kSumBands, [&](size_t b) {
            size_t p0, p1;
            band((size_t)l.h * l.w, b, &p0, &p1);
            double* s = &part[b * l.c];
            for (size_t p = p0; p < p1; p++)
                for (int k = 0; k < l.c; k++) s[k] += g[p * l.c + k];
        });
        return add_parts();
    }
    const LayerInfo& u = layers_[(size_t)i + 1];   // the conv l feeds: u = ReLU(conv(l))
    backward(cls, false, u.name);
    size_t kc = 0;
    for (int j = 0; j <= i; j++) kc += layers_[(size_t)j].kind == LayerInfo::Conv;
    const ConvParams& cp = convs_[kc];
    CNN_ASSERT(cp.cin == l.c && cp.cout == u.c && u.h == l.h && u.w == l.w);
    // h = the gradient at u's conv output (u's gradient where u > 0). d l = conv^T(h), and
    // sum_{y,x} d l[y,x,ci] = sum_{co,r,s} w[co,r,s,ci] T_rs[co], T_rs = the sum of h over the rows
    // y + r - 1 and columns x + s - 1 inside the map: all of h but its first row (r = 0) or last
    // (r = 2), and the same for the columns, the corner they share added back.
    const int H = u.h, W = u.w, Co = u.c, Ci = l.c;
    const float *y = act(u), *g = grad(u);
    auto h = [&](int r, int c, int co) {
        const size_t p = ((size_t)r * W + c) * Co + co;
        return y[p] > 0.0f ? (double)g[p] : 0.0;
    };
    // per band of rows and channel of u: the sum of h over the band, over its first and last
    // column; the map's first and last row
    std::vector<double> rows((size_t)3 * kSumBands * Co, 0.0), first_last((size_t)2 * Co, 0.0);
    parallel_for(pool_, kSumBands, [&](size_t b) {
        size_t r0, r1;
        band((size_t)H, b, &r0, &r1);
        double *all = &rows[(b * 3) * Co], *c0 = all + Co, *c1 = c0 + Co;
        std::vector<double> row((size_t)Co);
        for (size_t r = r0; r < r1; r++) {
            std::fill(row.begin(), row.end(), 0.0);
            double* __restrict rp = row.data();
            for (int x = 0; x < W; x++) {
                const float *yp = y + (r * W + x) * Co, *gp = g + (r * W + x) * Co;
                for (int c = 0; c < Co; c++) {   // a mask, not a select: GCC kept a branch for that (5x slower)
                    const float m = yp[c] > 0.0f ? 1.0f : 0.0f;
                    rp[c] += (double)(gp[c] * m);
                }
            }
            for (int c = 0; c < Co; c++) all[c] += rp[c], c0[c] += h((int)r, 0, c), c1[c] += h((int)r, W - 1, c);
            if (r == 0) std::copy(rp, rp + Co, first_last.begin());
            if ((int)r == H - 1) std::copy(rp, rp + Co, first_last.begin() + Co);
        }
    });
    std::vector<double> edge((size_t)5 * Co, 0.0);   // all, first row, last row, first column, last column
    for (int b = 0; b < kSumBands; b++)
        for (int c = 0; c < Co; c++) {
            const double* r = &rows[((size_t)b * 3) * Co + c];
            edge[(size_t)c] += r[0], edge[(size_t)3 * Co + c] += r[Co], edge[(size_t)4 * Co + c] += r[2 * Co];
        }
    std::copy(first_last.begin(), first_last.end(), edge.begin() + Co);
    const int er[3] = {1, -1, 2}, ey[3] = {0, 0, H - 1}, ec[3] = {3, -1, 4}, ex[3] = {0, 0, W - 1};
    std::vector<float> w16;   // a lean network's float16 kernel, as float32
    const float* wk = conv3x3_kernel_f32(cp.kernel(), cp.cin, cp.cout, w16);
    parallel_for(pool_, kSumBands, [&](size_t b) {   // bands of u's channels
        size_t c0, c1;
        band((size_t)Co, b, &c0, &c1);
        double* __restrict out = &part[b * Ci];
        for (size_t co = c0; co < c1; co++)
            for (int r = 0; r < 3; r++)
                for (int s = 0; s < 3; s++) {
                    double t = edge[co];
                    if (er[r] >= 0) t -= edge[(size_t)er[r] * Co + co];
                    if (ec[s] >= 0) t -= edge[(size_t)ec[s] * Co + co];
                    if (er[r] >= 0 && ec[s] >= 0) t += h(ey[r], ex[s], (int)co);
                    const float* __restrict w = wk + ((co * 3 + r) * 3 + s) * Ci;
                    for (int c = 0; c < Ci; c++) out[c] += (double)w[c] * t;
                }
    });
    add_parts();
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
            pool_backward(x, y, g, H, H, C, gx, pool_);
        } else {                                  // conv: through its ReLU, then the flipped conv
            const float *in = g, *gate = y;   // plain ReLU: its gate applied as the conv reads g
            if (guided) {
                relu_backward(y, g, l.size(), true, scratch_.data());
                in = scratch_.data(), gate = nullptr;
            }
            std::unique_ptr<Conv3x3>& back = back_[--kconv];
            if (!back) {
                const ConvParams& cp = convs_[kconv];
                back = Conv3x3::input_gradient(cp.kernel(), cp.cin, cp.cout,
                                               conv3x3_algo(cp.cout, cp.cin, l.h, l.w, ConvUse::Single, lean_));
            }
            back->run(in, l.h, l.w, gx, workspace_, pool_, gate);
        }
    }
    grad_cls_ = cls, grad_guided_ = guided, grad_reach_ = reach;
    stats_.backwards++;
}

}  // namespace cnnlens
