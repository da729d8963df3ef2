#include "io/npy.h"

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

NpyArray npy_read(const std::string& path) {
    std::vector<uint8_t> b = read_file(path);
    if (b.size() < 10 || std::memcmp(b.data(), "\x93NUMPY", 6) != 0) fail("'%s' is not a .npy file", path.c_str());
    size_t hl = b[8] | (b[9] << 8), start = 10;
    if (b[6] >= 2) { hl = b[8] | (b[9] << 8) | ((size_t)b[10] << 16) | ((size_t)b[11] << 24); start = 12; }
    if (start + hl > b.size()) fail("'%s': truncated .npy header", path.c_str());
    std::string h((const char*)b.data() + start, hl);
    bool f8 = h.find("'<f8'") != std::string::npos;
    if (!f8 && h.find("'<f4'") == std::string::npos) fail("'%s': only float32/float64 .npy files are supported", path.c_str());
    if (h.find("'fortran_order': True") != std::string::npos) fail("'%s': Fortran order is not supported", path.c_str());
    NpyArray a;
    size_t p = h.find('(', h.find("'shape'")), q = h.find(')', p);
    for (size_t i = p + 1; i < q;) {
        while (i < q && (h[i] == ' ' || h[i] == ',')) i++;
        if (i >= q) break;
        a.shape.push_back(std::strtoll(h.c_str() + i, nullptr, 10));
        while (i < q && h[i] != ',') i++;
    }
    size_t n = 1;
    for (int64_t d : a.shape) n *= (size_t)d;
    size_t es = f8 ? 8 : 4, off = start + hl;
    if (off + n * es > b.size()) fail("'%s': truncated .npy data", path.c_str());
    a.data.resize(n);
    for (size_t i = 0; i < n; i++) {
        if (f8) { double d; std::memcpy(&d, &b[off + 8 * i], 8); a.data[i] = (float)d; }
        else std::memcpy(&a.data[i], &b[off + 4 * i], 4);
    }
    return a;
}

}  // namespace cnnlens
