// test_util.h: helpers shared by the tests (fixture paths, comparisons with stated tolerances).
#pragma once
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <sys/stat.h>

#include "io/idx.h"
#include "io/npy.h"

#ifndef CNNLENS_TEST_DATA
#error "CNNLENS_TEST_DATA must be defined by the build"
#endif

namespace cnnlens_test {

// n values uniform in [lo, hi), reproducible from seed.
template <typename T = float>
std::vector<T> random_values(size_t n, uint32_t seed, double lo = -1, double hi = 1) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> u(lo, hi);
    std::vector<T> v(n);
    for (T& x : v) x = (T)u(rng);
    return v;
}

inline std::string data_path(const std::string& rel) { return std::string(CNNLENS_TEST_DATA) + "/" + rel; }

// compare.py's metric: ||out - ref||_2 / ||ref||_2.
inline double rel_l2(const float* out, const float* ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)out[i] - ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    return den > 0 ? std::sqrt(num / den) : std::sqrt(num);
}

inline double max_abs_diff(const float* a, const float* b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = std::fmax(m, std::fabs((double)a[i] - b[i]));
    return m;
}

// Fashion-MNIST as scripts/deps.sh installs it (Debian's dataset-fashion-mnist).
inline bool fashion_present() {
    struct stat st;
    const std::string d = cnnlens::kFashionMnistDir;
    return stat((d + "/train-images-idx3-ubyte.gz").c_str(), &st) == 0 || stat((d + "/train-images-idx3-ubyte").c_str(), &st) == 0;
}

}  // namespace cnnlens_test
