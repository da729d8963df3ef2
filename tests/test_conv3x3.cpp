// The three algorithms of a 3x3 convolution (model/conv3x3.h) against the naive loop (double
// accumulation), at odd sizes, channel counts that are not multiples of the transform's block,
// with and without bias and ReLU, on 1 and 2 threads.
#include <array>
#include <memory>

#include <doctest/doctest.h>
#include <pthreadpool.h>

#include "core/half.h"
#include "model/conv3x3.h"
#include "model/layers.h"
#include "test_util.h"

using namespace cnnlens;
using namespace cnnlens_test;

namespace {
struct Pool {
    pthreadpool_t p;
    explicit Pool(int n) : p(n > 1 ? pthreadpool_create((size_t)n) : nullptr) {}
    ~Pool() { if (p) pthreadpool_destroy(p); }
};

void check(int H, int W, int cin, int cout, bool bias, bool relu, Conv3x3::Algo algo, int threads, double tol) {
    const int a = (int)algo;
    CAPTURE(H); CAPTURE(W); CAPTURE(cin); CAPTURE(cout); CAPTURE(bias); CAPTURE(relu); CAPTURE(a); CAPTURE(threads);
    const auto x = random_values((size_t)H * W * cin + 16, (uint32_t)(H * 131 + W * 7 + cin));
    const auto w = random_values((size_t)cout * 9 * cin, (uint32_t)(cout + 5), -0.2, 0.2);
    const auto b = random_values((size_t)cout, 3);
    std::vector<float> ref((size_t)H * W * cout), y((size_t)H * W * cout, -7.0f);
    conv3x3_forward_naive(x.data(), H, W, cin, w.data(), bias ? b.data() : (const float*)nullptr, cout, relu, ref.data());
    Pool pool(threads);
    Conv3x3 conv(w.data(), bias ? b.data() : nullptr, cin, cout, relu, algo);
    XnnWorkspace ws;
    conv.run(x.data(), H, W, y.data(), ws, pool.p);
    CHECK(rel_l2(y.data(), ref.data(), ref.size()) < tol);
    if (relu) CHECK(*std::min_element(y.begin(), y.end()) == 0.0f);
    // a ReLU gate (the backward pass's input gradient): bit for bit the run on the gated input
    const auto gate = random_values((size_t)H * W * cin, (uint32_t)(cin * 3 + 1));
    std::vector<float> xg(x.size()), yg(y.size()), yr(y.size());
    relu_backward(gate.data(), x.data(), (size_t)H * W * cin, false, xg.data());
    conv.run(xg.data(), H, W, yr.data(), ws, pool.p);
    conv.run(x.data(), H, W, yg.data(), ws, pool.p, gate.data());
    CHECK(yg == yr);
    CHECK(yr != y);
    // a second size on the same operator (occlusion reshapes to windows)
    const int H2 = H / 2 + 1, W2 = W + 3;
    std::vector<float> ref2((size_t)H2 * W2 * cout), y2(ref2.size());
    conv3x3_forward_naive(x.data(), H2, W2, cin, w.data(), bias ? b.data() : (const float*)nullptr, cout, relu, ref2.data());
    conv.run(x.data(), H2, W2, y2.data(), ws, pool.p);
    CHECK(rel_l2(y2.data(), ref2.data(), ref2.size()) < tol);
    // edits (as occlusion makes them), all in one call: each output rectangle gets, bit for bit,
    // what a whole pass on the edited input gives there
    const int rects[][4] = {{0, 0, 1, 1}, {H / 2, W / 3, H / 2 + 3, W / 3 + 5}, {H - 2, W - 3, H + 4, W + 4},
                            {-3, 1, H, W - 1}, {1, 1, H - 1, W - 1}};
    std::vector<Patch> in, out;
    std::vector<std::vector<float>> in_values, out_values;
    for (const auto& rg : rects) {   // input patch rg (clipped), output rectangle one pixel beyond it
        Patch p{std::max(rg[0], 0), std::max(rg[1], 0), std::min(rg[2], H), std::min(rg[3], W)};
        if (p.y0 >= p.y1 || p.x0 >= p.x1) continue;
        in_values.push_back(random_values((size_t)(p.y1 - p.y0) * (p.x1 - p.x0) * cin + 16, (uint32_t)in.size() + 77));
        in.push_back(p);
        Patch q{std::max(p.y0 - 1, 0), std::max(p.x0 - 1, 0), std::min(p.y1 + 1, H), std::min(p.x1 + 1, W)};
        out_values.emplace_back((size_t)(q.y1 - q.y0) * (q.x1 - q.x0) * cout, 42.0f);
        out.push_back(q);
    }
    in.push_back({}), in_values.emplace_back(), out.push_back({0, 0, H, W});   // an empty edit: the map itself
    out_values.emplace_back((size_t)H * W * cout, 42.0f);
    for (size_t i = 0; i < in.size(); i++) in[i].values = in_values[i].data(), out[i].values = out_values[i].data();
    conv.run_patches(x.data(), H, W, in.data(), out.data(), (int)in.size(), ws, pool.p);
    for (size_t i = 0; i < in.size(); i++) {
        CAPTURE(i);
        std::vector<float> xe(x.size()), ye((size_t)H * W * cout), part(out_values[i].size());
        patch_read(x.data(), H, W, cin, in[i], 0, 0, H, W, xe.data());
        conv.run(xe.data(), H, W, ye.data(), ws, pool.p);
        const Patch& q = out[i];
        patch_read(ye.data(), H, W, cout, Patch{}, q.y0, q.x0, q.y1, q.x1, part.data());
        CHECK(part == out_values[i]);
    }
}
}  // namespace

TEST_CASE("conv3x3: Winograd F(4x4,3x3), the direct operator and Gemm equal the naive loop") {
    for (Conv3x3::Algo algo : {Conv3x3::Direct, Conv3x3::Winograd, Conv3x3::Gemm})
        for (int threads : {1, 2}) {
            const double tol = algo == Conv3x3::Winograd ? 1e-5 : 1e-6;   // measured: 2-3e-6 and 2e-7
            check(1, 1, 3, 2, true, false, algo, threads, tol);
            check(5, 7, 35, 70, true, true, algo, threads, tol);
            check(13, 9, 64, 16, false, false, algo, threads, tol);
            check(16, 16, 130, 129, true, false, algo, threads, tol);
            check(28, 28, 256, 64, true, true, algo, threads, tol);
            check(10, 6, 256, 256, true, true, algo, threads, tol);   // Winograd in two GEMMs
            if (algo == Conv3x3::Gemm) check(40, 28, 256, 64, true, true, algo, threads, tol);   // two bands of rows
        }
}

TEST_CASE("conv3x3: the input gradient of every algorithm equals the naive loop") {
    for (Conv3x3::Algo algo : {Conv3x3::Direct, Conv3x3::Winograd, Conv3x3::Gemm})
        for (int threads : {1, 2})
            for (auto sz : {std::array<int, 4>{1, 1, 3, 2}, {5, 7, 35, 70}, {13, 9, 64, 16}, {40, 28, 256, 64}}) {
                const int H = sz[0], W = sz[1], cin = sz[2], cout = sz[3];
                CAPTURE(H); CAPTURE(W); CAPTURE(cin); CAPTURE(cout); CAPTURE(threads); CAPTURE((int)algo);
                const auto g = random_values((size_t)H * W * cout + 16, (uint32_t)(H + cout));
                const auto gate = random_values((size_t)H * W * cout, (uint32_t)(W + 9));
                const auto w = random_values((size_t)cout * 9 * cin, (uint32_t)(cin + 1), -0.2, 0.2);
                std::vector<float> gz(g.size()), ref((size_t)H * W * cin), dx(ref.size(), -3.0f), dxg(ref.size());
                relu_backward(gate.data(), g.data(), (size_t)H * W * cout, false, gz.data());
                conv3x3_backward_naive(gz.data(), H, W, cout, w.data(), cin, ref.data());
                Pool pool(threads);
                XnnWorkspace ws;
                std::unique_ptr<Conv3x3> back = Conv3x3::input_gradient(w.data(), cin, cout, algo);
                back->run(g.data(), H, W, dx.data(), ws, pool.p, gate.data());
                CHECK(rel_l2(dx.data(), ref.data(), ref.size()) < (algo == Conv3x3::Winograd ? 1e-5 : 1e-6));
                back->run(gz.data(), H, W, dxg.data(), ws, pool.p);   // the gate as the operator reads: the same bits
                CHECK(dx == dxg);
                if (threads == 2) {   // the same bits on one thread
                    back->run(g.data(), H, W, dxg.data(), ws, nullptr, gate.data());
                    CHECK(dx == dxg);
                }
            }
}

TEST_CASE("conv3x3: a float16 OIHW kernel as float32 OHWI, in blocks of input channels") {
    for (std::pair<int, int> sz : {std::pair{3, 5}, {64, 2}, {130, 3}}) {
        const int cin = sz.first, cout = sz.second;
        CAPTURE(cin);
        const auto v = random_values((size_t)cout * cin * 9, (uint32_t)cin, -3, 3);
        std::vector<uint16_t> h(v.size());
        for (size_t k = 0; k < v.size(); k++) h[k] = float_to_half(v[k]);
        h[1] = 0x0001, h[2] = 0x8400;   // a subnormal and a negative normal
        std::vector<float> out((size_t)cout * 9 * cin, -1.0f);
        Pool pool(2);
        conv3x3_kernel_f32(ConvKernel(nullptr, h.data()), cin, cout, out.data(), pool.p);
        bool same = true;
        for (int o = 0; o < cout; o++)
            for (int i = 0; i < cin; i++)
                for (int t = 0; t < 9; t++)
                    same &= out[((size_t)o * 9 + t) * cin + i] == half_to_float(h[((size_t)o * cin + i) * 9 + t]);
        CHECK(same);
    }
}

TEST_CASE("conv3x3: outside reach(), a whole pass on an edited input gives the same bits") {
    // occlusion recomputes only what reach() names: everything else must not change at all
    const int H = 19, W = 17, cin = 6, cout = 5;
    const auto x = random_values((size_t)H * W * cin + 16, 3), w = random_values((size_t)cout * 9 * cin, 4, -0.2, 0.2);
    const auto b = random_values((size_t)cout, 5);
    XnnWorkspace ws;
    for (Conv3x3::Algo algo : {Conv3x3::Direct, Conv3x3::Winograd, Conv3x3::Gemm}) {
        Conv3x3 conv(w.data(), b.data(), cin, cout, false, algo);
        std::vector<float> y0((size_t)H * W * cout), y1(y0.size()), xe(x.size());
        conv.run(x.data(), H, W, y0.data(), ws, nullptr);
        int changed_near_edge = 0;
        for (int a0 = 0; a0 < 9; a0++)   // every alignment of both edges, along both axes
            for (int len : {1, 2, 3, 4, 5, 8}) {
                const int a1 = std::min(a0 + len, W), r0 = (a0 + 3) % 7, r1 = std::min(r0 + len + 1, H);
                CAPTURE(algo); CAPTURE(a0); CAPTURE(a1); CAPTURE(r0); CAPTURE(r1);
                const auto v = random_values((size_t)(r1 - r0) * (a1 - a0) * cin, (uint32_t)(a0 * 10 + len));
                patch_read(x.data(), H, W, cin, Patch{r0, a0, r1, a1, (float*)v.data()}, 0, 0, H, W, xe.data());
                conv.run(xe.data(), H, W, y1.data(), ws, nullptr);
                int o0, o1, p0, p1;
                conv.reach(a0, a1, W, &o0, &o1);
                conv.reach(r0, r1, H, &p0, &p1);
                CHECK(o0 >= a0 - 4);   // never more than the tile
                CHECK(o1 <= a1 + 4);
                for (int r = 0; r < H; r++)
                    for (int c = 0; c < W; c++) {
                        const size_t i = ((size_t)r * W + c) * cout;
                        const bool same = std::equal(&y0[i], &y0[i] + cout, &y1[i]);
                        if (r >= p0 && r < p1 && c >= o0 && c < o1) {
                            changed_near_edge += !same && (c == o0 || c == o1 - 1);
                            continue;
                        }
                        CHECK(same);
                    }
            }
        CHECK(changed_near_edge > 0);   // the reach is not wider than it must be everywhere
    }
}

TEST_CASE("conv3x3: the Winograd matrices reproduce a 1-D 3-tap correlation exactly") {
    // F(4,3) in one dimension: y = AT [(G g) * (BT d)], y_i = sum_k d_{i+k} g_k
    const double d[6] = {0.5, -1.25, 2, 0.75, -3, 1.5}, g[3] = {0.25, -0.5, 2};
    for (int i = 0; i < 4; i++) {
        double y = 0;
        for (int p = 0; p < 6; p++) {
            double gd = 0, bd = 0;
            for (int k = 0; k < 3; k++) gd += kWinogradG[p][k] * g[k];
            for (int k = 0; k < 6; k++) bd += kWinogradBT[p][k] * d[k];
            y += kWinogradAT[i][p] * gd * bd;
        }
        CHECK(y == doctest::Approx(d[i] * g[0] + d[i + 1] * g[1] + d[i + 2] * g[2]).epsilon(1e-6));
    }
}

TEST_CASE("conv3x3: patch_read puts a patch over a map, zeros beyond it") {
    const int H = 5, W = 6, C = 2;
    std::vector<float> base((size_t)H * W * C), pv((size_t)2 * 3 * C);
    for (size_t i = 0; i < base.size(); i++) base[i] = (float)i;
    for (size_t i = 0; i < pv.size(); i++) pv[i] = -1.0f - (float)i;
    const Patch p{1, 2, 3, 5, pv.data()};
    const int r0 = -1, c0 = -2, r1 = 6, c1 = 7;   // beyond the map on every side
    std::vector<float> got((size_t)(r1 - r0) * (c1 - c0) * C);
    patch_read(base.data(), H, W, C, p, r0, c0, r1, c1, got.data());
    size_t k = 0;
    for (int r = r0; r < r1; r++)
        for (int c = c0; c < c1; c++)
            for (int ch = 0; ch < C; ch++, k++) {
                float want = 0;
                if (r >= 1 && r < 3 && c >= 2 && c < 5) want = pv[((size_t)(r - 1) * 3 + (c - 2)) * C + ch];
                else if (r >= 0 && r < H && c >= 0 && c < W) want = base[((size_t)r * W + c) * C + ch];
                CHECK(got[k] == want);
            }
}
