// half.h: IEEE 754 binary16 <-> float32, exact both ways where binary16 can be exact
// (float_to_half rounds to nearest even, overflows to infinity, keeps subnormals).
#pragma once
#include <cstdint>
#include <cstring>

namespace cnnlens {

// Exact for every value including subnormals, inf and NaN.
inline float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
    uint32_t bits;
    if (exp == 0x1f) {
        bits = sign | 0x7f800000u | (man << 13);
    } else if (exp != 0) {
        bits = sign | ((exp + 112) << 23) | (man << 13);
    } else if (man == 0) {
        bits = sign;
    } else {  // subnormal: normalise
        int e = -1;
        do { man <<= 1; e++; } while (!(man & 0x400));
        bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ff) << 13);
    }
    float f;
    std::memcpy(&f, &bits, 4);
    return f;
}

// The same for finite values (no infinity or NaN), without branches (the loops over it vectorise):
// the exponent rebiased by a multiplication, which also normalises subnormals exactly.
inline float half_to_float_finite(uint16_t h) {
    uint32_t bits = (uint32_t)(h & 0x7fff) << 13;
    float f;
    std::memcpy(&f, &bits, 4);
    f *= 0x1p112f;
    std::memcpy(&bits, &f, 4);
    bits |= (uint32_t)(h & 0x8000) << 16;
    std::memcpy(&f, &bits, 4);
    return f;
}

inline uint16_t float_to_half(float f) {
    uint32_t x;
    std::memcpy(&x, &f, 4);
    const uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
    const uint32_t a = x & 0x7fffffffu;
    if (a >= 0x7f800000u) return sign | 0x7c00 | (a > 0x7f800000u ? 0x200 : 0);   // inf, NaN
    if (a >= 0x477ff000u) return sign | 0x7c00;   // rounds to above 65504: infinity
    if (a < 0x38800000u) {   // below 2^-14: a subnormal half (or zero), rounded to nearest even
        if (a < 0x33000000u) return sign;   // below half the smallest subnormal
        // value = man * 2^(e - 150); in units of the smallest subnormal half, 2^-24: man >> (126 - e)
        const uint32_t man = (a & 0x7fffff) | 0x800000, s = 126 - (a >> 23);
        uint32_t q = man >> s, rem = man & ((1u << s) - 1), halfway = 1u << (s - 1);
        if (rem > halfway || (rem == halfway && (q & 1))) q++;
        return sign | (uint16_t)q;
    }
    uint32_t h = ((a >> 13) - (112u << 10));   // rebias, keep 10 mantissa bits
    const uint32_t rem = a & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;   // a carry into the exponent is right
    return sign | (uint16_t)h;
}

}  // namespace cnnlens
