// test_keras_h5.cpp: the HDF5 reader (io/hdf5) and the Keras weight loader (io/keras_h5).
//
// Fixtures in tests/data/h5 are written by h5py (tests/data/h5/make_fixtures.py); values
// are compared exactly with the generator's expected bytes or formulas. Truncated and
// byte-flipped variants are made in memory: each must either parse or throw cnnlens::Error.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/hdf5.h"
#include "io/keras_h5.h"

#ifndef CNNLENS_TEST_DATA
#error "CNNLENS_TEST_DATA (path of tests/data) must be defined"
#endif

using namespace cnnlens;

namespace {

std::vector<uint8_t> read_fixture(const std::string& name) {
    std::string path = std::string(CNNLENS_TEST_DATA) + "/h5/" + name;
    std::vector<uint8_t> buf;
    FILE* f = std::fopen(path.c_str(), "rb");
    REQUIRE_MESSAGE(f, "cannot open " << path);
    uint8_t tmp[65536];
    size_t n;
    while ((n = std::fread(tmp, 1, sizeof tmp, f)) > 0) buf.insert(buf.end(), tmp, tmp + n);
    std::fclose(f);
    return buf;
}

std::string error_of(const std::function<void()>& fn) {
    try {
        fn();
    } catch (const Error& e) { return e.what(); }
    return "(no error)";
}

std::vector<float> floats(const TensorRef& t) {
    std::vector<float> v((size_t)t.numel());
    if (!v.empty()) tensor_to_f32(t, v.data());
    return v;
}

TensorRef ref(const H5Dataset& d) {
    TensorRef t;
    t.shape = d.shape;
    t.dtype = d.dtype;
    t.data = d.data;
    t.nbytes = d.nbytes;
    return t;
}

std::vector<float> floats(const H5Dataset& d) { return floats(ref(d)); }

bool inside(const uint8_t* p, const std::vector<uint8_t>& buf) {
    return p >= buf.data() && p < buf.data() + buf.size();
}

const char* kTinyLayers =
    "input_1,block1_conv1,block1_pool,block2_conv1,block2_pool,flatten,fc1,fc2,predictions";

struct Expect {
    const char* name;
    std::vector<int64_t> shape;
};
const std::vector<Expect> kTinyTensors = {
    {"block1_conv1/block1_conv1_W_1:0", {3, 3, 3, 4}},
    {"block1_conv1/block1_conv1_b_1:0", {4}},
    {"block2_conv1/block2_conv1_W_1:0", {3, 3, 4, 8}},
    {"block2_conv1/block2_conv1_b_1:0", {8}},
    {"fc1/fc1_W_1:0", {32, 8}},
    {"fc1/fc1_b_1:0", {8}},
    {"fc2/fc2_W_1:0", {8, 8}},
    {"fc2/fc2_b_1:0", {8}},
    {"predictions/predictions_W_1:0", {8, 10}},
    {"predictions/predictions_b_1:0", {10}},
};

}  // namespace

TEST_CASE("keras_h5: tiny VGG in every file flavour loads with exact values") {
    const std::vector<uint8_t> expected = read_fixture("keras_tiny_expected.bin");
    struct Flavour {
        const char* file;
        int superblock;
        uint64_t userblock;
    };
    for (Flavour fl : {Flavour{"keras_tiny.h5", 0, 0}, Flavour{"keras_tiny_latest.h5", 3, 0},
                       Flavour{"keras_tiny_ub512.h5", 0, 512}, Flavour{"keras_tiny_v108_off4.h5", 2, 0}}) {
        const std::string file = fl.file;
        CAPTURE(file);
        const std::vector<uint8_t> buf = read_fixture(file);
        H5File h5(buf.data(), buf.size());
        CHECK(h5.superblock_version() == fl.superblock);
        CHECK(h5.userblock_size() == fl.userblock);

        TensorFile tf = load_keras_h5(buf.data(), buf.size());
        CHECK(tf.format == "keras-h5");
        CHECK(tf.metadata["layer_names"] == kTinyLayers);
        REQUIRE(tf.tensors.size() == kTinyTensors.size());
        CHECK(tf.owned.empty());
        size_t off = 0;
        for (size_t i = 0; i < kTinyTensors.size(); i++) {
            const TensorRef& t = tf.tensors[i];
            CAPTURE(t.name);
            CHECK(t.name == kTinyTensors[i].name);
            CHECK(t.shape == kTinyTensors[i].shape);
            CHECK(t.dtype == DType::F32);
            REQUIRE(t.nbytes == (size_t)t.numel() * 4);
            CHECK(inside(t.data, buf));  // zero-copy view into the file
            REQUIRE(off + t.nbytes <= expected.size());
            CHECK(std::memcmp(t.data, expected.data() + off, t.nbytes) == 0);
            off += t.nbytes;
        }
        CHECK(off == expected.size());
        CHECK(tf.find("fc1/fc1_W_1:0") == &tf.tensors[4]);
    }
}

TEST_CASE("keras_h5: Keras 2 full-model layout (model_weights, nested weight names)") {
    const std::vector<uint8_t> buf = read_fixture("keras2_model.h5");
    TensorFile tf = load_keras_h5(buf.data(), buf.size());
    CHECK(tf.metadata["layer_names"] == "input_1,dense_1,dense_2");
    REQUIRE(tf.tensors.size() == 4);
    CHECK(tf.tensors[0].name == "dense_1/dense_1/kernel:0");
    CHECK(tf.tensors[1].name == "dense_1/dense_1/bias:0");
    CHECK(tf.tensors[2].name == "dense_2/dense_2/kernel:0");
    CHECK(tf.tensors[3].name == "dense_2/dense_2/bias:0");
    CHECK(tf.tensors[0].shape == std::vector<int64_t>{3, 4});
    CHECK(tf.tensors[3].shape == std::vector<int64_t>{2});
    std::vector<float> k = floats(tf.tensors[2]);
    REQUIRE(k.size() == 8);
    for (size_t i = 0; i < k.size(); i++) CHECK(k[i] == i * 0.5f - 1.0f);
    std::vector<float> b = floats(tf.tensors[1]);
    REQUIRE(b.size() == 4);
    for (size_t i = 0; i < b.size(); i++) CHECK(b[i] == i + 0.25f);

    H5File h5(buf.data(), buf.size());
    CHECK(h5.string_attribute("", "keras_version") == std::vector<std::string>{"2.2.4"});
    CHECK(h5.string_attribute("model_weights", "backend") == std::vector<std::string>{"tensorflow"});
}

TEST_CASE("keras_h5: layer_names split into layer_names0, layer_names1") {
    const std::vector<uint8_t> buf = read_fixture("keras_split_attrs.h5");
    TensorFile tf = load_keras_h5(buf.data(), buf.size());
    CHECK(tf.metadata["layer_names"] == "a,b,c");
    REQUIRE(tf.tensors.size() == 3);
    for (size_t i = 0; i < 3; i++) {
        CHECK(tf.tensors[i].name == std::string(1, char('a' + i)) + "/w");
        CHECK(floats(tf.tensors[i]) == std::vector<float>{float(i), float(i)});
    }
}

TEST_CASE("keras_h5: clear errors for non-Keras, non-HDF5 and empty input") {
    const std::vector<uint8_t> nolayers = read_fixture("no_layer_names.h5");
    CHECK(error_of([&] { load_keras_h5(nolayers.data(), nolayers.size()); }) ==
          "not a Keras weights file: no 'layer_names' attribute");
    const std::vector<uint8_t> raw = read_fixture("keras_tiny_expected.bin");
    CHECK(error_of([&] { load_keras_h5(raw.data(), raw.size()); }) == "not an HDF5 file (bad signature)");
    const uint8_t one = 0;
    CHECK(error_of([&] { load_keras_h5(&one, 0); }) == "not an HDF5 file (bad signature)");
    CHECK(error_of([&] { load_keras_h5(nullptr, 0); }) == "not an HDF5 file (bad signature)");
    const uint8_t sig_only[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    CHECK(error_of([&] { load_keras_h5(sig_only, 8); }).find("HDF5: truncated file: superblock") == 0);
}

TEST_CASE("hdf5: datasets, groups and attributes in default and 'latest' format") {
    for (const std::string file : {"variants.h5", "variants_latest.h5"}) {
        CAPTURE(file);
        const bool latest = file == "variants_latest.h5";
        const std::vector<uint8_t> buf = read_fixture(file);
        H5File h5(buf.data(), buf.size());
        CHECK(h5.superblock_version() == (latest ? 3 : 0));

        H5Dataset d = h5.dataset("f32_contig");
        CHECK(d.shape == std::vector<int64_t>{3, 4});
        CHECK(d.dtype == DType::F32);
        CHECK(inside(d.data, buf));
        CHECK(!d.owned);
        std::vector<float> v = floats(d);
        for (size_t i = 0; i < 12; i++) CHECK(v[i] == i * 0.5f - 2.0f);

        d = h5.dataset("/f16");
        CHECK(d.dtype == DType::F16);
        CHECK(d.nbytes == 30);
        v = floats(d);
        for (size_t i = 0; i < 15; i++) CHECK(v[i] == i * 0.125f - 1.0f);

        d = h5.dataset("f64");
        CHECK(d.dtype == DType::F64);
        CHECK(d.shape == std::vector<int64_t>{4, 3});
        for (size_t i = 0; i < 12; i++) {
            double x;
            std::memcpy(&x, d.data + 8 * i, 8);
            CHECK(x == i / 3.0);
        }

        struct Chunked {
            const char* name;
            std::vector<int64_t> shape;
            float scale, bias;
        };
        std::vector<Chunked> chunked = {{"chunked", {30, 40}, 0.25f, 0.0f},
                                        {"chunked_single", {6, 5}, 1.0f, 0.5f},
                                        {"chunked_implicit", {10, 12}, -1.0f, 0.0f}};
        if (latest) chunked.push_back({"chunked_paged", {33, 33}, 1.0f, 0.0f});
        for (const Chunked& c : chunked) {
            CAPTURE(c.name);
            d = h5.dataset(c.name);
            CHECK(d.shape == c.shape);
            REQUIRE(d.owned);
            CHECK(d.data == d.owned->data());
            v = floats(d);
            bool all = true;
            for (size_t i = 0; i < v.size(); i++) all = all && v[i] == float(i) * c.scale + c.bias;
            CHECK(all);
        }

        d = h5.dataset("compact");
        CHECK(inside(d.data, buf));
        CHECK(floats(d) == std::vector<float>{1.5f, 3.0f, 4.5f, 6.0f, 7.5f, 9.0f});
        d = h5.dataset("scalar");
        CHECK(d.shape.empty());
        CHECK(floats(d) == std::vector<float>{3.25f});
        CHECK(floats(h5.dataset("a/b/c/deep")) == std::vector<float>{7.0f, 8.0f});
        for (const char* name : {"empty", "empty2d", "empty_chunked"}) {
            CAPTURE(name);
            d = h5.dataset(name);
            CHECK(d.nbytes == 0);
            CHECK(d.shape.size() == (std::string(name) == "empty" ? 1u : 2u));
            CHECK(d.shape[0] == 0);
        }
        if (latest)
            CHECK(error_of([&] {
                      h5.dataset("resizable");
                  }).find("unsupported chunk index: extensible array") != std::string::npos);
        else
            CHECK(floats(h5.dataset("resizable")) == std::vector<float>{0, 1, 2, 3});

        CHECK(
            error_of([&] { h5.dataset("gzip"); }) ==
            "HDF5: unsupported HDF5 filter 1 (deflate/gzip): compressed or filtered datasets cannot be read "
            "(reading dataset 'gzip')");
        CHECK(error_of([&] { h5.dataset("int32"); }).find("unsupported datatype integer") !=
              std::string::npos);
        CHECK(error_of([&] { h5.dataset("big_endian"); }).find("big-endian") != std::string::npos);
        CHECK(error_of([&] { h5.dataset("unwritten"); }).find("no data written") != std::string::npos);
        CHECK(error_of([&] { h5.dataset("soft"); }).find("soft or external link") != std::string::npos);
        CHECK(error_of([&] { h5.dataset("a/b"); }).find("not a dataset") != std::string::npos);
        CHECK(error_of([&] { h5.dataset("a/nope"); }) ==
              "HDF5: no object named 'nope' in 'a/nope' (reading dataset 'a/nope')");

        CHECK(h5.exists("a/b/c/deep"));
        CHECK(!h5.exists("a/b/x"));
        CHECK(h5.is_group("a/b"));
        CHECK(!h5.is_group("scalar"));
        std::vector<std::string> many = h5.list("many");
        REQUIRE(many.size() == 150);
        CHECK(many.front() == "l000");
        CHECK(many[123] == "l123");
        CHECK(many.back() == "l149");
        CHECK(floats(h5.dataset("many/l137")) == std::vector<float>{3.25f});
        std::vector<std::string> ordered = h5.list("ordered");
        REQUIRE(ordered.size() == 10);
        CHECK(ordered[9] == "d9");
        CHECK(floats(h5.dataset("ordered/d7")) == std::vector<float>{7.0f});
        std::vector<std::string> root = h5.list("/");
        CHECK(std::find(root.begin(), root.end(), "soft") != root.end());
        CHECK(std::find(root.begin(), root.end(), "chunked_implicit") != root.end());

        using S = std::vector<std::string>;
        CHECK(h5.string_attribute("", "fixed") == S{"alpha", "be", "gamma"});
        CHECK(h5.string_attribute("", "vlen") == S{"one", "two", "three"});
        CHECK(h5.string_attribute("", "vlen_scalar") == S{"hello"});
        CHECK(h5.string_attribute("", "fixed_scalar") == S{"xyz"});
        CHECK(h5.string_attribute("", "empty").empty());
        CHECK(h5.string_attribute("", "null").empty());
        CHECK(error_of([&] {
                  h5.string_attribute("", "number");
              }).find("is not a string (datatype class integer)") != std::string::npos);
        CHECK(error_of([&] { h5.string_attribute("", "nope"); }).find("no attribute 'nope'") !=
              std::string::npos);
        CHECK(h5.has_attribute("/", "vlen"));
        CHECK(!h5.has_attribute("/", "nope"));
        CHECK(h5.attribute_names("dense_attrs").size() == 12);
        CHECK(h5.string_attribute("dense_attrs", "a07") == S{"v07"});
    }
}

// ---- robustness: every corrupt variant must parse or throw cnnlens::Error -----------------

TEST_CASE("hdf5: an object header continuation that points to itself is a loop") {
    std::vector<uint8_t> buf = read_fixture("variants.h5");
    // The root group's v1 header has a continuation message (type 0x10, 16 data bytes) at 112.
    const uint64_t at = 112, len = 24;
    REQUIRE(std::memcmp(buf.data() + at, "\x10\x00\x10\x00\x00\x00\x00\x00", 8) == 0);
    for (int i = 0; i < 8; i++) {
        buf[at + 8 + i] = (uint8_t)(at >> (8 * i));    // block address: the message itself
        buf[at + 16 + i] = (uint8_t)(len >> (8 * i));  // block length: just this message
    }
    H5File h5(buf.data(), buf.size());
    CHECK(error_of([&] { h5.list(""); }) ==
          "HDF5: corrupt file: object header continuation loop at 0x70 (reading group '')");
}

TEST_CASE("hdf5: a continuation block overlapping one already read is a loop") {
    std::vector<uint8_t> buf = read_fixture("variants.h5");
    // The root's first block is [96, 136); point its continuation into the middle of it.
    const uint64_t at = 112;
    REQUIRE(std::memcmp(buf.data() + at, "\x10\x00\x10\x00\x00\x00\x00\x00", 8) == 0);
    for (int i = 0; i < 8; i++) {
        buf[at + 8 + i] = (uint8_t)(uint64_t(120) >> (8 * i));
        buf[at + 16 + i] = (uint8_t)(uint64_t(16) >> (8 * i));
    }
    H5File h5(buf.data(), buf.size());
    CHECK(error_of([&] { h5.list(""); }) ==
          "HDF5: corrupt file: object header continuation loop at 0x78 (reading group '')");
}

namespace {

uint64_t le(const std::vector<uint8_t>& b, size_t at, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) v |= (uint64_t)b[at + i] << (8 * i);
    return v;
}

// Offset of the only structure with signature `sig` (4 bytes) for which ok(offset) holds.
size_t find_only(const std::vector<uint8_t>& b, const char* sig, const std::function<bool(size_t)>& ok) {
    size_t found = SIZE_MAX, count = 0;
    for (size_t i = 0; i + 8 <= b.size(); i++)
        if (std::memcmp(b.data() + i, sig, 4) == 0 && ok(i)) found = i, count++;
    REQUIRE_MESSAGE(count == 1, count << " structures " << sig << " match");
    return found;
}

}  // namespace

TEST_CASE("hdf5: a heap object referenced by many B-tree records is refused") {
    // Every record of the root's attribute (link) name index references one 4000-byte name
    // (tests/data/h5/make_hostile.py): 101 copies here, billions with a B-tree DAG.
    const std::vector<uint8_t> attrs = read_fixture("dense_attr_dup.h5");
    H5File a(attrs.data(), attrs.size());
    CHECK(error_of([&] { a.attribute_names(""); }) ==
          "HDF5: corrupt file: fractal heap object at 0x2a7a referenced twice (reading attributes of '')");
    CHECK(error_of([&] { load_keras_h5(attrs.data(), attrs.size()); }).find("referenced twice") != std::string::npos);
    const std::vector<uint8_t> links = read_fixture("dense_link_dup.h5");
    H5File l(links.data(), links.size());
    CHECK(error_of([&] { l.list(""); }) ==
          "HDF5: corrupt file: fractal heap object at 0x1d07 referenced twice (reading group '')");
    CHECK(error_of([&] { load_keras_h5(links.data(), links.size()); }) ==
          "HDF5: corrupt file: fractal heap object at 0x1d07 referenced twice (reading object 'model_weights')");

    // The same made by hand in variants_latest.h5: two of the 12 dense attributes share a name.
    std::vector<uint8_t> buf = read_fixture("variants_latest.h5");
    const size_t bthd = find_only(buf, "BTHD", [&](size_t i) { return buf[i + 5] == 8; });
    const size_t leaf = (size_t)le(buf, bthd + 16, 8);
    REQUIRE(le(buf, bthd + 24, 2) == 12);
    std::memcpy(buf.data() + leaf + 6 + 17, buf.data() + leaf + 6, 8);  // record 1's heap ID := record 0's
    H5File v(buf.data(), buf.size());
    CHECK(error_of([&] { v.attribute_names("dense_attrs"); }).find("referenced twice (reading attributes of 'dense_attrs')") !=
          std::string::npos);
}

TEST_CASE("hdf5: B-tree nodes reached twice and chunks stored twice are refused") {
    SUBCASE("v2 B-tree (dense links of 'many'): an inner node's second child made its first") {
        std::vector<uint8_t> buf = read_fixture("variants_latest.h5");
        const size_t bthd = find_only(buf, "BTHD", [&](size_t i) { return buf[i + 5] == 5 && le(buf, i + 12, 2) == 1; });
        const size_t root = (size_t)le(buf, bthd + 16, 8), nrec = (size_t)le(buf, bthd + 24, 2);
        const size_t kids = root + 6 + nrec * 11;  // records of 11 bytes, then (address, 1-byte count) per child
        std::memcpy(buf.data() + kids + 9, buf.data() + kids, 9);
        H5File h5(buf.data(), buf.size());
        CHECK(error_of([&] { h5.list("many"); }) ==
              strformat("HDF5: corrupt file: v2 B-tree node at 0x%llx reached twice (reading group 'many')",
                        (unsigned long long)le(buf, kids, 8)));
    }
    SUBCASE("v1 group B-tree ('many' in the old format): both children the same node") {
        std::vector<uint8_t> buf = read_fixture("variants.h5");
        const size_t tree = find_only(buf, "TREE", [&](size_t i) { return buf[i + 4] == 0 && buf[i + 5] == 1; });
        REQUIRE(le(buf, tree + 6, 2) == 2);
        std::memcpy(buf.data() + tree + 24 + 24, buf.data() + tree + 24 + 8, 8);  // key, child, key, child, key
        H5File h5(buf.data(), buf.size());
        CHECK(error_of([&] { h5.list("many"); }) ==
              strformat("HDF5: corrupt file: group B-tree node at 0x%llx reached twice (reading group 'many')",
                        (unsigned long long)le(buf, tree + 32, 8)));
    }
    SUBCASE("chunk B-tree of 'chunked': the second chunk entry a copy of the first") {
        std::vector<uint8_t> buf = read_fixture("variants.h5");
        H5File good(buf.data(), buf.size());
        const std::vector<float> want = floats(good.dataset("chunked"));
        // The first leaf of the 30x40 dataset's 3x3 chunks; entries are (key of 32 bytes, child).
        const size_t leaf = find_only(buf, "TREE", [&](size_t i) {
            return buf[i + 4] == 1 && buf[i + 5] == 0 && le(buf, i + 24, 4) == 36 && le(buf, i + 32, 8) == 0 &&
                   le(buf, i + 40, 8) == 0;
        });
        std::memcpy(buf.data() + leaf + 24 + 40, buf.data() + leaf + 24, 40);
        H5File h5(buf.data(), buf.size());
        // Before, the copy filled the grid's byte count and chunk 1 was silently left zero.
        CHECK(error_of([&] { h5.dataset("chunked"); }) ==
              "HDF5: corrupt file: chunk 0 of the dataset is stored twice (reading dataset 'chunked')");
        CHECK(want[3] == 0.75f);
    }
}

TEST_CASE("hdf5: names copied count toward the file's work budget") {
    // A link and an attribute named with 16000 bytes each: every listing copies one name, and
    // all calls on one H5File share a budget of 2^24 plus 32 units per file byte.
    const std::vector<uint8_t> buf = read_fixture("long_names.h5");
    H5File h5(buf.data(), buf.size());
    REQUIRE(h5.list("") == std::vector<std::string>{std::string(16000, 'n')});
    REQUIRE(h5.attribute_names("") == std::vector<std::string>{std::string(16000, 'a')});
    int calls = 2;
    std::string err;
    while (err.empty() && calls < 5000) {
        calls++;
        err = error_of([&] {
            if (calls % 2) h5.list("");
            else h5.attribute_names("");
        });
        if (err == "(no error)") err.clear();
    }
    CHECK(err.find("HDF5: corrupt file: work limit exceeded") == 0);
    const double budget = (1 << 24) + 32.0 * buf.size();
    CHECK(calls > budget / 16100 * 0.9);  // about one name per call, nothing else
    CHECK(calls < budget / 16000 + 10);
}

TEST_CASE("hdf5: assembling chunked data beyond the file size is refused") {
    const std::vector<uint8_t> buf = read_fixture("variants.h5");
    H5File h5(buf.data(), buf.size());
    // 4800 bytes per read; the budget is the file size plus 16 MB.
    const size_t fits = (buf.size() + (16u << 20)) / 4800;
    for (size_t i = 0; i < fits; i++) REQUIRE(h5.dataset("chunked").nbytes == 4800);
    CHECK(error_of([&] { h5.dataset("chunked"); }) ==
          strformat("HDF5: assembling chunked datasets of more than the file size plus 16 MB (%zu bytes so far, "
                    "4800 more needed); is a dataset read many times? (reading dataset 'chunked')",
                    fits * 4800));
    CHECK(h5.dataset("f32_contig").nbytes == 48);  // views into the file cost nothing
}

TEST_CASE("keras_h5: a name or dataset listed twice is refused") {
    // 'kernel', a chunked 32 KB dataset, listed 1000 times: 32 MB assembled before.
    const std::vector<uint8_t> rep = read_fixture("keras_repeated_weight.h5");
    CHECK(error_of([&] { load_keras_h5(rep.data(), rep.size()); }) ==
          "Keras HDF5: layer 'dense' lists weight 'kernel' twice in 'weight_names'");
    const std::vector<uint8_t> alias = read_fixture("keras_aliased_weight.h5");
    CHECK(error_of([&] { load_keras_h5(alias.data(), alias.size()); }) ==
          "Keras HDF5: weights 'dense/kernel' and 'dense/alias' are the same dataset");

    auto patched = [](std::vector<uint8_t> buf, const std::string& from, const std::string& to) {
        auto it = std::search(buf.begin(), buf.end(), from.begin(), from.end());
        REQUIRE(it != buf.end());
        std::copy(to.begin(), to.end(), it);
        return buf;
    };
    const std::vector<uint8_t> tiny = read_fixture("keras_tiny.h5");
    const std::vector<uint8_t> w2 = patched(tiny, "block1_conv1_W_1:0block1_conv1_b_1:0", "block1_conv1_W_1:0block1_conv1_W_1:0");
    CHECK(error_of([&] { load_keras_h5(w2.data(), w2.size()); }) ==
          "Keras HDF5: layer 'block1_conv1' lists weight 'block1_conv1_W_1:0' twice in 'weight_names'");
    const std::string pool1 = std::string("block1_pool") + '\0';
    const std::vector<uint8_t> l2 = patched(tiny, pool1 + "block2_conv1", pool1 + "block1_conv1");
    CHECK(error_of([&] { load_keras_h5(l2.data(), l2.size()); }) ==
          "Keras HDF5: layer 'block1_conv1' is listed twice in 'layer_names'");
    // Names from the file are shown on one line, control bytes escaped.
    const std::vector<uint8_t> nl = patched(tiny, "block1_conv1_W_1:0block1_conv1_b", "block1_conv1_W\n1:0block1_conv1_b");
    CHECK(error_of([&] { load_keras_h5(nl.data(), nl.size()); }) ==
          "HDF5: no object named 'block1_conv1_W\\x0a1:0' in 'block1_conv1/block1_conv1_W\\x0a1:0' (reading dataset "
          "'block1_conv1/block1_conv1_W\\x0a1:0')");
}

namespace {

// Touches everything reachable (bounded), swallowing cnnlens::Error per operation.
void walk(const H5File& h5, const std::string& path, int depth, int& budget) {
    if (depth > 5 || budget <= 0) return;
    budget--;
    try {
        for (const std::string& a : h5.attribute_names(path)) {
            try {
                for (const std::string& s : h5.string_attribute(path, a)) budget -= (int)(s.size() / 4096);
            } catch (const Error&) {}
        }
    } catch (const Error&) {}
    try {
        if (!h5.is_group(path)) {
            H5Dataset d = h5.dataset(path);
            unsigned sum = 0;  // read every byte so that a bad view trips AddressSanitizer
            for (size_t i = 0; i < d.nbytes; i++) sum += d.data[i];
            (void)sum;
            return;
        }
        std::vector<std::string> names = h5.list(path);
        for (size_t i = 0; i < names.size() && i < 12; i++)
            walk(h5, path + "/" + names[i], depth + 1, budget);
    } catch (const Error&) {}
}

// Returns "" when the buffer parsed or threw cnnlens::Error, else a description.
std::string exercise(const std::vector<uint8_t>& buf) {
    try {
        try {
            TensorFile tf = load_keras_h5(buf.data(), buf.size());
            for (const TensorRef& t : tf.tensors) floats(t);
        } catch (const Error& e) {
            if (std::strlen(e.what()) == 0) return "empty error message";
        }
        try {
            H5File h5(buf.data(), buf.size());
            int budget = 300;
            walk(h5, "", 0, budget);
        } catch (const Error&) {}
    } catch (const std::exception& e) {
        return std::string("non-Error exception: ") + e.what();
    } catch (...) { return "unknown exception"; }
    return "";
}

// Makes a truncated copy (exactly `n` bytes, so overreads are caught by ASan) whose
// superblock end-of-file address is patched to match, so parsing gets past that check.
std::vector<uint8_t> truncated(const std::vector<uint8_t>& buf, size_t n, bool patch_eof) {
    std::vector<uint8_t> out(buf.begin(), buf.begin() + n);
    if (!patch_eof) return out;
    size_t sb = 0;
    while (sb + 8 <= buf.size() && std::memcmp(buf.data() + sb, "\x89HDF\r\n\x1a\n", 8) != 0)
        sb = sb ? sb * 2 : 512;
    if (sb + 16 > buf.size()) return out;
    const int ver = buf[sb + 8];
    const unsigned so = ver < 2 ? buf[sb + 13] : buf[sb + 9];
    const size_t base_at = sb + (ver == 0 ? 24 : ver == 1 ? 28 : 12);
    const size_t eof_at = base_at + 2 * so;  // after base and free-space / extension addresses
    if (eof_at + so > n) return out;
    uint64_t stored_base = 0;
    for (unsigned i = 0; i < so; i++) stored_base |= (uint64_t)buf[base_at + i] << (8 * i);
    uint64_t eof = stored_base + (n - sb);
    for (unsigned i = 0; i < so; i++) out[eof_at + i] = (uint8_t)(eof >> (8 * i));
    return out;
}

const char* kAllFixtures[] = {"keras_tiny.h5",           "keras_tiny_latest.h5", "keras_tiny_ub512.h5",
                              "keras_tiny_v108_off4.h5", "keras2_model.h5",      "keras_split_attrs.h5",
                              "no_layer_names.h5",       "variants.h5",          "variants_latest.h5",
                              "dense_attr_dup.h5",       "dense_link_dup.h5",    "long_names.h5",
                              "keras_repeated_weight.h5", "keras_aliased_weight.h5"};

}  // namespace

TEST_CASE("hdf5: truncated files throw cnnlens::Error") {
    for (const std::string file : kAllFixtures) {
        CAPTURE(file);
        const std::vector<uint8_t> buf = read_fixture(file);
        std::vector<size_t> cuts;
        for (size_t i = 0; i < 200; i++) cuts.push_back(buf.size() * i / 200);
        for (size_t n = 1; n < 700 && n < buf.size(); n += 7) cuts.push_back(n);
        for (size_t n : cuts) {
            CAPTURE(n);
            const std::vector<uint8_t> plain = truncated(buf, n, false);
            CHECK(exercise(plain) == "");
            const std::string e = error_of([&] { H5File(plain.data(), plain.size()); });
            CHECK((e.find("HDF5: truncated file") == 0 || e == "not an HDF5 file (bad signature)"));
            CHECK(exercise(truncated(buf, n, true)) == "");
        }
    }
}

TEST_CASE("hdf5: randomly corrupted files throw cnnlens::Error or parse") {
    std::mt19937 rng(12345);
    for (const std::string file : kAllFixtures) {
        CAPTURE(file);
        const std::vector<uint8_t> buf = read_fixture(file);
        int parsed = 0;
        for (int k = 0; k < 300; k++) {
            std::vector<uint8_t> m = buf;
            const int flips = 1 + (int)(rng() % 6);
            for (int j = 0; j < flips; j++) {
                size_t pos = rng() % m.size();
                switch (rng() % 4) {
                    case 0: m[pos] ^= (uint8_t)(1u << (rng() % 8)); break;  // one bit
                    case 1: m[pos] = (uint8_t)rng(); break;                 // one byte
                    case 2:                                                 // a big number
                        for (size_t i = pos; i < pos + 4 && i < m.size(); i++) m[i] = 0xff;
                        break;
                    default: {  // a pointer elsewhere
                        uint32_t v = (uint32_t)(rng() % m.size());
                        for (size_t i = 0; i < 4 && pos + i < m.size(); i++)
                            m[pos + i] = (uint8_t)(v >> (8 * i));
                    }
                }
            }
            CAPTURE(k);
            std::string r = exercise(m);
            CHECK(r == "");
            try {
                load_keras_h5(m.data(), m.size());
                parsed++;
            } catch (const Error&) {}
        }
        MESSAGE(file << ": " << parsed << " of 300 corrupted copies still loaded as Keras weights");
    }
}
