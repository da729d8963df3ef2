// The rest of the CAM family (HiResCAM, XGradCAM, EigenCAM, EigenGradCAM, ScoreCAM, AblationCAM)
// and the input-side methods (Integrated Gradients, SmoothGrad) through the explain service,
// against PyTorch references of their published formulas (tests/data/explain/make_family.py,
// float64): relative L2 error, floored for ReLU'd maps at 1e-2 of the pre-ReLU map's norm as
// compare.py does. Tolerances: 1e-4 at the last conv layer, 1e-3 earlier (float32 activations
// through more layers); SmoothGrad statistically (below).
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "core/error.h"
#include "core/file.h"
#include "core/json.h"
#include "explain/methods.h"
#include "io/image.h"
#include "model/predict.h"
#include "test_util.h"

using namespace cnnlens;
using namespace cnnlens_test;

namespace {

struct Case {
    std::string name;
    std::unique_ptr<Vgg> net;
    std::vector<int> classes;
    std::vector<std::string> convs;
    std::map<std::string, double> prerelu;
};

Case open_case(const std::string& name) {
    Case c;
    c.name = name;
    std::ifstream f(data_path("explain/family/" + name + "/manifest.txt"));
    REQUIRE(f.good());
    std::string line, key;
    while (std::getline(f, line)) {
        std::istringstream s(line);
        if (!(s >> key) || key[0] == '#') continue;
        if (key == "classes") for (int v; s >> v;) c.classes.push_back(v);
        else if (key == "convs") for (std::string l; s >> l;) c.convs.push_back(l);
        else if (key == "prerelu_norm") { std::string k; double v; s >> k >> v; c.prerelu[k] = v; }
    }
    const std::string dir = data_path("oracle/" + name + "/");
    const Json meta = Json::parse([&] { auto b = read_file(dir + "meta.json"); return std::string(b.begin(), b.end()); }());
    Image img = image_load(dir + "input.png");
    c.net = vgg_load(read_file(dir + "w.safetensors"), {}, img.width);
    std::vector<float> x = prepare_input(img, c.net->arch(), ResizeMode::Exact,
                                         preprocess_parse(meta["preprocess"]["mode"].string()));
    c.net->forward(x.data());
    return c;
}

double rel_error(const std::vector<float>& out, const std::string& file, double floor) {
    NpyArray ref = npy_read(file);
    REQUIRE(ref.data.size() == out.size());
    double num = 0, den = 0;
    for (size_t i = 0; i < out.size(); i++) {
        const double d = (double)out[i] - ref.data[i];
        num += d * d, den += (double)ref.data[i] * ref.data[i];
    }
    return std::sqrt(num) / std::max({std::sqrt(den), floor, 1e-30});
}

}  // namespace

TEST_CASE("explain family: the CAM family and Integrated Gradients equal their PyTorch references") {
    const Method layer_methods[] = {Method::HiResCam, Method::XGradCam, Method::EigenCam, Method::EigenGradCam,
                                    Method::ScoreCam, Method::AblationCam};
    for (const char* name : {"tiny_gap", "tiny_fc", "a_gap"}) {
        Case c = open_case(name);
        const std::string dir = data_path(std::string("explain/family/") + name + "/");
        int checked = 0;
        double worst_last = 0, worst_earlier = 0;
        for (int cls : c.classes)
            for (size_t li = 0; li < c.convs.size(); li++) {
                const LayerInfo* l = c.net->layer(c.convs[li]);
                REQUIRE(l);
                for (Method m : layer_methods) {
                    const MethodInfo& mi = method_info(m);
                    if (mi.costly && li + 2 < c.convs.size()) continue;   // the references: the last two layers
                    const ExplainResult r = explain(*c.net, {m, cls, l});
                    const std::string stem = map_file_name(r);
                    CAPTURE(stem);
                    auto it = c.prerelu.find(stem);
                    const double floor = it == c.prerelu.end() ? 0 : 1e-2 * it->second;
                    const double e = rel_error(r.map, dir + stem + ".npy", floor);
                    const bool last = li + 1 == c.convs.size();
                    (last ? worst_last : worst_earlier) = std::max(last ? worst_last : worst_earlier, e);
                    CHECK(e < (last ? 1e-4 : 1e-3));
                    if (!r.weights.empty()) CHECK(rel_error(r.weights, dir + map_file_name(r, true) + ".npy", 0) < (last ? 1e-4 : 1e-3));
                    checked++;
                }
            }
        for (int cls : c.classes) {
            ExplainRequest q(Method::IntegratedGradients, cls);
            q.steps = 16;
            const ExplainResult r = explain(*c.net, q);
            const double e = rel_error(r.map, dir + map_file_name(r) + ".npy", 0);
            CAPTURE(cls);
            CHECK(e < 1e-4);
            worst_last = std::max(worst_last, e);
            checked++;
        }
        MESSAGE(std::string(name) << ": " << checked << " maps, worst relative L2 " << worst_last << " (last conv, IG), "
                     << worst_earlier << " (earlier layers)");
        CHECK(checked >= 30);
    }
}

TEST_CASE("explain family: SmoothGrad is the expected input gradient under noise, to its sampling error") {
    // Two estimates with independent noise (seeds 1 and 2): E|m1 - m2|^2 = 2 E|m - mu|^2, so the
    // distance to the reference expectation mu must be about the two estimates' distance / sqrt(2);
    // allowed: 1.5x that. A wrong noise scale or a missing average misses by far more (checked).
    Case c = open_case("tiny_gap");
    const std::string dir = data_path("explain/family/tiny_gap/");
    for (int cls : c.classes) {
        ExplainRequest q(Method::SmoothGrad, cls);
        q.steps = 512;
        q.seed = 1;
        const ExplainResult a = explain(*c.net, q);
        q.seed = 2;
        const ExplainResult b = explain(*c.net, q);
        const NpyArray mu = npy_read(dir + map_file_name(a) + ".npy");
        REQUIRE(mu.data.size() == a.map.size());
        double dab = 0, dmu = 0, norm = 0;
        for (size_t i = 0; i < a.map.size(); i++) {
            dab += std::pow((double)a.map[i] - b.map[i], 2);
            dmu += std::pow((double)a.map[i] - mu.data[i], 2);
            norm += std::pow((double)mu.data[i], 2);
        }
        const double expected = std::sqrt(dab / 2);
        MESSAGE("class " << cls << ": |m - mu| " << std::sqrt(dmu) << ", sampling error " << expected << ", |mu| "
                         << std::sqrt(norm));
        CHECK(std::sqrt(dmu) < 1.5 * expected);
        // the saliency map (no noise) is a different thing: far from mu in the same units
        q.noise = 0;
        const ExplainResult s = explain(*c.net, q);
        double ds = 0;
        for (size_t i = 0; i < s.map.size(); i++) ds += std::pow((double)s.map[i] - mu.data[i], 2);
        CHECK(std::sqrt(ds) > 3 * expected);
    }
}

TEST_CASE("explain family: costly methods leave the network as they found it and report progress") {
    Case c = open_case("tiny_gap");
    const LayerInfo& l = c.net->last_conv();
    const std::vector<float> before(c.net->logits(), c.net->logits() + c.net->num_classes());
    const ExplainResult g0 = explain(*c.net, {Method::GradCam, 2, &l});
    for (Method m : {Method::ScoreCam, Method::AblationCam, Method::SmoothGrad, Method::IntegratedGradients}) {
        CAPTURE(method_info(m).name);
        ExplainRequest q(m, 2, &l);
        int calls = 0, total = 0;
        q.progress = [&](int done, int n) { CHECK(done == calls++); total = n; };
        explain(*c.net, q);
        CHECK(calls == total);
        CHECK(total > 1);
        CHECK(std::memcmp(before.data(), c.net->logits(), before.size() * sizeof(float)) == 0);
        CHECK(explain(*c.net, {Method::GradCam, 2, &l}).map == g0.map);
        // a throwing progress callback cancels
        q.progress = [](int done, int) { if (done == 1) fail("cancelled"); };
        CHECK_THROWS_WITH_AS(explain(*c.net, q), "cancelled", Error);
    }
}
