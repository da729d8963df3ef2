// test_inflate.cpp: gunzip's output limit, on gzip files written bit by bit here (a fixed-Huffman
// block of one literal and many 258-byte matches is the densest DEFLATE can be, ~1032:1).
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "io/idx.h"
#include "io/inflate.h"

using namespace cnnlens;

namespace {

// DEFLATE bit stream: fields least-significant bit first, Huffman codes most-significant first.
struct BitWriter {
    std::vector<uint8_t> out;
    uint32_t acc = 0;
    int n = 0;
    void bits(uint32_t v, int k) {
        for (int i = 0; i < k; i++) {
            acc |= ((v >> i) & 1) << n;
            if (++n == 8) { out.push_back((uint8_t)acc); acc = 0; n = 0; }
        }
    }
    void code(uint32_t c, int len) {
        for (int i = len - 1; i >= 0; i--) bits((c >> i) & 1, 1);
    }
    std::vector<uint8_t> done() {
        if (n) out.push_back((uint8_t)acc);
        acc = 0, n = 0;
        return out;
    }
};

void put32(std::vector<uint8_t>& v, uint32_t x) {
    for (int i = 0; i < 4; i++) v.push_back((uint8_t)(x >> (8 * i)));
}

// One gzip member: `prefix` as literals, then `matches` copies of 258 bytes at distance 1.
// ISIZE is the true size unless `isize` is given; the CRC is always the true one.
std::vector<uint8_t> gzip_runs(const std::vector<uint8_t>& prefix, size_t matches, const uint32_t* isize = nullptr) {
    BitWriter w;
    w.bits(1, 1);  // BFINAL
    w.bits(1, 2);  // BTYPE 01: fixed Huffman codes
    std::vector<uint8_t> raw;
    for (uint8_t b : prefix) {
        if (b < 144) w.code(0x30 + b, 8);
        else w.code(0x190 + (b - 144), 9);
        raw.push_back(b);
    }
    for (size_t k = 0; k < matches; k++) {
        w.code(0xc0 + (285 - 280), 8);  // length 258
        w.code(0, 5);                   // distance 1
        for (int i = 0; i < 258; i++) raw.push_back(raw.back());
    }
    w.code(0, 7);  // end of block
    std::vector<uint8_t> gz = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    std::vector<uint8_t> body = w.done();
    gz.insert(gz.end(), body.begin(), body.end());
    put32(gz, crc32_update(0, raw.data(), raw.size()));
    put32(gz, isize ? *isize : (uint32_t)raw.size());
    return gz;
}

std::string error_of(const std::vector<uint8_t>& gz, size_t max_out) {
    try {
        gunzip(gz.data(), gz.size(), max_out);
    } catch (const Error& e) { return e.what(); }
    return "";
}

}  // namespace

TEST_CASE("inflate: gunzip stops at its output limit") {
    const std::vector<uint8_t> z = {0};
    // 1 + 258 * 1000 = 258001 bytes: accepted at exactly that limit, refused one byte below.
    std::vector<uint8_t> gz = gzip_runs(z, 1000);
    CHECK(gz.size() < 1700);
    std::vector<uint8_t> out = gunzip(gz.data(), gz.size(), 258001);
    CHECK(out.size() == 258001);
    CHECK(out == std::vector<uint8_t>(258001, 0));
    CHECK(error_of(gz, 258000) == "gzip: decompressed data exceeds the limit of 258000 bytes (0.2 MB)");
    CHECK(error_of(gz, 0).find("exceeds the limit of 0 bytes") != std::string::npos);

    // A 65 KB bomb of 10 MB whose ISIZE claims 4 GB: refused at the limit, never sized from ISIZE.
    const uint32_t huge = 0xffffffffu;
    std::vector<uint8_t> bomb = gzip_runs(z, 40000, &huge);
    CHECK(bomb.size() < 70000);
    CHECK(error_of(bomb, 1 << 20) == "gzip: decompressed data exceeds the limit of 1048576 bytes (1.0 MB)");
    // Within the limit the lie about the size is caught after decoding.
    CHECK(error_of(bomb, 64 << 20) == "gzip: size mismatch (corrupt data)");

    // Concatenated members share one limit.
    const std::vector<uint8_t> one = gzip_runs(z, 2500);  // 645001 bytes
    std::vector<uint8_t> two = one;
    two.insert(two.end(), one.begin(), one.end());
    CHECK(gunzip(two.data(), two.size(), 1290002).size() == 1290002);
    CHECK(error_of(two, 1 << 20).find("exceeds the limit of 1048576 bytes") != std::string::npos);

    // Stored blocks are checked too: 1000 raw bytes against a limit of 999.
    const std::vector<uint8_t> raw(1000, 7);
    std::vector<uint8_t> st = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 0xe8, 0x03, 0x17, 0xfc};  // LEN, NLEN
    for (uint8_t b : raw) st.push_back(b);
    put32(st, crc32_update(0, raw.data(), raw.size()));
    put32(st, 1000);
    CHECK(gunzip(st.data(), st.size(), 1000) == raw);
    CHECK(error_of(st, 999).find("exceeds the limit of 999 bytes") != std::string::npos);

    // inflate_raw takes the same limit.
    std::vector<uint8_t> deflate(gz.begin() + 10, gz.end() - 8);
    size_t used = 0;
    CHECK(inflate_raw(deflate.data(), deflate.size(), 258001, &used).size() == 258001);
    CHECK(used == deflate.size());
    CHECK_THROWS_WITH_AS(inflate_raw(deflate.data(), deflate.size(), 1000), doctest::Contains("limit of 1000 bytes"), Error);
}

TEST_CASE("inflate: IDX passes its array limit to gunzip") {
    // 16 header bytes of a 10x28x28 image file, then 1 + 258 * 30 = 7741 values: too few.
    const std::vector<uint8_t> head = {0, 0, 8, 3, 0, 0, 0, 10, 0, 0, 0, 28, 0, 0, 0, 28, 0};
    std::vector<uint8_t> gz = gzip_runs(head, 30);
    CHECK_THROWS_WITH_AS(idx_parse(gz.data(), gz.size()), doctest::Contains("IDX data is 7741 bytes, the header says 7840"), Error);
    // 7741 labels load under the default limit ...
    std::vector<uint8_t> exact = gzip_runs(std::vector<uint8_t>{0, 0, 8, 1, 0, 0, 0x1e, 0x3d, 0}, 30);  // [7741] labels
    IdxArray a = idx_parse(exact.data(), exact.size());
    CHECK(a.dims == std::vector<int>{7741});
    CHECK(a.data == std::vector<uint8_t>(7741, 0));
    // ... and not under a smaller one: the inflater stops at the limit plus the largest header.
    CHECK_THROWS_WITH_AS(idx_parse(exact.data(), exact.size(), 7000),
                         doctest::Contains("gzip: decompressed data exceeds the limit of 7020 bytes"), Error);
    // A plain file's header is checked against the same limit (1 GiB by default).
    const std::vector<uint8_t> big = {0, 0, 8, 3, 0, 0x10, 0, 0, 0, 0, 0x04, 0, 0, 0, 0, 2};  // 2^20 x 2^10 x 2
    CHECK_THROWS_WITH_AS(idx_parse(big.data(), big.size()),
                         doctest::Contains("IDX array of 2147483648 values is larger than the limit of 1073741824 bytes"), Error);
}
