// .npy reader: round trips, and short or hostile files give an error without reading past the
// buffer (each case is parsed from a vector of exactly its size, so ASan sees any overread).
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/error.h"
#include "io/npy.h"
#include "io/weights.h"
#include "test_util.h"

using namespace cnnlens;
using namespace cnnlens_test;

namespace {

// A .npy file with the given header dict (padded as numpy pads it) and data bytes.
std::vector<uint8_t> npy_bytes(const std::string& dict, const std::vector<uint8_t>& data, int version = 1) {
    const size_t pre = version == 1 ? 10 : 12;
    std::string h = dict;
    h.append((64 - (pre + h.size() + 1) % 64) % 64, ' ');
    h += '\n';
    std::vector<uint8_t> b = {0x93, 'N', 'U', 'M', 'P', 'Y', (uint8_t)version, 0};
    for (size_t i = 0; i < pre - 8; i++) b.push_back((uint8_t)(h.size() >> (8 * i)));
    b.insert(b.end(), h.begin(), h.end());
    b.insert(b.end(), data.begin(), data.end());
    return b;
}

std::string parse_error(const std::vector<uint8_t>& b) {
    std::vector<uint8_t> exact(b);   // capacity == size: ASan flags a read one byte past it
    exact.shrink_to_fit();
    try {
        npy_parse(exact.data(), exact.size());
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

std::vector<uint8_t> floats(std::initializer_list<float> v) {
    std::vector<uint8_t> b(v.size() * 4);
    std::memcpy(b.data(), v.begin(), b.size());
    return b;
}

}  // namespace

TEST_CASE("npy: write, read, float64 and version 2 headers") {
    const char* tmp = std::getenv("TMPDIR");
    const std::string path = std::string(tmp ? tmp : "/tmp") + "/cnnlens_test_npy.npy";
    const float v[6] = {1, -2, 3.5f, 0, 1e-30f, 7};
    npy_write(path, v, {2, 3});
    NpyArray a = npy_read(path);
    CHECK(a.shape == std::vector<int64_t>{2, 3});
    REQUIRE(a.data.size() == 6);
    CHECK(std::memcmp(a.data.data(), v, sizeof v) == 0);
    std::remove(path.c_str());

    double d[2] = {0.25, -1e10};
    std::vector<uint8_t> db(16);
    std::memcpy(db.data(), d, 16);
    std::vector<uint8_t> f8 = npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", db);
    a = npy_parse(f8.data(), f8.size());
    CHECK(a.data == std::vector<float>{0.25f, -1e10f});
    std::vector<uint8_t> v2 = npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2), }", floats({5, 6}), 2);
    a = npy_parse(v2.data(), v2.size());
    CHECK(a.shape == std::vector<int64_t>{1, 2});
    CHECK(a.data == std::vector<float>{5, 6});
    std::vector<uint8_t> scalar = npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", floats({9}));
    CHECK(npy_parse(scalar.data(), scalar.size()).data == std::vector<float>{9});
    std::vector<uint8_t> empty = npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 4), }", {});
    CHECK(npy_parse(empty.data(), empty.size()).data.empty());
    // a fixture written by numpy
    CHECK(npy_read(data_path("oracle/tiny_fc/logits.npy")).shape == std::vector<int64_t>{10});
}

TEST_CASE("npy: truncated and hostile files give an error, never a read past the buffer") {
    const std::vector<uint8_t> good = read_file(data_path("oracle/tiny_fc/logits.npy"));
    CHECK(parse_error(good).empty());
    for (size_t n = 0; n < good.size(); n++) {   // every cut: the magic, the header or the data is short
        INFO("cut at " << n);
        CHECK(!parse_error(std::vector<uint8_t>(good.begin(), good.begin() + (long)n)).empty());
    }
    const std::string pre = "{'descr': '<f4', 'fortran_order': False, 'shape': ";
    // a shape whose size overflows 64 bits, or wraps to a small number of bytes
    CHECK(parse_error(npy_bytes(pre + "(4611686018427387904, 4), }", floats({1, 2, 3, 4}))).find("truncated") != std::string::npos);
    CHECK(parse_error(npy_bytes(pre + "(4611686018427387904,), }", floats({1, 2, 3, 4}))).find("truncated") != std::string::npos);
    CHECK(parse_error(npy_bytes(pre + "(99999999999999999999999,), }", floats({1}))).find("absurd") != std::string::npos);
    CHECK(parse_error(npy_bytes(pre + "(-1,), }", floats({1}))).find("malformed") != std::string::npos);
    CHECK(parse_error(npy_bytes(pre + "(3,), }", floats({1, 2}))).find("truncated") != std::string::npos);
    CHECK(parse_error(npy_bytes(pre + "(), }", {0x40})).find("truncated") != std::string::npos);   // a scalar needs 4 bytes
    // header keys missing or unterminated: no search runs off the end of the header
    CHECK(parse_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, }", floats({1}))).find("needs") != std::string::npos);
    CHECK(parse_error(npy_bytes(pre + "(1,", floats({1}))).find("malformed") != std::string::npos);
    CHECK(parse_error(npy_bytes("{'descr': '<f4", {})).find("unterminated") != std::string::npos);
    CHECK(parse_error(npy_bytes("{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }", floats({1})))
              .find("float32") != std::string::npos);
    CHECK(parse_error(npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }", floats({1})))
              .find("Fortran") != std::string::npos);
    // version 2 announces a 4-byte header length: a 10- or 11-byte file must not be read at bytes 10 and 11
    std::vector<uint8_t> v2 = {0x93, 'N', 'U', 'M', 'P', 'Y', 2, 0, 0, 0};
    CHECK(!parse_error(v2).empty());
    v2.push_back(0);
    CHECK(!parse_error(v2).empty());
    std::vector<uint8_t> v9 = npy_bytes(pre + "(1,), }", floats({1}));
    v9[6] = 9;
    CHECK(parse_error(v9).find("version") != std::string::npos);
    // a header length beyond the file
    std::vector<uint8_t> longh = good;
    longh[8] = 0xff, longh[9] = 0xff;
    CHECK(parse_error(longh).find("truncated") != std::string::npos);
}
