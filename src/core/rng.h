// rng.h: the project's one random number generator (splitmix64): tiny, fast, and the same
// sequence on every platform, so a seed gives the same training run, random weights and test
// data natively and in WebAssembly (no libc distributions).
#pragma once
#include <cmath>
#include <cstdint>

namespace cnnlens {

struct Rng {
    uint64_t s;
    explicit Rng(uint64_t seed) : s(seed) {}
    uint64_t next() {
        uint64_t z = (s += 0x9E3779B97F4A7C15ull);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
        return z ^ (z >> 31);
    }
    uint32_t below(uint32_t n) { return (uint32_t)(((next() >> 32) * (uint64_t)n) >> 32); }   // [0, n)
    double uniform() { return (double)(next() >> 11) * (1.0 / 9007199254740992.0); }          // [0, 1)
    double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
    double normal() {                                                                         // N(0, 1), Box-Muller
        double u1 = uniform(), u2 = uniform();
        if (u1 < 1e-300) u1 = 1e-300;
        return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
    }
};

}  // namespace cnnlens
