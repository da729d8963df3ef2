// test_torch_pth.cpp: the torch .pth reader against fixtures written by torch 1.13
// (tests/data/pth/make_fixtures.py), hand-made pickles, refusals and corrupted files.
#include <doctest/doctest.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/torch_pth.h"

using namespace cnnlens;

namespace {

// A string literal that may contain NUL bytes.
template <size_t N>
std::string S(const char (&s)[N]) { return std::string(s, N - 1); }

std::string pth_path(const std::string& name) { return std::string(CNNLENS_TEST_DATA) + "/pth/" + name; }

std::vector<uint8_t> read_bytes(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    REQUIRE_MESSAGE(f.good(), "cannot open " << path);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

std::vector<uint8_t> from_hex(const std::string& h) {
    std::vector<uint8_t> out;
    if (h == "-") return out;
    for (size_t i = 0; i + 1 < h.size(); i += 2) out.push_back((uint8_t)std::stoul(h.substr(i, 2), nullptr, 16));
    return out;
}

struct Expected {
    std::string name, dtype;
    std::vector<int64_t> shape;
    std::vector<uint8_t> raw, f32;  // f32 empty when the dtype is F32
};

std::vector<Expected> read_expected(const std::string& name_of_case) {
    std::ifstream f(pth_path("expected_" + name_of_case + ".txt"));
    REQUIRE(f.good());
    std::vector<Expected> out;
    std::string line;
    while (std::getline(f, line)) {
        std::istringstream ss(line);
        Expected e;
        std::string shape, raw, f32;
        ss >> e.name >> e.dtype >> shape >> raw >> f32;
        if (shape != "-") {
            std::istringstream sh(shape);
            std::string d;
            while (std::getline(sh, d, ',')) e.shape.push_back(std::stoll(d));
        }
        e.raw = from_hex(raw);
        if (f32 != "=") e.f32 = from_hex(f32);
        out.push_back(e);
    }
    return out;
}

// Exact comparison: names and order, dtype, shape, raw bytes and the float32 conversion.
void check_tensors(const TensorFile& tf, const std::string& name_of_case) {
    std::vector<Expected> ex = read_expected(name_of_case);
    REQUIRE(tf.tensors.size() == ex.size());
    for (size_t i = 0; i < ex.size(); i++) {
        const TensorRef& t = tf.tensors[i];
        INFO("tensor " << ex[i].name);
        CHECK(t.name == ex[i].name);
        CHECK(std::string(dtype_name(t.dtype)) == ex[i].dtype);
        CHECK(t.shape == ex[i].shape);
        REQUIRE(t.nbytes == ex[i].raw.size());
        CHECK((t.nbytes == 0 || std::memcmp(t.data, ex[i].raw.data(), t.nbytes) == 0));
        std::vector<float> f((size_t)t.numel());
        if (!f.empty()) tensor_to_f32(t, f.data());
        const std::vector<uint8_t>& want = ex[i].f32.empty() ? ex[i].raw : ex[i].f32;
        REQUIRE(f.size() * 4 == want.size());
        for (size_t k = 0; k < f.size(); k++) {
            float w;
            std::memcpy(&w, want.data() + 4 * k, 4);
            if (w != w) CHECK(f[k] != f[k]);  // NaN stays NaN
            else CHECK(std::memcmp(&f[k], &w, 4) == 0);  // bit-exact, -0 included
        }
    }
}

TensorFile load_file(const std::vector<uint8_t>& buf) { return load_torch_pth(buf.data(), buf.size()); }

// A fixture's bytes together with the TensorFile viewing them (moving keeps the views valid).
struct Loaded {
    std::vector<uint8_t> buf;
    TensorFile tf;
};
Loaded load_fixture(const std::string& name) {
    Loaded l;
    l.buf = read_bytes(pth_path(name));
    l.tf = load_file(l.buf);
    return l;
}

// The error message of a load, or "" if it succeeded.
std::string error_of(const std::vector<uint8_t>& buf) {
    try {
        load_file(buf);
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

bool inside(const TensorRef& t, const std::vector<uint8_t>& buf) {
    return t.data >= buf.data() && t.data + t.nbytes <= buf.data() + buf.size();
}

// Parse or throw cnnlens::Error; if it parses, read every byte of every tensor.
bool parses(const uint8_t* p, size_t n) {
    try {
        TensorFile tf = load_torch_pth(p, n);
        for (const TensorRef& t : tf.tensors) {
            std::vector<float> f((size_t)t.numel());
            if (!f.empty()) tensor_to_f32(t, f.data());
        }
        return true;
    } catch (const Error& e) {
        CHECK(std::strlen(e.what()) > 10);
        return false;
    }
}

// A protocol-2 pickle written opcode by opcode.
struct Pickle {
    std::string b = "\x80\x02";
    Pickle& op(const std::string& s) { b += s; return *this; }
    Pickle& str(const std::string& s) {
        b += 'X';
        for (int k = 0; k < 4; k++) b += (char)((s.size() >> (8 * k)) & 0xff);
        b += s;
        return *this;
    }
    Pickle& i(int64_t v) {  // LONG1 with 8 bytes: any int64
        b += "\x8a\x08";
        for (int k = 0; k < 8; k++) b += (char)(((uint64_t)v >> (8 * k)) & 0xff);
        return *this;
    }
    Pickle& glob(const std::string& m, const std::string& n) { b += "c" + m + "\n" + n + "\n"; return *this; }
    Pickle& ints(const std::vector<int64_t>& v) {
        op("(");
        for (int64_t x : v) i(x);
        return op("t");
    }
    // _rebuild_tensor_v2(('storage', type, key, 'cpu', numel, None), offset, size, stride, False, OrderedDict())
    Pickle& tensor(const std::string& key, int64_t numel, int64_t offset, const std::vector<int64_t>& size,
                   const std::vector<int64_t>& stride, const std::string& type = "FloatStorage") {
        glob("torch._utils", "_rebuild_tensor_v2").op("(");
        op("(").str("storage").glob("torch", type).str(key).str("cpu").i(numel).op("Nt").op("Q");
        i(offset).ints(size).ints(stride).op("\x89").glob("collections", "OrderedDict").op(")R");
        return op("tR");
    }
    std::string done() const { return b + "."; }
};

const std::string kLegacyHeader = S("\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19.") +  // magic number
                                  S("\x80\x02M\xe9\x03.") +                                     // protocol 1001
                                  S("\x80\x02}(X\x0d\x00\x00\x00little_endian\x88u.");           // sys_info

struct Record { std::string key; uint64_t count; std::vector<uint8_t> bytes; };

// A legacy file: header, main pickle, key list, then the raw storage records.
std::vector<uint8_t> legacy_file(const std::string& main, const std::vector<Record>& recs) {
    Pickle keys;
    keys.op("](");
    for (const Record& r : recs) keys.str(r.key);
    std::string s = kLegacyHeader + main + keys.op("e").done();
    for (const Record& r : recs) {
        for (int k = 0; k < 8; k++) s += (char)((r.count >> (8 * k)) & 0xff);
        s.append((const char*)r.bytes.data(), r.bytes.size());
    }
    return std::vector<uint8_t>(s.begin(), s.end());
}

std::vector<uint8_t> floats(std::initializer_list<float> v) {
    std::vector<uint8_t> out(v.size() * 4);
    std::memcpy(out.data(), v.begin(), out.size());
    return out;
}

std::vector<uint8_t> bytes_of(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

}  // namespace

TEST_CASE("torch_pth: tiny VGG state dict in every container and pickle protocol") {
    struct { const char* file; const char* format; const char* prefix; } cases[] = {
        {"tiny_zip.pth", "pth-zip", "tiny_zip"},       {"tiny_p4_zip.pth", "pth-zip", "tiny_p4_zip"},
        {"tiny_zip64.pth", "pth-zip", "archive"},       {"tiny_legacy.pth", "pth-legacy", nullptr},
        {"tiny_p5_legacy.pth", "pth-legacy", nullptr},
    };
    for (auto& c : cases) {
        INFO(c.file);
        std::vector<uint8_t> buf = read_bytes(pth_path(c.file));
        TensorFile tf = load_file(buf);
        CHECK(tf.format == c.format);
        if (c.prefix) CHECK(tf.metadata.at("zip_prefix") == c.prefix);
        CHECK(tf.metadata.count("skipped") == 0);
        check_tensors(tf, "tiny");
        // Contiguous tensors are views into the file buffer: nothing copied.
        CHECK(tf.owned.empty());
        for (const TensorRef& t : tf.tensors) CHECK(inside(t, buf));
        REQUIRE(tf.find("features.0.weight"));
        CHECK(tf.find("features.0.weight")->shape_str() == "[4,3,3,3]");
        CHECK(tf.find("classifier.6.weight")->shape_str() == "[10,8]");
    }
}

TEST_CASE("torch_pth: float16, bfloat16, float64 and special values") {
    check_tensors(load_fixture("half_zip.pth").tf, "half");
    check_tensors(load_fixture("bf16_legacy.pth").tf, "bf16");
    for (const char* f : {"mixed_zip.pth", "mixed_legacy.pth"}) {
        INFO(f);
        Loaded l = load_fixture(f);
        const TensorFile& tf = l.tf;
        check_tensors(tf, "mixed");
        CHECK(tf.metadata.at("skipped") == "int32,bool");
        CHECK(tf.find("f16")->dtype == DType::F16);
        CHECK(tf.find("bf16")->dtype == DType::BF16);
        CHECK(tf.find("f64")->dtype == DType::F64);
    }
}

TEST_CASE("torch_pth: views sharing storages, offsets, strides, 0-d and empty tensors") {
    for (const char* f : {"views_zip.pth", "views_legacy.pth"}) {
        INFO(f);
        std::vector<uint8_t> buf = read_bytes(pth_path(f));
        TensorFile tf = load_file(buf);
        check_tensors(tf, "views");
        const TensorRef* base = tf.find("base");
        // Contiguous views point into base's storage at their offsets; the rest are copies.
        CHECK(tf.find("row2")->data == base->data + 16 * 4);
        CHECK(tf.find("rows3to5")->data == base->data + 24 * 4);
        CHECK(tf.find("scalar")->data == base->data + 11 * 4);
        CHECK(tf.find("scalar")->shape.empty());
        CHECK(tf.find("empty")->nbytes == 0);
        for (const char* n : {"base", "row2", "rows3to5", "scalar"}) CHECK(inside(*tf.find(n), buf));
        for (const char* n : {"transposed", "cols", "permuted", "expanded", "half_t"}) CHECK(!inside(*tf.find(n), buf));
        CHECK(tf.owned.size() == 5);
    }
}

TEST_CASE("torch_pth: Python 2 / torch < 0.4 legacy pickle with a storage view") {
    std::vector<uint8_t> buf = read_bytes(pth_path("py2_legacy.pth"));
    TensorFile tf = load_file(buf);
    CHECK(tf.format == "pth-legacy");
    check_tensors(tf, "py2");
    CHECK(tf.metadata.at("skipped") == "n");
}

TEST_CASE("torch_pth: batch-norm state dict skips num_batches_tracked") {
    for (const char* f : {"bn_zip.pth", "bn_legacy.pth"}) {
        INFO(f);
        Loaded l = load_fixture(f);
        const TensorFile& tf = l.tf;
        check_tensors(tf, "bn");
        CHECK(tf.metadata.at("skipped") == "features.1.num_batches_tracked,features.5.num_batches_tracked");
        CHECK(tf.find("features.1.running_var"));
    }
}

TEST_CASE("torch_pth: checkpoint wrappers") {
    Loaded a = load_fixture("wrapper_zip.pth");
    check_tensors(a.tf, "tiny");
    CHECK(a.tf.metadata.at("wrapper") == "state_dict");
    Loaded b = load_fixture("wrapper_model_legacy.pth");
    check_tensors(b.tf, "tiny");
    CHECK(b.tf.metadata.at("wrapper") == "model");
}

TEST_CASE("torch_pth: refusals and non-state-dicts give clear errors") {
    struct { const char* file; const char* msg; } cases[] = {
        {"list_zip.pth", "not a state dict: the top-level object is a list"},
        {"int_legacy.pth", "not a state dict: the top-level object is an int"},
        {"nodict_zip.pth", "holds no tensors (keys: 'epoch', 'lr', 'name')"},
        {"module_zip.pth", "refusing to load: the pickle references '__main__.TinyVGG'"},
        {"vggmodule_legacy.pth", "refusing to load: the pickle references 'torchvision.models.vgg.VGG'"},
        {"jit_zip.pt", "TorchScript archive"},
        {"mal_raw.pkl", "refusing to load: the pickle references 'posix.system'; only plain state dicts"},
        {"mal_zip.pth", "refusing to load: the pickle references 'builtins.eval'"},
        {"mal_legacy.pth", "refusing to load: the pickle references 'os.system'"},
        {"deflate_zip.pth", "is compressed (method 8)"},
    };
    for (auto& c : cases) {
        std::string err = error_of(read_bytes(pth_path(c.file)));
        INFO(c.file << ": " << err);
        CHECK(err.find(c.msg) != std::string::npos);
    }
    CHECK(error_of({}).find("empty") != std::string::npos);
    CHECK_THROWS_AS(load_torch_pth(nullptr, 0), Error);
}

TEST_CASE("torch_pth: non-pth input") {
    std::mt19937 rng(7);
    std::vector<uint8_t> noise(1000);
    for (uint8_t& b : noise) b = (uint8_t)rng();
    noise[0] = 0x12;
    CHECK(error_of(noise).find("not a PyTorch .pth file: starts with bytes 12") != std::string::npos);
    CHECK(error_of(bytes_of("\x89PNG\r\n\x1a\n")).find("not a PyTorch .pth file") != std::string::npos);
    noise[0] = 0x80;  // looks like a pickle
    CHECK(error_of(noise).find("pickle") != std::string::npos);
    std::memcpy(noise.data(), "PK\x03\x04", 4);  // looks like a zip
    CHECK(error_of(noise).find("zip") != std::string::npos);
    // A plain pickle of a dict is not torch's legacy format.
    CHECK(error_of(bytes_of(Pickle().op("}").done())).find("magic number") != std::string::npos);
}

TEST_CASE("torch_pth: zip details") {
    std::vector<uint8_t> z64 = read_bytes(pth_path("tiny_zip64.pth"));
    auto patch_all = [](std::vector<uint8_t> buf, const std::string& from, const std::string& to) {
        for (size_t i = 0; i + from.size() <= buf.size(); i++)
            if (std::memcmp(buf.data() + i, from.data(), from.size()) == 0) std::memcpy(buf.data() + i, to.data(), to.size());
        return buf;
    };
    CHECK(error_of(patch_all(z64, "little", "big   ")).find("unsupported byte order 'big'") != std::string::npos);
    CHECK(error_of(patch_all(z64, "archive/data.pkl", "archive/data.pkx")).find("no <folder>/data.pkl") != std::string::npos);
    CHECK(error_of(patch_all(z64, "archive/data/3", "archive/data/x")).find("storage 'data/3' is missing") != std::string::npos);
}

TEST_CASE("torch_pth: hand-made legacy files") {
    const std::vector<uint8_t> six = floats({1, 2, 3, 4, 5, 6});
    auto one = [](const Pickle& tensor_pickle) { return Pickle().op("}(").str("w").op(tensor_pickle.b.substr(2)).op("u"); };

    SUBCASE("a valid file loads zero-copy") {
        auto buf = legacy_file(one(Pickle().tensor("k", 6, 0, {2, 3}, {3, 1})).done(), {{"k", 6, six}});
        TensorFile tf = load_file(buf);
        REQUIRE(tf.tensors.size() == 1);
        CHECK(tf.tensors[0].shape_str() == "[2,3]");
        CHECK(inside(tf.tensors[0], buf));
        CHECK(std::memcmp(tf.tensors[0].data, six.data(), 24) == 0);
    }
    SUBCASE("parameters, GPU-saved storages and BUILD state are accepted") {
        Pickle p;
        p.glob("collections", "OrderedDict").op(")R").op("(").str("w");
        p.glob("torch._utils", "_rebuild_parameter").op("(").op(Pickle().tensor("k", 6, 2, {2, 2}, {1, 2}).b.substr(2));
        p.op("\x88").glob("collections", "OrderedDict").op(")RtR");
        p.str("v").op(Pickle().tensor("c", 2, 0, {2}, {1}, "FloatStorage").b.substr(2)).op("u");
        p.op("}(").str("_metadata").op("}u").op("b");  // OrderedDict state, as state_dict() pickles it
        std::string main = p.done();
        main.replace(main.find("ctorch\nFloatStorage\n"), 20, "ctorch.cuda\nFloatStorage\n");  // torch < 1.0 GPU save
        auto buf = legacy_file(main, {{"c", 2, floats({7, 8})}, {"k", 6, six}});
        TensorFile tf = load_file(buf);
        REQUIRE(tf.tensors.size() == 2);
        CHECK(tf.tensors[0].name == "w");
        CHECK(tf.tensors[0].shape_str() == "[2,2]");
        std::vector<float> w(4);
        tensor_to_f32(tf.tensors[0], w.data());
        CHECK(w == std::vector<float>{3, 5, 4, 6});  // transposed view of elements 2..5
        CHECK(tf.owned.size() == 1);
    }
    SUBCASE("a repeated key keeps its first position and takes the last value") {
        Pickle p;
        p.op("}(").str("w").op(Pickle().tensor("k", 6, 0, {2}, {1}).b.substr(2));
        p.str("v").op(Pickle().tensor("k", 6, 1, {1}, {1}).b.substr(2));
        p.str("w").op(Pickle().tensor("k", 6, 4, {2}, {1}).b.substr(2)).op("u");
        auto buf = legacy_file(p.done(), {{"k", 6, six}});
        TensorFile tf = load_file(buf);
        REQUIRE(tf.tensors.size() == 2);
        CHECK(tf.tensors[0].name == "w");
        float w0;
        std::memcpy(&w0, tf.tensors[0].data, 4);
        CHECK(w0 == 5.0f);
    }
    struct { std::string main; std::vector<Record> recs; const char* msg; } bad[] = {
        {one(Pickle().tensor("k", int64_t(1) << 60, 0, {2}, {1})).done(), {{"k", 6, six}}, "more than the file holds"},
        {one(Pickle().tensor("k", 6, 0, {int64_t(1) << 40, int64_t(1) << 40}, {1, 1})).done(), {{"k", 6, six}}, "element count overflows"},
        // A name from the file is escaped in the message.
        {Pickle().op("}(").str("w\nx").op(Pickle().tensor("k", 6, 0, {int64_t(1) << 40, int64_t(1) << 40}, {1, 1}).b.substr(2)).op("u").done(),
         {{"k", 6, six}}, "tensor 'w\\x0ax': element count overflows"},
        // An empty tensor whose leading dimensions multiply past int64 before the 0.
        {one(Pickle().tensor("k", 6, 0, {int64_t(1) << 62, 2, 0}, {0, 0, 0})).done(), {{"k", 6, six}}, "element count overflows"},
        {one(Pickle().tensor("k", 6, 0, {4}, {INT64_MAX})).done(), {{"k", 6, six}}, "strides overflow"},
        {one(Pickle().tensor("k", 6, 5, {2}, {1})).done(), {{"k", 6, six}}, "reaches element 6 of a storage of 6"},
        {one(Pickle().tensor("k", 6, -1, {2}, {1})).done(), {{"k", 6, six}}, "bad tensor storage offset"},
        {one(Pickle().tensor("k", 6, 0, {-2}, {1})).done(), {{"k", 6, six}}, "bad tensor size"},
        {one(Pickle().tensor("k", 1, 0, {int64_t(1) << 30}, {0})).done(), {{"k", 1, floats({1})}}, "more memory than the file size allows"},
        {one(Pickle().tensor("k", 6, 0, {2}, {1})).done(), {{"k", 5, six}}, "has 5 elements, the pickle says 6"},
        {one(Pickle().tensor("k", 6, 0, {2}, {1})).done(), {{"j", 6, six}}, "unknown storage key 'j'"},
        {one(Pickle().tensor("k", 6, 0, {2}, {1})).done(), {{"k", 6, floats({1, 2})}}, "needs 24 bytes, 8 left"},
        {one(Pickle().tensor("k", 6, 0, {2}, {1})).done(), {}, "storage 'k' has no data"},
        {one(Pickle().tensor("k", 6, 0, {2}, {1}, "PlainStorage")).done(), {}, "references 'torch.PlainStorage'"},
        {Pickle().op("}(").str("w").op(Pickle().tensor("k", 6, 0, {2}, {1}).b.substr(2))
             .str("v").op(Pickle().tensor("k", 3, 0, {2}, {1}, "DoubleStorage").b.substr(2)).op("u").done(),
         {{"k", 6, six}}, "declared twice"},
        {Pickle().op("(").str("module").op("tQ").done(), {}, "pickled nn.Module"},
        {Pickle().glob("torch._utils", "_rebuild_tensor_v2").op(")R").done(), {}, "takes 6 or 7 arguments, got 0"},
        {Pickle().op("K\x05)R").done(), {}, "REDUCE on an int"},
        {Pickle().glob("torch", "FloatStorage").op(")R").done(), {}, "calling 'torch.FloatStorage' is not supported"},
        {Pickle().op("]").op("K\x01").op("b").done(), {}, "BUILD on a list"},
    };
    for (auto& c : bad) {
        std::string err = error_of(legacy_file(c.main, c.recs));
        INFO(err);
        CHECK(err.find(c.msg) != std::string::npos);
    }
}

TEST_CASE("torch_pth: malformed pickles fail cleanly") {
    auto err_main = [](const std::string& main) { return error_of(legacy_file(main, {})); };
    // Deep nesting: 200000 lists inside each other (no recursion anywhere).
    std::string deep = "\x80\x02" + std::string(200000, ']') + std::string(199999, 'a') + ".";
    CHECK(err_main(deep).find("top-level object is a list") != std::string::npos);
    CHECK(err_main("\x80\x02" + std::string(100000, '(') + ".").find("stack underflow") != std::string::npos);
    CHECK(err_main(Pickle().op(S("]q\x00h\x00" "a")).done()).find("top-level object is a list") != std::string::npos);  // self-reference
    CHECK(err_main(S("\x80\x02X\xff\xff\xff\x7f")).find("string of 2147483647 bytes; too long") != std::string::npos);
    CHECK(err_main(S("\x80\x02\x8d\xff\xff\xff\xff\xff\xff\xff\x7f")).find("too long") != std::string::npos);
    CHECK(error_of(bytes_of(kLegacyHeader + S("\x80\x02X\x00\x01\x00\x00" "abc"))).find("truncated: needs 256 more bytes, 3 left") != std::string::npos);
    CHECK(err_main("\x80\x02N" + std::string(5000000, '2')).find("more than 4194304 stack operations") != std::string::npos);
    CHECK(err_main(S("\x80\x02\x8b\xff\xff\xff\x7f")).find("integer of") != std::string::npos);
    CHECK(err_main(Pickle().op("h\x05").done()).find("memo key 5") != std::string::npos);
    CHECK(err_main(Pickle().op("Nr\xff\xff\xff\xffj\xff\xff\xff\xff").op("0").done()).find("top-level object is None") != std::string::npos);
    CHECK(err_main(Pickle().op("a").done()).find("stack underflow") != std::string::npos);
    CHECK(err_main(Pickle().op("]K\x01(a").done()).find("stack underflow") != std::string::npos);  // below the MARK
    CHECK(err_main(Pickle().op("t").done()).find("MARK missing") != std::string::npos);
    CHECK(err_main(S("\x80\x06}.")).find("protocol 6") != std::string::npos);
    CHECK(err_main(Pickle().op(")\x81").done()).find("unsupported pickle opcode 0x81") != std::string::npos);
    CHECK(err_main(Pickle().op("S'x'\n").done()).find("unsupported pickle opcode 'S'") != std::string::npos);
    CHECK(err_main(Pickle().op("(K\x01K\x02K\x03" "d").done()).find("odd number") != std::string::npos);
    CHECK(err_main("\x80\x02" "c" + std::string(1000, 'x')).find("GLOBAL name longer") != std::string::npos);
    CHECK(error_of(bytes_of(kLegacyHeader + Pickle().op("}").b)).find("truncated") != std::string::npos);  // no STOP
    // Persistent ids are only legal in the main pickle.
    std::string bad_sys = kLegacyHeader.substr(0, 21) + Pickle().op(S("(X\x07\x00\x00\x00storagetQ")).done();
    CHECK(error_of(bytes_of(bad_sys)).find("persistent id outside the main pickle") != std::string::npos);
}

TEST_CASE("torch_pth: reused containers and keys are charged to budgets") {
    auto err_main = [](const std::string& main) { return error_of(legacy_file(main, {})); };
    const std::string budget = "pickle copies more than 8388608 container items";
    // One memoised list of 150000 pairs handed to OrderedDict 100000 times: 1 MB that would
    // copy 240 GB of item pointers.
    {
        Pickle p;
        p.glob("collections", "OrderedDict").op("q\x01").str("k").op("K\x01\x86q\x02");
        p.op(S("]q\x00("));
        for (int k = 0; k < 150000; k++) p.op("h\x02");
        p.op("e0");
        for (int k = 0; k < 100000; k++) p.op(S("h\x01h\x00\x85R0"));
        std::string err = err_main(p.op("}").done());
        INFO(err);
        CHECK(err.find(budget) != std::string::npos);
    }
    // Tensors rebuilt over and over from memoised 64-dimension size and stride tuples.
    {
        Pickle p;
        p.op("(").str("storage").glob("torch", "FloatStorage").str("k").str("cpu").i(1).op("NtQq\x01");
        p.op("(");
        for (int k = 0; k < 64; k++) p.op("K\x01");
        p.op("tq\x02(");
        for (int k = 0; k < 64; k++) p.op(S("K\x00"));
        p.op("tq\x03").glob("torch._utils", "_rebuild_tensor").op(S("q\x04K\x00q\x05" "0"));
        for (int k = 0; k < 70000; k++) p.op("h\x04(h\x01h\x05h\x02h\x03tR0");
        std::string err = err_main(p.op("}").done());
        INFO(err);
        CHECK(err.find(budget) != std::string::npos);
    }
    // A memoised 1 MB storage key looked up by 60000 persistent ids: 60 GB of hashing.
    {
        Pickle p;
        p.str(std::string(1 << 20, 'k')).op("q\x01").str("storage").op("q\x02");
        p.glob("torch", "FloatStorage").op("q\x03").str("cpu").op("q\x04" "0");
        for (int k = 0; k < 60000; k++) p.op("(h\x02h\x03h\x01h\x04K\x01NtQ0");
        std::string err = err_main(p.op("}").done());
        INFO(err);
        CHECK(err.find("looks up more key bytes than the file size allows") != std::string::npos);
    }
}

TEST_CASE("torch_pth: truncated files always fail with cnnlens::Error") {
    for (const char* f : {"tiny_zip.pth", "tiny_legacy.pth", "tiny_p4_zip.pth", "tiny_p5_legacy.pth", "tiny_zip64.pth",
                          "views_zip.pth", "views_legacy.pth", "py2_legacy.pth", "bn_legacy.pth", "mixed_zip.pth"}) {
        INFO(f);
        std::vector<uint8_t> buf = read_bytes(pth_path(f));
        for (size_t k = 0; k < 300; k++) {
            size_t cut = buf.size() * k / 300;
            std::vector<uint8_t> part(buf.begin(), buf.begin() + (std::ptrdiff_t)cut);  // exact-size copy for ASan
            INFO("cut at " << cut);
            CHECK_THROWS_AS(load_torch_pth(part.data(), part.size()), Error);
        }
    }
}

TEST_CASE("torch_pth: random byte flips parse or throw cnnlens::Error") {
    std::mt19937 rng(12345);
    size_t ok = 0, failed = 0;
    for (const char* f : {"tiny_zip.pth", "tiny_legacy.pth", "tiny_p4_zip.pth", "tiny_p5_legacy.pth", "tiny_zip64.pth",
                          "views_zip.pth", "views_legacy.pth", "py2_legacy.pth", "bn_zip.pth", "mixed_legacy.pth"}) {
        const std::vector<uint8_t> buf = read_bytes(pth_path(f));
        for (int trial = 0; trial < 400; trial++) {
            std::vector<uint8_t> m = buf;
            // Half the trials hit the first 2 KB, where the pickle (and zip headers) live.
            const size_t span = trial % 2 ? m.size() : std::min<size_t>(m.size(), 2048);
            for (int k = 1 + (int)(rng() % 4); k > 0; k--) m[rng() % span] ^= (uint8_t)(1 + rng() % 255);
            (parses(m.data(), m.size()) ? ok : failed)++;
        }
    }
    MESSAGE("random flips: " << ok << " parsed, " << failed << " rejected");
    CHECK(failed > 0);
    CHECK(ok > 0);
}

TEST_CASE("torch_pth: every single-byte change in the pickle and zip directory regions") {
    for (const char* f : {"tiny_legacy.pth", "tiny_zip.pth", "py2_legacy.pth"}) {
        const std::vector<uint8_t> buf = read_bytes(pth_path(f));
        // The first 2600 bytes hold the pickles; the last 1200 the zip central directory.
        for (size_t pos = 0; pos < buf.size(); pos++) {
            if (pos >= 2600 && pos + 1200 < buf.size()) continue;
            const uint8_t variants[4] = {0x00, 0xff, uint8_t(buf[pos] ^ 0x01), uint8_t(buf[pos] ^ 0x80)};
            std::vector<uint8_t> m = buf;
            m[pos] = variants[pos % 4];  // one change per position keeps the sanitizer run short
            parses(m.data(), m.size());
        }
    }
}
