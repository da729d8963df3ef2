// idx.h: the IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/), plain
// or gzipped (Debian's dataset-fashion-mnist ships *-ubyte.gz).
//
// Layout: big-endian magic 0x0000 TT DD (TT = 0x08 unsigned byte, DD = number of dimensions),
// DD big-endian u32 sizes, then the values in C order. Only unsigned-byte arrays are read.
//
//   IdxDataset train = idx_load_dataset(dir + "/train-images-idx3-ubyte.gz", dir + "/train-labels-idx1-ubyte.gz");
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace cnnlens {

struct IdxArray {
    std::vector<int> dims;       // e.g. [60000, 28, 28]
    std::vector<uint8_t> data;   // prod(dims) values, C order
};

// The largest IDX array read, in bytes (values). A gzipped file is never inflated past it, so
// a small .gz cannot ask for gigabytes. 1 GiB is 20x Fashion-MNIST's largest file (the 47 MB
// training images) and still holds EMNIST's largest (547 MB).
constexpr size_t kIdxMaxBytes = size_t(1) << 30;

// Parses IDX bytes (gunzips first if they start with the gzip magic); arrays of more than
// max_bytes values are refused.
IdxArray idx_parse(const uint8_t* bytes, size_t size, size_t max_bytes = kIdxMaxBytes);
IdxArray idx_read(const std::string& path);

// Images [n][rows][cols] (greyscale, 0 = background) with their labels [n].
struct IdxDataset {
    int n = 0, rows = 0, cols = 0;
    std::vector<uint8_t> images;
    std::vector<uint8_t> labels;
    const uint8_t* image(int i) const { return images.data() + (size_t)i * rows * cols; }
};
IdxDataset idx_load_dataset(const std::string& images_path, const std::string& labels_path);

// Fashion-MNIST as Debian installs it: dir/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz].
// split = "train" or "test". The error names the missing file and the package to install.
IdxDataset fashion_mnist_load(const std::string& dir, const std::string& split);
extern const char* const kFashionMnistDir;              // /usr/share/datasets/fashion-mnist
extern const char* const kFashionMnistClasses[10];      // "T-shirt/top", "Trouser", ...

}  // namespace cnnlens
