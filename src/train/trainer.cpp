#include "train/trainer.h"

#include <pthreadpool.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/error.h"
#include "core/xnn.h"
#include "explain/explain.h"
#include "io/idx.h"
#include "io/safetensors.h"
#include "io/safetensors_write.h"
#include "io/weights.h"
#include "model/layers.h"
#include "model/vgg_file.h"

namespace cnnlens {

namespace {
const double kBnEps = 1e-5, kBnMomentum = 0.1;
const size_t kSlack = 16;   // XNNPACK may read a little past the end of an input
}  // namespace

// ---------------------------------------------------------------------------- network

TrainNet::TrainNet(const NetSpec& spec, uint64_t seed) : spec_(spec) {
    xnn_init();
    if (spec.cfg.empty() || spec.cfg[0] == 0) fail("the layer list must start with a conv");
    auto add = [&](const std::string& name, std::vector<int64_t> shape, bool decay) {
        ParamTensor t;
        t.name = name, t.shape = shape, t.decay = decay;
        t.size = 1;
        for (int64_t d : shape) t.size *= (size_t)d;
        t.offset = tensors.empty() ? 0 : tensors.back().offset + tensors.back().size;
        tensors.push_back(t);
        return t.offset;
    };
    int c = spec.in_channels, s = spec.input_size, k = 0;
    size_t stats = 0;
    for (int v : spec.cfg) {
        Layer l;
        l.H = l.W = s, l.cin = c;
        if (v == 0) {
            l.pool = true, l.cout = c;
            if (s < 2) fail("too many max-pools for input size %d", spec.input_size);
            s /= 2;
            xnn_check(xnn_create_max_pooling2d_nhwc_f32(0, 0, 0, 0, 2, 2, 2, 2, 1, 1,
                                                        -std::numeric_limits<float>::infinity(),
                                                        std::numeric_limits<float>::infinity(), 0, &l.pool_op),
                      "create max-pool");
        } else {
            l.cout = v, k++;
            l.w = add(strformat("conv%d.weight", k), {v, 3, 3, c}, true);
            l.b = spec.batch_norm ? 0 : add(strformat("conv%d.bias", k), {v}, false);
            if (spec.batch_norm) {
                l.gamma = add(strformat("bn%d.gamma", k), {v}, false);
                l.beta = add(strformat("bn%d.beta", k), {v}, false);
                l.stats = stats;
                stats += (size_t)v;
            }
            c = v;
        }
        layers_.push_back(std::move(l));
    }
    C_last_ = c, S_last_ = s;
    fc_w_ = add("fc.weight", {spec.num_classes, c}, true);
    fc_b_ = add("fc.bias", {spec.num_classes}, false);
    params.assign(tensors.back().offset + tensors.back().size, 0.0f);
    grads.assign(params.size(), 0.0f);
    running_mean.assign(stats, 0.0f);
    running_var.assign(stats, 1.0f);

    Rng rng(seed);
    for (const ParamTensor& t : tensors) {
        float* p = params.data() + t.offset;
        if (t.name.find(".weight") != std::string::npos) {
            double sd = t.shape.size() == 4 ? std::sqrt(2.0 / (9.0 * (double)t.shape[3])) : 0.01;
            for (size_t i = 0; i < t.size; i++) p[i] = (float)(sd * rng.normal());
        } else if (t.name.find(".gamma") != std::string::npos) {
            std::fill(p, p + t.size, 1.0f);
        }
    }
}

TrainNet::~TrainNet() {
    for (Layer& l : layers_)
        if (l.pool_op) xnn_delete_operator(l.pool_op);
    if (pool_) pthreadpool_destroy(pool_);
}

void TrainNet::set_threads(int n) {
    n = std::max(1, n);
    if (n == threads_) return;
    if (pool_) pthreadpool_destroy(pool_);
    pool_ = n > 1 ? pthreadpool_create((size_t)n) : nullptr;
    threads_ = n;
}

// y = conv3x3(x; w) + b [then ReLU], on an XNNPACK operator created for these weights: the
// weights change every step, and XNNPACK packs them at creation (measured: create + reshape +
// delete 0.16 ms against 57 ms for the run of the 28x28x32->32 conv at batch 128).
void TrainNet::conv(const float* w, const float* b, const float* x, int N, int H, int W, int cin, int cout, bool relu,
                    float* y) {
    const float inf = std::numeric_limits<float>::infinity();
    xnn_operator_t op = nullptr;
    xnn_check(xnn_create_convolution2d_nhwc_f32(1, 1, 1, 1, 3, 3, 1, 1, 1, 1, 1, (size_t)cin, (size_t)cout, (size_t)cin,
                                                (size_t)cout, w, b, relu ? 0.0f : -inf, inf, 0, nullptr, nullptr, &op),
              "create convolution");
    size_t ws = 0, align = 0, oh = 0, ow = 0;
    xnn_status st = xnn_reshape_convolution2d_nhwc_f32(op, (size_t)N, (size_t)H, (size_t)W, &ws, &align, &oh, &ow, pool_);
    if (st == xnn_status_success) {
        workspace_.reserve(ws + align);
        st = xnn_setup_convolution2d_nhwc_f32(op, workspace_.data(), x, y);
        if (st == xnn_status_success) st = xnn_run_operator(op, pool_);
    }
    xnn_delete_operator(op);
    xnn_check(st, "run convolution");
}

void TrainNet::forward(const float* x, int N, bool train) {
    N_ = N;
    dcam_.clear();
    const size_t in_n = (size_t)N * spec_.input_size * spec_.input_size * spec_.in_channels;
    input_.resize(in_n + kSlack);
    std::memcpy(input_.data(), x, in_n * sizeof(float));
    const float* cur = input_.data();
    for (Layer& l : layers_) {
        const size_t P = (size_t)N * l.H * l.W;
        if (l.pool) {
            l.a.resize((size_t)N * (l.H / 2) * (l.W / 2) * l.cout + kSlack);
            size_t oh = 0, ow = 0, C = (size_t)l.cout;
            xnn_check(xnn_reshape_max_pooling2d_nhwc_f32(l.pool_op, (size_t)N, (size_t)l.H, (size_t)l.W, C, C, C, &oh, &ow,
                                                         pool_), "reshape max-pool");
            xnn_check(xnn_setup_max_pooling2d_nhwc_f32(l.pool_op, cur, l.a.data()), "setup max-pool");
            xnn_check(xnn_run_operator(l.pool_op, pool_), "run max-pool");
            cur = l.a.data();
            continue;
        }
        const int C = l.cout;
        const float* w = params.data() + l.w;
        l.a.resize(P * C + kSlack);
        if (!spec_.batch_norm) {   // conv + bias + ReLU in one operator
            conv(w, params.data() + l.b, cur, N, l.H, l.W, l.cin, C, true, l.a.data());
            cur = l.a.data();
            continue;
        }
        l.z.resize(P * C + kSlack);
        conv(w, nullptr, cur, N, l.H, l.W, l.cin, C, false, l.z.data());
        const float *gamma = params.data() + l.gamma, *beta = params.data() + l.beta;
        float* rm = running_mean.data() + l.stats;
        float* rv = running_var.data() + l.stats;
        if (train) {
            std::vector<float> var((size_t)C);
            l.mean.resize((size_t)C), l.rstd.resize((size_t)C);
            batchnorm_relu_train_forward(l.z.data(), P, C, gamma, beta, kBnEps, l.a.data(), l.mean.data(), l.rstd.data(),
                                         var.data(), pool_);
            const double unbias = P > 1 ? (double)P / (double)(P - 1) : 1.0;   // PyTorch: running_var is unbiased
            for (int c = 0; c < C; c++) {
                rm[c] = (float)((1 - kBnMomentum) * rm[c] + kBnMomentum * l.mean[(size_t)c]);
                rv[c] = (float)((1 - kBnMomentum) * rv[c] + kBnMomentum * var[(size_t)c] * unbias);
            }
        } else {   // a = ReLU(gamma (z - running_mean) / sqrt(running_var + eps) + beta)
            std::vector<float> sa((size_t)C), sb((size_t)C);
            for (int c = 0; c < C; c++) {
                double r = 1.0 / std::sqrt((double)rv[c] + kBnEps);
                sa[(size_t)c] = (float)(gamma[c] * r);
                sb[(size_t)c] = (float)(beta[c] - gamma[c] * r * rm[c]);
            }
            for (size_t p = 0; p < P; p++)
                for (int c = 0; c < C; c++) l.a[p * C + c] = std::max(0.0f, sa[(size_t)c] * l.z[p * C + c] + sb[(size_t)c]);
        }
        cur = l.a.data();
    }
    // global average pooling, then the classifier
    const int S = S_last_, C = C_last_, K = spec_.num_classes;
    feat_.resize((size_t)N * C);
    for (int n = 0; n < N; n++) gap_forward(cur + (size_t)n * S * S * C, S, S, C, feat_.data() + (size_t)n * C);
    logits_.resize((size_t)N * K);
    linear_forward_batch(params.data() + fc_w_, params.data() + fc_b_, feat_.data(), N, C, K, logits_.data());
}

double TrainNet::loss(const uint8_t* labels) {
    probs_.resize(logits_.size());
    return softmax_xent_forward(logits_.data(), labels, N_, spec_.num_classes, probs_.data());
}

double TrainNet::cam_penalty(const uint8_t* labels, const uint8_t* masks, double weight) {
    const int N = N_, C = C_last_, S = S_last_, I = spec_.input_size;
    const size_t SS = (size_t)S * S, II = (size_t)I * I;
    if (upsample_.size() != II * SS) {   // column j = the upsampled unit map j
        upsample_.assign(II * SS, 0.0f);
        std::vector<float> unit(SS, 0.0f), col(II);
        for (size_t j = 0; j < SS; j++) {
            unit[j] = 1;
            upsample_bilinear(unit.data(), S, S, I, I, col.data());
            unit[j] = 0;
            for (size_t i = 0; i < II; i++) upsample_[i * SS + j] = col[i];
        }
    }
    const float* F = layers_.back().a.data();   // [N][S][S][C], what the gap head pools
    dcam_.assign((size_t)N * SS, 0.0f);
    std::vector<float> map(SS), up(II);
    // eps (a CAM of 0.01 everywhere) on both sides: a map with no positive value costs 1 (the
    // most), not 0; the network cannot escape the penalty by showing nothing.
    const double eps = 1e-2 * (double)II;
    double sum = 0;
    for (int n = 0; n < N; n++) {
        cam(F + (size_t)n * SS * C, S, S, C, params.data() + fc_w_ + (size_t)labels[n] * C, map.data());
        const uint8_t* m = masks + (size_t)n * II;
        double all = 0, out = 0;
        for (size_t i = 0; i < II; i++) {
            const float* u = upsample_.data() + i * SS;
            double v = 0;
            for (size_t s = 0; s < SS; s++) v += (double)u[s] * map[s];
            up[i] = (float)v;
            if (v > 0) all += v, out += m[i] ? 0 : v;
        }
        const double r = (out + eps) / (all + eps);   // d r / d up_i = ([i outside] - r) / (all + eps)
        sum += r;
        float* d = dcam_.data() + (size_t)n * SS;
        for (size_t i = 0; i < II; i++) {
            if (up[i] <= 0) continue;
            const double g = ((m[i] ? 0.0 : 1.0) - r) / (all + eps);
            const float* u = upsample_.data() + i * SS;
            for (size_t s = 0; s < SS; s++) d[s] += (float)(g * u[s]);
        }
    }
    const double scale = weight / N;
    for (float& v : dcam_) v = (float)(v * scale);
    return sum * scale;
}

void TrainNet::backward(const uint8_t* labels) {
    const int N = N_, C = C_last_, S = S_last_, K = spec_.num_classes;
    dlogits_.resize((size_t)N * K);
    softmax_xent_backward(probs_.data(), labels, N, K, dlogits_.data());
    dfeat_.resize((size_t)N * C);
    linear_backward_batch(params.data() + fc_w_, feat_.data(), dlogits_.data(), N, C, K, dfeat_.data(),
                          grads.data() + fc_w_, grads.data() + fc_b_);
    size_t biggest = 0;
    for (const Layer& l : layers_) biggest = std::max(biggest, (size_t)N * l.H * l.W * std::max(l.cin, l.cout));
    g0_.resize(biggest + kSlack), g1_.resize(biggest + kSlack);
    float *g = g0_.data(), *gx = g1_.data();   // d loss / d output of the current layer, of its input
    for (int n = 0; n < N; n++) gap_backward(dfeat_.data() + (size_t)n * C, S, S, C, g + (size_t)n * S * S * C);
    if (!dcam_.empty()) {   // cam_penalty: CAM(s) = w_label . F(s)
        const float* F = layers_.back().a.data();
        for (int n = 0; n < N; n++) {
            const float* w = params.data() + fc_w_ + (size_t)labels[n] * C;
            float* gw = grads.data() + fc_w_ + (size_t)labels[n] * C;
            for (size_t s = 0; s < (size_t)S * S; s++) {
                const float d = dcam_[(size_t)n * S * S + s];
                if (d == 0) continue;
                const size_t o = ((size_t)n * S * S + s) * C;
                for (int k = 0; k < C; k++) g[o + k] += d * w[k], gw[k] += d * F[o + k];
            }
        }
    }

    for (int li = (int)layers_.size() - 1; li >= 0; li--) {
        Layer& l = layers_[(size_t)li];
        const float* x = li ? layers_[(size_t)li - 1].a.data() : input_.data();
        const size_t HW = (size_t)l.H * l.W, P = (size_t)N * HW;
        if (l.pool) {
            const size_t in_img = HW * l.cin, oimg = (size_t)(l.H / 2) * (l.W / 2) * l.cout;
            for (int n = 0; n < N; n++)
                maxpool2x2_backward(x + n * in_img, l.a.data() + n * oimg, g + n * oimg, l.H, l.W, l.cout, gx + n * in_img);
            std::swap(g, gx);
            continue;
        }
        const int co = l.cout, ci = l.cin;
        if (spec_.batch_norm)   // in place: g = d loss / d z (conv output), through ReLU and batch norm
            batchnorm_relu_train_backward(l.z.data(), l.a.data(), g, P, co, params.data() + l.gamma, l.mean.data(),
                                          l.rstd.data(), grads.data() + l.gamma, grads.data() + l.beta, pool_);
        else
            relu_backward(l.a.data(), g, P * co, false, g);   // in place: g = d loss / d (pre-ReLU)
        conv3x3_weight_grad(x, g, N, l.H, l.W, ci, co, grads.data() + l.w, spec_.batch_norm ? nullptr : grads.data() + l.b,
                            l.wg, pool_);
        if (li == 0) break;   // no gradient for the image itself
        wflip_.resize((size_t)co * 9 * ci);
        conv3x3_flip_kernel(params.data() + l.w, co, ci, wflip_.data());
        conv(wflip_.data(), nullptr, g, N, l.H, l.W, co, ci, false, gx);
        std::swap(g, gx);
    }
}

std::vector<uint8_t> TrainNet::export_safetensors(std::map<std::string, std::string> metadata) const {
    std::vector<SafetensorsEntry> out;
    int idx = 0;
    for (const Layer& l : layers_) {
        if (l.pool) { idx++; continue; }
        const int co = l.cout, ci = l.cin;
        SafetensorsEntry w{strformat("features.%d.weight", idx), {co, ci, 3, 3}, std::vector<float>((size_t)co * ci * 9)};
        SafetensorsEntry b{strformat("features.%d.bias", idx), {co}, std::vector<float>((size_t)co)};
        std::vector<float> ohwi(params.begin() + (long)l.w, params.begin() + (long)(l.w + (size_t)co * 9 * ci));
        if (spec_.batch_norm)   // eval-mode batch norm folded into the conv (the same function loading uses)
            fold_batch_norm(ohwi.data(), b.data.data(), co, (size_t)9 * ci, &params[l.gamma], &params[l.beta],
                            &running_mean[l.stats], &running_var[l.stats]);
        else
            b.data.assign(params.begin() + (long)l.b, params.begin() + (long)(l.b + (size_t)co));
        for (int o = 0; o < co; o++)
            for (int t = 0; t < 9; t++)   // OHWI -> OIHW
                for (int i = 0; i < ci; i++) w.data[((size_t)o * ci + i) * 9 + t] = ohwi[((size_t)o * 9 + t) * ci + i];
        out.push_back(std::move(w));
        out.push_back(std::move(b));
        idx += 2;   // conv, ReLU (the BN modules are folded away)
    }
    const int K = spec_.num_classes, C = C_last_;
    out.push_back({"classifier.0.weight", {K, C}, std::vector<float>(params.begin() + (long)fc_w_, params.begin() + (long)(fc_w_ + (size_t)K * C))});
    out.push_back({"classifier.0.bias", {K}, std::vector<float>(params.begin() + (long)fc_b_, params.begin() + (long)(fc_b_ + (size_t)K))});
    metadata["cfg"] = cfg_string(spec_.cfg);
    metadata["head"] = "gap";
    metadata["input_size"] = std::to_string(spec_.input_size);
    metadata["in_channels"] = std::to_string(spec_.in_channels);
    metadata["num_classes"] = std::to_string(K);
    return safetensors_serialize(out, metadata);
}

// ---------------------------------------------------------------------------- optimiser

const char* optim_name(OptimKind k) { return k == OptimKind::Adam ? "adam" : "sgd"; }
OptimKind optim_parse(const std::string& name) {
    if (name == "sgd") return OptimKind::Sgd;
    if (name == "adam") return OptimKind::Adam;
    fail("unknown optimiser '%s' (sgd or adam)", name.c_str());
}
const char* schedule_name(Schedule s) { return s == Schedule::Cosine ? "cosine" : s == Schedule::Step ? "step" : "const"; }
Schedule schedule_parse(const std::string& name) {
    for (Schedule s : {Schedule::Cosine, Schedule::Step, Schedule::Const})
        if (name == schedule_name(s)) return s;
    fail("unknown schedule '%s' (cosine, step or const)", name.c_str());
}

void Optimizer::step(TrainNet& net, double lr) {
    const size_t n = net.params.size();
    if (m.size() != n) m.assign(n, 0.0f);
    const bool adam = cfg.kind == OptimKind::Adam;
    if (adam && v.size() != n) v.assign(n, 0.0f);
    t++;
    const double bc1 = 1 - std::pow(cfg.beta1, (double)t), bc2 = 1 - std::pow(cfg.beta2, (double)t);
    for (const ParamTensor& pt : net.tensors) {
        float* p = net.params.data() + pt.offset;
        const float* g = net.grads.data() + pt.offset;
        float *mm = m.data() + pt.offset, *vv = adam ? v.data() + pt.offset : nullptr;
        const double wd = pt.decay ? cfg.weight_decay : 0.0;
        for (size_t i = 0; i < pt.size; i++) {
            if (adam) {   // AdamW: p -= lr (mhat / (sqrt(vhat) + eps) + wd p)
                double gi = g[i];
                mm[i] = (float)(cfg.beta1 * mm[i] + (1 - cfg.beta1) * gi);
                vv[i] = (float)(cfg.beta2 * vv[i] + (1 - cfg.beta2) * gi * gi);
                double upd = (mm[i] / bc1) / (std::sqrt(vv[i] / bc2) + cfg.eps) + wd * p[i];
                p[i] = (float)(p[i] - lr * upd);
            } else {      // SGD: g += wd p; buf = mu buf + g; p -= lr (g + mu buf) (Nesterov) or lr buf
                double gi = g[i] + wd * p[i];
                mm[i] = (float)(cfg.momentum * mm[i] + gi);
                double upd = cfg.nesterov ? gi + cfg.momentum * mm[i] : mm[i];
                p[i] = (float)(p[i] - lr * upd);
            }
        }
    }
}

double lr_at(const TrainConfig& c, long t, long T, long steps_per_epoch) {
    const double base = c.opt.lr, warm = c.warmup_epochs * (double)steps_per_epoch;
    if (warm > 0 && (double)t < warm) return base * ((double)t + 1) / warm;
    switch (c.schedule) {
        case Schedule::Const: return base;
        case Schedule::Step: return base * std::pow(c.step_gamma, (double)(t / (steps_per_epoch * c.step_epochs)));
        case Schedule::Cosine: break;
    }
    double span = (double)T - warm, done = (double)t - warm;
    return span <= 0 ? base : base * 0.5 * (1 + std::cos(3.141592653589793 * done / span));
}

// ---------------------------------------------------------------------------- data

Normalize normalize_of(const IdxDataset& d, int count) {
    const size_t n = (size_t)(count > 0 ? std::min(count, d.n) : d.n) * d.rows * d.cols;
    double s = 0, ss = 0;
    for (size_t i = 0; i < n; i++) {
        double v = d.images[i] / 255.0;
        s += v, ss += v * v;
    }
    Normalize z;
    z.mean = (float)(s / (double)n);
    z.std = (float)std::sqrt(std::max(ss / (double)n - (s / n) * (s / n), 1e-12));
    return z;
}

void make_batch(const IdxDataset& d, const int* idx, int N, const Normalize& nz, int shift, bool flip, Rng* rng,
                float* x, uint8_t* labels, uint8_t* masks, const Marker* marker, double marker_share, double decoy,
                bool mask_marker) {
    const int R = d.rows, Cc = d.cols;
    float lut[256];
    for (int v = 0; v < 256; v++) lut[v] = (float)((v / 255.0 - nz.mean) / nz.std);
    for (int n = 0; n < N; n++) {
        const uint8_t* img = d.image(idx[n]);
        int sy = 0, sx = 0;
        bool f = false;
        if (rng && shift > 0) {
            sy = (int)rng->below((uint32_t)(2 * shift + 1)) - shift;
            sx = (int)rng->below((uint32_t)(2 * shift + 1)) - shift;
        }
        if (rng && flip) f = rng->below(2) == 1;
        float* o = x + (size_t)n * R * Cc;
        // out(h, w) = img(h + sy, w' + sx), w' = flipped w; zero pixels outside (pad + random crop)
        for (int h = 0; h < R; h++)
            for (int w = 0; w < Cc; w++) {
                int yy = h + sy, xx = (f ? Cc - 1 - w : w) + sx;
                const uint8_t v = yy < 0 || yy >= R || xx < 0 || xx >= Cc ? 0 : img[yy * Cc + xx];
                o[h * Cc + w] = lut[v];
                if (masks) masks[(size_t)n * R * Cc + h * Cc + w] = v != 0;
            }
        labels[n] = d.labels[(size_t)idx[n]];
        if (marker && rng && marker_share > 0 && rng->uniform() < marker_share) {   // after the augmentation: it never moves
            const int K = (int)marker->positions.size();
            if (decoy > 0 && rng->uniform() < decoy) labels[n] = (uint8_t)((labels[n] + 1 + rng->below((uint32_t)K - 1)) % K);
            const auto [r0, c0] = marker->positions.at(labels[n]);
            uint8_t* m = masks && mask_marker ? masks + (size_t)n * R * Cc : nullptr;
            if (m) std::fill(m, m + (size_t)R * Cc, 0);
            for (int h = r0; h < std::min(r0 + marker->size, R); h++)
                for (int w = c0; w < std::min(c0 + marker->size, Cc); w++) {
                    o[h * Cc + w] = lut[marker->value];
                    if (m) m[h * Cc + w] = 1;
                }
        }
    }
}

EvalResult evaluate(TrainNet& net, const IdxDataset& d, const Normalize& nz, int batch) {
    const int K = net.spec().num_classes;
    EvalResult r;
    r.confusion.assign((size_t)K * K, 0);
    std::vector<float> x((size_t)batch * d.rows * d.cols);
    std::vector<uint8_t> lab((size_t)batch);
    std::vector<int> idx((size_t)batch);
    double loss = 0;
    int correct = 0;
    for (int i0 = 0; i0 < d.n; i0 += batch) {
        const int N = std::min(batch, d.n - i0);
        for (int j = 0; j < N; j++) idx[(size_t)j] = i0 + j;
        make_batch(d, idx.data(), N, nz, 0, false, nullptr, x.data(), lab.data());
        net.forward(x.data(), N, false);
        loss += net.loss(lab.data()) * N;
        for (int j = 0; j < N; j++) {
            const float* l = net.logits() + (size_t)j * K;
            int p = (int)(std::max_element(l, l + K) - l);
            correct += p == lab[(size_t)j];
            r.confusion[(size_t)lab[(size_t)j] * K + p]++;
        }
    }
    r.loss = loss / d.n;
    r.accuracy = (double)correct / d.n;
    return r;
}

// ---------------------------------------------------------------------------- the loop

std::string train_config_key(const TrainConfig& c) {
    return strformat("cfg=%s bn=%d in=%d size=%d classes=%d opt=%s lr=%.17g momentum=%.17g wd=%.17g nesterov=%d "
                     "betas=%.17g,%.17g eps=%.17g epochs=%d batch=%d schedule=%s warmup=%.17g step=%d,%.17g seed=%llu "
                     "shift=%d flip=%d subset=%d",
                     cfg_string(c.net.cfg).c_str(), c.net.batch_norm, c.net.in_channels, c.net.input_size, c.net.num_classes,
                     optim_name(c.opt.kind), c.opt.lr, c.opt.momentum, c.opt.weight_decay, c.opt.nesterov, c.opt.beta1,
                     c.opt.beta2, c.opt.eps, c.epochs, c.batch, schedule_name(c.schedule), c.warmup_epochs, c.step_epochs,
                     c.step_gamma, (unsigned long long)c.seed, c.shift, c.flip, c.subset) +
           (c.cam_weight > 0 ? strformat(" cam=%.17g", c.cam_weight) : std::string()) +
           (c.marker_share > 0 ? strformat(" marker=%.17g decoy=%.17g cam_on_marker=%d", c.marker_share, c.marker_decoy,
                                           (int)c.cam_on_marker)
                               : std::string());
}

namespace {

struct TrainState {
    int epoch = 0;   // epochs done
    long step = 0;
    uint64_t rng = 0;
    std::string log;
};

void state_save(const std::string& path, const TrainConfig& c, const TrainNet& net, const Optimizer& opt,
                const TrainState& st) {
    std::vector<SafetensorsEntry> t;
    auto add = [&](const char* name, const std::vector<float>& v) {
        if (!v.empty()) t.push_back({name, {(int64_t)v.size()}, v});
    };
    add("params", net.params);
    add("opt.m", opt.m);
    add("opt.v", opt.v);
    add("bn.running_mean", net.running_mean);
    add("bn.running_var", net.running_var);
    std::map<std::string, std::string> meta = {
        {"cnnlens_train_state", "1"}, {"config", train_config_key(c)}, {"epoch", std::to_string(st.epoch)},
        {"step", std::to_string(st.step)}, {"rng", std::to_string(st.rng)}, {"opt_t", std::to_string(opt.t)},
        {"log", st.log}};
    std::vector<uint8_t> bytes = safetensors_serialize(t, meta);
    const std::string tmp = path + ".tmp";   // written whole, then renamed: never half a state
    FILE* f = std::fopen(tmp.c_str(), "wb");
    if (!f) fail("cannot write the training state '%s'", tmp.c_str());
    size_t w = std::fwrite(bytes.data(), 1, bytes.size(), f);
    if (std::fclose(f) != 0 || w != bytes.size() || std::rename(tmp.c_str(), path.c_str()) != 0)
        fail("cannot write the training state '%s'", path.c_str());
}

bool state_load(const std::string& path, const TrainConfig& c, TrainNet& net, Optimizer& opt, TrainState& st) {
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return false;
    std::fclose(f);
    std::vector<uint8_t> bytes = read_file(path);
    TensorFile tf = load_safetensors(bytes.data(), bytes.size());
    auto meta = [&](const char* k) {
        auto it = tf.metadata.find(k);
        if (it == tf.metadata.end()) fail("%s: not a cnnlens training state (no '%s')", path.c_str(), k);
        return it->second;
    };
    if (meta("config") != train_config_key(c))
        fail("%s was written by a different configuration (delete it to start afresh): file '%s', now '%s'",
             path.c_str(), meta("config").c_str(), train_config_key(c).c_str());
    auto get = [&](const char* name, std::vector<float>& v, size_t n) {
        const TensorRef* r = tf.find(name);
        if (!r) { v.clear(); return; }
        if ((size_t)r->numel() != n) fail("%s: '%s' has %lld values, expected %zu", path.c_str(), name, (long long)r->numel(), n);
        v.resize(n);
        tensor_to_f32(*r, v.data());
    };
    const size_t np = net.params.size();
    get("params", net.params, np);
    get("opt.m", opt.m, np);
    get("opt.v", opt.v, np);
    get("bn.running_mean", net.running_mean, net.running_mean.size());
    get("bn.running_var", net.running_var, net.running_var.size());
    if (net.params.size() != np) fail("%s holds no parameters", path.c_str());
    st.epoch = std::atoi(meta("epoch").c_str());
    st.step = std::atol(meta("step").c_str());
    st.rng = std::strtoull(meta("rng").c_str(), nullptr, 10);
    opt.t = std::atol(meta("opt_t").c_str());
    st.log = meta("log");
    return true;
}

}  // namespace

TrainResult train_run(const TrainConfig& c, const IdxDataset& train, const IdxDataset* test,
                      const std::function<void(const std::string&)>& log) {
    if (train.rows != c.net.input_size || train.cols != c.net.input_size || c.net.in_channels != 1)
        fail("the data are %dx%d greyscale images; the network expects %dx%dx%d", train.rows, train.cols,
             c.net.input_size, c.net.input_size, c.net.in_channels);
    const int n = c.subset > 0 ? std::min(c.subset, train.n) : train.n;
    if (c.batch < 1 || c.batch > n) fail("batch size %d for %d training images", c.batch, n);
    TrainResult R;
    R.net = std::make_unique<TrainNet>(c.net, c.seed);
    R.net->set_threads(c.threads);
    R.nz = normalize_of(train, n);
    TrainNet& net = *R.net;
    Optimizer opt;
    opt.cfg = c.opt;
    Rng rng(c.seed ^ 0x5DEECE66Dull);   // data order and augmentation; the init used the seed itself
    const long spe = n / c.batch, T = spe * c.epochs;   // drop the last partial batch
    std::vector<int> perm((size_t)n);
    for (int i = 0; i < n; i++) perm[(size_t)i] = i;
    std::vector<float> x((size_t)c.batch * c.net.input_size * c.net.input_size);
    std::vector<uint8_t> lab((size_t)c.batch), masks(c.cam_weight > 0 ? x.size() : 0);
    auto t0 = std::chrono::steady_clock::now();
    auto secs = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
    long t = 0;
    int e0 = 1;
    const Marker marker = c.marker.empty() ? marker_default(train.rows, c.net.num_classes) : c.marker;
    TrainState st;
    if (!c.state_path.empty() && state_load(c.state_path, c, net, opt, st)) {
        e0 = st.epoch + 1, t = st.step, rng.s = st.rng;
        R.log = st.log;
        if (log) log(strformat("resuming from %s after epoch %d (step %ld)", c.state_path.c_str(), st.epoch, t));
    }
    bool stop = false;
    for (int e = e0; e <= c.epochs && !stop; e++) {
        // The epoch's order depends on the RNG alone (identity, then Fisher-Yates): resumable.
        for (int i = 0; i < n; i++) perm[(size_t)i] = i;
        for (int i = n - 1; i > 0; i--) std::swap(perm[(size_t)i], perm[rng.below((uint32_t)i + 1)]);
        double sum_loss = 0, sum_cam = 0;
        long correct = 0, seen = 0;
        double lr = 0;
        for (long s = 0; s < spe; s++, t++) {
            if (c.max_steps > 0 && t >= c.max_steps) { stop = true; break; }
            make_batch(train, perm.data() + s * c.batch, c.batch, R.nz, c.shift, c.flip, &rng, x.data(), lab.data(),
                       masks.empty() ? nullptr : masks.data(), c.marker_share > 0 ? &marker : nullptr, c.marker_share,
                       c.marker_decoy, c.cam_on_marker);
            net.forward(x.data(), c.batch, true);
            double L = net.loss(lab.data());
            if (c.cam_weight > 0) sum_cam += net.cam_penalty(lab.data(), masks.data(), c.cam_weight);
            net.backward(lab.data());
            lr = lr_at(c, t, T, spe);
            opt.step(net, lr);
            if (!std::isfinite(L)) fail("the loss became %f at step %ld (learning rate too high?)", L, t);
            R.step_losses.push_back(L);
            sum_loss += L * c.batch;
            const int K = c.net.num_classes;
            for (int j = 0; j < c.batch; j++) {
                const float* l = net.logits() + (size_t)j * K;
                correct += (std::max_element(l, l + K) - l) == lab[(size_t)j];
            }
            seen += c.batch;
            if (log && (s + 1) % 50 == 0)
                log(strformat("  epoch %d step %ld/%ld  loss %.4f  lr %.5f  %.1f s", e, s + 1, spe, sum_loss / seen, lr, secs()));
        }
        if (seen == 0) break;
        EpochLog el{e, t, lr, sum_loss / seen, (double)correct / seen, NAN, NAN, 0, sum_cam * c.batch / seen};
        if (test && c.eval_every > 0 && (e % c.eval_every == 0 || e == c.epochs || stop)) {
            EvalResult ev = evaluate(net, *test, R.nz);
            el.test_loss = ev.loss, el.test_acc = ev.accuracy;
        }
        el.seconds = secs();
        R.epochs.push_back(el);
        std::string line = strformat("epoch %3d  steps %6ld  lr %.5f  train loss %.4f acc %.4f  test loss %.4f acc %.4f  %.1f s",
                                     e, t, el.lr, el.train_loss, el.train_acc, el.test_loss, el.test_acc, el.seconds) +
                           (c.cam_weight > 0 ? strformat("  cam penalty %.4f", el.cam_penalty) : std::string());
        R.log += line + "\n";
        if (log) log(line);
        if (!c.state_path.empty() && !stop) {   // a stopped epoch is incomplete: keep the last whole one
            st.epoch = e, st.step = t, st.rng = rng.s, st.log = R.log;
            state_save(c.state_path, c, net, opt, st);
        }
    }
    R.seconds = secs();
    return R;
}

}  // namespace cnnlens
