#include "model/layers.h"

#include <pthreadpool.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/half.h"

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

// Four weights as float32: float32 as they are, float16 by moving its bits into a float32 and
// scaling by 2^112 (exact for every finite half, subnormals too: the loaders refuse inf and NaN),
// int8 by conversion (the row's scale is applied to the whole dot product).
typedef uint16_t v4h __attribute__((vector_size(8), aligned(2)));
typedef uint32_t v4u __attribute__((vector_size(16), aligned(4)));
typedef int8_t v4b __attribute__((vector_size(4), aligned(1)));
static inline v4f load4(const float* p) { return *(const v4f*)p; }
static inline v4f load4(const uint16_t* p) {
    const v4u u = __builtin_convertvector(*(const v4h*)p, v4u);
    const v4u mag = (u & 0x7fff) << 13, sign = (u & 0x8000) << 16;
    v4f f;
    std::memcpy(&f, &mag, 16);
    f *= 0x1p112f;
    v4u bits;
    std::memcpy(&bits, &f, 16);
    bits |= sign;
    std::memcpy(&f, &bits, 16);
    return f;
}
static inline v4f load4(const int8_t* p) { return __builtin_convertvector(*(const v4b*)p, v4f); }
static inline float load1(const float* p) { return *p; }
static inline float load1(const uint16_t* p) { return half_to_float(*p); }
static inline float load1(const int8_t* p) { return (float)*p; }

template <typename T>
static float dot(const T* a, const float* x, int n) {
    v4f s0 = {0, 0, 0, 0}, s1 = s0, s2 = s0, s3 = s0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 += load4(a + i) * *(const v4f*)(x + i);
        s1 += load4(a + i + 4) * *(const v4f*)(x + i + 4);
        s2 += load4(a + i + 8) * *(const v4f*)(x + i + 8);
        s3 += load4(a + i + 12) * *(const v4f*)(x + i + 12);
    }
    v4f s = (s0 + s1) + (s2 + s3);
    float acc = (s[0] + s[1]) + (s[2] + s[3]);
    for (; i < n; i++) acc += load1(a + i) * x[i];
    return acc;
}

// int8 rows are widened sixteen at a time (WeightRows::row; four 4-byte loads, each widened on
// its own, took the fully connected layers of an int8-fc VGG16 80 ms past float32's in WebAssembly)
typedef int8_t v16b __attribute__((vector_size(16), aligned(1)));
typedef float v16f __attribute__((vector_size(64), aligned(4)));

// y += g * a
template <typename T>
static void axpy(float g, const T* a, float* y, int n) {
    const v4f gv = {g, g, g, g};
    int i = 0;
    for (; i + 8 <= n; i += 8) {
        *(v4f*)(y + i) += gv * load4(a + i);
        *(v4f*)(y + i + 4) += gv * load4(a + i + 4);
    }
    for (; i < n; i++) y[i] += g * load1(a + i);
}

// y += (g0 a0 + g1 a1) + (g2 a2 + g3 a3): four rows per pass over y
template <typename T>
static void axpy4(const float g[4], const T* const a[4], float* y, int n) {
    const v4f g0 = {g[0], g[0], g[0], g[0]}, g1 = {g[1], g[1], g[1], g[1]}, g2 = {g[2], g[2], g[2], g[2]},
              g3 = {g[3], g[3], g[3], g[3]};
    int i = 0;
    for (; i + 4 <= n; i += 4)
        *(v4f*)(y + i) += (g0 * load4(a[0] + i) + g1 * load4(a[1] + i)) + (g2 * load4(a[2] + i) + g3 * load4(a[3] + i));
    for (; i < n; i++)
        y[i] += (g[0] * load1(a[0] + i) + g[1] * load1(a[1] + i)) + (g[2] * load1(a[2] + i) + g[3] * load1(a[3] + i));
}

size_t wtype_size(WType t) { return t == WType::F32 ? 4 : t == WType::F16 ? 2 : 1; }

template <typename T>
static void decode(const T* a, size_t n, float* dst) {
    size_t i = 0;
    for (; i + 4 <= n; i += 4) *(v4f*)(dst + i) = load4(a + i);
    for (; i < n; i++) dst[i] = load1(a + i);
}

void WeightRows::row(size_t o, size_t in, size_t i0, size_t n, float* dst) const {
    const size_t at = o * in + i0;
    switch (type) {
        case WType::F32: std::memcpy(dst, (const float*)data + at, n * sizeof(float)); return;
        case WType::F16: decode((const uint16_t*)data + at, n, dst); return;
        case WType::I8: {   // widened and scaled in one pass, sixteen at a time
            const int8_t* a = (const int8_t*)data + at;
            const float s = scale[o];
            const v4f sv = {s, s, s, s};
            size_t i = 0;
            for (; i + 16 <= n; i += 16) {
                const v16f w = __builtin_convertvector(*(const v16b*)(a + i), v16f);
                *(v4f*)(dst + i) = __builtin_shufflevector(w, w, 0, 1, 2, 3) * sv;
                *(v4f*)(dst + i + 4) = __builtin_shufflevector(w, w, 4, 5, 6, 7) * sv;
                *(v4f*)(dst + i + 8) = __builtin_shufflevector(w, w, 8, 9, 10, 11) * sv;
                *(v4f*)(dst + i + 12) = __builtin_shufflevector(w, w, 12, 13, 14, 15) * sv;
            }
            for (; i < n; i++) dst[i] = (float)a[i] * s;
            return;
        }
    }
}

namespace {
struct LinearJob {
    WeightRows W;
    const float *b, *x;
    int in, out;
    bool relu;
    float* y;
};
template <typename T>
void rows(const LinearJob& j, size_t o0, size_t n) {
    const T* W = (const T*)j.W.data;
    for (size_t o = o0; o < o0 + n; o++) {
        float v = dot(W + o * (size_t)j.in, j.x, j.in);
        if (j.W.scale) v *= j.W.scale[o];
        v += j.b ? j.b[o] : 0.0f;
        j.y[o] = j.relu && v < 0 ? 0.0f : v;
    }
}
void linear_rows(void* ctx, size_t o0, size_t n) {
    const LinearJob& j = *(const LinearJob*)ctx;
    switch (j.W.type) {
        case WType::F32: rows<float>(j, o0, n); break;
        case WType::F16: rows<uint16_t>(j, o0, n); break;
        case WType::I8: rows<int8_t>(j, o0, n); break;
    }
}
// dx[i0:i0+n] = sum_o dy[o] W[o, i0:i0+n]: each task owns a column range, reads it from every row
// whose dy is not zero (a ReLU's zeros: about half of VGG16's fc rows), four rows per pass over dx
// (one at a time, the read-modify-write of dx took as long as reading the rows).
template <typename T>
void cols(const LinearJob& j, size_t i0, size_t n) {   // x = dy, y = dx
    const T* W = (const T*)j.W.data;
    std::memset(j.y + i0, 0, n * sizeof(float));
    const T* a[4];
    float g[4];
    int k = 0;
    for (int o = 0; o < j.out; o++) {
        if (j.x[o] == 0.0f) continue;
        g[k] = j.W.scale ? j.x[o] * j.W.scale[o] : j.x[o];
        a[k] = W + (size_t)o * j.in + i0;
        if (++k == 4) axpy4(g, a, j.y + i0, (int)n), k = 0;
    }
    for (int r = 0; r < k; r++) axpy(g[r], a[r], j.y + i0, (int)n);
}
void linear_cols(void* ctx, size_t i0, size_t n) {
    const LinearJob& j = *(const LinearJob*)ctx;
    switch (j.W.type) {
        case WType::F32: cols<float>(j, i0, n); break;
        case WType::F16: cols<uint16_t>(j, i0, n); break;
        case WType::I8: cols<int8_t>(j, i0, n); break;
    }
}
}  // namespace

void linear_forward(const WeightRows& W, const float* b, const float* x, int in, int out, bool relu, float* y,
                    pthreadpool_t pool) {
    LinearJob job{W, b, x, in, out, relu, y};
    pthreadpool_parallelize_1d_tile_1d(pool, linear_rows, &job, (size_t)out, 16, 0);
}

void linear_backward(const WeightRows& W, const float* dy, int in, int out, float* dx, pthreadpool_t pool) {
    // Column ranges of up to 8192 (32 KB of dx), a multiple of the threads in number: each row's
    // part is one long run of memory (ranges of 512 took fc6 of VGG16 about 1.8x as long: the
    // prefetchers restarted every 2 KB). The sums are the same whatever the cut.
    const size_t threads = std::max<size_t>(pthreadpool_get_threads_count(pool), 1);
    const size_t ranges = (((size_t)in + 8191) / 8192 + threads - 1) / threads * threads;
    const size_t tile = ((size_t)in + ranges - 1) / ranges;
    LinearJob job{W, nullptr, dy, in, out, false, dx};
    pthreadpool_parallelize_1d_tile_1d(pool, linear_cols, &job, (size_t)in, (tile + 15) / 16 * 16, 0);
}

namespace {

struct BatchJob {
    WeightRows W;
    const float *b, *X;
    int n, in, out;
    bool relu;
    float* Y;
};

// 4 rows x NJ inputs (4, or 1 for a single input) of the product in 4 x NJ vector accumulators
// (4 loads of W, NJ of X, 4 NJ multiply-adds per step), a vector of V floats wide, over the
// inputs [i0, i1) (i0 a multiple of L); `acc` holds the sums so far. batch_rows then adds each
// one's lanes, then the tail of `in` past the last whole vector in scalar code. Each (row, input) is
// summed the same way whatever NJ and however [0, in) is cut: a forward pass (one input) gives
// the numbers of occlusion's batched head.
#define CNNLENS_BATCH_TILE(V, L, NJ)                                                                   \
    V a[4][NJ];                                                                                        \
    for (int r = 0; r < 4; r++)                                                                        \
        for (int j = 0; j < NJ; j++) a[r][j] = *(V*)acc.v[r][j];                                         \
    for (int i = i0; i + L <= i1; i += L) {                                                            \
        V w0 = *(const V*)(w[0] + i), w1 = *(const V*)(w[1] + i), w2 = *(const V*)(w[2] + i),          \
          w3 = *(const V*)(w[3] + i);                                                                  \
        for (int j = 0; j < NJ; j++) {                                                                 \
            const V xv = *(const V*)(x[j] + i);                                                       \
            a[0][j] += w0 * xv, a[1][j] += w1 * xv, a[2][j] += w2 * xv, a[3][j] += w3 * xv;            \
        }                                                                                              \
    }                                                                                                  \
    for (int r = 0; r < 4; r++)                                                                        \
        for (int j = 0; j < NJ; j++) *(V*)acc.v[r][j] = a[r][j];

constexpr int kLanes = 16;   // accumulator lanes at most (float)
typedef float v8g __attribute__((vector_size(32), aligned(4)));
struct Acc {
    alignas(64) float v[4][4][kLanes];
};
typedef void (*TileFn)(const float* const w[4], const float* const x[4], int i0, int i1, Acc& acc);
void tile_generic(const float* const w[4], const float* const x[4], int i0, int i1, Acc& acc) { CNNLENS_BATCH_TILE(v8g, 8, 4) }
void tile1_generic(const float* const w[4], const float* const x[4], int i0, int i1, Acc& acc) { CNNLENS_BATCH_TILE(v8g, 8, 1) }
struct Tile {
    TileFn fn;
    int lanes;
};

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
typedef float v8f __attribute__((vector_size(32), aligned(4)));
__attribute__((target("avx512f"))) void tile_avx512(const float* const w[4], const float* const x[4], int i0, int i1, Acc& acc) {
    CNNLENS_BATCH_TILE(v16f, 16, 4)
}
__attribute__((target("avx512f"))) void tile1_avx512(const float* const w[4], const float* const x[4], int i0, int i1, Acc& acc) {
    CNNLENS_BATCH_TILE(v16f, 16, 1)
}
__attribute__((target("avx2,fma"))) void tile_avx2(const float* const w[4], const float* const x[4], int i0, int i1, Acc& acc) {
    CNNLENS_BATCH_TILE(v8f, 8, 4)
}
__attribute__((target("avx2,fma"))) void tile1_avx2(const float* const w[4], const float* const x[4], int i0, int i1, Acc& acc) {
    CNNLENS_BATCH_TILE(v8f, 8, 1)
}
// One family per machine for a single input and for several, so that both sum alike.
Tile pick_tile(bool single) {
    static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"),
                      avx512 = avx2 && __builtin_cpu_supports("avx512f");
    if (avx512) return {single ? tile1_avx512 : tile_avx512, 16};
    if (avx2) return {single ? tile1_avx2 : tile_avx2, 8};
    return {single ? tile1_generic : tile_generic, 8};
}
#else
Tile pick_tile(bool single) { return {single ? tile1_generic : tile_generic, 8}; }
#endif
#undef CNNLENS_BATCH_TILE

// Rows o0..o0+cnt for every input, in tiles of 4 rows x 4 inputs (short tiles repeat a row or an
// input and drop the extra results). Several inputs: the inputs in blocks of kStep, each block
// through every row of the task before the next, so that the inputs' block stays in cache while
// the task's rows stream by (each row is read once, each input once per task).
void batch_rows(void* ctx, size_t o0, size_t cnt) {
    const BatchJob& j = *(const BatchJob*)ctx;
    const Tile tile = pick_tile(j.n == 1);
    // floats of each input per block (a multiple of kLanes): the inputs' block in about 384 KB
    const int kStep = std::max(256, (int)(96 * 1024 / std::max(j.n, 1)) / kLanes * kLanes);
    const int i_end = j.in / tile.lanes * tile.lanes;   // whole vectors; the rest after the lanes
    const size_t groups = (cnt + 3) / 4, qs = ((size_t)j.n + 3) / 4;
    static thread_local std::vector<float> wide;     // float16 / int8 rows widened (one block of 4 rows)
    static thread_local std::vector<Acc> acc;
    acc.assign(groups * qs, Acc{});
    const int step = j.n == 1 ? std::max(i_end, 1) : kStep;
    for (int i0 = 0; i0 < std::max(i_end, 1); i0 += step) {
        const int i1 = std::min(i0 + step, i_end);
        for (size_t g = 0; g < groups; g++) {
            const size_t o = o0 + 4 * g;
            const float* w[4];
            for (int r = 0; r < 4; r++) {
                const size_t row = std::min(o + r, o0 + cnt - 1);
                if (j.W.type == WType::F32) {
                    w[r] = (const float*)j.W.data + row * (size_t)j.in;
                } else {   // the block's part of the row, widened (at its place in `wide`)
                    wide.resize((size_t)4 * j.in);
                    float* d = wide.data() + (size_t)r * j.in;
                    j.W.row(row, (size_t)j.in, (size_t)i0, (size_t)(i1 - i0), d + i0);
                    w[r] = d;
                }
            }
            for (size_t q = 0; q < qs; q++) {
                const float* x[4];
                for (int c = 0; c < 4; c++) x[c] = j.X + (size_t)std::min((int)q * 4 + c, j.n - 1) * j.in;
                tile.fn(w, x, i0, i1, acc[g * qs + q]);
            }
        }
    }
    std::vector<float> wt;   // float16 / int8: a row's tail widened
    for (size_t g = 0; g < groups; g++) {   // the lanes, the tail, bias and ReLU
        const size_t o = o0 + 4 * g;
        for (int r = 0; r < 4 && o + r < o0 + cnt; r++) {
            const float* wr = (const float*)j.W.data + (o + r) * (size_t)j.in;
            if (j.W.type != WType::F32 && i_end < j.in) {
                wt.resize((size_t)j.in);
                j.W.row(o + r, (size_t)j.in, (size_t)i_end, (size_t)(j.in - i_end), wt.data() + i_end);
                wr = wt.data();
            }
            for (int c = 0; c < j.n; c++) {
                const float* lanes = acc[g * qs + (size_t)c / 4].v[r][c % 4];
                float s = 0;
                for (int k = 0; k < tile.lanes; k++) s += lanes[k];
                const float* xc = j.X + (size_t)c * j.in;
                for (int t = i_end; t < j.in; t++) s += wr[t] * xc[t];
                const float v = s + (j.b ? j.b[o + r] : 0.0f);
                j.Y[(size_t)c * j.out + o + r] = j.relu && v < 0 ? 0.0f : v;
            }
        }
    }
}

}  // namespace

void linear_forward_batch(const WeightRows& W, const float* b, const float* X, int n, int in, int out, bool relu,
                          float* Y, pthreadpool_t pool) {
    BatchJob job{W, b, X, n, in, out, relu, Y};
    // several inputs: tasks of as many rows as keep their sums (32 bytes per row and input) in
    // about 256 KB, so that each task reads the inputs once
    const size_t rows = n == 1 ? 16 : std::clamp((size_t)(8192 / n) / 4 * 4, (size_t)16, (size_t)256);
    pthreadpool_parallelize_1d_tile_1d(pool, batch_rows, &job, (size_t)out, rows, 0);
}

}  // namespace cnnlens
