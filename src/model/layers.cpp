#include "model/layers.h"

#include <pthreadpool.h>

#include <algorithm>
#include <vector>

namespace cnnlens {

void conv3x3_forward_naive(const float* in, int H, int W, int cin, const float* w, const float* b,
                           int cout, bool relu, float* out) {
    for (int h = 0; h < H; h++)
        for (int x = 0; x < W; x++)
            for (int o = 0; o < cout; o++) {
                double acc = b ? b[o] : 0.0;
                for (int dy = 0; dy < 3; dy++) {
                    int yy = h + dy - 1;
                    if (yy < 0 || yy >= H) continue;
                    for (int dx = 0; dx < 3; dx++) {
                        int xx = x + dx - 1;
                        if (xx < 0 || xx >= W) continue;
                        const float* ip = in + ((size_t)yy * W + xx) * cin;
                        const float* wp = w + (((size_t)o * 3 + dy) * 3 + dx) * cin;
                        for (int i = 0; i < cin; i++) acc += (double)ip[i] * wp[i];
                    }
                }
                float v = (float)acc;
                out[((size_t)h * W + x) * cout + o] = relu && v < 0 ? 0.0f : v;
            }
}

void maxpool2x2_forward_naive(const float* in, int H, int W, int C, float* out) {
    const int Ho = H / 2, Wo = W / 2;
    for (int h = 0; h < Ho; h++)
        for (int x = 0; x < Wo; x++)
            for (int c = 0; c < C; c++) {
                float m = in[((size_t)(2 * h) * W + 2 * x) * C + c];
                for (int k = 1; k < 4; k++) m = std::max(m, in[((size_t)(2 * h + k / 2) * W + 2 * x + k % 2) * C + c]);
                out[((size_t)h * Wo + x) * C + c] = m;
            }
}

void linear_forward_naive(const float* W, const float* b, const float* x, int in, int out, bool relu, float* y) {
    for (int o = 0; o < out; o++) {
        double acc = b ? b[o] : 0.0;
        for (int i = 0; i < in; i++) acc += (double)W[(size_t)o * in + i] * x[i];
        float v = (float)acc;
        y[o] = relu && v < 0 ? 0.0f : v;
    }
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

namespace {
struct LinearJob {
    const float *W, *b, *x;
    int in;
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
}  // namespace

void linear_forward(const float* W, const float* b, const float* x, int in, int out, bool relu, float* y,
                    pthreadpool_t pool) {
    LinearJob job{W, b, x, in, relu, y};
    pthreadpool_parallelize_1d_tile_1d(pool, linear_rows, &job, (size_t)out, 16, 0);
}

void gap_forward(const float* in, int H, int W, int C, float* out) {
    std::vector<double> acc((size_t)C, 0.0);
    for (size_t p = 0; p < (size_t)H * W; p++)
        for (int c = 0; c < C; c++) acc[c] += in[p * C + c];
    for (int c = 0; c < C; c++) out[c] = (float)(acc[c] / ((double)H * W));
}

}  // namespace cnnlens
