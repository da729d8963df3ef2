// Tools that test explanations (src/explain/tools.h): occlusion's fast path against its
// brute-force reference, faithfulness curves and the sanity check against PyTorch references of
// the same definitions (tests/data/tools/make_fixtures.py), the pointing game by hand.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "core/file.h"
#include "core/json.h"
#include "explain/tools.h"
#include "io/image.h"
#include "model/predict.h"
#include "test_util.h"

using namespace cnnlens;
using namespace cnnlens_test;

namespace {

const std::string kBuiltin = std::string(CNNLENS_TEST_DATA) + "/../../assets/fashion_mnist_vgg_gap.safetensors";

std::unique_ptr<Vgg> forwarded(const std::string& weights, const std::string& image, Preprocess* pre = nullptr) {
    Image img = image_load(image);
    std::unique_ptr<Vgg> net = vgg_load(read_file(weights), {}, img.width);
    const VggArch& a = net->arch();
    std::vector<float> x = prepare_input(img, a, default_resize(a), pre ? *pre : a.preprocess);
    net->forward(x.data());
    return net;
}

std::vector<std::string> csv_lines(const std::string& text) { return split(text, '\n'); }

}  // namespace

TEST_CASE("tools: occlusion's default patch and stride per input size (the CLI's and the page's)") {
    CHECK(occlusion_defaults(28).patch == 4);     // the built-in model: every position, a 25x25 map
    CHECK(occlusion_defaults(28).stride == 1);
    CHECK(occlusion_defaults(64).stride == 1);
    CHECK(occlusion_defaults(224).patch == 32);   // VGG16: 13x13 positions
    CHECK(occlusion_defaults(224).stride == 16);
    CHECK(occlusion_defaults(224, 20).stride == 10);   // a patch given: half of it
    CHECK(occlusion_defaults(8).patch == 2);
}

TEST_CASE("tools: occlusion's fast path recomputes only what a patch reaches, with the brute force's numbers") {
    struct Case { std::vector<int> cfg; int size; Head head; int patch, stride; };
    for (const Case& c : {Case{{8, 8, 0, 16, 16, 0, 24, 24, 24, 0, 24, 24, 24, 0, 24, 24, 24, 0}, 224, Head::Fc, 32, 16},  // VGG16's shape
                          Case{{6, 0, 8, 8}, 29, Head::Gap, 5, 3},    // odd sizes, a patch at the borders
                          Case{{64, 64, 0, 64}, 64, Head::Gap, 12, 7},   // Winograd layers (model/conv3x3.h)
                          Case{{4, 0, 6, 0, 8}, 32, Head::Gap, 1, 1}})
    for (const char* policy : {"auto", "winograd"}) {   // the model's choice of algorithm, and Winograd everywhere
        CAPTURE(c.size);
        CAPTURE(policy);
        TensorFile tf = vgg_random_weights(c.cfg, 3, c.size, c.head, 16, 7, 5);
        conv3x3_set_policy(policy);
        Vgg net(vgg_params(tf));
        conv3x3_set_policy("auto");
        std::vector<float> x = random_values<float>((size_t)c.size * c.size * 3, 9, -2, 2);
        net.forward(x.data());
        const std::vector<float> logits(net.logits(), net.logits() + 7);
        const Occlusion slow = occlusion(net, 3, c.patch, c.stride, true);
        const Occlusion fast = occlusion(net, 3, c.patch, c.stride, false);
        CHECK(fast.ny == (c.size - c.patch) / c.stride + 1);
        // A map is a drop, the difference of two forwards, so its rounding error is that of a forward:
        // relative to the logits (or to probability 1), not to the drops (1-px patches move them ~1%).
        float scale = 0;
        for (float v : logits) scale = std::max(scale, std::fabs(v));
        CHECK(max_abs_diff(fast.logit.data(), slow.logit.data(), slow.logit.size()) < 1e-5 * scale);
        CHECK(max_abs_diff(fast.prob.data(), slow.prob.data(), slow.prob.size()) < 1e-5);
        MESSAGE("occlusion fast vs brute force, largest logit difference ",
                max_abs_diff(fast.logit.data(), slow.logit.data(), slow.logit.size()), " (logits up to ", scale, ")");
        if (c.patch > 1) {   // and to 1e-5 relative to the drops themselves where they are not tiny
            CHECK(rel_l2(fast.logit.data(), slow.logit.data(), slow.logit.size()) < 1e-5);
            CHECK(rel_l2(fast.prob.data(), slow.prob.data(), slow.prob.size()) < 1e-5);
        }
        // in fact bit for bit: each layer computes what a whole pass computes where the patch reaches
        CHECK(fast.logit == slow.logit);
        CHECK(fast.prob == slow.prob);
        CHECK(std::memcmp(logits.data(), net.logits(), logits.size() * sizeof(float)) == 0);   // left as found
        net.forward(x.data());   // and a whole pass after the windows gives the same as before
        CHECK(std::memcmp(logits.data(), net.logits(), logits.size() * sizeof(float)) == 0);
    }
    // the built-in model, stride 1: 25 x 25 positions of a 4-px patch
    std::unique_ptr<Vgg> net = forwarded(kBuiltin, data_path("../../assets/fashion-mnist/9-Ankle-boot-test00000.png"));
    const Occlusion slow = occlusion(*net, 9, 4, 1, true), fast = occlusion(*net, 9, 4, 1, false);
    CHECK(fast.nx == 25);
    CHECK(rel_l2(fast.prob.data(), slow.prob.data(), slow.prob.size()) < 1e-5);
    CHECK(rel_l2(fast.logit.data(), slow.logit.data(), slow.logit.size()) < 1e-5);
    // Both ran with the convolutions for batched work (Winograd in its last three layers, direct in
    // its forward pass): a forward pass as built on an occluded input gives the same drops to rounding.
    const std::vector<float> x(net->input(), net->input() + 28 * 28), logits(net->logits(), net->logits() + 10);
    auto prob9 = [](const float* l) {
        double m = *std::max_element(l, l + 10), sum = 0;
        for (int c = 0; c < 10; c++) sum += std::exp((double)l[c] - m);
        return std::exp((double)l[9] - m) / sum;
    };
    const double p0 = prob9(net->logits());
    for (int pos : {0, 37, 312, 624}) {
        std::vector<float> xo = x;
        const int y0 = pos / 25, x0 = pos % 25;
        for (int r = y0; r < y0 + 4; r++)
            for (int c = x0; c < x0 + 4; c++) xo[(size_t)r * 28 + c] = blank_value(net->arch());
        net->forward(xo.data());
        CAPTURE(pos);
        CHECK(std::fabs(p0 - prob9(net->logits()) - fast.prob[(size_t)pos]) < 1e-5);
    }
    net->forward(x.data());
    CHECK(net->batched_convs(true));    // the switch occlusion makes, and back
    CHECK(net->batched_convs(false));
    CHECK_FALSE(net->batched_convs(false));
    net->forward(x.data());
    CHECK(std::memcmp(logits.data(), net->logits(), logits.size() * sizeof(float)) == 0);
}

TEST_CASE("tools: the pointing game") {
    // a 2x2 map upsampled to 4x4 (torch's bilinear): rows and columns [1, .75, .25, 0], so the
    // top-left quarter holds 1.75^2 of the 2^2 mass
    const std::vector<float> map = {1, 0, 0, 0};
    std::vector<uint8_t> mask(16, 0);
    mask[0] = mask[1] = mask[4] = mask[5] = 1;   // the top-left quarter is the object
    Pointing p = pointing(map, 2, 2, mask, 4);
    CHECK(p.max_inside);
    CHECK(p.energy_inside == doctest::Approx(1.75 * 1.75 / 4).epsilon(1e-12));
    std::vector<uint8_t> other(16, 0);
    other[15] = 1;
    CHECK_FALSE(pointing(map, 2, 2, other, 4).max_inside);
    const std::vector<float> none = {-1, -1, -1, -1};
    CHECK(pointing(none, 2, 2, mask, 4).energy_inside == -1);
}

namespace {

std::vector<int> as_ints(const NpyArray& a) { return std::vector<int>(a.data.begin(), a.data.end()); }

std::unique_ptr<Vgg> tiny_gap(std::vector<float>* input) {
    const std::string dir = data_path("oracle/tiny_gap/");
    Image img = image_load(dir + "input.png");
    std::unique_ptr<Vgg> net = vgg_load(read_file(dir + "w.safetensors"), {}, img.width);
    *input = prepare_input(img, net->arch(), ResizeMode::Exact, Preprocess::Torch);
    net->forward(input->data());
    return net;
}

// The CSV rows as fields.
std::vector<std::vector<std::string>> csv_rows(const std::string& text) {
    std::vector<std::vector<std::string>> rows;
    for (const std::string& line : split(text, '\n')) {
        std::vector<std::string> f;
        size_t p = 0;
        for (size_t q; (q = line.find(',', p)) != std::string::npos; p = q + 1) f.push_back(line.substr(p, q - p));
        f.push_back(line.substr(p));
        rows.push_back(f);
    }
    return rows;
}

}  // namespace

TEST_CASE("tools: faithfulness curves equal the PyTorch reference: the same pixel order, probabilities to 1e-4") {
    std::vector<float> x;
    std::unique_ptr<Vgg> net = tiny_gap(&x);
    const std::string dir = data_path("tools/faithfulness/");
    const int S = net->arch().input_size;
    // the order: from the reference's map, and from our own Grad-CAM of it
    NpyArray map = npy_read(dir + "map.npy");
    const std::vector<int> want = as_ints(npy_read(dir + "ranking.npy"));
    CHECK(rank_pixels(map.data, (int)map.shape[0], (int)map.shape[1], S) == want);
    const ExplainResult g = explain(*net, {Method::GradCam, 2, &net->last_conv()});
    CHECK(rank_pixels(g.map, g.h, g.w, S) == want);
    CHECK(random_ranking(S * S, 7) == as_ints(npy_read(dir + "random.npy")));
    for (const char* which : {"curves", "random"}) {
        const std::string name = which;
        CAPTURE(name);
        const std::vector<int> ranking = as_ints(npy_read(dir + (std::string(which) == "curves" ? "ranking.npy" : "random.npy")));
        const Faithfulness f = faithfulness(*net, 2, ranking, 10);
        const std::vector<std::vector<std::string>> ours = csv_rows(faithfulness_csv(f));
        auto b = read_file(dir + which + ".csv");
        const std::vector<std::vector<std::string>> ref = csv_rows(std::string(b.begin(), b.end()));
        REQUIRE(ours.size() == ref.size());
        CHECK(ours[0] == ref[0]);   // the header
        for (size_t i = 1; i < ref.size(); i++) {
            if (ref[i].size() < 4) continue;
            CHECK(ours[i][0] == ref[i][0]);
            for (int k = 1; k < 4; k++) {
                if (ref[i][(size_t)k].empty()) continue;
                CHECK(std::fabs(std::stod(ours[i][(size_t)k]) - std::stod(ref[i][(size_t)k])) < 1e-4);
            }
        }
    }
    // the network is left as it was
    CHECK(explain(*net, {Method::GradCam, 2, &net->last_conv()}).map == g.map);
}

TEST_CASE("tools: the sanity check re-initialises as the PyTorch reference does and gets its Spearman correlations") {
    std::vector<float> x;
    std::unique_ptr<Vgg> net = tiny_gap(&x);
    const Sanity s = sanity(*net, x, 2, net->last_conv(), 3);
    auto b = read_file(data_path("tools/sanity/sanity.csv"));
    const std::vector<std::vector<std::string>> ref = csv_rows(std::string(b.begin(), b.end()));
    const std::vector<std::vector<std::string>> ours = csv_rows(sanity_csv(s));
    REQUIRE(ours.size() == ref.size());
    double worst = 0;
    for (size_t i = 0; i < ref.size(); i++) {
        if (ref[i].size() < 4) continue;
        CAPTURE(i);
        CHECK(ours[i][0] == ref[i][0]);
        CHECK(ours[i][1] == ref[i][1]);
        CHECK(ours[i][2] == ref[i][2]);
        if (i == 0) continue;
        const double d = std::fabs(std::stod(ours[i][3]) - std::stod(ref[i][3]));
        worst = std::max(worst, d);
        CHECK(d < 1e-3);
    }
    MESSAGE("sanity: " << ref.size() - 2 << " rows, worst Spearman difference " << worst);
}

TEST_CASE("tools: on the built-in model, Grad-CAM does not survive randomising the layers above it; guided backprop does") {
    // Adebayo et al.'s finding, over one gallery image per class (a single image and seed can go
    // either way: the mean over the ten is what the method does)
    for (const std::string layer : {"block3_conv2", "block2_conv2"}) {
        CAPTURE(layer);
        double gradcam = 0, guided = 0;
        int n = 0;
        for (int c = 0; c < 10; c++) {
            std::string file;
            for (const char* f : {"0-T-shirt-top-test00019", "1-Trouser-test00002", "2-Pullover-test00001", "3-Dress-test00013",
                                  "4-Coat-test00006", "5-Sandal-test00008", "6-Shirt-test00004", "7-Sneaker-test00009",
                                  "8-Bag-test00018", "9-Ankle-boot-test00000"})
                if (f[0] == '0' + c) file = f;
            const std::string image = data_path("../../assets/fashion-mnist/" + file + ".png");
            std::unique_ptr<Vgg> net = forwarded(kBuiltin, image);
            const VggArch& a = net->arch();
            const std::vector<float> x = prepare_input(image_load(image), a, default_resize(a), a.preprocess);
            const LayerInfo& l = *net->layer(layer);
            const Sanity s = sanity(*net, x, c, l, 1);
            int above = 1;   // the step where the head and every conv after `layer` are re-initialised
            for (size_t i = (size_t)net->layer_index(l) + 1; i < net->layers().size(); i++)
                above += net->layers()[i].kind == LayerInfo::Conv;
            for (const SanityRow& r : s.rows) {
                if (r.step != above) continue;
                if (r.method == "gradcam") gradcam += r.spearman, n++;
                if (r.method == "guided_backprop") guided += r.spearman;
            }
        }
        REQUIRE(n == 10);
        MESSAGE(layer << ": mean Spearman after re-initialising the layers above: Grad-CAM " << gradcam / n
                      << ", guided backprop " << guided / n);
        CHECK(gradcam / n < 0.5);
        CHECK(guided / n > 0.5);
    }
}

TEST_CASE("tools: on the built-in model, deleting what Grad-CAM points at first hurts the class more than random deletion") {
    double gradcam = 0, random = 0;
    int wins = 0;
    for (const char* f : {"0-T-shirt-top-test00019", "1-Trouser-test00002", "2-Pullover-test00001", "3-Dress-test00013",
                          "4-Coat-test00006", "5-Sandal-test00008", "6-Shirt-test00004", "7-Sneaker-test00009",
                          "8-Bag-test00018", "9-Ankle-boot-test00000"}) {
        std::unique_ptr<Vgg> net = forwarded(kBuiltin, data_path(std::string("../../assets/fashion-mnist/") + f + ".png"));
        const int c = f[0] - '0', S = net->arch().input_size;
        const ExplainResult g = explain(*net, {Method::GradCam, c, &net->last_conv()});
        const Faithfulness a = faithfulness(*net, c, rank_pixels(g.map, g.h, g.w, S), 20);
        const Faithfulness b = faithfulness(*net, c, random_ranking(S * S, 1), 20);
        gradcam += a.deletion_auc, random += b.deletion_auc, wins += a.deletion_auc < b.deletion_auc;
    }
    MESSAGE("deletion AUC, mean of 10: Grad-CAM " << gradcam / 10 << ", random ranking " << random / 10 << "; Grad-CAM lower on "
                                                  << wins << " of 10");
    CHECK(gradcam < random);
    CHECK(wins >= 7);
}
