// layers.h: the layers of a VGG network as paired *_forward / *_backward functions over raw
// arrays, knowing nothing about VGG.
//
// Layout: images and feature maps are HWC (channels last, batch 1), conv kernels are OHWI
// [cout][3][3][cin], fully connected weights are [out][in] row-major. A *_backward function
// takes the gradient of the output (dy) and returns the gradient of the input (dx); the
// weights are never differentiated here (inference explanations need input gradients only).
//
// The fast paths of the model are XNNPACK (conv forward and the conv input gradient, max-pool
// forward) and the SIMD linear_forward / linear_backward below (at batch 1 a fully connected
// layer is a memory-bound matrix-vector product over the one copy of its weights, read row by
// row forwards and transposed backwards). The *_naive templates are the readable definitions,
// kept as the reference for tests (instantiated with double for finite-difference checks).
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>

typedef struct pthreadpool* pthreadpool_t;

namespace cnnlens {

// ---------------------------------------------------------------------------- conv 3x3, pad 1

// y[h,w,o] = b[o] + sum_{dy,dx,i} x[h+dy-1, w+dx-1, i] * w[o,dy,dx,i] (zero padding), then
// ReLU if relu. PyTorch: torch.nn.functional.conv2d(x, w, b, padding=1) in NHWC.
template <typename T>
void conv3x3_forward_naive(const T* x, int H, int W, int cin, const T* w, const T* b, int cout, bool relu, T* y) {
    for (int h = 0; h < H; h++)
        for (int c = 0; c < W; c++)
            for (int o = 0; o < cout; o++) {
                double acc = b ? (double)b[o] : 0.0;
                for (int dy = 0; dy < 3; dy++)
                    for (int dx = 0; dx < 3; dx++) {
                        int yy = h + dy - 1, xx = c + dx - 1;
                        if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                        const T* ip = x + ((size_t)yy * W + xx) * cin;
                        const T* wp = w + (((size_t)o * 3 + dy) * 3 + dx) * cin;
                        for (int i = 0; i < cin; i++) acc += (double)ip[i] * (double)wp[i];
                    }
                T v = (T)acc;
                y[((size_t)h * W + c) * cout + o] = relu && v < 0 ? T(0) : v;
            }
}

// dx[h,w,i] = sum_{dy,dx,o} dy_out[h-dy+1, w-dx+1, o] * w[o,dy,dx,i]: the gradient of the conv
// (without its ReLU) w.r.t. its input. It is itself a 3x3 pad-1 conv whose kernel is w flipped
// in space with in/out channels swapped: w'[i,2-dy,2-dx,o] = w[o,dy,dx,i] (conv3x3_flip_kernel).
template <typename T>
void conv3x3_backward_naive(const T* dy, int H, int W, int cout, const T* w, int cin, T* dx) {
    std::fill(dx, dx + (size_t)H * W * cin, T(0));
    for (int h = 0; h < H; h++)
        for (int c = 0; c < W; c++)
            for (int o = 0; o < cout; o++) {
                const T g = dy[((size_t)h * W + c) * cout + o];
                if (g == T(0)) continue;
                for (int ky = 0; ky < 3; ky++)
                    for (int kx = 0; kx < 3; kx++) {
                        int yy = h + ky - 1, xx = c + kx - 1;
                        if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                        T* ip = dx + ((size_t)yy * W + xx) * cin;
                        const T* wp = w + (((size_t)o * 3 + ky) * 3 + kx) * cin;
                        for (int i = 0; i < cin; i++) ip[i] += g * wp[i];
                    }
            }
}

// OHWI [cout][3][3][cin] -> the input-gradient kernel, OHWI [cin][3][3][cout].
void conv3x3_flip_kernel(const float* w, int cout, int cin, float* wt);

// ---------------------------------------------------------------------------- ReLU

// The gradient through y = max(0, z), given y: dz = dy * [y > 0] (ReLU'(0) = 0, as PyTorch).
// guided: guided backprop (pytorch-grad-cam's GuidedBackpropReLU), dz = dy * [y > 0] * [dy > 0].
template <typename T>
void relu_backward(const T* __restrict y, const T* __restrict dy, size_t n, bool guided, T* __restrict dz) {
    // branch-free selects of values loaded unconditionally: the compiler vectorises both loops
    // (`y[i] > 0 ? dy[i] : 0` loads dy[i] only if taken, and GCC then keeps the branch: a
    // mispredicted one per element half the time, 12x slower on VGG16's block1_conv2)
    if (guided)
        for (size_t i = 0; i < n; i++) {
            const T d = dy[i];
            dz[i] = ((y[i] > T(0)) & (d > T(0))) ? d : T(0);
        }
    else
        for (size_t i = 0; i < n; i++) {
            const T d = dy[i];
            dz[i] = y[i] > T(0) ? d : T(0);
        }
}

// ---------------------------------------------------------------------------- max-pool 2x2, stride 2

// y is [H/2, W/2, C] (floor for odd sizes: the last row/column is dropped).
template <typename T>
void maxpool2x2_forward_naive(const T* x, int H, int W, int C, T* y) {
    const int Ho = H / 2, Wo = W / 2;
    for (int h = 0; h < Ho; h++)
        for (int w = 0; w < Wo; w++)
            for (int c = 0; c < C; c++) {
                T m = x[((size_t)(2 * h) * W + 2 * w) * C + c];
                for (int k = 1; k < 4; k++) m = std::max(m, x[((size_t)(2 * h + k / 2) * W + 2 * w + k % 2) * C + c]);
                y[((size_t)h * Wo + w) * C + c] = m;
            }
}

// The whole gradient of each window goes to its FIRST maximum in row-major order
// (0,0),(0,1),(1,0),(1,1), as PyTorch does; x and y are the forward input and output.
// (__restrict: without it GCC does not vectorise the loop over channels, 10x slower)
template <typename T>
void maxpool2x2_backward(const T* __restrict x, const T* __restrict y, const T* __restrict dy, int H, int W, int C,
                         T* __restrict dx) {
    const int Ho = H / 2, Wo = W / 2;
    if (H % 2 || W % 2) std::fill(dx, dx + (size_t)H * W * C, T(0));   // the dropped row/column
    for (int h = 0; h < Ho; h++)
        for (int w = 0; w < Wo; w++) {   // branch-free over the channels: the compiler vectorises it
            const size_t i0 = ((size_t)(2 * h) * W + 2 * w) * C, i1 = i0 + C, i2 = i0 + (size_t)W * C, i3 = i2 + C;
            const size_t o = ((size_t)h * Wo + w) * C;
            for (int c = 0; c < C; c++) {
                const T m = y[o + c], d = dy[o + c];
                const bool a = x[i0 + c] == m, b = !a & (x[i1 + c] == m), e = !a & !b & (x[i2 + c] == m),
                           f = !a & !b & !e & (x[i3 + c] == m);
                dx[i0 + c] = a ? d : T(0), dx[i1 + c] = b ? d : T(0), dx[i2 + c] = e ? d : T(0), dx[i3 + c] = f ? d : T(0);
            }
        }
}

// ---------------------------------------------------------------------------- fully connected

// y[o] = b[o] + sum_i W[o,i] x[i], then ReLU if relu. W is [out][in].
template <typename T>
void linear_forward_naive(const T* Wt, const T* b, const T* x, int in, int out, bool relu, T* y) {
    for (int o = 0; o < out; o++) {
        double acc = b ? (double)b[o] : 0.0;
        for (int i = 0; i < in; i++) acc += (double)Wt[(size_t)o * in + i] * (double)x[i];
        T v = (T)acc;
        y[o] = relu && v < 0 ? T(0) : v;
    }
}
// dx[i] = sum_o W[o,i] dy[o] (the transposed product; no ReLU: apply relu_backward first).
template <typename T>
void linear_backward_naive(const T* Wt, const T* dy, int in, int out, T* dx) {
    for (int i = 0; i < in; i++) {
        double acc = 0;
        for (int o = 0; o < out; o++) acc += (double)Wt[(size_t)o * in + i] * (double)dy[o];
        dx[i] = (T)acc;
    }
}

// Fully connected weights [out][in] as a file stores them, used without widening to float32
// (at batch 1 the product is memory bound: fewer bytes are a faster layer): float32, IEEE
// float16, or int8 with one float scale per row (w[o][i] = scale[o] * q[o][i]).
enum class WType : uint8_t { F32, F16, I8 };
struct WeightRows {
    WType type = WType::F32;
    const void* data = nullptr;     // out * in values, row-major
    const float* scale = nullptr;   // I8: out row scales
    WeightRows() = default;
    WeightRows(const float* w) : data(w) {}
    WeightRows(WType t, const void* w, const float* s = nullptr) : type(t), data(w), scale(s) {}
    // Row o's values i0 .. i0 + n - 1 as float32 (in = the row length).
    void row(size_t o, size_t in, size_t i0, size_t n, float* dst) const;
};
size_t wtype_size(WType t);

// The same two, SIMD and split over the threads of pool (nullptr = calling thread).
void linear_forward(const WeightRows& W, const float* b, const float* x, int in, int out, bool relu, float* y,
                    pthreadpool_t pool);
void linear_backward(const WeightRows& W, const float* dy, int in, int out, float* dx, pthreadpool_t pool);
// Y[j][o] = W[o] . X[j] + b[o] (ReLU'd if relu) for n inputs X [n][in]: each row of W is read
// from memory once for all of them (VGG16's fc6 is 411 MB: at batch 1 the product is memory
// bound). AVX2 + FMA when the CPU has them, else 4-wide SIMD (SSE, WebAssembly SIMD); float16
// and int8 rows are widened to float32 four at a time first.
void linear_forward_batch(const WeightRows& W, const float* b, const float* X, int n, int in, int out, bool relu,
                          float* Y, pthreadpool_t pool);

// ---------------------------------------------------------------------------- global average pooling

// y[c] = mean_{h,w} x[h,w,c]
template <typename T>
void gap_forward(const T* x, int H, int W, int C, T* y) {
    for (int c = 0; c < C; c++) {
        double acc = 0;
        for (size_t p = 0; p < (size_t)H * W; p++) acc += (double)x[p * C + c];
        y[c] = (T)(acc / ((double)H * W));
    }
}
// dx[h,w,c] = dy[c] / (H W)
template <typename T>
void gap_backward(const T* dy, int H, int W, int C, T* dx) {
    for (size_t p = 0; p < (size_t)H * W; p++)
        for (int c = 0; c < C; c++) dx[p * C + c] = (T)((double)dy[c] / ((double)H * W));
}

}  // namespace cnnlens
