// Explanation maps (src/explain/explain.h) against the PyTorch oracle: Grad-CAM, its weights and
// Grad-CAM++ from the oracle's activations (tests/data/oracle/<case>/act_*.npy) and the float64
// gradients d logit_c / d A that tests/data/explain/make_fixtures.py adds (grad_*.npy), judged
// with compare.py's metric; CAM and the gap-head identity; bilinear resizing against torch;
// edge cases, display helpers and colormap endpoints.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "core/error.h"
#include "explain/explain.h"
#include "io/weights.h"
#include "test_util.h"

using namespace cnnlens;
using namespace cnnlens_test;

namespace {

const char* const kCases[] = {"tiny_fc", "tiny_gap", "tiny_fc_caffe", "tiny_fc_odd", "a_gap"};

// tests/data/explain/<case>/manifest.txt, written by make_fixtures.py from the oracle's meta.json.
struct Manifest {
    std::string head, last_conv;
    std::vector<int> classes;
    std::vector<std::string> convs;
    std::map<std::string, double> prerelu_norm;
};

Manifest read_manifest(const std::string& name) {
    std::ifstream f(data_path("explain/" + name + "/manifest.txt"));
    REQUIRE(f.good());
    Manifest m;
    std::string line, key;
    while (std::getline(f, line)) {
        std::istringstream s(line);
        if (!(s >> key) || key[0] == '#') continue;
        if (key == "head") s >> m.head;
        else if (key == "last_conv") s >> m.last_conv;
        else if (key == "classes") for (int c; s >> c;) m.classes.push_back(c);
        else if (key == "convs") for (std::string l; s >> l;) m.convs.push_back(l);
        else if (key == "prerelu_norm") { std::string k; double v; s >> k >> v; m.prerelu_norm[k] = v; }
    }
    return m;
}

// compare.py: ||out - ref|| / max(||ref||, floor, 1e-30); floor = 1e-2 * ||pre-ReLU map|| for
// the ReLU'd Grad-CAM / Grad-CAM++ maps, 0 otherwise.
double rel_l2_floor(const std::vector<float>& out, const NpyArray& ref, double floor) {
    REQUIRE(out.size() == ref.data.size());
    double num = 0, den = 0;
    for (size_t i = 0; i < out.size(); i++) {
        double d = (double)out[i] - ref.data[i];
        num += d * d, den += (double)ref.data[i] * ref.data[i];
    }
    return std::sqrt(num) / std::max({std::sqrt(den), floor, 1e-30});
}

std::string cls_name(const std::string& stem, const std::string& layer, int c) {
    return stem + "_" + layer + "_c" + std::to_string(c);
}

// The gap head's classifier.0.weight [classes, K] from the case's safetensors.
std::vector<float> gap_weight(const std::string& name, int& classes, int& K) {
    std::vector<uint8_t> bytes = read_file(data_path("oracle/" + name + "/w.safetensors"));
    TensorFile tf = load_weights(bytes.data(), bytes.size());
    const TensorRef* w = tf.find("classifier.0.weight");
    REQUIRE(w != nullptr);
    REQUIRE(w->shape.size() == 2);
    classes = (int)w->shape[0], K = (int)w->shape[1];
    std::vector<float> v((size_t)w->numel());
    tensor_to_f32(*w, v.data());
    return v;
}

bool all_zero(const std::vector<float>& v) {
    for (float x : v)
        if (x != 0.0f) return false;
    return true;
}

}  // namespace

TEST_CASE("explain: Grad-CAM, its weights and Grad-CAM++ equal the oracle on every case, conv layer and class") {
    // A and G are the float32-rounded float64 values, so 1e-4 (compare.py's forward tolerance,
    // stricter than its 1e-3 / 5e-2 for Grad-CAM) must hold everywhere.
    const double tol = 1e-4;
    for (const std::string name : kCases) {
        CAPTURE(name);
        const Manifest m = read_manifest(name);
        REQUIRE(!m.classes.empty());
        REQUIRE(!m.convs.empty());
        const std::string ref = data_path("oracle/" + name + "/");
        double worst[4] = {0, 0, 0, 0};   // gradcam, gradcam_weights, gradcampp, gradcampp_weights
        int compared = 0;
        for (const std::string& L : m.convs) {
            const NpyArray A = npy_read(ref + "act_" + L + ".npy");
            REQUIRE(A.shape.size() == 3);
            const int H = (int)A.shape[0], W = (int)A.shape[1], K = (int)A.shape[2];
            for (int c : m.classes) {
                CAPTURE(L);
                CAPTURE(c);
                const NpyArray G = npy_read(data_path("explain/" + name + "/grad_" + L + "_c" +
                                                      std::to_string(c) + ".npy"));
                REQUIRE(G.shape == A.shape);
                std::vector<float> map((size_t)H * W), alpha((size_t)K);
                gradcam(A.data.data(), G.data.data(), H, W, K, map.data(), alpha.data());
                const std::string gc = cls_name("gradcam", L, c);
                double r = rel_l2_floor(map, npy_read(ref + gc + ".npy"), 1e-2 * m.prerelu_norm.at(gc));
                double rw = rel_l2_floor(alpha, npy_read(ref + cls_name("gradcam_weights", L, c) + ".npy"), 0);
                CHECK(r <= tol);
                CHECK(rw <= tol);
                worst[0] = std::max(worst[0], r), worst[1] = std::max(worst[1], rw);
                compared += 2;
                if (L == m.last_conv) {
                    gradcampp(A.data.data(), G.data.data(), H, W, K, map.data(), alpha.data());
                    const std::string pp = cls_name("gradcampp", L, c);
                    r = rel_l2_floor(map, npy_read(ref + pp + ".npy"), 1e-2 * m.prerelu_norm.at(pp));
                    rw = rel_l2_floor(alpha, npy_read(ref + cls_name("gradcampp_weights", L, c) + ".npy"), 0);
                    CHECK(r <= tol);
                    CHECK(rw <= tol);
                    worst[2] = std::max(worst[2], r), worst[3] = std::max(worst[3], rw);
                    compared += 2;
                }
            }
        }
        CHECK(compared == (int)m.classes.size() * (2 * (int)m.convs.size() + 2));
        MESSAGE(name << ": " << compared << " arrays; worst rel_l2 gradcam " << worst[0] << ", weights " << worst[1]
                     << ", gradcampp " << worst[2] << ", weights " << worst[3]);
    }
}

TEST_CASE("explain: CAM equals the oracle, and ReLU(CAM) = H*W * Grad-CAM at the last conv of a gap head") {
    for (const std::string name : {"tiny_gap", "a_gap"}) {
        CAPTURE(name);
        const Manifest m = read_manifest(name);
        REQUIRE(m.head == "gap");
        const std::string ref = data_path("oracle/" + name + "/");
        const NpyArray A = npy_read(ref + "act_" + m.last_conv + ".npy");
        const int H = (int)A.shape[0], W = (int)A.shape[1], K = (int)A.shape[2], HW = H * W;
        int classes = 0, KW = 0;
        const std::vector<float> Wc = gap_weight(name, classes, KW);
        REQUIRE(KW == K);
        for (int c : m.classes) {
            CAPTURE(c);
            const float* w_row = &Wc[(size_t)c * K];
            std::vector<float> cmap((size_t)HW), gmap((size_t)HW), alpha((size_t)K);
            cam(A.data.data(), H, W, K, w_row, cmap.data());
            const double r = rel_l2_floor(cmap, npy_read(ref + "cam_c" + std::to_string(c) + ".npy"), 0);
            CHECK(r <= 1e-4);

            // The fixture's G at the last conv is W[c,k] / (H*W) at every position.
            const NpyArray G = npy_read(data_path("explain/" + name + "/grad_" + m.last_conv + "_c" +
                                                  std::to_string(c) + ".npy"));
            double gdev = 0, wmax = 0;
            for (int p = 0; p < HW; p++)
                for (int k = 0; k < K; k++)
                    gdev = std::max(gdev, std::fabs(G.data[(size_t)p * K + k] - (double)w_row[k] / HW));
            for (int k = 0; k < K; k++) wmax = std::max(wmax, std::fabs((double)w_row[k]) / HW);
            CHECK(gdev <= 1e-6 * wmax);

            // ReLU(CAM) == H*W * Grad-CAM, with the fixture's G and with the exact W[c,k]/(H*W).
            std::vector<float> Gx(A.data.size());
            for (int p = 0; p < HW; p++)
                for (int k = 0; k < K; k++) Gx[(size_t)p * K + k] = (float)((double)w_row[k] / HW);
            double cmax = 0;
            for (float v : cmap) cmax = std::max(cmax, (double)std::fabs(v));
            double dev[2] = {0, 0};
            for (int i = 0; i < 2; i++) {
                gradcam(A.data.data(), i == 0 ? G.data.data() : Gx.data(), H, W, K, gmap.data(), alpha.data());
                for (int p = 0; p < HW; p++)
                    dev[i] = std::max(dev[i], std::fabs(std::max(cmap[(size_t)p], 0.0f) - (double)HW * gmap[(size_t)p]));
                CHECK(dev[i] <= 1e-6 * cmax);
            }
            MESSAGE(name << " c" << c << ": CAM rel_l2 " << r << "; max|G - W/HW| / max|W/HW| " << gdev / wmax
                         << "; max|ReLU(CAM) - HW*GradCAM| / max|CAM| " << dev[0] / cmax << " (fixture G), "
                         << dev[1] / cmax << " (G = W/HW)");
        }
    }
}

TEST_CASE("explain: counterfactual Grad-CAM and LayerCAM") {
    const int H = 5, W = 6, K = 7;
    std::mt19937 rng(7);
    std::normal_distribution<float> nd;
    std::vector<float> A((size_t)H * W * K), G(A.size()), Aneg(A.size());
    for (size_t i = 0; i < A.size(); i++) Aneg[i] = nd(rng), A[i] = std::max(Aneg[i], 0.0f), G[i] = nd(rng);
    std::vector<float> map(H * W), cf(H * W), pre(H * W), alpha(K), alpha_cf(K);
    gradcam(A.data(), G.data(), H, W, K, map.data(), alpha.data());
    gradcam(A.data(), G.data(), H, W, K, cf.data(), alpha_cf.data(), true);
    cam(A.data(), H, W, K, alpha.data(), pre.data());   // the pre-ReLU Grad-CAM map
    int pos = 0, neg = 0;
    for (int k = 0; k < K; k++) CHECK(alpha_cf[k] == -alpha[k]);
    for (int p = 0; p < H * W; p++) {
        CHECK(map[p] * cf[p] == 0.0f);                          // one of the two is clipped
        CHECK(map[p] - cf[p] == doctest::Approx(pre[p]).epsilon(1e-5));
        pos += map[p] > 0, neg += cf[p] > 0;
    }
    CHECK(pos > 0);
    CHECK(neg > 0);

    // LayerCAM: brute force, with signed activations so that the final ReLU matters.
    std::vector<float> lc(H * W);
    layercam(Aneg.data(), G.data(), H, W, K, lc.data());
    int clipped = 0;
    for (int p = 0; p < H * W; p++) {
        double s = 0;
        for (int k = 0; k < K; k++) s += std::max(G[p * K + k], 0.0f) * Aneg[p * K + k];
        CHECK(lc[p] == doctest::Approx(std::max(s, 0.0)).epsilon(1e-6));
        clipped += s < 0;
    }
    CHECK(clipped > 0);
    // With a spatially constant, non-negative gradient LayerCAM is Grad-CAM.
    std::vector<float> Gc(A.size());
    for (size_t i = 0; i < Gc.size(); i++) Gc[i] = std::fabs(G[i % K]);
    layercam(A.data(), Gc.data(), H, W, K, lc.data());
    gradcam(A.data(), Gc.data(), H, W, K, map.data(), nullptr);
    for (int p = 0; p < H * W; p++) CHECK(lc[p] == doctest::Approx(map[p]).epsilon(1e-6));
}

TEST_CASE("explain: an all-zero gradient gives all-zero maps, and normalising them keeps zeros (no NaN)") {
    const NpyArray A = npy_read(data_path("oracle/tiny_fc/act_block3_conv2.npy"));
    const int H = (int)A.shape[0], W = (int)A.shape[1], K = (int)A.shape[2];
    const std::vector<float> G(A.data.size(), 0.0f);
    std::vector<float> map(H * W, 1.0f), w(K, 1.0f), norm(H * W, 1.0f);
    gradcam(A.data.data(), G.data(), H, W, K, map.data(), w.data());
    CHECK(all_zero(map));
    CHECK(all_zero(w));
    gradcam(A.data.data(), G.data(), H, W, K, map.data(), w.data(), true);
    CHECK(all_zero(map));
    gradcampp(A.data.data(), G.data(), H, W, K, map.data(), w.data());
    CHECK(all_zero(map));
    CHECK(all_zero(w));
    layercam(A.data.data(), G.data(), H, W, K, map.data());
    CHECK(all_zero(map));
    normalize01(map.data(), map.size(), norm.data());
    CHECK(all_zero(norm));
    const std::vector<float> gb(32 * 32 * 3, 1.0f);
    std::vector<float> ggc(gb.size(), 1.0f);
    guided_gradcam(map.data(), H, W, gb.data(), 32, 32, 3, ggc.data());
    CHECK(all_zero(ggc));
    // A filmstrip of a zero map: every map tile is the image blended with colormap(0).
    Image img;
    img.width = 32, img.height = 32;
    img.rgb.assign(32 * 32 * 3, 200);
    Image fig = filmstrip(img, {{map.data(), H, W}}, Colormap::Viridis, 1.0f, 0, 2, false);
    uint8_t c0[3];
    colormap_rgb(Colormap::Viridis, 0.0f, c0);
    CHECK(fig.width == 32 + 2 * 2);
    CHECK(std::memcmp(&fig.rgb[((size_t)2 * fig.width + 2) * 3], c0, 3) == 0);
}

TEST_CASE("explain: upsample_bilinear equals torch interpolate(bilinear, align_corners=False)") {
    for (int i = 0; i < 4; i++) {
        CAPTURE(i);
        const NpyArray in = npy_read(data_path("explain/upsample/in_" + std::to_string(i) + ".npy"));
        const NpyArray ref = npy_read(data_path("explain/upsample/out_" + std::to_string(i) + ".npy"));
        const int h = (int)in.shape[0], w = (int)in.shape[1], H = (int)ref.shape[0], W = (int)ref.shape[1];
        std::vector<float> out((size_t)H * W);
        upsample_bilinear(in.data.data(), h, w, H, W, out.data());
        const double d = max_abs_diff(out.data(), ref.data.data(), out.size());
        CHECK(d <= 1e-6);
        MESSAGE(h << "x" << w << " -> " << H << "x" << W << ": max |ours - torch| = " << d);
        if (h == H && w == W) CHECK(out == in.data);   // same size: the identity
    }
    std::vector<float> c(12, 2.5f), up(7 * 9);
    upsample_bilinear(c.data(), 3, 4, 7, 9, up.data());
    for (float v : up) CHECK(v == 2.5f);
}

TEST_CASE("explain: guided Grad-CAM, overlay, filmstrip, gradient image and top_channels") {
    const std::string ref = data_path("oracle/tiny_fc/");
    const NpyArray A = npy_read(ref + "act_block3_conv2.npy");
    const NpyArray G = npy_read(data_path("explain/tiny_fc/grad_block3_conv2_c2.npy"));
    const NpyArray gb = npy_read(ref + "guided_backprop_c2.npy");
    const int h = (int)A.shape[0], w = (int)A.shape[1], K = (int)A.shape[2];
    const int S = (int)gb.shape[0];
    REQUIRE(gb.shape == std::vector<int64_t>{S, S, 3});
    std::vector<float> map(h * w), out((size_t)S * S * 3), norm(h * w), up((size_t)S * S);
    gradcam(A.data.data(), G.data.data(), h, w, K, map.data(), nullptr);
    guided_gradcam(map.data(), h, w, gb.data.data(), S, S, 3, out.data());
    normalize01(map.data(), map.size(), norm.data());
    upsample_bilinear(norm.data(), h, w, S, S, up.data());
    float umax = 0;
    for (size_t p = 0; p < up.size(); p++) {
        umax = std::max(umax, up[p]);
        for (int ch = 0; ch < 3; ch++) CHECK(out[p * 3 + ch] == up[p] * gb.data[p * 3 + ch]);
    }
    CHECK(umax > 0.5f);
    CHECK(umax <= 1.0f);

    Image img;
    img.width = S, img.height = S;
    img.rgb.resize((size_t)S * S * 3);
    for (size_t i = 0; i < img.rgb.size(); i++) img.rgb[i] = (uint8_t)(i * 7 % 256);
    CHECK(overlay(img, up.data(), Colormap::Jet, 0.0f).rgb == img.rgb);
    Image full = overlay(img, up.data(), Colormap::Jet, 1.0f);
    uint8_t c[3];
    colormap_rgb(Colormap::Jet, up[100], c);
    CHECK(std::memcmp(&full.rgb[300], c, 3) == 0);
    Image half = overlay(img, up.data(), Colormap::Jet, 0.5f);
    CHECK(half.rgb[301] == (uint8_t)std::lround(0.5 * img.rgb[301] + 0.5 * c[1]));

    // Filmstrip: the image, then a ramp m (0 at the top-left, 1 at the bottom-right, which
    // the bilinear resize keeps exactly), 2m and a constant 2, on one shared scale [0,2]:
    // colormap(0) / colormap(0.5) at the ends of the m tile, colormap(1) at the end of 2m.
    std::vector<float> ramp(64), ramp2(64), two(1, 2.0f);
    for (int i = 0; i < 64; i++) ramp[i] = i / 63.0f, ramp2[i] = 2 * ramp[i];
    const int gap = 3;
    Image fig = filmstrip(img, {{ramp.data(), 8, 8}, {ramp2.data(), 8, 8}, {two.data(), 1, 1}}, Colormap::Turbo,
                             1.0f, 2, gap);
    CHECK(fig.width == 2 * S + 3 * gap);
    CHECK(fig.height == 2 * S + 3 * gap);
    auto px = [&](int tile, int y, int x) {
        return &fig.rgb[((size_t)(gap + (tile / 2) * (S + gap) + y) * fig.width + gap + (tile % 2) * (S + gap) + x) * 3];
    };
    CHECK(std::memcmp(px(0, 5, 9), &img.rgb[(5 * S + 9) * 3], 3) == 0);   // the image tile
    CHECK(fig.rgb[0] == 255);                                               // the white frame
    uint8_t c0[3], ch[3], c1[3];
    colormap_rgb(Colormap::Turbo, 0.0f, c0);
    colormap_rgb(Colormap::Turbo, 0.5f, ch);
    colormap_rgb(Colormap::Turbo, 1.0f, c1);
    CHECK(std::memcmp(px(1, 0, 0), c0, 3) == 0);
    CHECK(std::memcmp(px(1, S - 1, S - 1), ch, 3) == 0);
    CHECK(std::memcmp(px(2, S - 1, S - 1), c1, 3) == 0);
    CHECK(std::memcmp(px(3, 7, 3), c1, 3) == 0);
    CHECK_THROWS_AS(filmstrip(img, {}, Colormap::Viridis, 0.5f, 0, 2, false), Error);

    // gradient_image: a constant gradient is mid-grey; a BGR gradient is shown as RGB.
    std::vector<float> g((size_t)S * S * 3, 0.25f);
    Image gi = gradient_image(g.data(), S, S);
    CHECK(gi.width == S);
    CHECK(gi.rgb[0] == 128);
    g[0] = 10;   // pixel 0's first channel
    Image rgb = gradient_image(g.data(), S, S), bgr = gradient_image(g.data(), S, S, 3, true);
    CHECK(rgb.rgb[0] == 255);
    CHECK(bgr.rgb[2] == 255);
    CHECK(bgr.rgb[0] == rgb.rgb[2]);

    const float alpha[] = {0.1f, 3.0f, -2.0f, 3.0f, 0.5f};
    CHECK(top_channels(alpha, 5, 3) == std::vector<int>{1, 3, 4});
    CHECK(top_channels(alpha, 5, 9) == std::vector<int>{1, 3, 4, 0, 2});
    CHECK(top_channels(alpha, 5, 0).empty());
}

TEST_CASE("explain: colormap endpoints match the published tables") {
    struct End { Colormap cm; float t; int rgb[3]; int tol; };
    // matplotlib's viridis / inferno / turbo tables; jet is MATLAB's piecewise-linear map.
    const End ends[] = {
        {Colormap::Viridis, 0, {68, 1, 84}, 4},     {Colormap::Viridis, 1, {253, 231, 37}, 4},
        {Colormap::Inferno, 0, {0, 0, 4}, 4},       {Colormap::Inferno, 1, {252, 255, 164}, 4},
        {Colormap::Turbo, 0, {48, 18, 59}, 0},      {Colormap::Turbo, 1, {122, 4, 3}, 0},
        {Colormap::Turbo, 0.5f, {164, 252, 60}, 1}, {Colormap::Jet, 0, {0, 0, 128}, 1},
        {Colormap::Jet, 1, {128, 0, 0}, 1},         {Colormap::Jet, 0.5f, {128, 255, 128}, 1},
        {Colormap::Grey, 0, {0, 0, 0}, 0},          {Colormap::Grey, 1, {255, 255, 255}, 0},
    };
    for (const End& e : ends) {
        const std::string cm_name = colormap_name(e.cm);
        CAPTURE(cm_name);
        CAPTURE(e.t);
        uint8_t c[3];
        colormap_rgb(e.cm, e.t, c);
        for (int k = 0; k < 3; k++) CHECK(std::abs((int)c[k] - e.rgb[k]) <= e.tol);
    }
    uint8_t lo[3], nan[3];
    colormap_rgb(Colormap::Turbo, 0.0f, lo);
    colormap_rgb(Colormap::Turbo, NAN, nan);   // NaN shows as 0
    CHECK(std::memcmp(lo, nan, 3) == 0);
}
