// cnnlens pack: float16 conversions, the float16 / int8 fully connected products, and packed
// files that load (fc weights kept compact, in place) and give the float32 network's answers.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/file.h"
#include "core/half.h"
#include "core/rng.h"
#include "explain/methods.h"
#include "io/image.h"
#include "io/npy.h"
#include "io/safetensors_write.h"
#include "io/weights.h"
#include "model/layers.h"
#include "model/pack.h"
#include "model/predict.h"
#include "model/vgg.h"
#include "test_util.h"

using namespace cnnlens;
using namespace cnnlens_test;

TEST_CASE("half: every finite half survives float and back; floats round to the nearest half, ties to even") {
    for (uint32_t h = 0; h < 65536; h++)
        if ((h & 0x7c00) != 0x7c00) {
            REQUIRE(float_to_half(half_to_float((uint16_t)h)) == h);
            const float f = half_to_float((uint16_t)h), g = half_to_float_finite((uint16_t)h);   // the lean kernels' conversion
            REQUIRE(std::memcmp(&f, &g, 4) == 0);
        }
    CHECK(float_to_half(65504.0f) == 0x7bff);
    CHECK(float_to_half(65520.0f) == 0x7c00);              // halfway to 65536: even is infinity
    CHECK(float_to_half(1.0f + 0x1p-11f) == 0x3c00);      // halfway between 1 and 1 + 2^-10: to even (1)
    CHECK(float_to_half(1.0f + 3 * 0x1p-11f) == 0x3c02);  // halfway, odd below: up
    CHECK(float_to_half(0x1p-25f) == 0);                    // half the smallest subnormal: to even (0)
    CHECK(float_to_half(0x1.8p-25f) == 1);
    Rng rng(3);
    for (int i = 0; i < 20000; i++) {   // the result is the nearest of its neighbours
        const float f = (float)(rng.normal() * std::pow(2.0, (int)rng.below(40) - 26));
        const uint16_t h = float_to_half(f);
        const double d = std::fabs((double)f - half_to_float(h));
        for (int s : {-1, 1}) {
            const uint16_t n = (uint16_t)(h + s);
            if ((n & 0x7fff) >= 0x7c00 || ((h & 0x7fff) == 0 && s < 0)) continue;
            REQUIRE(d <= std::fabs((double)f - half_to_float(n)));
        }
    }
}

TEST_CASE("layers: float16 and int8 rows give the naive product of their float32 values, forwards, batched and transposed") {
    for (int in : {1, 7, 16, 33, 200}) {
        const int out = 37, n = 5;
        const std::vector<float> src = random_values<float>((size_t)in * out, 1), b = random_values<float>(out, 2),
                                 X = random_values<float>((size_t)n * in, 3), dy = random_values<float>(out, 4);
        std::vector<uint16_t> h(src.size());
        for (size_t k = 0; k < src.size(); k++) h[k] = float_to_half(src[k]);
        std::vector<int8_t> q(src.size());
        std::vector<float> scale(out);
        for (int o = 0; o < out; o++) {
            scale[o] = 0.01f * (o + 1);
            for (int i = 0; i < in; i++) q[(size_t)o * in + i] = (int8_t)((o * 31 + i * 7) % 255 - 127);
        }
        for (const WeightRows& W : {WeightRows(WType::F16, h.data()), WeightRows(WType::I8, q.data(), scale.data())}) {
            CAPTURE(in);
            CAPTURE((int)W.type);
            std::vector<float> Wf((size_t)in * out);   // the values, row by row
            for (int o = 0; o < out; o++) W.row(o, in, 0, in, Wf.data() + (size_t)o * in);
            for (int o = 0; o < out; o++)   // row() agrees with the scalar definitions
                for (int i = 0; i < in; i++) {
                    const size_t k = (size_t)o * in + i;
                    REQUIRE(Wf[k] == (W.type == WType::F16 ? half_to_float(h[k]) : scale[o] * q[k]));
                }
            std::vector<float> y1(out), y2(out), Y1((size_t)n * out), Y2((size_t)n * out), dx1(in), dx2(in);
            linear_forward_naive(Wf.data(), b.data(), X.data(), in, out, true, y1.data());
            linear_forward(W, b.data(), X.data(), in, out, true, y2.data(), nullptr);
            CHECK(rel_l2(y2.data(), y1.data(), out) < 1e-6);
            for (int j = 0; j < n; j++)
                linear_forward_naive(Wf.data(), b.data(), X.data() + (size_t)j * in, in, out, false, Y1.data() + (size_t)j * out);
            linear_forward_batch(W, b.data(), X.data(), n, in, out, false, Y2.data(), nullptr);
            CHECK(rel_l2(Y2.data(), Y1.data(), Y1.size()) < 1e-6);
            linear_backward_naive(Wf.data(), dy.data(), in, out, dx1.data());
            linear_backward(W, dy.data(), in, out, dx2.data(), nullptr);
            CHECK(rel_l2(dx2.data(), dx1.data(), in) < 1e-6);
        }
    }
}

namespace {

// The logits of a network on one input, float32 file vs packed file.
struct Pair { std::vector<float> ref, packed; };
Pair run_both(std::vector<uint8_t> file, PackKind kind, const std::vector<float>& x, int side) {
    TensorFile tf = load_weights(file.data(), file.size());
    std::vector<uint8_t> packed = vgg_pack(vgg_params(tf, {}, side), kind);
    std::unique_ptr<Vgg> a = vgg_load(std::move(file), {}, side), b = vgg_load(std::move(packed), {}, side);
    for (const DenseParams& d : b->dense()) {   // kept compact, in place in the file
        CHECK((d.w.rows.type == (kind == PackKind::F16 ? WType::F16 : WType::I8)));
        CHECK(!d.w.own);
    }
    a->forward(x.data());
    b->forward(x.data());
    return {std::vector<float>(a->logits(), a->logits() + a->num_classes()),
            std::vector<float>(b->logits(), b->logits() + b->num_classes())};
}

}  // namespace

TEST_CASE("pack: float16 and int8-fc files of an fc-head network (fc1 unflattened) give its logits") {
    // final map 4x4x12: fc1's columns go back to torch's C,H,W order in the file
    TensorFile tf = vgg_random_weights({8, 0, 12, 0}, 3, 16, Head::Fc, 64, 9, 5);
    std::vector<SafetensorsEntry> es;
    for (const TensorRef& t : tf.tensors) {
        std::vector<float> v((size_t)t.numel());
        tensor_to_f32(t, v.data());
        es.emplace_back(t.name, t.shape, v);
    }
    const std::vector<uint8_t> file = safetensors_serialize(es, {});
    const std::vector<float> x = random_values<float>(16 * 16 * 3, 7, -2, 2);
    const Pair f16 = run_both(file, PackKind::F16, x, 16), i8 = run_both(file, PackKind::Int8Fc, x, 16);
    CHECK(rel_l2(f16.packed.data(), f16.ref.data(), 9) < 1e-3);
    CHECK(rel_l2(i8.packed.data(), i8.ref.data(), 9) < 2e-2);
    CHECK(rel_l2(i8.packed.data(), i8.ref.data(), 9) > 1e-5);   // it was really quantised
}

TEST_CASE("pack: a compact pack runs lean: float16 kernels used in place, Gemm for the large ones, the same numbers") {
    // block2's 192 x 192 kernel at 32x32 would take 5.3 MB as Winograd's: Gemm in a lean network
    const int S = 64;
    TensorFile tf = vgg_random_weights({64, 0, 192, 192, 0}, 3, S, Head::Fc, 32, 10, 11);
    const std::vector<uint8_t> packed = vgg_pack(vgg_params(tf, {}, S), PackKind::F16);
    std::unique_ptr<Vgg> lean = vgg_load(std::vector<uint8_t>(packed), {}, S);
    VggParams p = lean->params();
    CHECK(p.lean);
    for (const ConvParams& c : p.convs) {   // no float32 copy: the file's float16, in place
        CHECK(c.w.empty());
        REQUIRE(c.f16 != nullptr);
        CHECK(((const uint8_t*)c.f16 >= p.file->data() && (const uint8_t*)c.f16 < p.file->data() + p.file->size()));
    }
    CHECK(lean->conv_algo(0) == Conv3x3::Direct);
    CHECK(lean->conv_algo(1) == Conv3x3::Direct);   // 442 KB of kernels
    CHECK(lean->conv_algo(2) == Conv3x3::Gemm);
    p.lean = false;   // the same weights, the engine's fast choice: Winograd for block2's second conv
    Vgg fast(p, S);
    CHECK(fast.conv_algo(2) == Conv3x3::Winograd);
    lean->set_threads(2);
    const std::vector<float> x = random_values<float>((size_t)S * S * 3, 5, -2, 2);
    lean->forward(x.data());
    fast.forward(x.data());
    const int K = lean->num_classes();
    CHECK(rel_l2(lean->logits(), fast.logits(), (size_t)K) < 1e-5);
    const int cls = (int)(std::max_element(fast.logits(), fast.logits() + K) - fast.logits());
    lean->backward(cls);
    fast.backward(cls);
    const size_t n = (size_t)S * S * 3;
    CHECK(rel_l2(lean->input_grad(), fast.input_grad(), n) < 1e-5);
    CHECK(rel_l2(lean->input_grad(), fast.input_grad(), n) > 0);   // other sums: really the other algorithm
    for (const LayerInfo& l : lean->layers())
        if (l.kind == LayerInfo::Conv) CHECK(rel_l2(lean->grad(l), fast.grad(l), l.size()) < 1e-5);
    // occlusion's incremental pass on the lean network: the bits of a whole forward of the edit
    std::vector<float> v(4 * 4 * 3, 0.5f), edited(x);
    const Patch edit{30, 25, 34, 29, v.data()};
    patch_read(x.data(), S, S, 3, edit, 0, 0, S, S, edited.data());
    lean->batched_convs(true);
    CHECK(lean->conv_algo(2) == Conv3x3::Gemm);   // batched work too: lean stays lean
    std::vector<float> map(lean->head_input().size());
    lean->forward(x.data());
    lean->forward_patches(&edit, 1, map.data());
    lean->forward(edited.data());
    CHECK(std::equal(map.begin(), map.end(), lean->act(lean->head_input())));
}

TEST_CASE("pack: tensors used in place may not share bytes (an aliased kernel would change after its check)") {
    TensorFile tf = vgg_random_weights({8, 0, 12, 0}, 3, 16, Head::Fc, 64, 9, 5);
    auto buf = std::make_shared<std::vector<uint8_t>>(vgg_pack(vgg_params(tf, {}, 16), PackKind::F16));
    TensorFile packed = load_weights(buf->data(), buf->size());
    CHECK_NOTHROW(vgg_params(packed, {}, 16, buf));
    TensorRef* conv = nullptr;
    const TensorRef* fc1 = packed.find("classifier.0.weight");
    for (TensorRef& t : packed.tensors)
        if (t.name == "features.3.weight") conv = &t;
    REQUIRE((conv && fc1 && conv->nbytes < fc1->nbytes));
    conv->data = fc1->data + 2;   // the kernel's bytes inside fc1's (finite halves: its own check passes)
    std::string msg;
    try {
        vgg_params(packed, {}, 16, buf);
    } catch (const Error& e) {
        msg = e.what();
    }
    CHECK(msg.find("share bytes") != std::string::npos);
}

TEST_CASE("pack: the oracle's networks, packed, keep their top-1 and logits; the built-in model its accuracy on its gallery") {
    for (const std::string dir : {"tiny_fc", "tiny_gap", "tiny_fc_caffe", "tiny_fc_odd", "a_gap", "tiny_fc_nopool"}) {
        CAPTURE(dir);
        const std::string d = data_path("oracle/" + dir + "/");
        const NpyArray in = npy_read(d + "input_nchw.npy"), logits = npy_read(d + "logits.npy");
        const int S = (int)in.shape[2], C = (int)in.shape[1], K = (int)logits.data.size();
        std::vector<float> x((size_t)S * S * C);   // NCHW -> HWC
        for (int c = 0; c < C; c++)
            for (int p = 0; p < S * S; p++) x[(size_t)p * C + c] = in.data[(size_t)c * S * S + p];
        for (PackKind kind : {PackKind::F16, PackKind::Int8Fc}) {
            const Pair r = run_both(read_file(d + "w.safetensors"), kind, x, S);
            CHECK(rel_l2(r.ref.data(), logits.data.data(), K) < 1e-4);
            // random weights: logits are small sums of cancelling terms, so relative errors run
            // higher than on a trained network (measured here: float16 up to 1.3e-3, int8 2.2e-2)
            CHECK(rel_l2(r.packed.data(), logits.data.data(), K) < (kind == PackKind::F16 ? 3e-3 : 5e-2));
            MESSAGE(dir << " " << std::string(pack_kind_name(kind)) << ": logits relative L2 error "
                        << rel_l2(r.packed.data(), logits.data.data(), K));
            CHECK(top_k(r.packed.data(), K, 1)[0].index == top_k(logits.data.data(), K, 1)[0].index);
        }
    }
}

TEST_CASE("pack: the metadata travels (classes, preprocessing, description, markers) and hostile compact files are refused") {
    const std::string cheater = data_path("../../assets/fashion_mnist_cheater.safetensors");
    std::vector<uint8_t> bytes = read_file(cheater);
    TensorFile tf = load_weights(bytes.data(), bytes.size());
    const VggParams p = vgg_params(tf);
    const std::vector<uint8_t> packed = vgg_pack(p, PackKind::Int8Fc, {{"packed_from", "x"}});
    TensorFile pt = load_weights(packed.data(), packed.size());
    const VggArch a = vgg_infer_arch(pt);
    CHECK(a.class_names == p.arch.class_names);
    CHECK(a.preprocess == Preprocess::MeanStd);
    CHECK(a.mean == p.arch.mean);
    CHECK(a.std == p.arch.std);
    CHECK(a.about == p.arch.about);
    CHECK(a.marker.positions == p.arch.marker.positions);
    CHECK(a.input_size == 28);
    CHECK(pt.metadata.at("packed") == "int8-fc");
    CHECK(packed.size() < bytes.size() / 2 + 4096);

    // hostile: an int8 weight without its scales, scales of the wrong shape, an int8 conv, a float16 infinity
    auto entries = [&](const TensorFile& f) {
        std::vector<SafetensorsEntry> es;
        for (const TensorRef& t : f.tensors)
            es.emplace_back(t.name, t.shape, dtype_name(t.dtype), std::vector<uint8_t>(t.data, t.data + t.nbytes));
        return es;
    };
    auto refused = [&](std::vector<SafetensorsEntry> es, const char* what) {
        CAPTURE(what);
        const std::vector<uint8_t> f = safetensors_serialize(es, pt.metadata);
        std::string msg;
        try {
            vgg_load(std::vector<uint8_t>(f));
        } catch (const Error& e) {
            msg = e.what();
        }
        CHECK(msg.find(what) != std::string::npos);
    };
    std::vector<SafetensorsEntry> es = entries(pt);
    auto find = [&](std::vector<SafetensorsEntry>& v, const std::string& n) -> SafetensorsEntry& {
        for (SafetensorsEntry& e : v)
            if (e.name == n) return e;
        FAIL("no " << n);
        return v[0];
    };
    {
        std::vector<SafetensorsEntry> v = es;
        find(v, "classifier.0.weight_scale").name = "classifier.0.weight_scales";
        refused(v, "has no row scales");
    }
    {
        std::vector<SafetensorsEntry> v = es;
        SafetensorsEntry& s = find(v, "classifier.0.weight_scale");
        s.shape = {5}, s.bytes.resize(20);
        refused(v, "one scale per row");
    }
    {
        std::vector<SafetensorsEntry> v = es;
        SafetensorsEntry& w = find(v, "features.0.weight");
        w.dtype = "I8", w.bytes.resize(w.bytes.size() / 2);
        refused(v, "only fully connected weights may be");
    }
    {
        std::vector<SafetensorsEntry> v = es;
        SafetensorsEntry& w = find(v, "features.0.weight");
        w.bytes[6] = 0x00, w.bytes[7] = 0x7c;   // +inf
        refused(v, "NaN or infinity");
    }
}
