// Heatmaps land where the evidence is: a hand-built network whose class 0 responds to red and
// class 1 to green, on an image with a red square (top left) and a green bar (bottom). Catches
// mirrored, transposed or shifted maps in the whole chain: forward, backward, Grad-CAM,
// upsampling, overlay.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "explain/explain.h"
#include "model/predict.h"

using namespace cnnlens;

namespace {
void add(TensorFile& tf, const std::string& name, std::vector<int64_t> shape, std::vector<float> v) {
    auto buf = std::make_shared<std::vector<uint8_t>>(v.size() * 4);
    std::memcpy(buf->data(), v.data(), buf->size());
    TensorRef t;
    t.name = name, t.shape = shape, t.data = buf->data(), t.nbytes = buf->size();
    tf.tensors.push_back(t);
    tf.owned.push_back(buf);
}
}  // namespace

TEST_CASE("figures: Grad-CAM and its overlay are aligned with the image") {
    const int S = 48;
    Image img;
    img.width = img.height = S;
    img.rgb.assign((size_t)S * S * 3, 60);
    auto paint = [&](int y0, int y1, int x0, int x1, uint8_t r, uint8_t g, uint8_t b) {
        for (int y = y0; y < y1; y++)
            for (int x = x0; x < x1; x++) {
                uint8_t* p = &img.rgb[((size_t)y * S + x) * 3];
                p[0] = r, p[1] = g, p[2] = b;
            }
    };
    paint(4, 14, 6, 18, 250, 30, 30);    // red square, top left
    paint(36, 42, 10, 44, 30, 220, 30);  // green bar, bottom
    // conv: channel 0 = R - B, channel 1 = G - R (centre taps, OIHW); gap; identity classifier
    std::vector<float> w(2 * 3 * 9, 0.0f);
    w[(0 * 3 + 0) * 9 + 4] = 1, w[(0 * 3 + 2) * 9 + 4] = -1, w[(1 * 3 + 1) * 9 + 4] = 1, w[(1 * 3 + 0) * 9 + 4] = -1;
    TensorFile tf;
    tf.format = "safetensors";
    add(tf, "features.0.weight", {2, 3, 3, 3}, w);
    add(tf, "features.0.bias", {2}, {0, 0});
    add(tf, "classifier.0.weight", {2, 2}, {1, 0, 0, 1});
    add(tf, "classifier.0.bias", {2}, {0, 0});
    Vgg net(vgg_params(tf, {}, S));
    std::vector<float> x = prepare_input(img, net.arch(), ResizeMode::Exact, Preprocess::Torch);
    net.forward(x.data());
    const LayerInfo& l = net.layers()[0];
    for (int cls : {0, 1}) {
        net.backward(cls);
        std::vector<float> map((size_t)S * S), up((size_t)S * S), up01((size_t)S * S);
        gradcam(net.act(l), net.grad(l), l.h, l.w, l.c, map.data(), nullptr);
        upsample_bilinear(map.data(), l.h, l.w, S, S, up.data());
        normalize01(up.data(), up.size(), up01.data());
        size_t best = std::max_element(up01.begin(), up01.end()) - up01.begin();
        int by = (int)(best / S), bx = (int)(best % S);
        INFO("class " << cls << " peak at (" << by << "," << bx << ")");
        if (cls == 0) CHECK((by >= 4 && by < 14 && bx >= 6 && bx < 18));
        else CHECK((by >= 36 && by < 42 && bx >= 10 && bx < 44));
        // the overlay changes the pixels under the peak and leaves the far background alone
        Image ov = overlay(img, up01.data(), Colormap::Viridis, 0.5f);
        const size_t bg = ((size_t)26 * S + 30) * 3;   // between the shapes
        CHECK(up01[bg / 3] < 0.1f);
        CHECK(std::memcmp(&ov.rgb[best * 3], &img.rgb[best * 3], 3) != 0);
    }
}

TEST_CASE("figures: the explanation figure is image | heatmap | overlay, framed in white") {
    Image img;   // 4 x 4: left half black, right half white
    img.width = img.height = 4;
    img.rgb.assign(4 * 4 * 3, 0);
    for (int y = 0; y < 4; y++)
        for (int x = 2; x < 4; x++) std::fill_n(&img.rgb[((size_t)y * 4 + x) * 3], 3, 255);
    const float map[4] = {0, 1, 0, 1};   // 2 x 2: hot on the right
    const int T = 16, G = 2;
    const Image f = explanation_figure(img, map, 2, 2, T, Colormap::Viridis, 0.5f, G);
    CHECK(f.width == 3 * T + 4 * G);
    CHECK(f.height == T + 2 * G);
    auto px = [&](int x, int y) { return &f.rgb[((size_t)y * f.width + x) * 3]; };
    CHECK(px(0, 0)[0] == 255);                       // the frame
    CHECK(px(G + T, G + 3)[1] == 255);               // the gap between tiles
    CHECK(px(G + 1, G + 1)[0] == 0);                 // the image, enlarged nearest: black left,
    CHECK(px(G + T - 2, G + 1)[0] == 255);           // white right
    uint8_t lo[3], hi[3];
    colormap_rgb(Colormap::Viridis, 0, lo);
    colormap_rgb(Colormap::Viridis, 1, hi);
    const int hx = 2 * G + T;                        // the heatmap tile: the colormap's ends at the edges
    for (int ch = 0; ch < 3; ch++) {
        CHECK(px(hx, G + 5)[ch] == lo[ch]);
        CHECK(px(hx + T - 1, G + 5)[ch] == hi[ch]);
    }
    const int ox = 3 * G + 2 * T;                    // the overlay: half image, half colour
    for (int ch = 0; ch < 3; ch++) {
        CHECK(px(ox, G + 5)[ch] == (uint8_t)std::lround(0.5 * 0 + 0.5 * lo[ch]));
        CHECK(px(ox + T - 1, G + 5)[ch] == (uint8_t)std::lround(0.5 * 255 + 0.5 * hi[ch]));
    }
    CHECK_THROWS_WITH_AS(explanation_figure(img, map, 2, 2, 4, Colormap::Viridis, 0.5f), doctest::Contains("tile"), Error);
    CHECK_THROWS_WITH_AS(explanation_figure(img, nullptr, 2, 2, T, Colormap::Viridis, 0.5f), doctest::Contains("empty map"), Error);
}
