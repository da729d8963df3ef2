// train_layers.h: the layers training adds to model/layers.h: weight and bias gradients,
// batch normalisation in training mode, softmax cross-entropy. Batched, NHWC.
//
// Shapes: a batch of feature maps is [N][H][W][C] (P = N*H*W positions of C channels each),
// conv kernels OHWI [cout][3][3][cin], linear weights [out][in], logits [N][K].
// As in layers.h, each *_naive template is the readable definition and the test reference
// (instantiated with double for finite-difference checks); the float fast path of the one
// layer where it matters, the conv weight gradient, is conv3x3_weight_grad (XNNPACK GEMM).
#pragma once
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/xnn.h"

namespace cnnlens {

// ---------------------------------------------------------------------------- conv 3x3 pad 1: weights

// The gradients of z = conv3x3(x; w) + b w.r.t. w and b, given dz = dL/dz:
//   dw[o,ky,kx,i] = sum_{n,h,w} dz[n,h,w,o] * x[n, h+ky-1, w+kx-1, i]   (zero padding)
//   db[o]         = sum_{n,h,w} dz[n,h,w,o]                             (db may be null)
// x: [N,H,W,cin], dz: [N,H,W,cout]; dw, db are overwritten.
template <typename T>
void conv3x3_weight_grad_naive(const T* x, const T* dz, int N, int H, int W, int cin, int cout, T* dw, T* db) {
    for (int o = 0; o < cout; o++)
        for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++)
                for (int i = 0; i < cin; i++) {
                    double acc = 0;
                    for (int n = 0; n < N; n++)
                        for (int h = 0; h < H; h++)
                            for (int w = 0; w < W; w++) {
                                int yy = h + ky - 1, xx = w + kx - 1;
                                if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                                acc += (double)dz[(((size_t)n * H + h) * W + w) * cout + o] *
                                       (double)x[(((size_t)n * H + yy) * W + xx) * cin + i];
                            }
                    dw[(((size_t)o * 3 + ky) * 3 + kx) * cin + i] = (T)acc;
                }
    if (db)
        for (int o = 0; o < cout; o++) {
            double acc = 0;
            for (size_t p = 0; p < (size_t)N * H * W; p++) acc += (double)dz[p * cout + o];
            db[o] = (T)acc;
        }
}

// The same as GEMMs over chunks of positions: dw [cout][9 cin] = sum over chunks of
// dz^T [cout][Pc] im2col(x) [Pc][9 cin], on XNNPACK's batch-matrix-multiply (dynamic operands).
// Natively on x86 with AVX2 + FMA (cin % 16 == 0, cout % 4 == 0), a direct kernel replaces the
// GEMMs: implicit im2col, 4 x 16 register tiles, 2.5x faster here (train_layers.cpp).
// The chunks are split into a fixed number of groups, one task each on pool's threads with
// its own operator and buffers (one dispatch per call: per-GEMM dispatches cost more than they
// gain at these sizes); the group sums are added in order, so the result does not depend on
// the number of threads. The buffers and operators persist in `s` between calls.
struct WeightGradScratch {
    struct Group {
        std::vector<float> a, b, sum;   // dz^T chunk, im2col chunk, this group's partial dw
        std::vector<float> c;           // one chunk's product
        XnnWorkspace workspace;
        xnn_operator_t op = nullptr;
        size_t shaped = 0;              // the K the operator was last reshaped for
    };
    std::vector<Group> groups;
    ~WeightGradScratch();
};
// chunk: positions per GEMM (0 = the default, 256: tuned on the 290k VGG-GAP at batch 128).
void conv3x3_weight_grad(const float* x, const float* dz, int N, int H, int W, int cin, int cout, float* dw, float* db,
                         WeightGradScratch& s, pthreadpool_t pool, size_t chunk = 0);

// ---------------------------------------------------------------------------- linear (batched)

// y[n,o] = b[o] + sum_i Wt[o,i] x[n,i].  x: [N,in], y: [N,out].
template <typename T>
void linear_forward_batch(const T* Wt, const T* b, const T* x, int N, int in, int out, T* y) {
    for (int n = 0; n < N; n++)
        for (int o = 0; o < out; o++) {
            double acc = b ? (double)b[o] : 0.0;
            for (int i = 0; i < in; i++) acc += (double)Wt[(size_t)o * in + i] * (double)x[(size_t)n * in + i];
            y[(size_t)n * out + o] = (T)acc;
        }
}
// dx[n,i] = sum_o Wt[o,i] dy[n,o];  dW[o,i] = sum_n dy[n,o] x[n,i];  db[o] = sum_n dy[n,o].
// dx may be null (not needed); dW, db are overwritten.
template <typename T>
void linear_backward_batch(const T* Wt, const T* x, const T* dy, int N, int in, int out, T* dx, T* dW, T* db) {
    if (dx)
        for (int n = 0; n < N; n++)
            for (int i = 0; i < in; i++) {
                double acc = 0;
                for (int o = 0; o < out; o++) acc += (double)Wt[(size_t)o * in + i] * (double)dy[(size_t)n * out + o];
                dx[(size_t)n * in + i] = (T)acc;
            }
    for (int o = 0; o < out; o++) {
        double accb = 0;
        for (int n = 0; n < N; n++) accb += (double)dy[(size_t)n * out + o];
        db[o] = (T)accb;
        for (int i = 0; i < in; i++) {
            double acc = 0;
            for (int n = 0; n < N; n++) acc += (double)dy[(size_t)n * out + o] * (double)x[(size_t)n * in + i];
            dW[(size_t)o * in + i] = (T)acc;
        }
    }
}

// ---------------------------------------------------------------------------- batch norm (training)

// Training mode (torch.nn.BatchNorm2d.train()): statistics over the P = N*H*W positions of each
// channel, biased variance for the normalisation:
//   mean[c] = 1/P sum_p z[p,c],  var[c] = 1/P sum_p (z[p,c] - mean[c])^2,  rstd[c] = 1/sqrt(var[c] + eps)
//   y[p,c]  = gamma[c] (z[p,c] - mean[c]) rstd[c] + beta[c]
// mean, rstd ([C]) are saved for the backward pass; var_out (may be null) gets the biased var.
template <typename T>
void batchnorm_train_forward(const T* z, size_t P, int C, const T* gamma, const T* beta, double eps, T* y, T* mean,
                             T* rstd, T* var_out) {
    std::vector<double> s((size_t)C, 0.0), ss((size_t)C, 0.0);
    for (size_t p = 0; p < P; p++)
        for (int c = 0; c < C; c++) s[(size_t)c] += (double)z[p * C + c];
    for (int c = 0; c < C; c++) s[(size_t)c] /= (double)P;
    for (size_t p = 0; p < P; p++)
        for (int c = 0; c < C; c++) {
            double d = (double)z[p * C + c] - s[(size_t)c];
            ss[(size_t)c] += d * d;
        }
    std::vector<T> a((size_t)C), b((size_t)C);   // y = a z + b
    for (int c = 0; c < C; c++) {
        double var = ss[(size_t)c] / (double)P, r = 1.0 / std::sqrt(var + eps);
        mean[c] = (T)s[(size_t)c];
        rstd[c] = (T)r;
        if (var_out) var_out[c] = (T)var;
        a[(size_t)c] = (T)((double)gamma[c] * r);
        b[(size_t)c] = (T)((double)beta[c] - (double)gamma[c] * r * s[(size_t)c]);
    }
    for (size_t p = 0; p < P; p++)
        for (int c = 0; c < C; c++) y[p * C + c] = a[(size_t)c] * z[p * C + c] + b[(size_t)c];
}

// With xhat = (z - mean) rstd:
//   dbeta[c]  = sum_p dy[p,c],   dgamma[c] = sum_p dy[p,c] xhat[p,c]
//   dz[p,c]   = gamma[c] rstd[c] / P * (P dy[p,c] - dbeta[c] - xhat[p,c] dgamma[c])
// (the batch statistics depend on z too; this is the full gradient, as autograd gives).
template <typename T>
void batchnorm_train_backward(const T* z, const T* dy, size_t P, int C, const T* gamma, const T* mean, const T* rstd,
                              T* dz, T* dgamma, T* dbeta) {
    std::vector<double> sb((size_t)C, 0.0), sg((size_t)C, 0.0);
    for (size_t p = 0; p < P; p++)
        for (int c = 0; c < C; c++) {
            double g = (double)dy[p * C + c];
            sb[(size_t)c] += g;
            sg[(size_t)c] += g * ((double)z[p * C + c] - (double)mean[c]) * (double)rstd[c];
        }
    std::vector<T> k1((size_t)C), k2((size_t)C), k3((size_t)C);   // dz = k1 dy + k2 + k3 z
    for (int c = 0; c < C; c++) {
        dbeta[c] = (T)sb[(size_t)c];
        dgamma[c] = (T)sg[(size_t)c];
        double f = (double)gamma[c] * (double)rstd[c], r = (double)rstd[c];
        // xhat = (z - mean) r:  dz = f dy - f/P dbeta - f/P dgamma r (z - mean)
        k1[(size_t)c] = (T)f;
        k3[(size_t)c] = (T)(-f / (double)P * sg[(size_t)c] * r);
        k2[(size_t)c] = (T)(-f / (double)P * sb[(size_t)c] + f / (double)P * sg[(size_t)c] * r * (double)mean[c]);
    }
    for (size_t p = 0; p < P; p++)
        for (int c = 0; c < C; c++)
            dz[p * C + c] = k1[(size_t)c] * dy[p * C + c] + k2[(size_t)c] + k3[(size_t)c] * z[p * C + c];
}

// The float path the trainer runs, fused with the ReLU that follows batch norm and split over
// pool's threads in a fixed number of position groups (sums added in group order: the result
// does not depend on the thread count):
//   forward:  a = ReLU(BN(z)), with mean, rstd and the biased var (may be null) as above
//   backward: g holds d loss / d a on entry and d loss / d z on return (ReLU mask from a > 0)
void batchnorm_relu_train_forward(const float* z, size_t P, int C, const float* gamma, const float* beta, double eps,
                                  float* a, float* mean, float* rstd, float* var, pthreadpool_t pool);
void batchnorm_relu_train_backward(const float* z, const float* a, float* g, size_t P, int C, const float* gamma,
                                   const float* mean, const float* rstd, float* dgamma, float* dbeta, pthreadpool_t pool);

// ---------------------------------------------------------------------------- softmax cross-entropy

// probs[n,k] = softmax(logits[n,:])_k; returns the mean loss 1/N sum_n -log probs[n, label[n]].
// torch.nn.functional.cross_entropy(logits, labels) (reduction 'mean').
template <typename T>
double softmax_xent_forward(const T* logits, const uint8_t* labels, int N, int K, T* probs) {
    double loss = 0;
    for (int n = 0; n < N; n++) {
        const T* l = logits + (size_t)n * K;
        double mx = (double)l[0], sum = 0;
        for (int k = 1; k < K; k++) mx = std::fmax(mx, (double)l[k]);
        for (int k = 0; k < K; k++) sum += std::exp((double)l[k] - mx);
        for (int k = 0; k < K; k++) probs[(size_t)n * K + k] = (T)(std::exp((double)l[k] - mx) / sum);
        loss += std::log(sum) + mx - (double)l[labels[n]];
    }
    return loss / N;
}
// dlogits[n,k] = (probs[n,k] - [k == label[n]]) / N
template <typename T>
void softmax_xent_backward(const T* probs, const uint8_t* labels, int N, int K, T* dlogits) {
    for (int n = 0; n < N; n++)
        for (int k = 0; k < K; k++)
            dlogits[(size_t)n * K + k] = (T)(((double)probs[(size_t)n * K + k] - (k == labels[n] ? 1.0 : 0.0)) / N);
}

}  // namespace cnnlens
