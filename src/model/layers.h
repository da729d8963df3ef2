// layers.h: the layers of a VGG network as plain functions over raw float arrays.
//
// Layout: images and feature maps are HWC (channels last, batch 1), conv kernels are OHWI
// [cout][3][3][cin], fully connected weights are [out][in] row-major. The fast paths of the
// model run on XNNPACK (conv, max-pool) and on linear_forward below (fully connected: at
// batch 1 it is a memory-bound matrix-vector product over the one copy of the weights).
// The *_naive functions are the readable definitions, kept as the reference for tests.
#pragma once
#include <cstdint>

typedef struct pthreadpool* pthreadpool_t;

namespace cnnlens {

// out[h,w,o] = b[o] + sum_{dy,dx,i} in[h+dy-1, w+dx-1, i] * w[o,dy,dx,i]  (zero padding 1),
// then ReLU if relu. PyTorch: torch.nn.functional.conv2d(padding=1) in NHWC.
void conv3x3_forward_naive(const float* in, int H, int W, int cin, const float* w, const float* b,
                           int cout, bool relu, float* out);

// 2x2 max-pool, stride 2, floor for odd sizes: out is [H/2, W/2, C].
void maxpool2x2_forward_naive(const float* in, int H, int W, int C, float* out);

// y[o] = b[o] + sum_i W[o,i] x[i], then ReLU if relu. W is [out][in].
void linear_forward_naive(const float* W, const float* b, const float* x, int in, int out, bool relu, float* y);
// The same, SIMD and split over the threads of pool (nullptr = calling thread).
void linear_forward(const float* W, const float* b, const float* x, int in, int out, bool relu, float* y,
                    pthreadpool_t pool);

// Global average pooling: out[c] = mean_{h,w} in[h,w,c].
void gap_forward(const float* in, int H, int W, int C, float* out);

}  // namespace cnnlens
