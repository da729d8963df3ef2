#include "io/npy.h"

#include <cstdint>
#include <cstdio>
#include <cstring>

#include "core/error.h"
#include "io/weights.h"

namespace cnnlens {

void npy_write(const std::string& path, const float* data, const std::vector<int64_t>& shape) {
    std::string dims;
    size_t n = 1;
    for (int64_t d : shape) { dims += std::to_string(d) + ","; n *= (size_t)d; }
    if (shape.size() > 1) dims.pop_back();
    std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
    size_t total = 10 + header.size() + 1;
    header.append((64 - total % 64) % 64, ' ');
    header += '\n';
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) fail("cannot write '%s'", path.c_str());
    const uint8_t magic[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
    uint16_t hl = (uint16_t)header.size();
    bool ok = std::fwrite(magic, 1, 8, f) == 8 && std::fwrite(&hl, 2, 1, f) == 1 &&
              std::fwrite(header.data(), 1, header.size(), f) == header.size() &&
              std::fwrite(data, 4, n, f) == n;
    ok = (std::fclose(f) == 0) && ok;
    if (!ok) fail("error writing '%s'", path.c_str());
}

namespace {

// The header dict: a Python literal of quoted keys and values that are quoted strings,
// True/False or a tuple of integers. Every read is bounded by the header's own length.
struct NpyHeader {
    const char* p;
    const char* end;

    void ws() { while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++; }
    bool eat(char c) {
        ws();
        if (p < end && *p == c) { p++; return true; }
        return false;
    }
    void expect(char c) {
        if (!eat(c)) fail("malformed .npy header: expected '%c'", c);
    }
    std::string quoted() {
        ws();
        if (p >= end || (*p != '\'' && *p != '"')) fail("malformed .npy header: expected a quoted string");
        const char q = *p++;
        const char* s = p;
        while (p < end && *p != q) p++;
        if (p >= end) fail("malformed .npy header: unterminated string");
        return std::string(s, p++);
    }
    bool word(const char* w) {
        ws();
        const size_t n = std::strlen(w);
        if ((size_t)(end - p) < n || std::memcmp(p, w, n) != 0) return false;
        p += n;
        return true;
    }
    std::vector<int64_t> shape() {
        expect('(');
        std::vector<int64_t> dims;
        while (!eat(')')) {
            ws();
            if (p >= end || *p < '0' || *p > '9') fail("malformed .npy header: expected a dimension in 'shape'");
            int64_t d = 0;
            while (p < end && *p >= '0' && *p <= '9') {
                if (d > (INT64_MAX - 9) / 10) fail(".npy shape has an absurd dimension");
                d = d * 10 + (*p++ - '0');
            }
            while (p < end && (*p == 'L' || *p == 'l')) p++;   // Python 2 longs: (3L, 4L)
            dims.push_back(d);
            if (dims.size() > 32) fail(".npy shape has more than 32 dimensions");
            if (!eat(',')) { expect(')'); break; }
        }
        return dims;
    }
};

std::string shape_str(const std::vector<int64_t>& shape) {
    std::string s = "(";
    for (int64_t d : shape) s += std::to_string(d) + ",";
    return s + ")";
}

}  // namespace

NpyArray npy_parse(const uint8_t* b, size_t size) {
    if (size < 10 || std::memcmp(b, "\x93NUMPY", 6) != 0) fail("not a .npy file");
    size_t hl, start;
    if (b[6] == 1) {
        hl = b[8] | (size_t)b[9] << 8, start = 10;
    } else if (b[6] == 2 || b[6] == 3) {
        if (size < 12) fail("truncated .npy header");
        hl = b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24, start = 12;
    } else {
        fail("unsupported .npy format version %d.%d", b[6], b[7]);
    }
    if (hl > size - start) fail("truncated .npy header (%zu bytes announced, %zu present)", hl, size - start);

    NpyHeader h{(const char*)b + start, (const char*)b + start + hl};
    std::string descr;
    bool fortran = false, have_descr = false, have_order = false, have_shape = false;
    NpyArray a;
    h.expect('{');
    while (!h.eat('}')) {
        const std::string key = h.quoted();
        h.expect(':');
        if (key == "descr") {
            descr = h.quoted(), have_descr = true;
        } else if (key == "fortran_order") {
            if (h.word("True")) fortran = true;
            else if (h.word("False")) fortran = false;
            else fail("malformed .npy header: 'fortran_order' is not True or False");
            have_order = true;
        } else if (key == "shape") {
            a.shape = h.shape(), have_shape = true;
        } else {
            fail("malformed .npy header: unknown key '%s'", key.c_str());
        }
        if (!h.eat(',')) { h.expect('}'); break; }
    }
    if (!have_descr || !have_order || !have_shape) fail("malformed .npy header: needs 'descr', 'fortran_order' and 'shape'");
    if (descr != "<f4" && descr != "<f8")
        fail("only float32/float64 .npy files are supported (dtype '%s')", descr.c_str());
    if (fortran) fail("Fortran order is not supported");
    const size_t es = descr == "<f8" ? 8 : 4, off = start + hl, avail = size - off;
    // The element count, checked against the bytes present at every step, so it cannot overflow.
    // In 64 bits: on wasm32 a size_t cast would wrap a dimension of 2^32 to 0.
    uint64_t n = 1;
    bool fits = true;
    for (int64_t d : a.shape) {
        if (d != 0 && n > (uint64_t)(avail / es) / (uint64_t)d) { fits = false; break; }
        n *= (uint64_t)d;
    }
    if (!fits || n > avail / es)   // the last test: a scalar, shape (), with fewer than es bytes
        fail("truncated .npy data: shape %s needs more than the %zu bytes present", shape_str(a.shape).c_str(), avail);
    a.data.resize(n);
    for (size_t i = 0; i < n; i++) {
        if (es == 8) { double d; std::memcpy(&d, b + off + 8 * i, 8); a.data[i] = (float)d; }
        else std::memcpy(&a.data[i], b + off + 4 * i, 4);
    }
    return a;
}

NpyArray npy_read(const std::string& path) {
    std::vector<uint8_t> b = read_file(path);
    try {
        return npy_parse(b.data(), b.size());
    } catch (const Error& e) {
        fail("'%s': %s", path.c_str(), e.what());
    }
}

}  // namespace cnnlens
