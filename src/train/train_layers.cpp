#include "train/train_layers.h"

#include <pthreadpool.h>
#include <xnnpack.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"
#include "core/xnn.h"

namespace cnnlens {

WeightGradScratch::~WeightGradScratch() {
    for (Group& g : groups)
        if (g.op) xnn_delete_operator(g.op);
}

namespace {

const int kGroups = 8;   // fixed, so the sums do not depend on the thread count

struct WeightGradJob {
    const float *x, *dz;
    int H, W, cin, cout;
    size_t P, chunk, nchunks;
    WeightGradScratch* s;
};

// Rows p0 .. p0 + Pc of the flattened (n, h, w): im2col b [Pc][9 cin] and dz^T a [cout][Pc].
void im2col_chunk(const WeightGradJob& J, size_t p0, size_t Pc, float* a, float* b) {
    const int H = J.H, W = J.W, cin = J.cin, cout = J.cout;
    const size_t HW = (size_t)H * W;
    for (size_t j = 0; j < Pc; j++) {
        const size_t p = p0 + j, n = p / HW;
        const int h = (int)(p % HW) / W, w = (int)(p % HW) % W;
        const float* x = J.x + n * HW * cin;
        float* row = b + j * 9 * cin;
        for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++, row += cin) {
                int yy = h + ky - 1, xx = w + kx - 1;
                if (yy < 0 || yy >= H || xx < 0 || xx >= W) std::memset(row, 0, (size_t)cin * sizeof(float));
                else std::memcpy(row, x + ((size_t)yy * W + xx) * cin, (size_t)cin * sizeof(float));
            }
        const float* dz = J.dz + p * cout;
        for (int o = 0; o < cout; o++) a[(size_t)o * Pc + j] = dz[o];
    }
}

// Group g: its share of the chunks, summed into g.sum (single-threaded GEMMs).
void weight_grad_group(void* ctx, size_t gi) {
    const WeightGradJob& J = *(const WeightGradJob*)ctx;
    WeightGradScratch::Group& g = J.s->groups[gi];
    const size_t c0 = J.nchunks * gi / kGroups, c1 = J.nchunks * (gi + 1) / kGroups;
    const size_t K9 = (size_t)9 * J.cin, M = (size_t)J.cout;
    for (size_t ci = c0; ci < c1; ci++) {
        const size_t p0 = ci * J.chunk, Pc = std::min(J.chunk, J.P - p0);
        im2col_chunk(J, p0, Pc, g.a.data(), g.b.data());
        if (Pc != g.shaped) {
            size_t ws = 0, align = 0;
            xnn_check(xnn_reshape_batch_matrix_multiply_nc_f32(g.op, 0, nullptr, nullptr, M, Pc, K9, &ws, &align, nullptr),
                  "reshape batch-matrix-multiply");
            g.workspace.reserve(ws + align);
            g.shaped = Pc;
        }
        void* wsp = g.workspace.data();
        float* out = ci == c0 ? g.sum.data() : g.c.data();
        xnn_check(xnn_setup_batch_matrix_multiply_nc_f32(g.op, wsp, g.a.data(), g.b.data(), out), "setup batch-matrix-multiply");
        xnn_check(xnn_run_operator(g.op, nullptr), "run batch-matrix-multiply");
        if (ci != c0)
            for (size_t i = 0; i < M * K9; i++) g.sum[i] += g.c[i];
    }
}

// ---- direct kernel (x86 with AVX2 + FMA): implicit im2col, 4 x 16 register tiles

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
#define CNNLENS_WG_DIRECT 1
typedef float v8f __attribute__((vector_size(32), aligned(4)));

// dw[o][k][i] += sum_{p in [p0, p1)} dz[p][o] x[p shifted by tap k][i], for cin % 16 == 0 and
// cout % 4 == 0. Positions go in chunks of 128; per chunk and tap, the valid (dz row, x row)
// pairs are listed once, then each 4 (o) x 16 (i) tile of dw accumulates over them in
// registers (8 FMAs per 2 loads + 4 broadcasts).
__attribute__((target("avx2,fma"))) void weight_grad_direct(const float* x, const float* dz, int H, int W, int cin,
                                                             int cout, size_t p0, size_t p1, float* dw) {
    const size_t HW = (size_t)H * W, CH = 128, os = (size_t)9 * cin;
    const float* ar[CH];
    const float* xr[CH];
    for (size_t c0 = p0; c0 < p1; c0 += CH) {
        const size_t c1 = std::min(c0 + CH, p1);
        for (int k = 0; k < 9; k++) {
            const int ky = k / 3, kx = k % 3;
            size_t nv = 0;
            for (size_t p = c0; p < c1; p++) {
                const size_t n = p / HW;
                const int h = (int)(p % HW) / W, w = (int)(p % HW) % W, yy = h + ky - 1, xx = w + kx - 1;
                if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;   // zero padding: no contribution
                ar[nv] = dz + p * cout;
                xr[nv++] = x + ((n * H + yy) * W + xx) * cin;
            }
            for (int o = 0; o < cout; o += 4)
                for (int i = 0; i < cin; i += 16) {
                    float* c = dw + ((size_t)o * 9 + k) * cin + i;
                    v8f c00 = *(v8f*)c, c01 = *(v8f*)(c + 8), c10 = *(v8f*)(c + os), c11 = *(v8f*)(c + os + 8);
                    v8f c20 = *(v8f*)(c + 2 * os), c21 = *(v8f*)(c + 2 * os + 8);
                    v8f c30 = *(v8f*)(c + 3 * os), c31 = *(v8f*)(c + 3 * os + 8);
                    for (size_t j = 0; j < nv; j++) {
                        const float* a = ar[j] + o;
                        const v8f x0 = *(const v8f*)(xr[j] + i), x1 = *(const v8f*)(xr[j] + i + 8);
                        const v8f a0 = v8f{} + a[0], a1 = v8f{} + a[1], a2 = v8f{} + a[2], a3 = v8f{} + a[3];
                        c00 += a0 * x0, c01 += a0 * x1, c10 += a1 * x0, c11 += a1 * x1;
                        c20 += a2 * x0, c21 += a2 * x1, c30 += a3 * x0, c31 += a3 * x1;
                    }
                    *(v8f*)c = c00, *(v8f*)(c + 8) = c01, *(v8f*)(c + os) = c10, *(v8f*)(c + os + 8) = c11;
                    *(v8f*)(c + 2 * os) = c20, *(v8f*)(c + 2 * os + 8) = c21;
                    *(v8f*)(c + 3 * os) = c30, *(v8f*)(c + 3 * os + 8) = c31;
                }
        }
    }
}

bool have_avx2_fma() {
    static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return yes;
}

// Group g of the positions (fixed split, like the GEMM path), into its own zeroed partial.
void weight_grad_direct_group(void* ctx, size_t gi) {
    const WeightGradJob& J = *(const WeightGradJob*)ctx;
    WeightGradScratch::Group& g = J.s->groups[gi];
    std::fill(g.sum.begin(), g.sum.end(), 0.0f);
    weight_grad_direct(J.x, J.dz, J.H, J.W, J.cin, J.cout, J.P * gi / kGroups, J.P * (gi + 1) / kGroups, g.sum.data());
}
#endif

// db[o] = sum_p dz[p][o] (in double), if db is given.
void bias_grad(const float* dz, size_t P, int cout, float* db) {
    if (!db) return;
    std::vector<double> acc((size_t)cout, 0.0);
    for (size_t p = 0; p < P; p++)
        for (int o = 0; o < cout; o++) acc[(size_t)o] += dz[p * cout + o];
    for (int o = 0; o < cout; o++) db[o] = (float)acc[(size_t)o];
}

[[maybe_unused]] bool chunk_direct_ok(int cin, int cout) { return cin % 16 == 0 && cout % 4 == 0; }

}  // namespace

void conv3x3_weight_grad(const float* x, const float* dz, int N, int H, int W, int cin, int cout, float* dw, float* db,
                         WeightGradScratch& s, pthreadpool_t pool, size_t chunk) {
    const size_t P = (size_t)N * H * W, K9 = (size_t)9 * cin;
    // Chunks of positions small enough that a GEMM's packed im2col panel and its rows of dz^T
    // stay in cache: XNNPACK's microkernels stream the whole reduction (K) per output tile
    // (on the 290k VGG-GAP, 256 positions ran twice as fast as whole 28x28 images).
    if (!chunk) chunk = 256;
    chunk = std::min(chunk, P);
#ifdef CNNLENS_WG_DIRECT
    // Natively on AVX2 + FMA our own kernel runs 2.5x faster than the GEMM path (26-32 vs
    // 10-13 GMAC/s on the 290k VGG-GAP's layers, one thread): it skips im2col and packing.
    if (chunk_direct_ok(cin, cout) && have_avx2_fma()) {
        if (s.groups.size() != (size_t)kGroups) s.groups.resize(kGroups);
        for (auto& g : s.groups) g.sum.resize((size_t)cout * K9);
        WeightGradJob job{x, dz, H, W, cin, cout, P, chunk, 0, &s};
        pthreadpool_parallelize_1d(pool, weight_grad_direct_group, &job, (size_t)kGroups, 0);
        std::fill(dw, dw + (size_t)cout * K9, 0.0f);
        for (const auto& g : s.groups)
            for (size_t i = 0; i < (size_t)cout * K9; i++) dw[i] += g.sum[i];
        bias_grad(dz, P, cout, db);
        return;
    }
#endif
    if (s.groups.size() != (size_t)kGroups || !s.groups[0].op) {
        xnn_init();
        s.groups.resize(kGroups);
        for (auto& g : s.groups)
            if (!g.op) xnn_check(xnn_create_batch_matrix_multiply_nc_f32(0, &g.op), "create batch-matrix-multiply");
    }
    for (auto& g : s.groups) {
        g.a.resize((size_t)cout * chunk + 16);
        g.b.resize(chunk * K9 + 16);
        g.c.resize((size_t)cout * K9 + 16);
        g.sum.resize((size_t)cout * K9 + 16);
    }
    WeightGradJob job{x, dz, H, W, cin, cout, P, chunk, (P + chunk - 1) / chunk, &s};
    pthreadpool_parallelize_1d(pool, weight_grad_group, &job, (size_t)kGroups, 0);
    std::fill(dw, dw + (size_t)cout * K9, 0.0f);
    for (size_t gi = 0; gi < (size_t)kGroups; gi++) {
        if (job.nchunks * gi / kGroups == job.nchunks * (gi + 1) / kGroups) continue;   // no chunk in this group
        const float* sum = s.groups[gi].sum.data();
        for (size_t i = 0; i < (size_t)cout * K9; i++) dw[i] += sum[i];
    }
    bias_grad(dz, P, cout, db);
}

// ---------------------------------------------------------------------------- batch norm + ReLU

namespace {

struct BnJob {
    const float *z, *a, *gamma, *beta;
    float* out;                   // forward: a; backward: g (in place)
    size_t P;
    int C;
    const double* k;              // per-channel constants of the current pass
    std::vector<double>* part;    // per group: C (or 2C) partial sums
    int pass;
};

size_t group_begin(size_t P, size_t g) { return P * g / kGroups; }

// pass 0: sum z; pass 1: sum (z - mean)^2; pass 2: a = max(0, k0 z + k1)
void bn_forward_task(void* ctx, size_t gi) {
    const BnJob& J = *(const BnJob*)ctx;
    const size_t p0 = group_begin(J.P, gi), p1 = group_begin(J.P, gi + 1), C = (size_t)J.C;
    const double* k = J.k;
    if (J.pass == 2) {
        for (size_t p = p0; p < p1; p++)
            for (size_t c = 0; c < C; c++) J.out[p * C + c] = std::max(0.0f, (float)k[c] * J.z[p * C + c] + (float)k[C + c]);
        return;
    }
    double* acc = J.part[gi].data();
    std::fill(acc, acc + C, 0.0);
    for (size_t p = p0; p < p1; p++)
        for (size_t c = 0; c < C; c++) {
            double v = J.z[p * C + c];
            if (J.pass == 1) v = (v - k[c]) * (v - k[c]);
            acc[c] += v;
        }
}

// pass 0: g = g [a > 0], sums of g and g (z - mean); pass 1: g = k0 g + k1 + k2 z
void bn_backward_task(void* ctx, size_t gi) {
    const BnJob& J = *(const BnJob*)ctx;
    const size_t p0 = group_begin(J.P, gi), p1 = group_begin(J.P, gi + 1), C = (size_t)J.C;
    const double* k = J.k;
    float* g = J.out;
    if (J.pass == 1) {
        for (size_t p = p0; p < p1; p++)
            for (size_t c = 0; c < C; c++)
                g[p * C + c] = (float)k[c] * g[p * C + c] + (float)k[C + c] + (float)k[2 * C + c] * J.z[p * C + c];
        return;
    }
    double* sb = J.part[gi].data();
    double* sg = sb + C;
    std::fill(sb, sb + 2 * C, 0.0);
    for (size_t p = p0; p < p1; p++)
        for (size_t c = 0; c < C; c++) {
            float v = J.a[p * C + c] > 0.0f ? g[p * C + c] : 0.0f;
            g[p * C + c] = v;
            sb[c] += v;
            sg[c] += (double)v * ((double)J.z[p * C + c] - k[c]);
        }
}

}  // namespace

void batchnorm_relu_train_forward(const float* z, size_t P, int C, const float* gamma, const float* beta, double eps,
                                  float* a, float* mean, float* rstd, float* var, pthreadpool_t pool) {
    std::vector<std::vector<double>> part(kGroups, std::vector<double>((size_t)C));
    std::vector<double> k(2 * (size_t)C, 0.0);
    BnJob J{z, nullptr, gamma, beta, a, P, C, k.data(), part.data(), 0};
    auto reduce = [&](double* out) {   // in group order
        for (int c = 0; c < C; c++) out[c] = 0;
        for (int gi = 0; gi < kGroups; gi++)
            for (int c = 0; c < C; c++) out[c] += part[(size_t)gi][(size_t)c];
    };
    pthreadpool_parallelize_1d(pool, bn_forward_task, &J, (size_t)kGroups, 0);
    reduce(k.data());
    for (int c = 0; c < C; c++) k[(size_t)c] /= (double)P;   // mean
    J.pass = 1;
    pthreadpool_parallelize_1d(pool, bn_forward_task, &J, (size_t)kGroups, 0);
    std::vector<double> ss((size_t)C);
    reduce(ss.data());
    for (int c = 0; c < C; c++) {
        const double m = k[(size_t)c], v = ss[(size_t)c] / (double)P, r = 1.0 / std::sqrt(v + eps);
        mean[c] = (float)m, rstd[c] = (float)r;
        if (var) var[c] = (float)v;
        k[(size_t)c] = (double)gamma[c] * r;                                   // a = max(0, k0 z + k1)
        k[(size_t)C + c] = (double)beta[c] - (double)gamma[c] * r * m;
    }
    J.pass = 2;
    pthreadpool_parallelize_1d(pool, bn_forward_task, &J, (size_t)kGroups, 0);
}

void batchnorm_relu_train_backward(const float* z, const float* a, float* g, size_t P, int C, const float* gamma,
                                   const float* mean, const float* rstd, float* dgamma, float* dbeta, pthreadpool_t pool) {
    std::vector<std::vector<double>> part(kGroups, std::vector<double>(2 * (size_t)C));
    std::vector<double> k(3 * (size_t)C, 0.0);
    for (int c = 0; c < C; c++) k[(size_t)c] = mean[c];
    BnJob J{z, a, gamma, nullptr, g, P, C, k.data(), part.data(), 0};
    pthreadpool_parallelize_1d(pool, bn_backward_task, &J, (size_t)kGroups, 0);
    for (int c = 0; c < C; c++) {
        double sb = 0, sg = 0;
        for (int gi = 0; gi < kGroups; gi++) sb += part[(size_t)gi][(size_t)c], sg += part[(size_t)gi][(size_t)C + c];
        const double r = rstd[c], f = (double)gamma[c] * r, m = mean[c];
        sg *= r;   // sum g xhat
        dbeta[c] = (float)sb, dgamma[c] = (float)sg;
        // dz = f g - f/P dbeta - f/P dgamma r (z - mean)   (train_layers.h)
        k[(size_t)c] = f;
        k[(size_t)C + c] = -f / (double)P * sb + f / (double)P * sg * r * m;
        k[2 * (size_t)C + c] = -f / (double)P * sg * r;
    }
    J.pass = 1;
    pthreadpool_parallelize_1d(pool, bn_backward_task, &J, (size_t)kGroups, 0);
}

}  // namespace cnnlens
