// fuzz_util.h: what every libFuzzer target of tests/fuzz shares.
//
// A target feeds the fuzzer's bytes to one reader. cnnlens::Error is the expected answer to
// bad input and ends the run quietly; anything else (a crash, a sanitizer report, a leak, an
// exception of another type, a run over the time or memory budget) is a finding.
// A parsed result is checked for what the readers promise: every tensor's bytes lie inside
// memory we may read (touching them all lets ASan see a view past the file), and the byte
// count matches the shape and dtype.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "core/error.h"
#include "io/tensor_file.h"

namespace cnnlens_fuzz {

// Aborts (a finding) with a message: a broken promise that no sanitizer would see.
[[noreturn]] inline void broken(const char* what, const char* detail = "") {
    std::fprintf(stderr, "fuzz: broken promise: %s %s\n", what, detail);
    std::abort();
}

// Reads every byte of every tensor and checks nbytes = numel * dtype size, with no dimension
// negative and numel() well defined (no partial product of the shape beyond int64).
inline void check_tensors(const cnnlens::TensorFile& tf) {
    volatile uint8_t sink = 0;
    for (const cnnlens::TensorRef& t : tf.tensors) {
        uint64_t n = 1, nonzero = 1;
        for (int64_t d : t.shape) {
            if (d < 0) broken("negative dimension in", t.name.c_str());
            if (d != 0 && nonzero > (uint64_t)INT64_MAX / (uint64_t)d) broken("shape overflows int64 in", t.name.c_str());
            if (d != 0) nonzero *= (uint64_t)d;
            n *= (uint64_t)d;
        }
        if ((uint64_t)t.numel() != n) broken("numel() differs from the shape's product in", t.name.c_str());
        if (n > UINT64_MAX / 8 || t.nbytes != n * cnnlens::dtype_size(t.dtype)) broken("nbytes does not match the shape of", t.name.c_str());
        if (t.nbytes && !t.data) broken("null data for", t.name.c_str());
        uint8_t x = 0;
        for (size_t i = 0; i < t.nbytes; i++) x ^= t.data[i];
        sink = sink ^ x;
    }
    (void)sink;
}

}  // namespace cnnlens_fuzz

// Runs body; an Error is the expected outcome of bad input.
#define CNNLENS_FUZZ_RUN(body)              \
    try {                                   \
        body;                               \
    } catch (const cnnlens::Error&) {       \
    }                                       \
    return 0
