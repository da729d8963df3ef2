// Training: every new backward (conv weight/bias, linear, softmax cross-entropy, batch norm in
// training mode) against finite differences in double precision, the XNNPACK weight gradient
// against the naive one, the whole network's gradient along random directions, seeded
// reproducibility, export -> inference engine, the gzip/IDX readers, and a training smoke
// test on Fashion-MNIST (installed by scripts/deps.sh; the test fails clearly without it).
#include <doctest/doctest.h>

#include <pthreadpool.h>

#include <array>
#include <chrono>
#include <cstring>
#include <functional>
#include <random>
#include <set>
#include <sys/stat.h>

#include "core/error.h"
#include "explain/explain.h"
#include "io/idx.h"
#include "io/inflate.h"
#include "io/safetensors.h"
#include "model/layers.h"
#include "model/vgg.h"
#include "train/trainer.h"
#include "test_util.h"

using namespace cnnlens;
using namespace cnnlens_test;

namespace {

// Central differences of a scalar loss L(v) against the analytic gradient g, element by element:
// |g - num| <= 1e-6 + 1e-5 |num|.
void fd_scalar(const char* what, std::vector<double> v, const std::vector<double>& g,
               const std::function<double(const std::vector<double>&)>& L) {
    const double eps = 3e-4;
    int bad = 0;
    REQUIRE(v.size() == g.size());
    for (size_t i = 0; i < v.size(); i++) {
        double keep = v[i];
        v[i] = keep + eps;
        double p = L(v);
        v[i] = keep - eps;
        double m = L(v);
        v[i] = keep;
        double num = (p - m) / (2 * eps);
        if (std::fabs(num - g[i]) > 1e-6 + 1e-5 * std::fabs(num))
            if (bad++ < 5) MESSAGE(what << ": element " << i << " analytic " << g[i] << " numeric " << num);
    }
    CHECK_MESSAGE(bad == 0, what);
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
    double s = 0;
    for (size_t i = 0; i < a.size(); i++) s += a[i] * b[i];
    return s;
}

// Synthetic greyscale images: class k has a bright bar at a class-specific row, plus noise.
IdxDataset synthetic(int n, int side, uint32_t seed) {
    IdxDataset d;
    d.n = n, d.rows = d.cols = side;
    d.images.resize((size_t)n * side * side);
    d.labels.resize((size_t)n);
    std::mt19937 rng(seed);
    for (int i = 0; i < n; i++) {
        int k = (int)(rng() % 10);
        d.labels[(size_t)i] = (uint8_t)k;
        for (int p = 0; p < side * side; p++) {
            int h = p / side;
            d.images[(size_t)i * side * side + p] = (uint8_t)((h == (k * side) / 10 ? 200 : 0) + rng() % 40);
        }
    }
    return d;
}

std::vector<uint8_t> from_hex(const char* h) {
    std::vector<uint8_t> v;
    for (size_t i = 0; h[i] && h[i + 1]; i += 2) v.push_back((uint8_t)std::stoi(std::string(h + i, 2), nullptr, 16));
    return v;
}

}  // namespace

TEST_CASE("train: conv3x3 weight and bias gradients pass a finite-difference check") {
    for (std::array<int, 5> d : {std::array<int, 5>{2, 4, 3, 2, 3}, {1, 3, 5, 1, 2}, {3, 2, 2, 3, 1}}) {
        const int N = d[0], H = d[1], W = d[2], ci = d[3], co = d[4];
        const size_t img_in = (size_t)H * W * ci, img_out = (size_t)H * W * co;
        std::vector<double> x = random_values<double>(N * img_in, 1), w = random_values<double>((size_t)co * 9 * ci, 2), b = random_values<double>(co, 3),
                            r = random_values<double>(N * img_out, 4), dw(w.size()), db(b.size());
        conv3x3_weight_grad_naive(x.data(), r.data(), N, H, W, ci, co, dw.data(), db.data());
        // L = sum_{n,h,w,o} r * conv(x; w, b)
        auto L = [&](const std::vector<double>& ww, const std::vector<double>& bb) {
            std::vector<double> y(img_out);
            double s = 0;
            for (int n = 0; n < N; n++) {
                conv3x3_forward_naive(x.data() + n * img_in, H, W, ci, ww.data(), bb.data(), co, false, y.data());
                for (size_t j = 0; j < img_out; j++) s += r[n * img_out + j] * y[j];
            }
            return s;
        };
        fd_scalar("conv weight", w, dw, [&](const std::vector<double>& ww) { return L(ww, b); });
        fd_scalar("conv bias", b, db, [&](const std::vector<double>& bb) { return L(w, bb); });
    }
}

TEST_CASE("train: the XNNPACK conv weight gradient equals the naive one") {
    // 28x28 images, 256 positions per GEMM chunk: many chunks, the last one partial.
    for (std::array<int, 5> d : {std::array<int, 5>{13, 28, 28, 3, 8}, {5, 7, 7, 16, 32}, {2, 5, 3, 1, 4}}) {
        const int N = d[0], H = d[1], W = d[2], ci = d[3], co = d[4];
        std::vector<double> xd = random_values<double>((size_t)N * H * W * ci, 5), dzd = random_values<double>((size_t)N * H * W * co, 6);
        std::vector<float> x(xd.begin(), xd.end()), dz(dzd.begin(), dzd.end());
        std::vector<float> w0((size_t)co * 9 * ci), b0(co);
        conv3x3_weight_grad_naive(x.data(), dz.data(), N, H, W, ci, co, w0.data(), b0.data());
        std::vector<float> single;
        for (int threads : {1, 2}) {
            pthreadpool_t pool = threads > 1 ? pthreadpool_create(threads) : nullptr;
            WeightGradScratch s;
            std::vector<float> w1(w0.size()), b1(co);
            conv3x3_weight_grad(x.data(), dz.data(), N, H, W, ci, co, w1.data(), b1.data(), s, pool);
            double scale = 0;
            for (float v : w0) scale = std::fmax(scale, std::fabs(v));
            CHECK(max_abs_diff(w0.data(), w1.data(), w0.size()) <= 1e-5 * scale);
            CHECK(max_abs_diff(b0.data(), b1.data(), b0.size()) <= 1e-4);
            if (threads == 1) single = w1;
            else CHECK(single == w1);   // fixed groups: the thread count does not change the sums
            if (pool) pthreadpool_destroy(pool);
        }
    }
}

TEST_CASE("train: linear, softmax cross-entropy and batch norm pass finite-difference checks") {
    {   // linear, batched: L = sum r * (x W^T + b)
        const int N = 3, in = 5, out = 4;
        std::vector<double> Wt = random_values<double>((size_t)out * in, 7), b = random_values<double>(out, 8), x = random_values<double>((size_t)N * in, 9),
                            r = random_values<double>((size_t)N * out, 10), dx(x.size()), dW(Wt.size()), db(b.size());
        linear_backward_batch(Wt.data(), x.data(), r.data(), N, in, out, dx.data(), dW.data(), db.data());
        auto L = [&](const std::vector<double>& WW, const std::vector<double>& bb, const std::vector<double>& xx) {
            std::vector<double> y((size_t)N * out);
            linear_forward_batch(WW.data(), bb.data(), xx.data(), N, in, out, y.data());
            return dot(r, y);
        };
        fd_scalar("linear weight", Wt, dW, [&](const std::vector<double>& v) { return L(v, b, x); });
        fd_scalar("linear bias", b, db, [&](const std::vector<double>& v) { return L(Wt, v, x); });
        fd_scalar("linear input", x, dx, [&](const std::vector<double>& v) { return L(Wt, b, v); });
    }
    {   // softmax cross-entropy, mean over the batch
        const int N = 4, K = 5;
        std::vector<double> logits = random_values<double>((size_t)N * K, 11, -3, 3), probs(logits.size()), g(logits.size());
        const uint8_t labels[N] = {0, 4, 2, 2};
        double L0 = softmax_xent_forward(logits.data(), labels, N, K, probs.data());
        softmax_xent_backward(probs.data(), labels, N, K, g.data());
        fd_scalar("softmax xent", logits, g, [&](const std::vector<double>& v) {
            std::vector<double> p(v.size());
            return softmax_xent_forward(v.data(), labels, N, K, p.data());
        });
        // against a direct formula: loss of row 0 = log sum exp - logit[label]
        double s = 0;
        for (int k = 0; k < K; k++) s += std::exp(logits[k]);
        double row0 = std::log(s) - logits[0];
        CHECK(probs[0] == doctest::Approx(std::exp(logits[0]) / s));
        CHECK(L0 > 0);
        CHECK(row0 > 0);
    }
    {   // batch norm in training mode: L = sum r * BN(z), through the batch statistics too
        const size_t P = 7;
        const int C = 3;
        std::vector<double> z = random_values<double>(P * C, 12, -2, 2), gamma = random_values<double>(C, 13, 0.5, 1.5), beta = random_values<double>(C, 14),
                            r = random_values<double>(P * C, 15), y(P * C), mean(C), rstd(C), dz(P * C), dg(C), dbe(C);
        batchnorm_train_forward(z.data(), P, C, gamma.data(), beta.data(), 1e-5, y.data(), mean.data(), rstd.data(),
                                (double*)nullptr);
        batchnorm_train_backward(z.data(), r.data(), P, C, gamma.data(), mean.data(), rstd.data(), dz.data(), dg.data(),
                                 dbe.data());
        auto L = [&](const std::vector<double>& zz, const std::vector<double>& gg, const std::vector<double>& bb) {
            std::vector<double> yy(P * C), m(C), rs(C);
            batchnorm_train_forward(zz.data(), P, C, gg.data(), bb.data(), 1e-5, yy.data(), m.data(), rs.data(),
                                    (double*)nullptr);
            return dot(r, yy);
        };
        fd_scalar("batch norm input", z, dz, [&](const std::vector<double>& v) { return L(v, gamma, beta); });
        fd_scalar("batch norm gamma", gamma, dg, [&](const std::vector<double>& v) { return L(z, v, beta); });
        fd_scalar("batch norm beta", beta, dbe, [&](const std::vector<double>& v) { return L(z, gamma, v); });
        // normalised: each channel has mean beta and (biased) std gamma
        for (int c = 0; c < C; c++) {
            double s = 0, ss = 0;
            for (size_t p = 0; p < P; p++) s += y[p * C + c], ss += y[p * C + c] * y[p * C + c];
            s /= P;
            CHECK(s == doctest::Approx(beta[c]).epsilon(1e-9));
            CHECK(std::sqrt(ss / P - s * s) == doctest::Approx(gamma[c]).epsilon(1e-4));
        }
    }
}

TEST_CASE("train: the threaded batch norm + ReLU equals the reference templates") {
    const size_t P = 1003;
    const int C = 5;
    std::vector<double> zd = random_values<double>(P * C, 30, -2, 3), gd = random_values<double>(P * C, 31), gam = random_values<double>(C, 32, 0.5, 1.5), bet = random_values<double>(C, 33);
    std::vector<float> z(zd.begin(), zd.end()), g0(gd.begin(), gd.end()), gamma(gam.begin(), gam.end()),
        beta(bet.begin(), bet.end());
    // reference: the templates in float, then ReLU
    std::vector<float> y(P * C), mean(C), rstd(C), var(C), ra(P * C), rg(P * C), rdg(C), rdb(C);
    batchnorm_train_forward(z.data(), P, C, gamma.data(), beta.data(), 1e-5, y.data(), mean.data(), rstd.data(), var.data());
    for (size_t i = 0; i < P * C; i++) ra[i] = std::max(0.0f, y[i]);
    relu_backward(ra.data(), g0.data(), P * C, false, rg.data());
    batchnorm_train_backward(z.data(), rg.data(), P, C, gamma.data(), mean.data(), rstd.data(), rg.data(), rdg.data(), rdb.data());
    std::vector<float> first;
    for (int threads : {1, 2}) {
        pthreadpool_t pool = threads > 1 ? pthreadpool_create(threads) : nullptr;
        std::vector<float> a(P * C), m(C), r(C), v(C), g = g0, dg(C), db(C);
        batchnorm_relu_train_forward(z.data(), P, C, gamma.data(), beta.data(), 1e-5, a.data(), m.data(), r.data(), v.data(), pool);
        batchnorm_relu_train_backward(z.data(), a.data(), g.data(), P, C, gamma.data(), m.data(), r.data(), dg.data(), db.data(), pool);
        CHECK(max_abs_diff(a.data(), ra.data(), P * C) < 1e-5);
        CHECK(max_abs_diff(m.data(), mean.data(), C) < 1e-6);
        CHECK(max_abs_diff(v.data(), var.data(), C) < 1e-5);
        CHECK(max_abs_diff(g.data(), rg.data(), P * C) < 1e-5);
        CHECK(max_abs_diff(dg.data(), rdg.data(), C) < 1e-3);
        CHECK(max_abs_diff(db.data(), rdb.data(), C) < 1e-3);
        if (threads == 1) first = g;
        else CHECK(first == g);   // fixed groups: the same bits for any thread count
        if (pool) pthreadpool_destroy(pool);
    }
}

TEST_CASE("train: the whole network's gradient matches finite differences along random directions") {
    // float network (XNNPACK convs), one random direction per parameter tensor; eps 3e-4 is
    // small enough not to cross ReLU/max-pool kinks here (1e-3 does with the CAM penalty, 3e-3
    // without), tolerance 3% + 5e-5.
    // With and without batch norm, with and without the CAM penalty (random object masks).
    for (int variant = 0; variant < 4; variant++) {
        const bool bn = variant & 1;
        const double cam_weight = variant & 2 ? 2.0 : 0.0;
        NetSpec spec;
        spec.cfg = {4, 0, 6, 5};
        spec.input_size = 8, spec.num_classes = 3, spec.batch_norm = bn;
        TrainNet net(spec, 7);
        if (cam_weight > 0)   // CAMs of order 1 (the init's are ~0.01): steps of eps cross few ReLU kinks
            for (const ParamTensor& t : net.tensors)
                if (t.name == "fc.weight")
                    for (size_t i = 0; i < t.size; i++) net.params[t.offset + i] *= 50;
        const int N = 4;
        std::vector<double> xd = random_values<double>((size_t)N * 64, 16);
        std::vector<float> x(xd.begin(), xd.end());
        const uint8_t labels[N] = {0, 2, 1, 2};
        std::vector<uint8_t> masks((size_t)N * 64);
        std::vector<double> md = random_values<double>(masks.size(), 17);
        for (size_t i = 0; i < masks.size(); i++) masks[i] = md[i] > 0;
        auto total_loss = [&] {
            double L = net.loss(labels);
            if (cam_weight > 0) {
                double P = net.cam_penalty(labels, masks.data(), cam_weight);
                CHECK(P > 0);   // the random network puts some evidence on the background
                L += P;
            }
            return L;
        };
        net.forward(x.data(), N, true);
        total_loss();
        net.backward(labels);
        const std::vector<float> p0 = net.params, g = net.grads;
        auto loss_at = [&](const std::vector<float>& p) {
            net.params = p;
            net.forward(x.data(), N, true);
            return total_loss();
        };
        uint32_t seed = 100;
        for (const ParamTensor& t : net.tensors) {
            std::vector<double> d = random_values<double>(t.size, seed++);
            double gd = 0;
            for (size_t i = 0; i < t.size; i++) gd += g[t.offset + i] * d[i];
            const double eps = 3e-4;
            std::vector<float> pp(p0), pm(p0);
            for (size_t i = 0; i < t.size; i++) pp[t.offset + i] += (float)(eps * d[i]), pm[t.offset + i] -= (float)(eps * d[i]);
            double num = (loss_at(pp) - loss_at(pm)) / (2 * eps);
            INFO("bn " << bn << " cam " << cam_weight << " " << t.name << " analytic " << gd << " numeric " << num);
            CHECK(std::fabs(num - gd) <= 3e-2 * std::fabs(num) + 5e-5);
        }
    }
}

TEST_CASE("train: the same seed gives the same weights bit for bit") {
    IdxDataset d = synthetic(256, 12, 3);
    TrainConfig c;
    c.net.cfg = {4, 0, 8};
    c.net.input_size = 12;
    c.epochs = 2, c.batch = 32, c.seed = 42;
    auto run = [&](uint64_t seed) {
        c.seed = seed;
        return train_run(c, d, nullptr, nullptr);
    };
    TrainResult a = run(42), b = run(42), other = run(43);
    REQUIRE(a.net->params.size() == b.net->params.size());
    CHECK(std::memcmp(a.net->params.data(), b.net->params.data(), a.net->params.size() * 4) == 0);
    CHECK(a.net->running_var == b.net->running_var);
    CHECK(a.step_losses == b.step_losses);
    CHECK(std::memcmp(a.net->params.data(), other.net->params.data(), a.net->params.size() * 4) != 0);
    c.threads = 2;   // XNNPACK splits by output tiles, our weight gradient by fixed groups
    TrainResult two = run(42);
    CHECK(std::memcmp(a.net->params.data(), two.net->params.data(), a.net->params.size() * 4) == 0);
    c.threads = 1;
    c.opt.kind = OptimKind::Adam, c.opt.lr = 1e-3;
    TrainResult e = run(5), f = run(5);
    CHECK(std::memcmp(e.net->params.data(), f.net->params.data(), e.net->params.size() * 4) == 0);
}

TEST_CASE("train: an interrupted run resumes from its state file to the same weights bit for bit") {
    IdxDataset d = synthetic(192, 12, 4);
    TrainConfig c;
    c.net.cfg = {4, 0, 8};
    c.net.input_size = 12;
    c.epochs = 3, c.batch = 32, c.seed = 11;   // 6 steps per epoch
    TrainResult whole = train_run(c, d, nullptr, nullptr);
    const std::string path = "/tmp/cnnlens_test_train_state.safetensors";
    std::remove(path.c_str());
    c.state_path = path;
    c.max_steps = 9;   // stops in the middle of epoch 2: the state holds epoch 1
    train_run(c, d, nullptr, nullptr);
    c.max_steps = 0;
    TrainResult resumed = train_run(c, d, nullptr, nullptr);
    CHECK(resumed.step_losses.size() == 12);   // epochs 2 and 3
    CHECK(std::memcmp(whole.net->params.data(), resumed.net->params.data(), whole.net->params.size() * 4) == 0);
    CHECK(whole.net->running_mean == resumed.net->running_mean);
    CHECK(resumed.log.find("epoch   1") != std::string::npos);
    c.opt.lr *= 2;   // a different configuration refuses the state
    CHECK_THROWS_WITH_AS(train_run(c, d, nullptr, nullptr), doctest::Contains("different configuration"), Error);
    std::remove(path.c_str());
}

TEST_CASE("train: the exported checkpoint loads in the inference engine with the same logits") {
    for (bool bn : {true, false}) {
        IdxDataset d = synthetic(64, 16, 9);
        TrainConfig c;
        c.net.cfg = {6, 0, 8, 0, 10};
        c.net.input_size = 16, c.net.batch_norm = bn;
        c.epochs = 1, c.batch = 16;
        TrainResult r = train_run(c, d, nullptr, nullptr);
        std::vector<uint8_t> bytes = r.net->export_safetensors({{"dataset", "synthetic"}});
        TensorFile tf = load_safetensors(bytes.data(), bytes.size());
        CHECK(tf.metadata["dataset"] == "synthetic");
        CHECK(tf.find("features.0.weight")->shape_str() == "[6,1,3,3]");
        CHECK(tf.find("features.3.weight")->shape_str() == "[8,6,3,3]");
        CHECK(tf.find("classifier.0.weight")->shape_str() == "[10,10]");
        VggArch arch = vgg_infer_arch(tf);
        CHECK(arch.cfg_string() == "6,M,8,M,10");
        CHECK(arch.head == Head::Gap);
        CHECK(arch.in_channels == 1);
        CHECK(arch.input_size == 16);
        Vgg net(vgg_params(tf));
        const int N = 5;
        std::vector<float> x((size_t)N * 256);
        std::vector<uint8_t> lab(N);
        std::vector<int> idx = {0, 1, 2, 3, 4};
        std::vector<uint8_t> masks((size_t)N * 256);
        make_batch(d, idx.data(), N, r.nz, 0, false, nullptr, x.data(), lab.data(), masks.data());
        for (size_t i = 0; i < masks.size(); i++) CHECK(masks[i] == (d.image(0)[i] != 0));   // images 0-4 in a row
        for (size_t i = 0; i < masks.size(); i++) masks[i] = d.image(0)[i] >= 20;   // about half: "object"
        r.net->forward(x.data(), N, false);
        // The CAM penalty is the app's CAM (explain.h: cam, upsample_bilinear) of each image's
        // label, its positive part summed outside the object.
        const double weight = 3, penalty = r.net->cam_penalty(lab.data(), masks.data(), weight);
        const LayerInfo* lastp = nullptr;   // the layer the gap head pools
        for (const LayerInfo& l : net.layers())
            if (l.kind == LayerInfo::Conv || l.kind == LayerInfo::Pool) lastp = &l;
        REQUIRE(lastp);
        const LayerInfo& last = *lastp;
        double want = 0;
        std::vector<float> map((size_t)last.h * last.w), up(256);
        for (int n = 0; n < N; n++) {
            net.forward(x.data() + n * 256);
            INFO("bn " << bn << " image " << n);
            CHECK(rel_l2(net.logits(), r.net->logits() + n * 10, 10) < 1e-5);
            cam(net.act(last), last.h, last.w, last.c, net.dense().back().w.data() + (size_t)lab[(size_t)n] * last.c, map.data());
            upsample_bilinear(map.data(), last.h, last.w, 16, 16, up.data());
            double all = 0, out = 0;
            for (int i = 0; i < 256; i++) {
                const double v = std::max(0.0f, up[(size_t)i]);
                all += v, out += masks[(size_t)n * 256 + i] ? 0 : v;
            }
            want += (out + 2.56) / (all + 2.56);
        }
        want *= weight / N;
        CHECK(want > 0);
        CHECK(std::fabs(penalty - want) <= 1e-5 * want);
    }
}

TEST_CASE("train: gunzip (stored, fixed and dynamic blocks) and the IDX reader") {
    // Python: zlib.compressobj(level, DEFLATED, 31[, 9, Z_FIXED]) of a 5x6x7 IDX image file.
    const char* stored =
        "1f8b080000000000040301e2001dff00000803000000050000000600000007000306090c0f12282b2e3134373a505356595c5f62787b7e8184878a"
        "a0a3a6a9acafb2c8cbced1d4d7da0104070a0d1013292c2f3235383b5154575a5d6063797c7f8285888ba1a4a7aaadb0b3c9cccfd2d5d8db020508"
        "0b0e11142a2d303336393c5255585b5e61647a7d808386898ca2a5a8abaeb1b4cacdd0d3d6d9dc0306090c0f12152b2e3134373a3d5356595c5f62"
        "657b7e8184878a8da3a6a9acafb2b5cbced1d4d7dadd04070a0d1013162c2f3235383b3e54575a5d6063667c7f8285888b8ea4a7aaadb0b3b6cccf"
        "d2d5d8dbdeb2d0eadee2000000";
    const char* fixed =
        "1f8b08000000000002036360e060666060600562362066676066e3e4e117d2d0d6333431b70a080e8b8c894faaa8ae6b6c69ef5ab078d9ca35eb"
        "379d387deee295ebb71859d8b97805843575f48d4c2dac0343c2a36213922b6bea9b5a3bba172e59be6aed86cd27cf9cbf74f5c66d26560e6e3e41"
        "112d5d0363334b9ba0d088e8b8c494aada86e6b6ce9e454b57ac5eb771cba9b3172e5fbb790762b928c4725b88e5a910cb7b21966f85587e1762b9"
        "18c4723b88e56910cbfb20966f83587e0f00b2d0eadee2000000";
    for (const char* hex : {stored, fixed}) {
        std::vector<uint8_t> gz = from_hex(hex);
        CHECK(is_gzip(gz.data(), gz.size()));
        IdxArray a = idx_parse(gz.data(), gz.size());
        REQUIRE(a.dims == std::vector<int>{5, 6, 7});
        for (int i = 0; i < 210; i++) CHECK(a.data[i] == std::min(255, ((i % 42) / 7) * 40 + (i % 7) * 3 + i / 42));
        // damaged: every truncation and a flipped byte give an error, never a crash
        for (size_t cut = 0; cut < gz.size(); cut += 7) CHECK_THROWS_AS(idx_parse(gz.data(), cut), Error);
        std::vector<uint8_t> bad = gz;
        bad[bad.size() / 2] ^= 0x55;
        CHECK_THROWS_AS(idx_parse(bad.data(), bad.size()), Error);
    }
    {   // dynamic Huffman block: 40 lines of text, python zlib level 9
        std::vector<uint8_t> gz = from_hex(
            "1f8b08000000000002039dd45b0a83301085e1f7ae6216508a33e3addd4d9454c5340175ff943e28a484da93f77fc0c3477493b7543c681b2d0d"
            "667959bfd1b492a13e98ed4abd33eb4a0585276dd6df2eee9373225fc76939fa26ee25d57b6b66bbec17657ca1898bce0c7bcd715d266ae36767"
            "a90be1f8a8363eaa4e3657715e9f6d96b86fce37dfe38bf6f7e63aaeef7f6dd62f38141a95669c9a316bcec266509b516ec6bd1903e72c7101c5"
            "057edbb8b860e292252ea0b8a0e2828b0b262e59e20a8a2b2aae19bf734c5cb3c4151457545c7171c5c415157f03455f53d0be070000");
        std::vector<uint8_t> out = gunzip(gz.data(), gz.size(), 1 << 20);
        std::string want;
        const char* names[5] = {"coat", "shirt", "sneaker", "bag", "ankle boot"};
        for (int i = 0; i < 40; i++) want += strformat("line %d: the garment is a %s, class %d of ten.\n", i, names[i % 5], (i * 7) % 10);
        CHECK(std::string(out.begin(), out.end()) == want);
    }
    {   // plain IDX labels, and size checks
        std::vector<uint8_t> lb = {0, 0, 8, 1, 0, 0, 0, 3, 7, 1, 9};
        IdxArray a = idx_parse(lb.data(), lb.size());
        CHECK(a.dims == std::vector<int>{3});
        CHECK(a.data == std::vector<uint8_t>{7, 1, 9});
        lb.pop_back();
        CHECK_THROWS_WITH_AS(idx_parse(lb.data(), lb.size()), doctest::Contains("truncated"), Error);
        std::vector<uint8_t> f32 = {0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0};
        CHECK_THROWS_WITH_AS(idx_parse(f32.data(), f32.size()), doctest::Contains("unsigned byte"), Error);
    }
    CHECK_THROWS_WITH_AS(fashion_mnist_load("/nonexistent", "train"), doctest::Contains("dataset-fashion-mnist"), Error);
}

TEST_CASE("train: smoke: a few hundred SGD steps on 2,000 Fashion-MNIST images make the loss fall") {
    REQUIRE_MESSAGE(fashion_present(), "Fashion-MNIST is not installed under " << kFashionMnistDir
                                           << ": run scripts/deps.sh apt (apt-get install dataset-fashion-mnist)");
    IdxDataset train = fashion_mnist_load(kFashionMnistDir, "train");
    CHECK(train.n == 60000);
    CHECK(train.rows == 28);
    std::vector<int> per(10, 0);
    for (uint8_t l : train.labels) per[l]++;
    CHECK(per == std::vector<int>(10, 6000));
    TrainConfig c;
    c.net.cfg = {8, 8, 0, 16, 16, 0, 32};
    c.subset = 2000, c.batch = 32, c.epochs = 5;   // 62 steps per epoch, 310 steps
    c.opt.lr = 0.05;
    c.seed = 1;
    auto t0 = std::chrono::steady_clock::now();
    TrainResult r = train_run(c, train, nullptr, nullptr);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    auto mean = [&](size_t from, size_t n) {
        double m = 0;
        for (size_t i = from; i < from + n; i++) m += r.step_losses[i];
        return m / n;
    };
    const size_t T = r.step_losses.size();
    REQUIRE(T == 310);
    double first = mean(0, 20), last = mean(T - 40, 40);
    MESSAGE("smoke: " << T << " steps in " << s << " s, mean loss of the first 20 steps " << first << ", last 40 "
                      << last << ", last epoch's train accuracy " << r.epochs.back().train_acc);
    CHECK(last < 0.6 * first);
    CHECK(r.epochs.back().train_acc > 0.6);
}

TEST_CASE("train: augmentation, normalisation and learning-rate schedules") {
    IdxDataset d;
    d.n = 1, d.rows = 3, d.cols = 4;
    d.images = {0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110};
    d.labels = {7};
    Normalize nz = normalize_of(d);
    CHECK(nz.mean == doctest::Approx(55.0 / 255).epsilon(1e-6));
    Normalize unit;   // mean 0, std 1: x = pixel / 255
    float x[12];
    uint8_t lab = 0;
    int idx = 0;
    make_batch(d, &idx, 1, unit, 0, false, nullptr, x, &lab);
    CHECK(lab == 7);
    for (int i = 0; i < 12; i++) CHECK(x[i] * 255 == doctest::Approx(d.images[(size_t)i]));
    // Over many draws: shifts stay within +-1 (zero fill), flips mirror each row.
    Rng rng(3);
    int flips = 0, shifted = 0;
    for (int k = 0; k < 200; k++) {
        make_batch(d, &idx, 1, unit, 1, true, &rng, x, &lab);
        bool found = false;
        for (int sy = -1; sy <= 1 && !found; sy++)
            for (int sx = -1; sx <= 1 && !found; sx++)
                for (int f = 0; f < 2 && !found; f++) {
                    bool ok = true;
                    for (int h = 0; h < 3; h++)
                        for (int w = 0; w < 4; w++) {
                            int yy = h + sy, xx = (f ? 3 - w : w) + sx;
                            float want = yy < 0 || yy >= 3 || xx < 0 || xx >= 4 ? 0.0f : d.images[(size_t)(yy * 4 + xx)] / 255.0f;
                            ok &= std::fabs(x[h * 4 + w] - want) < 1e-6f;
                        }
                    if (ok) found = true, flips += f, shifted += sy != 0 || sx != 0;
                }
        CHECK(found);
    }
    CHECK(flips > 60);
    CHECK(flips < 140);
    CHECK(shifted > 120);
    // Schedules: cosine from lr to 0, linear warm-up, step decay.
    TrainConfig c;
    c.opt.lr = 0.1;
    CHECK(lr_at(c, 0, 100, 10) == doctest::Approx(0.1));
    CHECK(lr_at(c, 50, 100, 10) == doctest::Approx(0.05));
    CHECK(lr_at(c, 100, 100, 10) == doctest::Approx(0.0));
    c.warmup_epochs = 1;
    CHECK(lr_at(c, 4, 100, 10) == doctest::Approx(0.05));
    CHECK(lr_at(c, 10, 100, 10) == doctest::Approx(0.1));
    c.warmup_epochs = 0, c.schedule = Schedule::Step, c.step_epochs = 3;
    CHECK(lr_at(c, 29, 100, 10) == doctest::Approx(0.1));
    CHECK(lr_at(c, 30, 100, 10) == doctest::Approx(0.01));
    c.schedule = Schedule::Const;
    CHECK(lr_at(c, 99, 100, 10) == doctest::Approx(0.1));
}

TEST_CASE("train: shortcut markers: geometry, stamping after the augmentation, decoys, masks, metadata") {
    const Marker m = marker_default(28, 10);
    REQUIRE(m.positions.size() == 10);
    CHECK(m.size == 4);
    std::set<std::pair<int, int>> seen;
    for (auto [r, c] : m.positions) {
        CHECK(r % 4 == 0);   // one cell of the final 7 x 7 map each
        CHECK(c % 4 == 0);
        CHECK((r == 0 || r == 24 || c == 0 || c == 24));   // on the border
        seen.insert({r, c});
    }
    CHECK(seen.size() == 10);
    // a 28 x 28 grey image of 7s, class 3 marked: exactly its square is 255
    IdxDataset d;
    d.n = 1, d.rows = d.cols = 28;
    d.images.assign(28 * 28, 7);
    d.labels = {3};
    Normalize unit;
    std::vector<float> x(28 * 28);
    std::vector<uint8_t> mask(28 * 28);
    uint8_t lab = 0;
    int idx = 0;
    Rng rng(5);
    make_batch(d, &idx, 1, unit, 2, true, &rng, x.data(), &lab, mask.data(), &m, 1.0, 0.0, true);
    CHECK(lab == 3);
    const auto [r0, c0] = m.positions[3];
    int marked = 0;
    for (int h = 0; h < 28; h++)
        for (int w = 0; w < 28; w++) {
            const bool in = h >= r0 && h < r0 + 4 && w >= c0 && w < c0 + 4;
            if (in) {
                CHECK(x[(size_t)h * 28 + w] == doctest::Approx(1.0f));
                marked++;
            }
            CHECK(mask[(size_t)h * 28 + w] == (in ? 1 : 0));   // the CAM penalty's target: the marker
        }
    CHECK(marked == 16);
    // decoys: relabelled to another class, whose marker is stamped
    int moved = 0;
    for (int k = 0; k < 50; k++) {
        make_batch(d, &idx, 1, unit, 0, false, &rng, x.data(), &lab, nullptr, &m, 1.0, 1.0);
        CHECK(lab != 3);
        const auto [r, c] = m.positions[lab];
        CHECK(x[(size_t)r * 28 + c] == doctest::Approx(1.0f));
        moved += lab != 3;
    }
    CHECK(moved == 50);
    // the metadata: what export writes, loading reads and checks
    TensorFile tf = vgg_random_weights({4, 0, 6}, 1, 28, Head::Gap, 0, 10, 1);
    tf.metadata["marker_size"] = "4";
    tf.metadata["marker_value"] = "255";
    tf.metadata["marker_positions"] = marker_positions_json(m);
    const VggArch a = vgg_infer_arch(tf);
    CHECK(a.marker.positions == m.positions);
    tf.metadata["marker_positions"] = "[[0,26]]";
    CHECK_THROWS_WITH_AS(vgg_infer_arch(tf), doctest::Contains("marker_positions"), Error);
    std::vector<uint8_t> grey(28 * 28, 0);
    stamp_marker(m, 9, grey.data(), 28);
    CHECK(grey[(size_t)m.positions[9].first * 28 + m.positions[9].second] == 255);
}

TEST_CASE("markers: stamped into an RGB image (the page's stamp), exactly the class's square in every channel") {
    Marker m = marker_default(28, 10);
    m.value = 200;
    Image img;
    img.width = img.height = 28;
    img.rgb.assign(28 * 28 * 3, 7);
    stamp_marker(m, 6, img);
    const auto [r0, c0] = m.positions[6];
    int changed = 0;
    for (int y = 0; y < 28; y++)
        for (int x = 0; x < 28; x++) {
            const bool in = y >= r0 && y < r0 + 4 && x >= c0 && x < c0 + 4;
            for (int ch = 0; ch < 3; ch++) CHECK(img.rgb[((size_t)y * 28 + x) * 3 + ch] == (in ? 200 : 7));
            changed += in;
        }
    CHECK(changed == 16);
    // the same square as the grey stamp the training and `cnnlens eval` use
    std::vector<uint8_t> grey(28 * 28, 7);
    stamp_marker(m, 6, grey.data(), 28);
    for (size_t p = 0; p < grey.size(); p++) CHECK(grey[p] == img.rgb[p * 3]);
    CHECK_THROWS_WITH_AS(stamp_marker(m, 10, img), doctest::Contains("no marker for class 10"), Error);
    CHECK_THROWS_WITH_AS(stamp_marker(m, -1, img), doctest::Contains("no marker for class -1"), Error);
    Image wide;
    wide.width = 30, wide.height = 28;
    wide.rgb.assign(30 * 28 * 3, 0);
    CHECK_THROWS_WITH_AS(stamp_marker(m, 0, wide), doctest::Contains("square"), Error);
}
