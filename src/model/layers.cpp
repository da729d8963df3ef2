#include "model/layers.h"

#include <pthreadpool.h>

#include <algorithm>
#include <cstring>

namespace cnnlens {

void conv3x3_flip_kernel(const float* w, int cout, int cin, float* wt) {
    for (int o = 0; o < cout; o++)
        for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++)
                for (int i = 0; i < cin; i++)
                    wt[(((size_t)i * 3 + (2 - ky)) * 3 + (2 - kx)) * cout + o] = w[(((size_t)o * 3 + ky) * 3 + kx) * cin + i];
}

// GCC/Clang vector extension: SSE/AVX natively, SIMD128 in WebAssembly.
typedef float v4f __attribute__((vector_size(16), aligned(4)));

static float dot(const float* a, const float* x, int n) {
    v4f s0 = {0, 0, 0, 0}, s1 = s0, s2 = s0, s3 = s0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 += *(const v4f*)(a + i) * *(const v4f*)(x + i);
        s1 += *(const v4f*)(a + i + 4) * *(const v4f*)(x + i + 4);
        s2 += *(const v4f*)(a + i + 8) * *(const v4f*)(x + i + 8);
        s3 += *(const v4f*)(a + i + 12) * *(const v4f*)(x + i + 12);
    }
    v4f s = (s0 + s1) + (s2 + s3);
    float acc = (s[0] + s[1]) + (s[2] + s[3]);
    for (; i < n; i++) acc += a[i] * x[i];
    return acc;
}

// y += g * a
static void axpy(float g, const float* a, float* y, int n) {
    const v4f gv = {g, g, g, g};
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        *(v4f*)(y + i) += gv * *(const v4f*)(a + i);
        *(v4f*)(y + i + 4) += gv * *(const v4f*)(a + i + 4);
    }
    for (; i < n; i++) y[i] += g * a[i];
}

namespace {
struct LinearJob {
    const float *W, *b, *x;
    int in, out;
    bool relu;
    float* y;
};
void linear_rows(void* ctx, size_t o0, size_t n) {
    const LinearJob& j = *(const LinearJob*)ctx;
    for (size_t o = o0; o < o0 + n; o++) {
        float v = dot(j.W + o * (size_t)j.in, j.x, j.in) + (j.b ? j.b[o] : 0.0f);
        j.y[o] = j.relu && v < 0 ? 0.0f : v;
    }
}
// dx[i0:i0+n] = sum_o dy[o] W[o, i0:i0+n]: each task owns a column range, reads it from every row.
void linear_cols(void* ctx, size_t i0, size_t n) {
    const LinearJob& j = *(const LinearJob*)ctx;   // x = dy, y = dx
    std::memset(j.y + i0, 0, n * sizeof(float));
    for (int o = 0; o < j.out; o++)
        if (j.x[o] != 0.0f) axpy(j.x[o], j.W + (size_t)o * j.in + i0, j.y + i0, (int)n);
}
}  // namespace

void linear_forward(const float* W, const float* b, const float* x, int in, int out, bool relu, float* y,
                    pthreadpool_t pool) {
    LinearJob job{W, b, x, in, out, relu, y};
    pthreadpool_parallelize_1d_tile_1d(pool, linear_rows, &job, (size_t)out, 16, 0);
}

void linear_backward(const float* W, const float* dy, int in, int out, float* dx, pthreadpool_t pool) {
    LinearJob job{W, nullptr, dy, in, out, false, dx};
    pthreadpool_parallelize_1d_tile_1d(pool, linear_cols, &job, (size_t)in, 512, 0);
}

namespace {

struct BatchJob {
    const float *W, *b, *X;
    int n, in, out;
    bool relu;
    float* Y;
};

// 4 rows x 4 inputs of the product in 16 vector accumulators (4 loads of W, 4 of X, 16
// multiply-adds per step), a vector of V floats wide; the tail of `in` in scalar code.
#define CNNLENS_BATCH_TILE(V, L)                                                                       \
    V acc[4][4] = {};                                                                                  \
    int i = 0;                                                                                         \
    for (; i + L <= in; i += L) {                                                                      \
        V w0 = *(const V*)(w[0] + i), w1 = *(const V*)(w[1] + i), w2 = *(const V*)(w[2] + i),          \
          w3 = *(const V*)(w[3] + i);                                                                  \
        for (int j = 0; j < 4; j++) {                                                                  \
            const V xv = *(const V*)(x[j] + i);                                                       \
            acc[0][j] += w0 * xv, acc[1][j] += w1 * xv, acc[2][j] += w2 * xv, acc[3][j] += w3 * xv;    \
        }                                                                                              \
    }                                                                                                  \
    for (int r = 0; r < 4; r++)                                                                        \
        for (int j = 0; j < 4; j++) {                                                                  \
            float s = 0;                                                                               \
            for (int k = 0; k < L; k++) s += acc[r][j][k];                                             \
            for (int t = i; t < in; t++) s += w[r][t] * x[j][t];                                       \
            out[r][j] = s;                                                                             \
        }

void tile_generic(const float* const w[4], const float* const x[4], int in, float out[4][4]) { CNNLENS_BATCH_TILE(v4f, 4) }

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
typedef float v8f __attribute__((vector_size(32), aligned(4)));
__attribute__((target("avx2,fma"))) void tile_avx2(const float* const w[4], const float* const x[4], int in, float out[4][4]) {
    CNNLENS_BATCH_TILE(v8f, 8)
}
bool have_avx2() {
    static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return yes;
}
#else
bool have_avx2() { return false; }
void tile_avx2(const float* const w[4], const float* const x[4], int in, float out[4][4]) { tile_generic(w, x, in, out); }
#endif
#undef CNNLENS_BATCH_TILE

// Rows o0..o0+cnt for every input: tiles of 4 rows x 4 inputs (short tiles repeat a row or an
// input and drop the extra results).
void batch_rows(void* ctx, size_t o0, size_t cnt) {
    const BatchJob& j = *(const BatchJob*)ctx;
    const bool avx = have_avx2();
    for (size_t o = o0; o < o0 + cnt; o += 4) {
        const float* w[4];
        for (int r = 0; r < 4; r++) w[r] = j.W + std::min(o + r, o0 + cnt - 1) * (size_t)j.in;
        for (int q = 0; q < j.n; q += 4) {
            const float* x[4];
            for (int c = 0; c < 4; c++) x[c] = j.X + (size_t)std::min(q + c, j.n - 1) * j.in;
            float out[4][4];
            (avx ? tile_avx2 : tile_generic)(w, x, j.in, out);
            for (int r = 0; r < 4 && o + r < o0 + cnt; r++)
                for (int c = 0; c < 4 && q + c < j.n; c++) {
                    const float v = out[r][c] + (j.b ? j.b[o + r] : 0.0f);
                    j.Y[(size_t)(q + c) * j.out + o + r] = j.relu && v < 0 ? 0.0f : v;
                }
        }
    }
}

}  // namespace

void linear_forward_batch(const float* W, const float* b, const float* X, int n, int in, int out, bool relu, float* Y,
                          pthreadpool_t pool) {
    BatchJob job{W, b, X, n, in, out, relu, Y};
    pthreadpool_parallelize_1d_tile_1d(pool, batch_rows, &job, (size_t)out, 16, 0);
}

}  // namespace cnnlens
