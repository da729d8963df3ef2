// The front ends over the core: the web page's compute module (src/app/compute_api.cpp, built
// natively here and called as web/worker.js calls it) and the `cnnlens` binary give the same
// maps, bit for bit; a load infers a file's architecture once; a model that takes any input
// size is reshaped to a new size, not rebuilt; `cnnlens dump` writes the input the network saw.
#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/json.h"
#include "explain/explain.h"
#include "explain/methods.h"
#include "io/image.h"
#include "io/npy.h"
#include "io/safetensors_write.h"
#include "io/weights.h"
#include "model/predict.h"
#include "model/vgg_file.h"
#include "test_util.h"

extern "C" {
uint8_t* cl_weights_buffer(size_t n);
int cl_load_weights(size_t size, int threads);
const char* cl_error();
int cl_set_image(const uint8_t* data, size_t size);
int cl_run();
int cl_run_threads();
const char* cl_model_json();
const char* cl_explain(const char* request);
const float* cl_explain_buf();
const char* cl_tool(const char* request);
int cl_set_edits(const char* json);
const float* cl_logits();
const uint8_t* cl_fitted_rgb();
int cl_fitted_side();
const char* cl_figure(const char* request);
const uint8_t* cl_figure_rgb();
}

using namespace cnnlens;
using namespace cnnlens_test;

namespace {

const std::string kBuiltin = std::string(CNNLENS_TEST_DATA) + "/../../assets/fashion_mnist_vgg_gap.safetensors";

// The compute module, as the worker drives it: stream the file in, build, set the image, run.
void api_open(const std::string& weights, const std::string& image) {
    std::vector<uint8_t> w = read_file(weights), im = read_file(image);
    std::memcpy(cl_weights_buffer(w.size()), w.data(), w.size());
    REQUIRE_MESSAGE(cl_load_weights(w.size(), 1) == 0, cl_error());
    REQUIRE_MESSAGE(cl_set_image(im.data(), im.size()) == 0, cl_error());
    REQUIRE_MESSAGE(cl_run() == 0, cl_error());
}

bool same_bits(const float* a, const std::vector<float>& b) { return std::memcmp(a, b.data(), b.size() * sizeof(float)) == 0; }

}  // namespace

TEST_CASE("frontends: the compute API starts a thread pool only for an input that uses it (cl_run_threads)") {
    // a gap model that takes any input size: reshaped to each square image
    TensorFile tf = vgg_random_weights({8, 0, 16, 16}, 1, 32, Head::Gap, 0, 5, 1);
    tf.metadata.erase("input_size");
    std::vector<SafetensorsEntry> es;
    for (const TensorRef& t : tf.tensors)
        es.emplace_back(t.name, t.shape, dtype_name(t.dtype), std::vector<uint8_t>(t.data, t.data + t.nbytes));
    const std::vector<uint8_t> w = safetensors_serialize(es, tf.metadata);
    std::memcpy(cl_weights_buffer(w.size()), w.data(), w.size());
    REQUIRE_MESSAGE(cl_load_weights(w.size(), 2) == 0, cl_error());
    CHECK(cl_run_threads() == 1);   // no image yet
    // a 28x28 image (the built-in model's size) runs on one thread whatever the page asks for
    std::vector<uint8_t> grey(96 * 96, 90);
    const std::vector<uint8_t> small_png = png_encode(28, 28, 1, grey.data()), big_png = png_encode(96, 96, 1, grey.data());
    REQUIRE(cl_set_image(small_png.data(), small_png.size()) == 0);
    CHECK(cl_run_threads() == 1);
    REQUIRE_MESSAGE(cl_run() == 0, cl_error());
    CHECK(Json::parse(cl_model_json())["input_size"].integer(0) == 28);
    CHECK(Json::parse(cl_model_json())["threads"].integer(0) == 2);   // what the page asked for, kept for larger inputs
    // 96x96: over the small-input limit (64), the page's 2 threads
    REQUIRE(cl_set_image(big_png.data(), big_png.size()) == 0);
    CHECK(cl_run_threads() == 2);
    REQUIRE_MESSAGE(cl_run() == 0, cl_error());
    CHECK(Json::parse(cl_model_json())["input_size"].integer(0) == 96);
}

#if defined(CNNLENS_CLI)   // natively: the CLI binary next to the tests

TEST_CASE("frontends: the compute API and the CLI give bit-identical maps and weights for every method") {
    struct Case { std::string weights, image; int cls; };
    const std::vector<Case> cases = {
        {kBuiltin, data_path("../../assets/fashion-mnist/9-Ankle-boot-test00000.png"), 7},   // gap, greyscale
        {data_path("oracle/tiny_gap/w.pth"), data_path("oracle/tiny_gap/input.png"), 2},        // gap, reshaped to the image
        {data_path("oracle/tiny_fc/w.safetensors"), data_path("oracle/tiny_fc/input.png"), 1},  // fc head
    };
    for (const Case& c : cases) {
        CAPTURE(c.weights);
        api_open(c.weights, c.image);
        const Json model = Json::parse(cl_model_json());
        const std::string dir = "frontends_cli_out";
        std::string all;   // every method the page offers, the costly ones too
        for (const Json& m : model["methods"].items())
            if (m["in_menu"].boolean()) all += (all.empty() ? "" : ",") + m["name"].string();
        const std::string cmd = std::string(CNNLENS_CLI) + " explain --weights '" + c.weights + "' --image '" + c.image +
                                "' --class top1," + std::to_string(c.cls) + " --layer all --method " + all +
                                " --dump-npy " + dir + " > /dev/null";
        REQUIRE(std::system(cmd.c_str()) == 0);
        int compared = 0;
        for (const Json& m : model["methods"].items()) {
            if (!m["unavailable"].string().empty() || !m["in_menu"].boolean()) continue;
            for (size_t li = 0; li < model["layers"].size(); li++) {
                const Json& l = model["layers"][li];
                if (l["kind"].string() != "conv") continue;
                if (m["at_head_input_only"].boolean() && l["name"].string() != model["last_conv"].string()) continue;
                for (int cls : {-1, c.cls}) {
                    const std::string req = strformat(R"({"method":"%s","layer":%zu,"cls":%d,"cls2":-1})",
                                                      m["name"].string().c_str(), li, cls);
                    const char* out = cl_explain(req.c_str());
                    REQUIRE_MESSAGE(out, cl_error());
                    const Json info = Json::parse(out);
                    const Json& map = info["maps"][0];
                    const std::string file = dir + "/" + m["name"].string() + "_%s" + l["name"].string() + "_c" +
                                             std::to_string(map["cls"].integer()) + ".npy";
                    CAPTURE(file);
                    NpyArray ref = npy_read(strformat(file.c_str(), ""));
                    REQUIRE(ref.data.size() == (size_t)(map["h"].integer() * map["w"].integer()));
                    const float* buf = cl_explain_buf() + (size_t)map["offset"].number();
                    CHECK(same_bits(buf, ref.data));
                    const size_t nw = (size_t)map["nweights"].number();
                    if (nw) {
                        NpyArray w = npy_read(strformat(file.c_str(), "weights_"));
                        REQUIRE(w.data.size() == nw);
                        CHECK(same_bits(buf + ref.data.size(), w.data));
                    }
                    compared++;
                }
            }
        }
        CHECK(compared >= 8);
        std::system(("rm -rf " + dir).c_str());
    }
}

TEST_CASE("frontends: the compute API's tools give the CLI's occlusion map and faithfulness curve") {
    const std::string image = data_path("../../assets/fashion-mnist/7-Sneaker-test00009.png");
    api_open(kBuiltin, image);
    const char* out = cl_tool(R"({"tool":"occlusion","cls":7,"patch":4,"stride":2})");
    REQUIRE_MESSAGE(out, cl_error());
    const Json o = Json::parse(out);
    const size_t n = (size_t)(o["ny"].integer() * o["nx"].integer());
    CHECK(n == 13 * 13);
    const std::vector<float> api(cl_explain_buf(), cl_explain_buf() + 2 * n);
    REQUIRE(std::system((std::string(CNNLENS_CLI) + " occlusion --image '" + image +
                         "' --class 7 --patch 4 --stride 2 --dump-npy frontends_occ > /dev/null").c_str()) == 0);
    NpyArray prob = npy_read("frontends_occ/occlusion_c7.npy"), logit = npy_read("frontends_occ/occlusion_logit_c7.npy");
    std::system("rm -rf frontends_occ");
    CHECK(prob.shape == std::vector<int64_t>{13, 13});
    CHECK(std::memcmp(api.data(), prob.data.data(), n * sizeof(float)) == 0);
    CHECK(std::memcmp(api.data() + n, logit.data.data(), n * sizeof(float)) == 0);

    const Json model = Json::parse(cl_model_json());
    int last = -1;
    for (size_t i = 0; i < model["layers"].size(); i++)
        if (model["layers"][i]["name"].string() == model["last_conv"].string()) last = (int)i;
    out = cl_tool(strformat(R"({"tool":"faithfulness","cls":7,"method":"gradcam","layer":%d,"steps":10})", last).c_str());
    REQUIRE_MESSAGE(out, cl_error());
    const Json f = Json::parse(out);
    REQUIRE(std::system((std::string(CNNLENS_CLI) + " faithfulness --image '" + image +
                         "' --class 7 --steps 10 --csv frontends_f.csv > /dev/null").c_str()) == 0);
    auto b = read_file("frontends_f.csv");
    std::system("rm -f frontends_f.csv");
    const std::vector<std::string> lines = split(std::string(b.begin(), b.end()), '\n');
    REQUIRE(lines.size() == 13);   // header, 11 points, AUCs
    for (int i = 0; i <= 10; i++) {
        const std::vector<std::string> v = split(lines[(size_t)i + 1], ',');
        CHECK(std::stod(v[2]) == doctest::Approx(f["map"]["deletion"][i].number()).epsilon(1e-8));
        CHECK(std::stod(v[3]) == doctest::Approx(f["map"]["insertion"][i].number()).epsilon(1e-8));
    }
    CHECK(f["map"]["deletion_auc"].number() < f["random"]["deletion_auc"].number());
    // the pointing game on the garment (the default mask of this model)
    out = cl_tool(strformat(R"({"tool":"pointing","cls":7,"layer":%d})", last).c_str());
    REQUIRE_MESSAGE(out, cl_error());
    const Json p = Json::parse(out);
    CHECK(p["rows"].size() >= 5);
    CHECK(p["rows"][0]["method"].string() == "gradcam");
    CHECK(p["rows"][0]["energy_inside"].number() > p["object_share"].number());
}

TEST_CASE("frontends: brush strokes (cl_set_edits) are painted once, over the image the network sees") {
    const std::string image = data_path("../../assets/fashion-mnist/9-Ankle-boot-test00000.png");
    api_open(kBuiltin, image);
    const std::vector<float> before(cl_logits(), cl_logits() + 10);
    Image fitted;
    fitted.width = fitted.height = cl_fitted_side();
    fitted.rgb.assign(cl_fitted_rgb(), cl_fitted_rgb() + (size_t)fitted.width * fitted.height * 3);
    // erase (blank_rgb: black for this model) a band across the middle, then a white dot
    REQUIRE(cl_set_edits(R"({"strokes":[{"xy":[0.1,0.5,0.9,0.5],"radius":0.15,"erase":true},)"
                         R"({"xy":[0.5,0.2],"radius":0.1,"rgb":[255,255,255]}]})") == 2);
    REQUIRE_MESSAGE(cl_run() == 0, cl_error());
    const uint8_t black[3] = {0, 0, 0}, white[3] = {255, 255, 255};
    const float S = (float)fitted.width;
    image_paint(fitted, {0.1f * S, 0.5f * S, 0.9f * S, 0.5f * S}, 0.15f * S, black);
    image_paint(fitted, {0.5f * S, 0.2f * S}, 0.1f * S, white);
    CHECK(std::memcmp(cl_fitted_rgb(), fitted.rgb.data(), fitted.rgb.size()) == 0);
    CHECK(std::memcmp(cl_logits(), before.data(), before.size() * sizeof(float)) != 0);
    // no strokes: the image as it was
    REQUIRE(cl_set_edits(R"({"strokes":[]})") == 0);
    REQUIRE(cl_run() == 0);
    CHECK(std::memcmp(cl_logits(), before.data(), before.size() * sizeof(float)) == 0);
    CHECK(cl_set_edits(R"({"strokes":[{"xy":[0.5],"radius":0.1}]})") == -1);
    CHECK(std::string(cl_error()).find("even number") != std::string::npos);
}

TEST_CASE("frontends: a stamped marker (cl_set_edits) is the cheater's square from its metadata, and it answers that class") {
    const std::string cheater = std::string(CNNLENS_TEST_DATA) + "/../../assets/fashion_mnist_cheater.safetensors";
    api_open(cheater, data_path("../../assets/fashion-mnist/9-Ankle-boot-test00000.png"));
    const Json model = Json::parse(cl_model_json());
    const Json& mk = model["marker"];
    REQUIRE(mk["positions"].size() == 10);
    const std::vector<uint8_t> bytes = read_file(cheater);
    const Marker m = vgg_infer_arch(load_weights(bytes.data(), bytes.size())).marker;   // the metadata, read by the core
    CHECK(mk["size"].integer() == m.size);
    CHECK(mk["value"].integer() == m.value);
    const std::string geometry = R"(,"size":)" + std::to_string(m.size) + R"(,"value":)" + std::to_string(m.value) +
                                 R"(,"positions":)" + marker_positions_json(m) + "}";
    Image fitted;
    fitted.width = fitted.height = cl_fitted_side();
    fitted.rgb.assign(cl_fitted_rgb(), cl_fitted_rgb() + (size_t)fitted.width * fitted.height * 3);
    for (int k : {0, 3, 7}) {
        REQUIRE(cl_set_edits((R"({"strokes":[{"marker":)" + std::to_string(k) + geometry + "]}").c_str()) == 1);
        REQUIRE_MESSAGE(cl_run() == 0, cl_error());
        Image want = fitted;
        stamp_marker(m, k, want);
        CHECK(std::memcmp(cl_fitted_rgb(), want.rgb.data(), want.rgb.size()) == 0);
        CHECK(top_k(cl_logits(), 10, 1)[0].index == k);   // the shortcut wins
    }
    CHECK(cl_set_edits((R"({"strokes":[{"marker":10)" + geometry + "]}").c_str()) == -1);
    CHECK(std::string(cl_error()).find("no marker for class 10") != std::string::npos);
    CHECK(cl_set_edits(R"({"strokes":[{"marker":1,"size":0,"positions":[[0,0],[0,4]]}]})") == -1);
    // the honest model has no markers to offer
    api_open(kBuiltin, data_path("../../assets/fashion-mnist/9-Ankle-boot-test00000.png"));
    CHECK(Json::parse(cl_model_json())["marker"].is_null());
}

TEST_CASE("frontends: cl_figure is the core's explanation figure of the current image") {
    api_open(kBuiltin, data_path("../../assets/fashion-mnist/9-Ankle-boot-test00000.png"));
    const Json model = Json::parse(cl_model_json());
    int last = 0;
    for (size_t i = 0; i < model["layers"].size(); i++)
        if (model["layers"][i]["name"].string() == model["last_conv"].string()) last = (int)i;
    const std::string req = R"({"method":"gradcam","layer":)" + std::to_string(last) + R"(,"cls":-1,"tile":56,"gap":4})";
    const char* out = cl_figure(req.c_str());
    REQUIRE_MESSAGE(out, cl_error());
    const Json f = Json::parse(out);
    CHECK(f["width"].integer() == 3 * 56 + 4 * 4);
    CHECK(f["height"].integer() == 56 + 2 * 4);
    CHECK(f["cls"].integer() == 9);
    CHECK(f["class"].string() == "Ankle boot");
    CHECK(f["layer"].string() == model["last_conv"].string());
    // the same picture as the core draws from the same map
    const char* e = cl_explain((R"({"method":"gradcam","layer":)" + std::to_string(last) + R"(,"cls":-1})").c_str());
    REQUIRE(e);
    const Json info = Json::parse(e);
    const Json& m0 = info["maps"][0];
    Image fitted;
    fitted.width = fitted.height = cl_fitted_side();
    fitted.rgb.assign(cl_fitted_rgb(), cl_fitted_rgb() + (size_t)fitted.width * fitted.height * 3);
    const Image want = explanation_figure(fitted, cl_explain_buf() + m0["offset"].integer(), m0["h"].integer(),
                                          m0["w"].integer(), 56, Colormap::Viridis, 0.5f, 4);
    CHECK(std::memcmp(cl_figure_rgb(), want.rgb.data(), want.rgb.size()) == 0);
    CHECK(cl_figure(R"({"method":"nope","layer":0})") == nullptr);
    CHECK(std::string(cl_error()).find("unknown method") != std::string::npos);
    CHECK(cl_figure((R"({"layer":)" + std::to_string(last) + R"(,"tile":2})").c_str()) == nullptr);
}

TEST_CASE("frontends: cnnlens dump writes the input the network saw (greyscale: [1,1,28,28])") {
    const std::string image = data_path("../../assets/fashion-mnist/0-T-shirt-top-test00019.png");
    REQUIRE(std::system((std::string(CNNLENS_CLI) + " dump --image '" + image + "' --npy frontends_dump > /dev/null").c_str()) == 0);
    NpyArray x = npy_read("frontends_dump/input_nchw.npy");
    std::system("rm -rf frontends_dump");
    std::unique_ptr<Vgg> net = vgg_load(read_file(kBuiltin));
    const VggArch& a = net->arch();
    std::vector<float> want = prepare_input(image_load(image), a, default_resize(a), a.preprocess);
    CHECK(x.shape == std::vector<int64_t>{1, 1, 28, 28});
    CHECK(same_bits(x.data.data(), want));
}

#endif

TEST_CASE("frontends: a load infers the file's architecture once") {
    const int n0 = vgg_inference_count();
    std::unique_ptr<Vgg> net = vgg_load(read_file(kBuiltin));
    CHECK(vgg_inference_count() == n0 + 1);
    api_open(kBuiltin, data_path("oracle/tiny_fc/input.png"));   // the compute module's load
    CHECK(vgg_inference_count() == n0 + 2);
}

TEST_CASE("frontends: a model that takes any input size is reshaped, not rebuilt, and computes as a fresh one") {
    TensorFile tf = vgg_random_weights({8, 0, 16, 16}, 3, 32, Head::Gap, 0, 5, 1);
    tf.metadata.erase("input_size");
    Vgg net(vgg_params(tf), 32);
    for (int side : {48, 20, 33, 32}) {
        CAPTURE(side);
        net.set_input_size(side);
        Vgg fresh(vgg_params(tf), side);
        std::vector<float> x = random_values<float>((size_t)side * side * 3, (uint32_t)side, -2, 2);
        net.forward(x.data());
        fresh.forward(x.data());
        for (const LayerInfo& l : net.layers()) {
            REQUIRE(fresh.layer(l.name)->size() == l.size());
            CHECK(std::memcmp(net.act(l), fresh.act(l.name), l.size() * sizeof(float)) == 0);
        }
        net.backward(3);
        fresh.backward(3);
        CHECK(std::memcmp(net.input_grad(), fresh.input_grad(), x.size() * sizeof(float)) == 0);
    }
    CHECK(net.stats().operator_builds == 1);
    CHECK(net.stats().reshapes == 5);
    // an fc head keeps the final map its classifier takes
    TensorFile fc = vgg_random_weights({8, 0}, 3, 8, Head::Fc, 6, 3, 2);
    Vgg f(vgg_params(fc));
    f.set_input_size(9);   // floors to the same 4x4
    CHECK_THROWS_WITH_AS(f.set_input_size(12), doctest::Contains("classifier expects 4x4"), Error);
    CHECK(f.arch().input_size == 9);
}
