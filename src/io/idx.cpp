#include "io/idx.h"

#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <utility>

#include "core/error.h"
#include "io/inflate.h"
#include "io/weights.h"

namespace cnnlens {

const char* const kFashionMnistDir = "/usr/share/datasets/fashion-mnist";
const char* const kFashionMnistClasses[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                              "Sandal",      "Shirt",   "Sneaker",  "Bag",   "Ankle boot"};

IdxArray idx_parse(const uint8_t* bytes, size_t size, size_t max_bytes) {
    std::vector<uint8_t> raw;
    if (is_gzip(bytes, size)) {
        const size_t header = 4 + 4 * 4;   // the largest header, then the values
        raw = gunzip(bytes, size, max_bytes > SIZE_MAX - header ? SIZE_MAX : max_bytes + header);
        bytes = raw.data(), size = raw.size();
    }
    if (size < 4 || bytes[0] != 0 || bytes[1] != 0) fail("not an IDX file (bad magic)");
    if (bytes[2] != 0x08) fail("IDX value type 0x%02x is not unsigned byte (0x08)", bytes[2]);
    const int nd = bytes[3];
    if (nd < 1 || nd > 4) fail("IDX file with %d dimensions", nd);
    if (size < 4 + 4 * (size_t)nd) fail("IDX header truncated");
    IdxArray a;
    uint64_t total = 1;   // <= max_bytes before each product, so it cannot overflow
    for (int i = 0; i < nd; i++) {
        const uint8_t* p = bytes + 4 + 4 * i;
        uint32_t d = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
        if (d == 0 || d > (1u << 28)) fail("IDX dimension %d has an absurd size %u", i, d);
        total *= d;
        if (total > max_bytes) fail("IDX array of %llu values is larger than the limit of %zu bytes", (unsigned long long)total, max_bytes);
        a.dims.push_back((int)d);
    }
    const size_t off = 4 + 4 * (size_t)nd;
    if (size - off != total)
        fail("IDX data is %zu bytes, the header says %llu (truncated or corrupt)", size - off, (unsigned long long)total);
    if (!raw.empty()) {   // reuse the inflated buffer rather than holding two copies
        raw.erase(raw.begin(), raw.begin() + (std::ptrdiff_t)off);
        a.data = std::move(raw);
    } else {
        a.data.assign(bytes + off, bytes + size);
    }
    return a;
}

IdxArray idx_read(const std::string& path) {
    std::vector<uint8_t> bytes = read_file(path);
    try {
        return idx_parse(bytes.data(), bytes.size());
    } catch (const Error& e) {
        fail("%s: %s", path.c_str(), e.what());
    }
}

IdxDataset idx_load_dataset(const std::string& images_path, const std::string& labels_path) {
    IdxArray im = idx_read(images_path), lb = idx_read(labels_path);
    if (im.dims.size() != 3) fail("%s: expected [n, rows, cols] images", images_path.c_str());
    if (lb.dims.size() != 1 || lb.dims[0] != im.dims[0])
        fail("%s: %d labels for %d images in %s", labels_path.c_str(), lb.dims[0], im.dims[0], images_path.c_str());
    IdxDataset d;
    d.n = im.dims[0], d.rows = im.dims[1], d.cols = im.dims[2];
    d.images = std::move(im.data);
    d.labels = std::move(lb.data);
    return d;
}

static bool exists(const std::string& p) {
    struct stat st;
    return stat(p.c_str(), &st) == 0;
}

IdxDataset fashion_mnist_load(const std::string& dir, const std::string& split) {
    if (split != "train" && split != "test") fail("unknown split '%s' (train or test)", split.c_str());
    const std::string prefix = split == "train" ? "train" : "t10k";
    std::string paths[2];
    const char* kinds[2] = {"-images-idx3-ubyte", "-labels-idx1-ubyte"};
    for (int k = 0; k < 2; k++) {
        std::string base = dir + "/" + prefix + kinds[k];
        paths[k] = exists(base + ".gz") ? base + ".gz" : base;
        if (!exists(paths[k]))
            fail("Fashion-MNIST not found: no %s(.gz) (install it with: apt-get install dataset-fashion-mnist, "
                 "or pass --data DIR)", base.c_str());
    }
    IdxDataset d = idx_load_dataset(paths[0], paths[1]);
    for (uint8_t l : d.labels)
        if (l > 9) fail("%s: label %d outside 0..9", paths[1].c_str(), l);
    return d;
}

}  // namespace cnnlens
