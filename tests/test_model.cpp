// VGG forward pass: XNNPACK against the naive layers, every weight format against the PyTorch
// oracle's fixtures (tests/data/oracle, made by make_fixtures.sh there), and the errors for
// files that do not describe a VGG.
#include <doctest/doctest.h>

#include <cstring>
#include <functional>
#include <random>

#include "core/error.h"
#include "io/image.h"
#include "io/weights.h"
#include "model/layers.h"
#include "model/predict.h"
#include "test_util.h"

using namespace cnnlens;
using namespace cnnlens_test;

namespace {

std::vector<float> f32(const TensorRef* t) {
    std::vector<float> v((size_t)t->numel());
    tensor_to_f32(*t, v.data());
    return v;
}

// The whole network with the naive layers, straight from torchvision-layout tensors.
std::vector<std::vector<float>> naive_forward(const TensorFile& tf, const VggArch& a, const std::vector<float>& input) {
    std::vector<std::vector<float>> acts;
    std::vector<float> x = input;
    int s = a.input_size, c = a.in_channels, idx = 0;
    for (int v : a.cfg) {
        std::vector<float> y;
        if (v == 0) {
            y.resize((size_t)(s / 2) * (s / 2) * c);
            maxpool2x2_forward_naive(x.data(), s, s, c, y.data());
            s /= 2, idx++;
        } else {
            std::vector<float> oihw = f32(tf.find(strformat("features.%d.weight", idx))), ohwi(oihw.size());
            for (int o = 0; o < v; o++)
                for (int i = 0; i < c; i++)
                    for (int k = 0; k < 9; k++) ohwi[((size_t)o * 9 + k) * c + i] = oihw[((size_t)o * c + i) * 9 + k];
            std::vector<float> b = f32(tf.find(strformat("features.%d.bias", idx)));
            y.resize((size_t)s * s * v);
            conv3x3_forward_naive(x.data(), s, s, c, ohwi.data(), b.data(), v, true, y.data());
            c = v, idx += 2;
        }
        acts.push_back(y);
        x = y;
    }
    if (a.head == Head::Gap) {
        std::vector<float> g((size_t)c);
        gap_forward(x.data(), s, s, c, g.data());
        acts.push_back(g);
        x = g;
    } else {   // torch flattens C,H,W
        std::vector<float> flat(x.size());
        for (int ch = 0; ch < c; ch++)
            for (int p = 0; p < s * s; p++) flat[(size_t)ch * s * s + p] = x[(size_t)p * c + ch];
        x = flat;
    }
    int nl = a.head == Head::Fc ? 3 : 1;
    for (int i = 0; i < nl; i++) {
        const TensorRef* w = tf.find(strformat("classifier.%d.weight", 3 * i));
        std::vector<float> wv = f32(w), bv = f32(tf.find(strformat("classifier.%d.bias", 3 * i)));
        std::vector<float> y((size_t)w->shape[0]);
        linear_forward_naive(wv.data(), bv.data(), x.data(), (int)w->shape[1], (int)w->shape[0], i + 1 < nl, y.data());
        acts.push_back(y);
        x = y;
    }
    return acts;
}

void check_against_naive(const std::vector<int>& cfg, int size, Head head, int threads) {
    TensorFile tf = vgg_random_weights(cfg, 3, size, head, 24, 10, 42);
    VggArch arch = vgg_infer_arch(tf);
    REQUIRE(arch.input_size == size);
    Vgg net(vgg_params(tf));
    net.set_threads(threads);
    std::vector<float> x = random_values<float>((size_t)size * size * 3, 7, -2, 2);
    net.forward(x.data());
    std::vector<std::vector<float>> ref = naive_forward(tf, arch, x);
    REQUIRE(ref.size() == net.layers().size());
    for (size_t i = 0; i < ref.size(); i++) {
        const LayerInfo& l = net.layers()[i];
        REQUIRE(l.size() == ref[i].size());
        double e = rel_l2(net.act(l), ref[i].data(), l.size());
        INFO(l.name << " rel_l2 " << e);
        CHECK(e < 1e-5);
    }
}

}  // namespace

TEST_CASE("layers: linear_forward (SIMD, threaded) equals the naive loop") {
    for (int in : {1, 7, 16, 33, 200}) {
        int out = 37;
        std::vector<float> W = random_values<float>((size_t)in * out, 1), b = random_values<float>(out, 2), x = random_values<float>(in, 3);
        std::vector<float> y1(out), y2(out);
        linear_forward_naive(W.data(), b.data(), x.data(), in, out, true, y1.data());
        linear_forward(W.data(), b.data(), x.data(), in, out, true, y2.data(), nullptr);
        CHECK(max_abs_diff(y1.data(), y2.data(), out) < 1e-5);
    }
}

TEST_CASE("layers: naive conv matches a hand computation") {
    // 2x2 input, 1 -> 1 channel, kernel all ones: each output sums its 3x3 neighbourhood.
    float in[4] = {1, 2, 3, 4}, w[9], b = 0.5f, out[4];
    for (float& v : w) v = 1;
    conv3x3_forward_naive(in, 2, 2, 1, w, &b, 1, false, out);
    for (float v : out) CHECK(v == doctest::Approx(10.5));
    float pool_in[2 * 3 * 1] = {1, 5, 2, 3, 4, 9}, pool_out[1];   // 2x3: floor to 1x1
    maxpool2x2_forward_naive(pool_in, 2, 3, 1, pool_out);
    CHECK(pool_out[0] == 5);
}

TEST_CASE("XNNPACK forward equals the naive layers (fc and gap heads, odd sizes, 1 and 2 threads)") {
    check_against_naive({8, 0, 16, 16, 0, 12, 0}, 32, Head::Fc, 1);
    check_against_naive({8, 0, 16, 16, 0, 12, 0}, 37, Head::Fc, 2);
    check_against_naive({8, 8, 0, 16, 0, 32}, 28, Head::Gap, 1);
    check_against_naive({4, 0, 6, 0, 8, 0, 8, 0, 8, 0}, 64, Head::Fc, 2);
}

TEST_CASE("every weight format gives the oracle's activations and logits") {
    struct Case { const char* dir; Preprocess pre; };
    const Case cases[] = {{"tiny_fc", Preprocess::Torch}, {"tiny_gap", Preprocess::Torch},
                          {"tiny_fc_caffe", Preprocess::Caffe}, {"tiny_fc_odd", Preprocess::Torch},
                          {"a_gap", Preprocess::Torch}, {"tiny_fc_nopool", Preprocess::Torch}};
    const char* files[] = {"w.safetensors", "w_timm.safetensors", "w.pth", "w_legacy.pth", "w.h5"};
    int checked = 0;
    for (const Case& c : cases) {
        std::string dir = data_path(std::string("oracle/") + c.dir + "/");
        Image img = image_load(dir + "input.png");
        NpyArray ref_in = npy_read(dir + "input_nchw.npy");
        for (const char* f : files) {
            std::vector<uint8_t> bytes;
            try { bytes = read_file(dir + f); } catch (const Error&) { continue; }   // not every case has timm
            INFO(c.dir << "/" << f);
            const bool keras = std::string(f) == "w.h5";
            std::unique_ptr<Vgg> net = vgg_load(std::move(bytes), {}, img.width);   // adopts the file's bytes
            const VggArch& a = net->arch();
            REQUIRE(a.input_size == img.width);
            for (const DenseParams& d : net->dense())   // float32 dense weights are used in place, not copied
                CHECK(!d.w.own == !keras);
            std::vector<float> x = prepare_input(img, a, ResizeMode::Exact, c.pre);
            const int S = a.input_size;
            for (int ch = 0; ch < 3; ch++)   // bit-exact preprocessing
                for (int p = 0; p < S * S; p++) REQUIRE(x[(size_t)p * 3 + ch] == ref_in.data[(size_t)ch * S * S + p]);
            net->forward(x.data());
            NpyArray lg = npy_read(dir + "logits.npy");
            REQUIRE(lg.data.size() == (size_t)net->num_classes());
            CHECK(rel_l2(net->logits(), lg.data.data(), lg.data.size()) < 1e-4);
            for (const LayerInfo& l : net->layers()) {
                if (l.name == "predictions") continue;
                NpyArray r = npy_read(dir + "act_" + l.name + ".npy");
                REQUIRE(r.data.size() == l.size());
                if (l.kind != LayerInfo::Dense && l.kind != LayerInfo::Gap)
                    REQUIRE(r.shape == std::vector<int64_t>{l.h, l.w, l.c});
                double e = rel_l2(net->act(l), r.data.data(), l.size());
                INFO(l.name << " rel_l2 " << e);
                CHECK(e < 1e-4);
            }
            checked++;
        }
    }
    CHECK(checked == 26);
}

TEST_CASE("the architecture is inferred from the file") {
    std::vector<uint8_t> b = read_file(data_path("oracle/tiny_fc_odd/w.pth"));   // no metadata in a .pth
    TensorFile tf = load_weights(b.data(), b.size());
    VggArch a = vgg_infer_arch(tf);
    CHECK(a.cfg_string() == "8,M,16,16,M,24,M");
    CHECK(a.head == Head::Fc);
    CHECK(a.hidden1 == 32);
    CHECK(a.num_classes == 7);
    CHECK(a.input_size == 32);                         // 4x4 final map, 3 pools, nothing else known
    CHECK(vgg_infer_arch(tf, {}, 36).input_size == 36);  // a 36 px image floors to the same 4x4
    CHECK(vgg_infer_arch(tf, {}, 50).input_size == 32);  // 50 does not fit: resize to 32
    std::vector<uint8_t> h = read_file(data_path("oracle/tiny_fc_caffe/w.h5"));
    TensorFile th = load_weights(h.data(), h.size());
    VggArch k = vgg_infer_arch(th);
    CHECK(k.layout == Layout::Keras);
    CHECK(k.preprocess == Preprocess::Caffe);
    CHECK(k.cfg_string() == "8,M,16,M,32,32,M");
    std::vector<uint8_t> g = read_file(data_path("oracle/tiny_gap/w_legacy.pth"));
    TensorFile tg = load_weights(g.data(), g.size());
    CHECK(vgg_infer_arch(tg, {}, 32).cfg_string() == "8,M,16,M,32,32");   // gap: no trailing pool (CAM)
    CHECK(vgg_infer_arch(tg, {}, 32).head == Head::Gap);
    CHECK(vgg_infer_arch(tg, {}, 0).input_size == 224);
}

namespace {
std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "(no error)";
}
bool has(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }
}  // namespace

TEST_CASE("contradictions and broken state dicts give clear errors") {
    std::vector<uint8_t> b = read_file(data_path("oracle/tiny_fc/w.safetensors"));
    TensorFile tf = load_weights(b.data(), b.size());
    ArchOverrides ov;
    ov.cfg = "8,M,16,M,32,M";
    CHECK(has(error_of([&] { vgg_infer_arch(tf, ov); }), "does not match the file's layers"));
    ov = {};
    ov.head = "gap";
    CHECK(has(error_of([&] { vgg_infer_arch(tf, ov); }), "holds a fc head"));
    ov = {};
    ov.input_size = 64;
    CHECK(has(error_of([&] { vgg_infer_arch(tf, ov); }), "classifier expects 4x4"));

    TensorFile missing = tf;
    missing.tensors.erase(missing.tensors.begin() + (tf.find("classifier.3.weight") - &tf.tensors[0]));
    CHECK(has(error_of([&] { vgg_infer_arch(missing); }), "classifier"));

    TensorFile wrong = tf;
    for (TensorRef& t : wrong.tensors)
        if (t.name == "features.3.weight") t.shape = {16, 4, 3, 3}, t.nbytes = 16 * 4 * 9 * 4;
    CHECK(has(error_of([&] { vgg_infer_arch(wrong); }), "input channels do not match"));

    TensorFile badfc = tf;
    for (TensorRef& t : badfc.tensors)
        if (t.name == "classifier.3.weight") t.shape = {64, 32}, t.nbytes = 64 * 32 * 4;
    CHECK(has(error_of([&] { vgg_infer_arch(badfc); }), "takes 32 inputs"));

    TensorFile none;
    none.format = "safetensors";
    CHECK(has(error_of([&] { vgg_infer_arch(none); }), "unrecognised weight layout"));

    TensorFile nan = vgg_random_weights({4, 0}, 3, 8, Head::Gap, 0, 3, 1);
    ((float*)nan.owned[0]->data())[5] = NAN;
    CHECK(has(error_of([&] { Vgg v(vgg_params(nan)); }), "NaN"));
}

TEST_CASE("zero-sized and absurd layers are refused, naming the tensor") {
    std::vector<uint8_t> b = read_file(data_path("oracle/tiny_fc/w.safetensors"));
    TensorFile tf = load_weights(b.data(), b.size());
    auto with_shape = [&](const char* name, std::vector<int64_t> shape) {
        TensorFile t = tf;
        for (TensorRef& r : t.tensors)
            if (r.name == name) r.shape = shape, r.nbytes = 0;
        return t;
    };
    // 0 output channels once read as a max-pool: layers and weights fell out of step
    CHECK(has(error_of([&] { vgg_infer_arch(with_shape("features.0.weight", {0, 3, 3, 3})); }),
              "'features.0.weight' has shape [0,3,3,3]: a zero-sized tensor"));
    CHECK(has(error_of([&] { vgg_infer_arch(with_shape("features.0.weight", {8, 0, 3, 3})); }), "zero-sized"));
    CHECK(has(error_of([&] { vgg_infer_arch(with_shape("features.0.bias", {0})); }), "zero-sized"));
    CHECK(has(error_of([&] { vgg_infer_arch(with_shape("classifier.0.weight", {0, 128})); }), "zero-sized"));
    CHECK(has(error_of([&] { vgg_infer_arch(with_shape("features.0.weight", {65536, 3, 3, 3})); }),
              "65536 output and 3 input channels; at most"));
    // the same from a real file: a safetensors whose first conv has 0 outputs
    std::string hdr = R"({"features.0.weight":{"dtype":"F32","shape":[0,3,3,3],"data_offsets":[0,0]},)"
                      R"("classifier.0.weight":{"dtype":"F32","shape":[2,0],"data_offsets":[0,0]}})";
    std::vector<uint8_t> f(8 + hdr.size());
    f[0] = (uint8_t)hdr.size();
    std::memcpy(f.data() + 8, hdr.data(), hdr.size());
    TensorFile zf = load_weights(f.data(), f.size());
    CHECK(has(error_of([&] { vgg_infer_arch(zf); }), "zero-sized"));
}

TEST_CASE("the working memory of a plan is checked against the budget before allocating") {
    // vgg_activation_bytes counts what Vgg allocates: compare with a naive sum for a small net
    VggArch a;
    a.cfg = {8, 0, 16};
    a.in_channels = 3, a.input_size = 32, a.head = Head::Gap, a.num_classes = 5;
    auto pad = [](uint64_t n) { return (n + 15) / 16 * 16 + 16; };
    uint64_t floats = pad(32 * 32 * 8) + pad(16 * 16 * 8) + pad(16 * 16 * 16) + pad(16) + pad(5);
    uint64_t ptrs = 2 * (32 * 32 + 16) * 9 + 16 * 16 * 4 + 2 * (16 * 16 + 16) * 9;
    CHECK(vgg_activation_bytes(a) == 4 * (2 * floats + 2 * (32 * 32 * 3 + 16) + 32 * 32 * 8) + sizeof(void*) * ptrs);

    // a gap model without a fixed size takes a square image's side, but not past the budget
    TensorFile gap = vgg_random_weights({8, 0, 16}, 3, 32, Head::Gap, 0, 5, 1);
    gap.metadata.erase("input_size");
    const uint64_t saved = activation_budget();
    CHECK(vgg_infer_arch(gap, {}, 600).input_size == 600);
    VggArch at600 = vgg_infer_arch(gap, {}, 600);
    set_activation_budget(vgg_activation_bytes(at600) - 1);
    CHECK(vgg_infer_arch(gap, {}, 600).input_size == 224);   // too big: the default size instead
    ArchOverrides ov;
    ov.input_size = 600;                                     // asked for: an error naming both sizes
    std::string e = error_of([&] { vgg_infer_arch(gap, ov); });
    CHECK(has(e, "input size 600x600 needs"));
    CHECK(has(e, "the limit is"));
    CHECK(has(error_of([&] { Vgg v(vgg_params(gap), 600); }), "input size 600x600 needs"));   // refused before allocating
    set_activation_budget(saved);
    // metadata asking for 2^20 px (VGG16 there needs petabytes): refused, no allocation
    TensorFile huge = vgg_random_weights({8, 0, 16}, 3, 32, Head::Gap, 0, 5, 1);
    huge.metadata["input_size"] = "1048576";
    CHECK(has(error_of([&] { vgg_infer_arch(huge); }), "input size 1048576x1048576 needs"));
}

TEST_CASE("top_k and class names") {
    float logits[5] = {0.1f, 2.0f, -1.0f, 2.0f, 0.5f};
    std::vector<Prediction> p = top_k(logits, 5, 3);
    REQUIRE(p.size() == 3);
    CHECK(p[0].index == 1);   // ties keep the lower index first
    CHECK(p[1].index == 3);
    CHECK(p[2].index == 4);
    double z = 0;
    for (float l : logits) z += std::exp((double)l);
    CHECK(p[0].prob == doctest::Approx(std::exp(2.0) / z));
    VggArch a;
    CHECK(class_name(a, 281) == "tabby");
    CHECK(class_name(a, 517) == "crane (machine)");
    CHECK(class_find(a, "n02123045") == 281);
    CHECK(class_find(a, "Tabby") == 281);
    CHECK(class_find(a, "999") == 999);
    CHECK(class_find(a, "1000") == -1);
}
