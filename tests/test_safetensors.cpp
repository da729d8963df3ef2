// safetensors reader: dtypes (F32/F16/BF16), batch-norm state dicts, and damaged files.
#include <doctest/doctest.h>

#include <cstring>
#include <random>

#include "core/error.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "model/predict.h"
#include "test_util.h"

using namespace cnnlens;
using namespace cnnlens_test;

static std::vector<float> all_values(const TensorFile& tf) {
    std::vector<float> v;
    for (const TensorRef& t : tf.tensors) {
        std::vector<float> x((size_t)t.numel());
        tensor_to_f32(t, x.data());
        v.insert(v.end(), x.begin(), x.end());
    }
    return v;
}

TEST_CASE("safetensors: F16 and BF16 tensors convert exactly as torch does") {
    for (const char* tag : {"f16", "bf16"}) {
        INFO(tag);
        std::vector<uint8_t> b = read_file(data_path(std::string("extra/w_") + tag + ".safetensors"));
        TensorFile tf = load_safetensors(b.data(), b.size());
        CHECK(tf.tensors[0].dtype == (std::string(tag) == "f16" ? DType::F16 : DType::BF16));
        NpyArray want = npy_read(data_path(std::string("extra/w_") + tag + "_values.npy"));
        std::vector<float> got = all_values(tf);
        REQUIRE(got.size() == want.data.size());
        CHECK(std::memcmp(got.data(), want.data.data(), got.size() * 4) == 0);
        // and the network still runs on them (half precision weights: a looser match to the F32 reference)
        Image img = image_load(data_path("oracle/tiny_fc/input.png"));
        std::unique_ptr<Vgg> net = vgg_load(b.data(), b.size(), {}, img.width);
        std::vector<float> x = prepare_input(img, net->arch(), ResizeMode::Exact, Preprocess::Torch);
        net->forward(x.data());
        NpyArray lg = npy_read(data_path("oracle/tiny_fc/logits.npy"));
        CHECK(rel_l2(net->logits(), lg.data.data(), lg.data.size()) < 3e-2);
    }
}

TEST_CASE("batch norm (vgg*_bn layout) is folded into the convs") {
    for (const char* f : {"w_bn.pth", "w_bn.safetensors"}) {
        INFO(f);
        std::vector<uint8_t> b = read_file(data_path(std::string("extra/bn/") + f));
        TensorFile tf = load_weights(b.data(), b.size());
        VggArch a = vgg_infer_arch(tf, {}, 32);
        CHECK(a.batch_norm);
        CHECK(a.cfg_string() == "8,M,16,16,M,12,M");
        Vgg net(vgg_params(tf, {}, 32));
        Image img = image_load(data_path("oracle/tiny_fc/input.png"));
        std::vector<float> x = prepare_input(img, a, ResizeMode::Exact, Preprocess::Torch);
        net.forward(x.data());
        CHECK(rel_l2(net.logits(), npy_read(data_path("extra/bn/logits.npy")).data.data(), 6) < 1e-4);
        for (const LayerInfo& l : net.layers()) {
            if (l.name == "predictions") continue;
            NpyArray r = npy_read(data_path("extra/bn/act_" + l.name + ".npy"));
            REQUIRE(r.data.size() == l.size());
            INFO(l.name);
            CHECK(rel_l2(net.act(l), r.data.data(), l.size()) < 1e-4);
        }
    }
    std::vector<uint8_t> b = read_file(data_path("extra/bn/w_bn.safetensors"));
    TensorFile tf = load_safetensors(b.data(), b.size());
    CHECK(tf.metadata["skipped"].find("features.1.num_batches_tracked") != std::string::npos);
}

static std::string load_error(const std::vector<uint8_t>& b) {
    try {
        TensorFile tf = load_weights(b.data(), b.size());
        VggArch a = vgg_infer_arch(tf, {}, 32);
        Vgg net(vgg_params(tf, {}, 32));
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

TEST_CASE("safetensors: truncated, corrupt and absurd files give an error, never a crash") {
    const std::vector<uint8_t> good = read_file(data_path("oracle/tiny_fc/w.safetensors"));
    CHECK(load_error(good).empty());
    for (int k = 0; k < 300; k++) {   // every cut fails: the header or the data is short
        size_t n = good.size() * (size_t)k / 300;
        std::vector<uint8_t> cut(good.begin(), good.begin() + n);
        INFO("cut at " << n);
        CHECK(!load_error(cut).empty());
    }
    std::mt19937 rng(5);
    int parsed = 0;
    for (int k = 0; k < 400; k++) {   // random damage: an error or a file that still loads
        std::vector<uint8_t> bad = good;
        size_t hdr = 8 + (size_t)bad[0] + ((size_t)bad[1] << 8);
        for (int j = 0; j < 3; j++) bad[rng() % std::min(bad.size(), hdr + 64)] ^= (uint8_t)(1 + rng() % 255);
        parsed += load_error(bad).empty();
    }
    MESSAGE(parsed << " of 400 damaged headers still loaded");

    auto with_header = [](const std::string& json, size_t data_bytes) {
        std::vector<uint8_t> b(8 + json.size() + data_bytes, 0);
        uint64_t n = json.size();
        std::memcpy(b.data(), &n, 8);
        std::memcpy(b.data() + 8, json.data(), json.size());
        return b;
    };
    std::vector<uint8_t> huge = good;
    for (int i = 0; i < 8; i++) huge[(size_t)i] = i == 7 ? 0x10 : 0;   // header length 2^60
    CHECK(load_error(huge).find("header length") != std::string::npos);
    CHECK(load_error(with_header(R"({"a":{"dtype":"F32","shape":[1000000000,1000000000],"data_offsets":[0,16]}})", 16))
              .find("needs") != std::string::npos);
    // empty tensors whose other dimensions do not fit int64 (a negative dimension, an overflowing numel())
    CHECK(load_error(with_header(R"({"a":{"dtype":"F32","shape":[9223372036854775809,0],"data_offsets":[0,0]}})", 0))
              .find("overflows") != std::string::npos);
    CHECK(load_error(with_header(R"({"a":{"dtype":"F32","shape":[2305843009213693952,4,0],"data_offsets":[0,0]}})", 0))
              .find("overflows") != std::string::npos);
    CHECK(load_error(with_header(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,64]}})", 16))
              .find("outside") != std::string::npos);
    CHECK(load_error(with_header(R"({"a":{"dtype":"C64","shape":[2],"data_offsets":[0,16]}})", 16))
              .find("unsupported dtype") != std::string::npos);
    CHECK(load_error(with_header(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]})", 16))
              .find("malformed") != std::string::npos);
    CHECK(load_error(with_header(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 16))
              .find("unrecognised weight layout") != std::string::npos);
    // An empty tensor whose shape multiplies past int64 before its 0, a repeated name, a name
    // with a line break (shown escaped: errors stay on one line).
    CHECK(load_error(with_header(R"({"a":{"dtype":"F32","shape":[9223372036854775808,0],"data_offsets":[0,0]}})", 0)) ==
          "safetensors: tensor 'a' shape overflows");
    CHECK(load_error(with_header(R"({"a":{"dtype":"F32","shape":[4611686018427387904,2,0],"data_offsets":[0,0]}})", 0)) ==
          "safetensors: tensor 'a' shape overflows");
    CHECK(load_error(with_header(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                                 R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 16)) ==
          "safetensors: tensor 'a' appears twice in the header");
    CHECK(load_error(with_header(R"({"a
b":{"dtype":"F32","shape":[4],"data_offsets":[0,64]}})", 16))
              .find("safetensors: tensor 'a\\x0ab' has data_offsets [0,64]") == 0);
    // two tensors sharing bytes (the engine reads tensors in place beside one it rewrites)
    CHECK(load_error(with_header(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},)"
                                 R"("b":{"dtype":"F16","shape":[2],"data_offsets":[14,18]}})", 32)) ==
          "safetensors: tensors 'a' and 'b' share bytes (overlapping data_offsets)");
    CHECK(load_error(with_header(R"({"b":{"dtype":"F16","shape":[2],"data_offsets":[16,20]},)"
                                 R"("a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", 20))
              .find("share bytes") == std::string::npos);   // adjacent, in any order: fine
    CHECK(load_error({}).find("empty") != std::string::npos);
    std::vector<uint8_t> text = {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'};
    CHECK(load_error(text).find("unsupported weight file format") != std::string::npos);
}
