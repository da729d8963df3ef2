// Backward pass: every *_backward against finite differences (double precision), the
// non-differentiable conventions, the fast paths against the naive ones, and the whole
// network's input gradients (saliency, guided backprop) against the PyTorch oracle.
#include <doctest/doctest.h>

#include <array>
#include <fstream>
#include <functional>
#include <random>

#include "core/error.h"
#include "explain/explain.h"
#include "io/image.h"
#include "io/weights.h"
#include "model/layers.h"
#include "model/predict.h"
#include "test_util.h"

using namespace cnnlens;
using namespace cnnlens_test;

namespace {

// Checks dx (analytic, from backward with upstream r) against central differences of
// L(x) = sum_j r_j f(x)_j. |a - n| <= 1e-6 + 1e-5 |n| for every element.
void fd_check(const char* what, std::vector<double> x, const std::vector<double>& r, const std::vector<double>& dx,
              const std::function<std::vector<double>(const std::vector<double>&)>& f) {
    const double eps = 1e-6;
    int bad = 0;
    for (size_t i = 0; i < x.size(); i++) {
        double keep = x[i];
        x[i] = keep + eps;
        std::vector<double> p = f(x);
        x[i] = keep - eps;
        std::vector<double> m = f(x);
        x[i] = keep;
        double num = 0;
        for (size_t j = 0; j < r.size(); j++) num += r[j] * (p[j] - m[j]);
        num /= 2 * eps;
        if (std::fabs(num - dx[i]) > 1e-6 + 1e-5 * std::fabs(num)) {
            if (bad++ < 5) MESSAGE(what << ": element " << i << " analytic " << dx[i] << " numeric " << num);
        }
    }
    CHECK_MESSAGE(bad == 0, what);
}

}  // namespace

TEST_CASE("backward: conv3x3 input gradient passes a finite-difference check") {
    for (std::array<int, 4> d : {std::array<int, 4>{5, 4, 3, 2}, {3, 3, 1, 4}, {1, 6, 2, 3}}) {
        const int H = d[0], W = d[1], ci = d[2], co = d[3];   // (clang 14 lambdas cannot capture bindings)
        std::vector<double> x = random_values<double>((size_t)H * W * ci, 1), w = random_values<double>((size_t)co * 9 * ci, 2),
                            b = random_values<double>((size_t)co, 3), r = random_values<double>((size_t)H * W * co, 4), dx(x.size());
        conv3x3_backward_naive(r.data(), H, W, co, w.data(), ci, dx.data());
        fd_check("conv3x3", x, r, dx, [&](const std::vector<double>& xx) {
            std::vector<double> y((size_t)H * W * co);
            conv3x3_forward_naive(xx.data(), H, W, ci, w.data(), b.data(), co, false, y.data());
            return y;
        });
        // the flipped kernel turns the backward into a forward conv (what XNNPACK runs)
        std::vector<float> wf(w.begin(), w.end()), wt(wf.size()), rf(r.begin(), r.end()), dxf(x.size());
        conv3x3_flip_kernel(wf.data(), co, ci, wt.data());
        conv3x3_forward_naive(rf.data(), H, W, co, wt.data(), (const float*)nullptr, ci, false, dxf.data());
        for (size_t i = 0; i < dx.size(); i++) CHECK(dxf[i] == doctest::Approx(dx[i]).epsilon(1e-5));
    }
}

TEST_CASE("backward: relu, max-pool, linear and gap pass finite-difference checks") {
    {   // ReLU on z with no exact zeros: y = max(0, z)
        std::vector<double> z = random_values<double>(50, 5), r = random_values<double>(50, 6), y(50), dz(50);
        for (size_t i = 0; i < 50; i++) y[i] = std::max(0.0, z[i]);
        relu_backward(y.data(), r.data(), 50, false, dz.data());
        fd_check("relu", z, r, dz, [](const std::vector<double>& zz) {
            std::vector<double> o(zz.size());
            for (size_t i = 0; i < zz.size(); i++) o[i] = std::max(0.0, zz[i]);
            return o;
        });
    }
    for (std::array<int, 3> d : {std::array<int, 3>{4, 6, 3}, {5, 5, 2}, {3, 2, 1}}) {   // odd sizes floor
        const int H = d[0], W = d[1], C = d[2];
        std::vector<double> x = random_values<double>((size_t)H * W * C, 7), y((size_t)(H / 2) * (W / 2) * C),
                            r = random_values<double>(y.size(), 8), dx(x.size());
        maxpool2x2_forward_naive(x.data(), H, W, C, y.data());
        maxpool2x2_backward(x.data(), y.data(), r.data(), H, W, C, dx.data());
        fd_check("maxpool", x, r, dx, [&](const std::vector<double>& xx) {
            std::vector<double> o(y.size());
            maxpool2x2_forward_naive(xx.data(), H, W, C, o.data());
            return o;
        });
    }
    {
        const int in = 13, out = 7;
        std::vector<double> Wt = random_values<double>((size_t)in * out, 9), b = random_values<double>(out, 10), x = random_values<double>(in, 11),
                            r = random_values<double>(out, 12), dx(in);
        linear_backward_naive(Wt.data(), r.data(), in, out, dx.data());
        fd_check("linear", x, r, dx, [&](const std::vector<double>& xx) {
            std::vector<double> o(out);
            linear_forward_naive(Wt.data(), b.data(), xx.data(), in, out, false, o.data());
            return o;
        });
    }
    {
        const int H = 3, W = 5, C = 4;
        std::vector<double> x = random_values<double>((size_t)H * W * C, 13), r = random_values<double>(C, 14), dx(x.size());
        gap_backward(r.data(), H, W, C, dx.data());
        fd_check("gap", x, r, dx, [&](const std::vector<double>& xx) {
            std::vector<double> o(C);
            gap_forward(xx.data(), H, W, C, o.data());
            return o;
        });
    }
}

TEST_CASE("backward: the non-differentiable conventions") {
    // ReLU'(0) = 0; guided backprop also drops negative gradients.
    float y[4] = {0, 2, 3, 0}, dy[4] = {1, -1, 2, 5}, dz[4];
    relu_backward(y, dy, 4, false, dz);
    CHECK(dz[0] == 0); CHECK(dz[1] == -1); CHECK(dz[2] == 2); CHECK(dz[3] == 0);
    relu_backward(y, dy, 4, true, dz);
    CHECK(dz[1] == 0); CHECK(dz[2] == 2);
    // Max-pool ties: the first maximum in row-major order takes the whole gradient.
    const float windows[4][4] = {{1, 1, 1, 1}, {0, 2, 2, 1}, {0, 1, 3, 3}, {-1, -2, -3, -1}};
    const int first[4] = {0, 1, 2, 0};
    for (int k = 0; k < 4; k++) {
        float x[4] = {windows[k][0], windows[k][1], windows[k][2], windows[k][3]}, out, g = 7, gx[4];
        maxpool2x2_forward_naive(x, 2, 2, 1, &out);
        maxpool2x2_backward(x, &out, &g, 2, 2, 1, gx);
        for (int i = 0; i < 4; i++) CHECK(gx[i] == (i == first[k] ? 7.0f : 0.0f));
    }
}

TEST_CASE("backward: linear_backward (SIMD, threads) equals the naive transposed product") {
    for (int in : {3, 17, 1030}) {
        const int out = 29;
        std::vector<double> Wd = random_values<double>((size_t)in * out, 15), dyd = random_values<double>(out, 16);
        dyd[3] = 0;   // rows with a zero gradient are skipped
        std::vector<float> Wt(Wd.begin(), Wd.end()), dy(dyd.begin(), dyd.end()), a(in), b(in);
        linear_backward_naive(Wt.data(), dy.data(), in, out, a.data());
        linear_backward(Wt.data(), dy.data(), in, out, b.data(), nullptr);
        CHECK(max_abs_diff(a.data(), b.data(), in) < 1e-4);
    }
}

namespace {
// The network's input gradient by the naive layers, from torchvision-layout random weights.
std::vector<float> naive_input_grad(const TensorFile& tf, const Vgg& net, int cls, bool guided) {
    const VggArch& a = net.arch();
    const auto& L = net.layers();
    std::vector<float> g((size_t)a.num_classes, 0.0f);
    g[(size_t)cls] = 1;
    int nd = (int)net.dense().size();
    for (int i = (int)L.size() - 1; i >= (int)L.size() - nd; i--) {
        const DenseParams& d = net.dense()[(size_t)(i - ((int)L.size() - nd))];
        std::vector<float> gz(g.size()), gx((size_t)d.in);
        if (d.relu) relu_backward(net.act(L[(size_t)i]), g.data(), g.size(), guided, gz.data());
        else gz = g;
        linear_backward_naive(d.w.data(), gz.data(), d.in, d.out, gx.data());
        g = gx;
    }
    int idx = 0;   // features.N indices of the convs, counted forward
    std::vector<int> conv_idx;
    for (int v : a.cfg) {
        if (v) conv_idx.push_back(idx), idx += 2;
        else idx++;
    }
    int k = (int)conv_idx.size();
    for (int i = (int)L.size() - nd - 1; i >= 0; i--) {
        const LayerInfo& l = L[(size_t)i];
        if (l.kind == LayerInfo::Gap) {
            const LayerInfo& p = L[(size_t)i - 1];
            std::vector<float> gx(p.size());
            gap_backward(g.data(), p.h, p.w, p.c, gx.data());
            g = gx;
            continue;
        }
        int H = i ? L[(size_t)i - 1].h : a.input_size, C = i ? L[(size_t)i - 1].c : a.in_channels;
        std::vector<float> gx((size_t)H * H * C);
        if (l.kind == LayerInfo::Pool) {
            maxpool2x2_backward(net.act(L[(size_t)i - 1]), net.act(l), g.data(), H, H, C, gx.data());
        } else {
            const TensorRef* w = tf.find(strformat("features.%d.weight", conv_idx[(size_t)--k]));
            std::vector<float> oihw((size_t)w->numel()), ohwi(oihw.size()), gz(l.size());
            tensor_to_f32(*w, oihw.data());
            for (int o = 0; o < l.c; o++)
                for (int c = 0; c < C; c++)
                    for (int t = 0; t < 9; t++) ohwi[((size_t)o * 9 + t) * C + c] = oihw[((size_t)o * C + c) * 9 + t];
            relu_backward(net.act(l), g.data(), l.size(), guided, gz.data());
            conv3x3_backward_naive(gz.data(), l.h, l.w, l.c, ohwi.data(), C, gx.data());
        }
        g = gx;
    }
    return g;
}
}  // namespace

namespace {

struct NetCase { std::vector<int> cfg; int size; Head head; int threads; };

// A random network of the case's shape (weights from seed w) on its threads, and a random input
// for it (seed x).
struct RandomNet {
    TensorFile tf;
    Vgg net;
    std::vector<float> x;
    RandomNet(const NetCase& n, uint32_t w, uint32_t xs)
        : tf(vgg_random_weights(n.cfg, 3, n.size, n.head, 24, 10, w)), net(vgg_params(tf)), x((size_t)n.size * n.size * 3) {
        net.set_threads(n.threads);
        std::mt19937 rng(xs);
        std::uniform_real_distribution<float> u(-2, 2);
        for (float& v : x) v = u(rng);
    }
};

}  // namespace

TEST_CASE("backward: the whole network (XNNPACK) equals the naive layers, fc and gap heads") {
    for (const NetCase& n : {NetCase{{8, 0, 16, 16, 0, 12, 0}, 32, Head::Fc, 1}, NetCase{{8, 8, 0, 16, 0, 32}, 28, Head::Gap, 2},
                             NetCase{{6, 0, 8, 0, 8, 0}, 37, Head::Fc, 2}}) {
        RandomNet r(n, 3, 4);
        Vgg& net = r.net;
        const TensorFile& tf = r.tf;
        const std::vector<float>& x = r.x;
        net.forward(x.data());
        for (bool guided : {false, true}) {
            net.backward(4, guided);
            std::vector<float> ref = naive_input_grad(tf, net, 4, guided);
            REQUIRE(ref.size() == x.size());
            double e = rel_l2(net.input_grad(), ref.data(), ref.size());
            INFO("guided " << guided << " rel_l2 " << e);
            CHECK(e < 1e-5);
        }
    }
}

TEST_CASE("backward: grad_sums of the first layer from the conv above equals the sums of its whole gradient") {
    // The lowest conv's Grad-CAM weights without its input gradient (Vgg::grad_sums), fresh after a
    // forward (nothing held), against the per-channel sums of the gradient a backward pass down to
    // it gives; odd map sizes (the taps' border rows and columns), 1 and 2 threads, fc and gap heads.
    int compared = 0;
    for (const NetCase& n : {NetCase{{8, 8, 0, 16, 16, 0, 12}, 33, Head::Fc, 1}, NetCase{{8, 8, 0, 16, 0, 32}, 28, Head::Gap, 2},
                             NetCase{{6, 6, 0, 8}, 9, Head::Fc, 2}, NetCase{{5, 7, 0, 8}, 3, Head::Gap, 1}}) {
        RandomNet r(n, 5, 6);
        Vgg& net = r.net;
        const LayerInfo& l = net.layers()[0];
        for (int cls : {1, 7}) {
            net.forward(r.x.data());   // no gradient held
            std::vector<double> got((size_t)l.c), ref((size_t)l.c, 0.0);
            const int b0 = net.stats().backwards;
            net.grad_sums(cls, l, got.data());
            CHECK(net.stats().backwards == b0 + 1);   // down to the conv above: one pass
            net.backward(cls, false, l.name);         // that does not reach l: a second one
            CHECK(net.stats().backwards == b0 + 2);
            const float* g = net.grad(l);
            double scale = 0;
            for (size_t p = 0; p < l.size(); p++) ref[p % (size_t)l.c] += g[p], scale += std::fabs(g[p]);
            CAPTURE(n.size);
            CAPTURE(cls);
            REQUIRE(scale > 0);
            for (size_t k = 0; k < ref.size(); k++) CHECK(std::fabs(got[k] - ref[k]) <= 1e-6 * scale);
            compared += 2;
        }
    }
    CHECK(compared == 2 * 2 * 4);
}

TEST_CASE("backward: saliency and guided backprop equal the oracle's, every tiny case") {
    struct Case { const char* dir; Preprocess pre; std::vector<int> classes; };
    const Case cases[] = {{"tiny_fc", Preprocess::Torch, {2, 3}}, {"tiny_gap", Preprocess::Torch, {}},
                          {"tiny_fc_caffe", Preprocess::Caffe, {}}, {"tiny_fc_odd", Preprocess::Torch, {}},
                          {"a_gap", Preprocess::Torch, {}}};
    int files = 0;
    for (const Case& c : cases) {
        std::string dir = data_path(std::string("oracle/") + c.dir + "/");
        Image img = image_load(dir + "input.png");
        std::vector<uint8_t> bytes = read_file(dir + "w.pth");
        std::unique_ptr<Vgg> net = vgg_load(bytes.data(), bytes.size(), {}, img.width);
        std::vector<float> x = prepare_input(img, net->arch(), ResizeMode::Exact, c.pre);
        net->forward(x.data());
        std::vector<int> classes = c.classes;
        if (classes.empty()) classes = {top_k(net->logits(), net->num_classes(), 1)[0].index, 3};
        for (int cls : classes)
            for (bool guided : {false, true}) {
                std::string f = dir + (guided ? "guided_backprop_c" : "saliency_c") + std::to_string(cls) + ".npy";
                NpyArray ref = npy_read(f);
                net->backward(cls, guided);
                REQUIRE(ref.data.size() == x.size());
                double e = rel_l2(net->input_grad(), ref.data.data(), ref.data.size());
                INFO(f << " rel_l2 " << e);
                CHECK(e < 1e-3);   // compare.py allows 5e-2; tiny nets have no max-pool near-ties
                files++;
            }
    }
    CHECK(files == 20);
}

TEST_CASE("backward: the full pipeline (forward, one backward, explain.h) gives the oracle's maps") {
    // Every tiny oracle case: Grad-CAM and its weights at every conv layer, Grad-CAM++ at the
    // last conv and CAM (gap heads) for each class the oracle wrote, from Vgg::backward.
    struct Case { const char* dir; Preprocess pre; };
    const Case cases[] = {{"tiny_fc", Preprocess::Torch}, {"tiny_gap", Preprocess::Torch},
                          {"tiny_fc_caffe", Preprocess::Caffe}, {"tiny_fc_odd", Preprocess::Torch},
                          {"a_gap", Preprocess::Torch}};
    int compared = 0;
    for (const Case& c : cases) {
        std::string dir = data_path(std::string("oracle/") + c.dir + "/");
        Image img = image_load(dir + "input.png");
        std::vector<uint8_t> bytes = read_file(dir + "w.safetensors");
        std::unique_ptr<Vgg> net = vgg_load(bytes.data(), bytes.size(), {}, img.width);
        std::vector<float> x = prepare_input(img, net->arch(), ResizeMode::Exact, c.pre);
        net->forward(x.data());
        std::vector<const LayerInfo*> convs;
        for (const LayerInfo& l : net->layers())
            if (l.kind == LayerInfo::Conv) convs.push_back(&l);
        for (int cls = 0; cls < net->num_classes(); cls++) {
            std::string probe = dir + "saliency_c" + std::to_string(cls) + ".npy";
            if (!std::ifstream(probe)) continue;   // the oracle wrote only some classes
            net->backward(cls);
            auto check = [&](const std::string& name, const std::vector<float>& got, double tol) {
                NpyArray ref = npy_read(dir + name + ".npy");
                REQUIRE(ref.data.size() == got.size());
                double e = rel_l2(got.data(), ref.data.data(), got.size());
                double n = 0;
                for (float v : ref.data) n += (double)v * v;
                INFO(c.dir << "/" << name << " rel_l2 " << e);
                CHECK((e < tol || std::sqrt(n) < 1e-6));   // an all-zero (clipped) reference map
                compared++;
            };
            for (const LayerInfo* l : convs) {
                std::vector<float> map((size_t)l->h * l->w), alpha((size_t)l->c);
                gradcam(net->act(*l), net->grad(*l), l->h, l->w, l->c, map.data(), alpha.data());
                check(strformat("gradcam_%s_c%d", l->name.c_str(), cls), map, 1e-3);
                check(strformat("gradcam_weights_%s_c%d", l->name.c_str(), cls), alpha, 1e-3);
            }
            const LayerInfo* last = convs.back();
            std::vector<float> map((size_t)last->h * last->w), w((size_t)last->c);
            gradcampp(net->act(*last), net->grad(*last), last->h, last->w, last->c, map.data(), w.data());
            check(strformat("gradcampp_%s_c%d", last->name.c_str(), cls), map, 1e-3);
            check(strformat("gradcampp_weights_%s_c%d", last->name.c_str(), cls), w, 1e-3);
            if (net->arch().head == Head::Gap) {
                cam(net->act(*last), last->h, last->w, last->c, net->dense().back().w.data() + (size_t)cls * last->c, map.data());
                check(strformat("cam_c%d", cls), map, 1e-4);
            }
        }
    }
    CHECK(compared == 120);   // every such array of the 5 cases (2 classes each)
}
