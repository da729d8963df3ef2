#include "model/conv3x3.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <limits>
#include <string>

#include <pthreadpool.h>

#include "core/error.h"
#include "core/half.h"
#include "model/layers.h"

namespace cnnlens {

// Lavin & Gray, "Fast algorithms for convolutional neural networks" (2016), F(4x4, 3x3) with the
// interpolation points 0, +-1, +-2 and infinity.
const float kWinogradBT[6][6] = {
    {4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
    {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1},
};
const float kWinogradAT[4][6] = {
    {1, 1, 1, 1, 1, 0},
    {0, 1, -1, 2, -2, 0},
    {0, 1, 1, 4, 4, 0},
    {0, 1, -1, 8, -8, 1},
};
// G in double (1/6, 1/12, 1/24 are not exact in float): the kernels are transformed once.
const double kWinogradG[6][3] = {
    {1.0 / 4, 0, 0},
    {-1.0 / 6, -1.0 / 6, -1.0 / 6},
    {-1.0 / 6, 1.0 / 6, -1.0 / 6},
    {1.0 / 24, 1.0 / 12, 1.0 / 6},
    {1.0 / 24, -1.0 / 12, 1.0 / 6},
    {0, 0, 1},
};

static int g_policy = -1;   // -1: auto, else the Algo
static constexpr size_t kLeanKernelBytes = 4 << 20;

void conv3x3_set_policy(const char* policy) {
    const std::string p = policy;
    if (p == "auto") g_policy = -1;
    else if (p == "direct") g_policy = Conv3x3::Direct;
    else if (p == "winograd") g_policy = Conv3x3::Winograd;
    else if (p == "gemm") g_policy = Conv3x3::Gemm;
    else fail("unknown convolution algorithm '%s' (auto, direct, winograd or gemm)", policy);
}

// Winograd needs enough channels to amortise its transforms, enough work to fill its GEMMs, and
// pays 4x the kernel bytes: layers of at least 64 input and 16 output channels, and for a single
// pass 2^24 multiply-adds per kernel tap (every VGG16 conv but the first; none of the built-in
// model's, which are a thousand times smaller and gain nothing). VGG16's 14x14 maps gain least:
// nothing natively in a single forward pass, 3x in WebAssembly. Batched work (occlusion's
// positions, each layer's tiles of all of them through one GEMM) fills the GEMMs of small maps
// too: there the built-in model's last three convs go Winograd (its occlusion about 2x faster in
// WebAssembly), but not in its forward pass, whose saliency ranks near-equal pixels that
// Winograd's larger rounding reorders between the page and the CLI (deletion AUC 0.2273 against
// 0.2262). One rule natively and in WebAssembly, so that the page and the CLI compute the same
// numbers to rounding. Measured per layer by `cnnlens bench --conv-layers 1`.
// A lean network's convolutions hold at most 4 MB of kernels each: with VGG16, Winograd in
// block1_conv2 and block2 (where it gains most), Gemm from block3 on.
Conv3x3::Algo conv3x3_algo(int cin, int cout, int H, int W, ConvUse use, bool lean) {
    if (g_policy >= 0) return (Conv3x3::Algo)g_policy;
    Conv3x3::Algo a = Conv3x3::Direct;
    if (cin >= 64 && cout >= 16 &&
        (use == ConvUse::Batched || (int64_t)H * W * cin * cout >= (int64_t)1 << 24))
        a = Conv3x3::Winograd;
    const size_t kernel = (a == Conv3x3::Winograd ? 36 : 9) * sizeof(float) * (size_t)cin * cout;
    return lean && kernel > kLeanKernelBytes ? Conv3x3::Gemm : a;
}

// ---------------------------------------------------------------------------- transforms

// The transforms act on 6 vectors of n floats at a time (x_j = x + j xs, channels contiguous):
// the compiler vectorises the loops over channels (SSE/AVX natively, WebAssembly SIMD).
// y_k = sum_j BT[k][j] x_j, k = 0..5
static inline __attribute__((always_inline)) void winograd_bt(const float* __restrict x, size_t xs, float* __restrict y, size_t ys, int n) {
    for (int i = 0; i < n; i++) {
        const float d0 = x[i], d1 = x[xs + i], d2 = x[2 * xs + i], d3 = x[3 * xs + i], d4 = x[4 * xs + i],
                    d5 = x[5 * xs + i];
        y[i] = 4 * d0 - 5 * d2 + d4;
        y[ys + i] = (d3 + d4) - 4 * (d1 + d2);
        y[2 * ys + i] = (d4 - d3) + 4 * (d1 - d2);
        y[3 * ys + i] = (d4 - d2) + 2 * (d3 - d1);
        y[4 * ys + i] = (d4 - d2) - 2 * (d3 - d1);
        y[5 * ys + i] = 4 * d1 - 5 * d3 + d5;
    }
}
// y_k = sum_j AT[k][j] x_j, k = 0..3
static inline __attribute__((always_inline)) void winograd_at(const float* __restrict x, size_t xs, float* __restrict y, size_t ys, int n) {
    for (int i = 0; i < n; i++) {
        const float m0 = x[i], m1 = x[xs + i], m2 = x[2 * xs + i], m3 = x[3 * xs + i], m4 = x[4 * xs + i],
                    m5 = x[5 * xs + i];
        const float a = m1 + m2, b = m1 - m2, c = m3 + m4, d = m3 - m4;
        y[i] = m0 + a + c;
        y[ys + i] = b + 2 * d;
        y[2 * ys + i] = a + 4 * c;
        y[3 * ys + i] = b + 8 * d + m5;
    }
}

// Natively the tile transforms are compiled for AVX-512, AVX2 and the baseline, picked at run time
// (GCC's function multi-versioning); WebAssembly has its one 128-bit SIMD.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CNNLENS_SIMD_CLONES __attribute__((target_clones("avx512f", "avx2,fma", "default")))
#else
#define CNNLENS_SIMD_CLONES
#endif

namespace {
constexpr int kBlock = 64;   // channels per step of a tile's transform (6x6 tiles of them on the stack)
constexpr size_t kChunkBytes = 512 << 10;         // small kernels: transformed tiles + products per chunk
constexpr size_t kChunkKernelBytes = 4 << 20;     // small: at most this (each thread packs its own copy)
constexpr size_t kMaxChunkBytes = 32 << 20;       // larger kernels: per step of all threads at once
constexpr size_t kGemmChunkBytes = 8 << 20;       // Gemm: the unrolled rows (or their gradient) per product

// The tiles of one output rectangle: rows ty0.., columns tx0..tx0 + tw - 1, from tile `first`
// of all the edits' tiles on.
struct TileSpan {
    int ty0, tx0, tw;
    size_t first;
};

struct WinogradJob {
    const float* x;
    const Patch *in, *out;     // per edit: its input patch, its output rectangle
    const TileSpan* span;      // per edit; span[n].first: all tiles
    int n;
    float* V;                  // [36][T][cin]
    float* M;                  // [parts][36][T][cout / parts]
    const float* bias;
    const float* gate;         // x's ReLU gate (run() only: no edits), or nullptr
    int H, W, cin, cout, parts;
    size_t t0, T;              // this step: tiles t0..t0 + T - 1
    bool relu;
    // the edit of step tile t, and the tile's row and column
    int tile(size_t t, int* ty, int* tx) const {
        const size_t g = t0 + t;
        int i = 0;
        while (span[i + 1].first <= g) i++;
        const size_t k = g - span[i].first;
        *ty = span[i].ty0 + (int)(k / (size_t)span[i].tw), *tx = span[i].tx0 + (int)(k % (size_t)span[i].tw);
        return i;
    }
};

CNNLENS_SIMD_CLONES void input_tile(void* ctx, size_t t) {
    const WinogradJob* j = (const WinogradJob*)ctx;
    int ty, tx;
    const Patch& p = j->in[j->tile(t, &ty, &tx)];
    const int C = j->cin;
    alignas(64) float d[36 * kBlock], u[36 * kBlock];
    for (int c0 = 0; c0 < C; c0 += kBlock) {
        const int n = std::min(kBlock, C - c0);
        for (int r = 0; r < 6; r++) {
            const int yy = 4 * ty - 1 + r;
            for (int s = 0; s < 6; s++) {
                const int xx = 4 * tx - 1 + s;
                float* dst = d + (r * 6 + s) * kBlock;
                if (yy < 0 || yy >= j->H || xx < 0 || xx >= j->W) {
                    std::fill(dst, dst + kBlock, 0.0f);
                    continue;
                }
                const float* src = p.contains(yy, xx) ? p.values + ((size_t)(yy - p.y0) * (p.x1 - p.x0) + (xx - p.x0)) * C
                                                      : j->x + ((size_t)yy * j->W + xx) * C;
                if (j->gate) {   // src is in x (no edits)
                    const float *v = src + c0, *g = j->gate + (src - j->x) + c0;
                    for (int i = 0; i < n; i++) {
                        const float vi = v[i];
                        dst[i] = g[i] > 0.0f ? vi : 0.0f;
                    }
                } else {
                    std::memcpy(dst, src + c0, (size_t)n * sizeof(float));
                }
                std::fill(dst + n, dst + kBlock, 0.0f);
            }
        }
        winograd_bt(d, 6 * kBlock, u, 6 * kBlock, 6 * kBlock);   // the rows
        const size_t ps = j->T * (size_t)C;                      // from one of the 36 products to the next
        for (int r = 0; r < 6; r++)                              // the columns, into V[r*6 + s][t]
            winograd_bt(u + r * 6 * kBlock, kBlock, j->V + (size_t)r * 6 * ps + t * C + c0, ps, n);
    }
}

CNNLENS_SIMD_CLONES void output_tile(void* ctx, size_t t) {
    const WinogradJob* j = (const WinogradJob*)ctx;
    int ty, tx;
    const Patch& o = j->out[j->tile(t, &ty, &tx)];
    const int K = j->cout;
    alignas(64) float u[24 * kBlock], v[16 * kBlock];
    const size_t ns = (size_t)K / j->parts, ps = j->T * ns;   // a part's channels; one product to the next
    for (int c0 = 0; c0 < K; c0 += kBlock) {
        const int n = std::min(kBlock, K - c0);
        const size_t h = (size_t)c0 / ns;   // kBlock divides a part
        const float* m = j->M + h * 36 * ps + t * ns + (c0 - h * ns);
        for (int s = 0; s < 6; s++)   // the rows, for each column s: u[r][s] = sum_i AT[r][i] M[i*6 + s]
            winograd_at(m + (size_t)s * ps, 6 * ps, u + s * kBlock, 6 * kBlock, n);
        for (int r = 0; r < 4; r++)   // the columns
            winograd_at(u + r * 6 * kBlock, kBlock, v + r * 4 * kBlock, kBlock, n);
        for (int r = 0; r < 4; r++)
            for (int s = 0; s < 4; s++) {
                const int yy = 4 * ty + r, xx = 4 * tx + s;
                if (!o.contains(yy, xx)) continue;
                const float* src = v + (r * 4 + s) * kBlock;
                float* dst = o.values + ((size_t)(yy - o.y0) * (o.x1 - o.x0) + (xx - o.x0)) * K + c0;
                const float* b = j->bias + c0;
                if (j->relu)
                    for (int c = 0; c < n; c++) dst[c] = std::max(src[c] + b[c], 0.0f);
                else
                    for (int c = 0; c < n; c++) dst[c] = src[c] + b[c];
            }
    }
}
// Small kernels: chunk k of the tiles through all three steps on one thread, with the GEMM
// operator of a free slot (at most as many chunks run at once as the pool has threads).
struct SlotJob {
    WinogradJob job;             // t0, T, V, M: set per chunk
    xnn_operator_t* op;          // per slot, reshaped for slot_T[s] tiles
    size_t* slot_T;
    uint8_t* ws;                 // per slot: the GEMM's workspace, V, M
    size_t op_ws, v, m, Tc, all, slots;
    std::atomic<uint32_t> busy{0};
    std::atomic<int> status{0};  // a failed XNNPACK call (chunks cannot throw)
};

void slot_chunk(void* ctx, size_t k) {
    SlotJob* sj = (SlotJob*)ctx;
    uint32_t s = 0, bit = 1;
    while (sj->busy.fetch_or(bit) & bit) s = (s + 1) % (uint32_t)sj->slots, bit = 1u << s;
    WinogradJob j = sj->job;
    j.t0 = k * sj->Tc, j.T = std::min(sj->Tc, sj->all - j.t0);
    uint8_t* base = sj->ws + s * (sj->op_ws + sj->v + sj->m);
    j.V = (float*)(base + sj->op_ws), j.M = (float*)(base + sj->op_ws + sj->v);
    xnn_status st = xnn_status_success;
    if (sj->slot_T[s] != j.T) {
        const size_t batch = 36;
        size_t ws = 0, align = 0;
        st = xnn_reshape_batch_matrix_multiply_nc_f32(sj->op[s], 1, &batch, &batch, j.T, (size_t)j.cin, (size_t)j.cout,
                                                      &ws, &align, nullptr);
        if (ws + align > sj->op_ws) st = xnn_status_out_of_memory;   // fewer tiles never need more
        sj->slot_T[s] = st == xnn_status_success ? j.T : 0;
    }
    if (st == xnn_status_success) {
        for (size_t t = 0; t < j.T; t++) input_tile(&j, t);
        st = xnn_setup_batch_matrix_multiply_nc_f32(sj->op[s], base, j.V, nullptr, j.M);
        if (st == xnn_status_success) st = xnn_run_operator(sj->op[s], nullptr);
        if (st == xnn_status_success)
            for (size_t t = 0; t < j.T; t++) output_tile(&j, t);
    }
    if (st != xnn_status_success) sj->status = (int)st;
    sj->busy.fetch_and(~bit);
}
}  // namespace

// ---------------------------------------------------------------------------- the operator

void conv3x3_kernel_f32(ConvKernel w, int cin, int cout, float* out, pthreadpool_t pool) {
    const size_t n = (size_t)9 * cin;
    if (w.f32) return (void)std::copy(w.f32, w.f32 + n * cout, out);
    parallel_for(pool, (size_t)cout, [&](size_t o) {   // [o][i][t] -> [o][t][i]
        uint16_t h[9];
        for (int i = 0; i < cin; i++) {
            std::memcpy(h, (const uint8_t*)w.f16 + (o * n + (size_t)i * 9) * 2, sizeof h);
            for (int t = 0; t < 9; t++) out[o * n + (size_t)t * cin + i] = half_to_float_finite(h[t]);
        }
    });
}

const float* conv3x3_kernel_f32(ConvKernel w, int cin, int cout, std::vector<float>& copy) {
    if (w.f32) return w.f32;
    copy.resize((size_t)cout * 9 * cin);
    conv3x3_kernel_f32(w, cin, cout, copy.data());
    return copy.data();
}

Conv3x3::Conv3x3(ConvKernel wk, const float* b, int cin, int cout, bool relu, Algo algo)
    : algo_(algo), cin_(cin), cout_(cout), relu_(relu) {
    CNN_ASSERT(cin > 0 && cout > 0 && (wk.f32 || wk.f16));
    xnn_init();
    const float inf = std::numeric_limits<float>::infinity();
    if (algo == Gemm) {   // the operator: at the first shape(), once it is known whether transposed
        w_ = wk;
        if (b) bias_.assign(b, b + cout);
        return;
    }
    std::vector<float> w32;   // a float16 kernel: packed from a float32 copy
    const float* w = conv3x3_kernel_f32(wk, cin, cout, w32);
    if (algo == Direct) {
        xnn_check(xnn_create_convolution2d_nhwc_f32(1, 1, 1, 1, 3, 3, 1, 1, 1, 1, 1, (size_t)cin, (size_t)cout,
                                                    (size_t)cin, (size_t)cout, w, b, relu ? 0.0f : -inf, inf, 0,
                                                    nullptr, nullptr, &op_[0]),
                  "create convolution");
        return;
    }
    // U[p][i][o] = (G g_oi G^T)[p]: the 36 GIO matrices of the batched GEMM, packed by XNNPACK
    std::vector<float> U((size_t)36 * cin * cout);
    for (int o = 0; o < cout; o++)
        for (int i = 0; i < cin; i++) {
            double g[3][3], t[6][3];
            for (int r = 0; r < 3; r++)
                for (int s = 0; s < 3; s++) g[r][s] = w[(((size_t)o * 3 + r) * 3 + s) * cin + i];
            for (int p = 0; p < 6; p++)
                for (int s = 0; s < 3; s++) t[p][s] = kWinogradG[p][0] * g[0][s] + kWinogradG[p][1] * g[1][s] + kWinogradG[p][2] * g[2][s];
            for (int p = 0; p < 6; p++)
                for (int q = 0; q < 6; q++)
                    U[((size_t)(p * 6 + q) * cin + i) * cout + o] =
                        (float)(t[p][0] * kWinogradG[q][0] + t[p][1] * kWinogradG[q][1] + t[p][2] * kWinogradG[q][2]);
        }
    // Large kernels in two GEMMs of half the output channels each: XNNPACK runs a block of rows
    // against all of a GEMM's columns, and half of a 512 x 512 product's kernel stays in cache
    // where all of it does not (the GEMMs of VGG16's 14x14 and 28x28 maps alone 1.2-1.7x faster in a
    // micro-benchmark; the same sums).
    parts_ = (size_t)cin * cout >= 256 * 256 && cout % (2 * kBlock) == 0 ? 2 : 1;
    if (U.size() * sizeof(float) <= kChunkKernelBytes) parts_ = 1, U_ = U;   // the slots' GEMMs (winograd())
    const size_t ns = (size_t)cout / parts_;
    std::vector<float> Uh(parts_ > 1 ? (size_t)36 * cin * ns : 0);
    for (int h = 0; h < parts_; h++) {
        const float* src = U.data();
        if (parts_ > 1) {
            for (size_t r = 0; r < (size_t)36 * cin; r++)
                std::copy(&U[r * cout + h * ns], &U[r * cout + (h + 1) * ns], &Uh[r * ns]);
            src = Uh.data();
        }
        xnn_check(xnn_create_batch_matrix_multiply_nc_f32_const_weights(36, (size_t)cin, ns, src, 0, &op_[h]),
                  "create batched GEMM (Winograd)");
    }
    bias_.assign((size_t)cout, 0.0f);
    if (b) std::copy(b, b + cout, bias_.begin());
}

std::unique_ptr<Conv3x3> Conv3x3::input_gradient(ConvKernel w, int cin, int cout, Algo algo) {
    if (algo != Gemm) {
        std::vector<float> w32, wt((size_t)cout * 9 * cin);
        conv3x3_flip_kernel(conv3x3_kernel_f32(w, cin, cout, w32), cout, cin, wt.data());
        return std::make_unique<Conv3x3>(wt.data(), nullptr, cout, cin, false, algo);
    }
    // the product d output [pixels][cout] x w [cout][9 cin]: w as the GEMM's [input][output] weights
    auto c = std::make_unique<Conv3x3>(w, nullptr, cout, cin, false, Gemm);
    c->transposed_ = true;
    return c;
}

Conv3x3::~Conv3x3() {
    for (xnn_operator_t op : op_)
        if (op) xnn_delete_operator(op);
    for (size_t k = 1; k < slot_op_.size(); k++)   // slot 0 is op_[0]
        if (slot_op_[k]) xnn_delete_operator(slot_op_[k]);
}

static size_t align64(size_t n) { return (n + 63) & ~(size_t)63; }

// Direct: an H x W input; Winograd: the batched GEMM over a tiles; Gemm: a pixels (b unused).
// Only on a change.
void Conv3x3::shape(size_t a, size_t b, pthreadpool_t pool) {
    const size_t threads = pthreadpool_get_threads_count(pool);   // a new pool may reuse an old one's address
    if (shape_[0] == a && shape_[1] == b && shape_pool_ == pool && shape_threads_ == threads) return;
    size_t ws = 0, align = 0;
    if (algo_ == Direct) {
        size_t oh = 0, ow = 0;
        xnn_check(xnn_reshape_convolution2d_nhwc_f32(op_[0], 1, a, b, &ws, &align, &oh, &ow, pool), "reshape convolution");
        CNN_ASSERT(oh == a && ow == b);
    } else if (algo_ == Gemm) {   // [a][k] x [k][n]: k = 9 cin, n = cout (transposed: k = cin, n = 9 cout)
        const float inf = std::numeric_limits<float>::infinity();
        if (!op_[0])
            xnn_check(xnn_create_dynamic_fully_connected_nc_f32(relu_ ? 0.0f : -inf, inf,
                                                                transposed_ ? XNN_FLAG_TRANSPOSE_WEIGHTS : 0, &op_[0]),
                      "create fully connected (Gemm convolution)");
        const size_t k = transposed_ ? (size_t)cin_ : 9 * (size_t)cin_, n = transposed_ ? 9 * (size_t)cout_ : (size_t)cout_;
        xnn_check(xnn_reshape_dynamic_fully_connected_nc_f32(op_[0], a, k, n, k, n, &ws, &align, pool),
                  "reshape fully connected (Gemm convolution)");
    } else {
        const size_t batch = 36;
        for (int h = 0; h < parts_; h++) {   // the same shape: one workspace serves both, one after the other
            xnn_check(xnn_reshape_batch_matrix_multiply_nc_f32(op_[h], 1, &batch, &batch, a, (size_t)cin_,
                                                               (size_t)(cout_ / parts_), &ws, &align, pool),
                      "reshape batched GEMM (Winograd)");
        }
    }
    op_ws_ = align64(ws + align);
    shape_[0] = a, shape_[1] = b, shape_pool_ = pool, shape_threads_ = threads;
}

void Conv3x3::reach(int a0, int a1, int n, int* o0, int* o1) const {
    if (algo_ != Winograd) {
        *o0 = std::max(a0 - 1, 0), *o1 = std::min(a1 + 1, n);
        return;
    }
    // Tile t computes outputs 4t .. 4t + 3 from inputs 4t - 1 .. 4t + 4. An input among its own
    // four (4t .. 4t + 3) enters every transformed value, so every output's rounding: the whole
    // tile. Its border inputs enter one transformed row or column each (B^T's first and last
    // columns are 4 e0 and e5), which A^T maps to one output (4t and 4t + 3) exactly, as the
    // 3x3 taps do: the other outputs' sums are the same floats in the same order.
    const int lo = a0 % 4 == 0 ? a0 - 1 : a0 - a0 % 4, hi = a1 % 4 == 0 ? a1 + 1 : a1 + 4 - a1 % 4;
    *o0 = std::max(lo, 0), *o1 = std::min(hi, n);
}

void patch_read(const float* base, int H, int W, int C, const Patch& p, int r0, int c0, int r1, int c1, float* dst) {
    for (int r = r0; r < r1; r++)
        for (int c = c0; c < c1;) {   // runs of columns: zeros, the map, the patch, the map, zeros
            const bool in_rows = r >= p.y0 && r < p.y1;
            const float* src = nullptr;
            int end = c1;
            if (r < 0 || r >= H || c >= W) {
            } else if (c < 0) {
                end = std::min(c1, 0);
            } else if (in_rows && c >= p.x0 && c < p.x1) {
                end = std::min(c1, p.x1);
                src = p.values + ((size_t)(r - p.y0) * (p.x1 - p.x0) + (c - p.x0)) * C;
            } else {
                end = std::min(c1, W);
                if (in_rows && c < p.x0) end = std::min(end, p.x0);
                src = base + ((size_t)r * W + c) * C;
            }
            const size_t len = (size_t)(end - c) * C;
            if (src) std::memcpy(dst, src, len * sizeof(float));
            else std::fill(dst, dst + len, 0.0f);
            dst += len, c = end;
        }
}

void Conv3x3::run(const float* x, int H, int W, float* y, XnnWorkspace& ws, pthreadpool_t pool, const float* gate) {
    CNN_ASSERT(H > 0 && W > 0);
    if (algo_ == Winograd) {
        Patch in, out{0, 0, H, W, y};
        return winograd(x, H, W, &in, &out, 1, ws, pool, gate);
    }
    if (algo_ == Gemm) return gemm(x, H, W, y, ws, pool, gate);
    if (gate) {
        const size_t n = (size_t)H * W * cin_;
        win_in_.resize(n + 16);
        relu_backward(gate, x, n, false, win_in_.data());
        x = win_in_.data();
    }
    shape((size_t)H, (size_t)W, pool);
    ws.reserve(op_ws_);
    xnn_check(xnn_setup_convolution2d_nhwc_f32(op_[0], ws.data(), x, y), "setup convolution");
    xnn_check(xnn_run_operator(op_[0], pool), "run convolution");
}

void Conv3x3::run_patches(const float* x, int H, int W, const Patch* in, Patch* out, int n, XnnWorkspace& ws,
                          pthreadpool_t pool) {
    for (int i = 0; i < n; i++)
        CNN_ASSERT(out[i].y0 >= 0 && out[i].x0 >= 0 && out[i].y1 <= H && out[i].x1 <= W && out[i].y0 < out[i].y1 &&
                   out[i].x0 < out[i].x1);
    if (algo_ == Winograd) return winograd(x, H, W, in, out, n, ws, pool);
    CNN_ASSERT(!transposed_);
    const int C = cin_, K = cout_;
    if (algo_ == Gemm)
        for (int i = 0; i < n; i++) gemm_reserve(out[i].y1 - out[i].y0 + 2, out[i].x1 - out[i].x0 + 2, false, ws, pool);
    for (int i = 0; i < n; i++) {   // the window of each with its halo (zeros beyond the map, as its padding)
        const Patch& o = out[i];
        const int wh = o.y1 - o.y0 + 2, ww = o.x1 - o.x0 + 2;
        win_in_.resize((size_t)wh * ww * C + 16);
        patch_read(x, H, W, C, in[i], o.y0 - 1, o.x0 - 1, o.y1 + 1, o.x1 + 1, win_in_.data());
        win_out_.resize((size_t)wh * ww * K);
        if (algo_ == Gemm) {   // a float16 kernel converted once, into room for the widest window
            gemm(win_in_.data(), wh, ww, win_out_.data(), ws, pool, nullptr, i == 0);
        } else {
            shape((size_t)wh, (size_t)ww, pool);
            ws.reserve(op_ws_);
            xnn_check(xnn_setup_convolution2d_nhwc_f32(op_[0], ws.data(), win_in_.data(), win_out_.data()), "setup convolution");
            xnn_check(xnn_run_operator(op_[0], pool), "run convolution");
        }
        const size_t row = (size_t)(o.x1 - o.x0) * K;
        for (int r = 0; r < o.y1 - o.y0; r++)   // the window's inner part
            std::memcpy(o.values + r * row, &win_out_[((size_t)(r + 1) * ww + 1) * K], row * sizeof(float));
    }
}

// Gemm, in bands of rows (at most kGemmChunkBytes unrolled): forward, each output pixel's 3x3 x cin
// input window as a row (zeros beyond the map; gated), times w_ [cout][9 cin] (+ bias, ReLU: the
// operator's). Transposed (the input gradient): the gradient's rows (gated) times w_ give each
// pixel's 3x3 x cin contributions, each added to the input pixel it came from; an input row takes
// them from the output rows above, at and below it, band by band in order, on one thread per row:
// the same sums on any number of threads.
Conv3x3::GemmPlan Conv3x3::gemm_reserve(int H, int W, bool gated, XnnWorkspace& ws, pthreadpool_t pool) {
    const size_t C = (size_t)cin_, K = (size_t)cout_;
    const size_t row = (size_t)W * 9 * (transposed_ ? K : C) * sizeof(float);   // unrolled bytes of a row
    GemmPlan p;
    p.band = std::clamp<size_t>(kGemmChunkBytes / row, 1, (size_t)H);
    p.weights = w_.f32 ? 0 : align64(9 * C * K * sizeof(float));
    p.gated = transposed_ && gated ? align64(p.band * W * C * sizeof(float)) : 0;
    p.cols = align64(p.band * row);
    shape(p.band * W, 0, pool);   // op_ws_ does not depend on the rows
    ws.reserve(p.weights + op_ws_ + p.gated + p.cols);
    return p;
}

void Conv3x3::gemm(const float* x, int H, int W, float* y, XnnWorkspace& ws, pthreadpool_t pool, const float* gate,
                   bool convert) {
    const size_t C = (size_t)cin_, K = (size_t)cout_;
    const GemmPlan plan = gemm_reserve(H, W, gate != nullptr, ws, pool);
    const int band = (int)plan.band;
    uint8_t* const base = (uint8_t*)ws.data();   // no reallocation below: reserved for the largest band
    const float* w = w_.f32 ? w_.f32 : (const float*)base;
    if (!w_.f32 && convert)   // the forward kernel's [cout][3][3][cin] (transposed: this op's cin is its cout)
        conv3x3_kernel_f32(w_, transposed_ ? cout_ : cin_, transposed_ ? cin_ : cout_, (float*)base, pool);
    uint8_t* const op_ws = base + plan.weights;
    float* const cols = (float*)(op_ws + op_ws_ + plan.gated);
    if (transposed_) std::fill(y, y + (size_t)H * W * K, 0.0f);
    for (int r0 = 0; r0 < H; r0 += band) {
        const int r1 = std::min(H, r0 + band);
        const size_t M = (size_t)(r1 - r0) * W;
        shape(M, 0, pool);
        if (!transposed_) {
            parallel_for(pool, (size_t)(r1 - r0), [&](size_t i) {
                const int yy = r0 + (int)i;
                float* dst = cols + i * W * 9 * C;
                for (int xx = 0; xx < W; xx++)
                    for (int r = 0; r < 3; r++)
                        for (int s = 0; s < 3; s++, dst += C) {
                            const int sy = yy + r - 1, sx = xx + s - 1;
                            if (sy < 0 || sy >= H || sx < 0 || sx >= W) {
                                std::fill(dst, dst + C, 0.0f);
                                continue;
                            }
                            const size_t at = ((size_t)sy * W + sx) * C;
                            if (gate)
                                for (size_t c = 0; c < C; c++) dst[c] = x[at + c] * (gate[at + c] > 0.0f ? 1.0f : 0.0f);
                            else
                                std::memcpy(dst, x + at, C * sizeof(float));
                        }
            });
            xnn_check(xnn_setup_dynamic_fully_connected_nc_f32(op_[0], op_ws, cols, w, bias_.empty() ? nullptr : bias_.data(),
                                                               y + (size_t)r0 * W * K),
                      "setup fully connected (Gemm convolution)");
            xnn_check(xnn_run_operator(op_[0], pool), "run fully connected (Gemm convolution)");
            continue;
        }
        const float* in = x + (size_t)r0 * W * C;
        if (gate) {   // the gradient through the ReLU of the conv's output
            float* a = (float*)(op_ws + op_ws_);
            relu_backward(gate + (size_t)r0 * W * C, in, M * C, false, a);
            in = a;
        }
        xnn_check(xnn_setup_dynamic_fully_connected_nc_f32(op_[0], op_ws, in, w, nullptr, cols),
                  "setup fully connected (Gemm convolution's input gradient)");
        xnn_check(xnn_run_operator(op_[0], pool), "run fully connected (Gemm convolution's input gradient)");
        const int y0 = std::max(r0 - 1, 0), y1 = std::min(r1 + 1, H);
        parallel_for(pool, (size_t)(y1 - y0), [&](size_t i) {   // cols [pixel][3][3][K] -> y
            const int yy = y0 + (int)i;
            for (int r = 0; r < 3; r++) {
                const int sy = yy + 1 - r;   // the output row whose tap r reads input row yy
                if (sy < r0 || sy >= r1) continue;
                for (int xx = 0; xx < W; xx++) {
                    float* dst = y + ((size_t)yy * W + xx) * K;
                    for (int s = 0; s < 3; s++) {
                        const int sx = xx + 1 - s;
                        if (sx < 0 || sx >= W) continue;
                        const float* src = cols + (((size_t)(sy - r0) * W + sx) * 9 + r * 3 + s) * K;
                        for (size_t k = 0; k < K; k++) dst[k] += src[k];
                    }
                }
            }
        });
    }
}

// The tiles covering each output rectangle: input transform, one batched GEMM for all of them,
// output transform (+ bias, ReLU) of the outputs inside the rectangles. A tile's numbers do not
// depend on which others run with it, so each edit gets what a whole pass on it gives. Where the
// transformed kernels are small (the large maps): winograd_slots.
void Conv3x3::winograd(const float* x, int H, int W, const Patch* in, Patch* out, int n, XnnWorkspace& ws,
                       pthreadpool_t pool, const float* gate) {
    std::vector<TileSpan> span((size_t)n + 1);
    size_t all = 0;
    for (int i = 0; i < n; i++) {
        const Patch& o = out[i];
        const int ty0 = o.y0 / 4, tx0 = o.x0 / 4, th = (o.y1 + 3) / 4 - ty0, tw = (o.x1 + 3) / 4 - tx0;
        span[(size_t)i] = {ty0, tx0, tw, all};
        all += (size_t)th * tw;
    }
    span[(size_t)n].first = all;
    const size_t tile_bytes = 36 * (size_t)(cin_ + cout_) * sizeof(float);
    if (!U_.empty()) return winograd_slots(x, H, W, in, out, n, span.data(), ws, pool, gate);
    const size_t Tmax = std::clamp(kMaxChunkBytes / tile_bytes, (size_t)1, all);
    const size_t v = align64((36 * Tmax * cin_ + 16) * sizeof(float)), m = align64((36 * Tmax * cout_ + 16) * sizeof(float));
    for (size_t t0 = 0; t0 < all; t0 += Tmax) {
        const size_t T = std::min(Tmax, all - t0);
        shape(T, 0, pool);
        ws.reserve(op_ws_ + v + m);
        uint8_t* base = (uint8_t*)ws.data();
        float* V = (float*)(base + op_ws_);
        float* M = (float*)(base + op_ws_ + v);
        WinogradJob job{x, in, out, span.data(), n, V, M, bias_.data(), gate, H, W, cin_, cout_, parts_, t0, T, relu_};
        pthreadpool_parallelize_1d(pool, input_tile, &job, T, 0);
        for (int h = 0; h < parts_; h++) {
            float* Mh = M + (size_t)h * 36 * T * (cout_ / parts_);
            xnn_check(xnn_setup_batch_matrix_multiply_nc_f32(op_[h], base, V, nullptr, Mh), "setup batched GEMM (Winograd)");
            xnn_check(xnn_run_operator(op_[h], pool), "run batched GEMM (Winograd)");
        }
        pthreadpool_parallelize_1d(pool, output_tile, &job, T, 0);
    }
}

// Small kernels (the large maps): a few hundred KB of tiles at a time, each chunk through the input
// transform, its GEMM and the output transform on one thread, so that its transformed tiles and
// products stay in that core's cache, and the threads never wait for each other within a layer
// (one step for all threads at a time: 1.3-1.4x on 2 threads for VGG16's block1 and block2).
void Conv3x3::winograd_slots(const float* x, int H, int W, const Patch* in, Patch* out, int n, const void* spans,
                             XnnWorkspace& ws, pthreadpool_t pool, const float* gate) {
    const TileSpan* span = (const TileSpan*)spans;
    const size_t all = span[n].first, tile_bytes = 36 * (size_t)(cin_ + cout_) * sizeof(float);
    const size_t Tc = std::clamp(kChunkBytes / tile_bytes, (size_t)1, all), chunks = (all + Tc - 1) / Tc;
    const size_t slots = std::min<size_t>({std::max<size_t>(pthreadpool_get_threads_count(pool), 1), chunks, 32});
    if (slot_op_.empty()) slot_op_.push_back(op_[0]), slot_T_.push_back(0);
    while (slot_op_.size() < slots) {   // a pool of more threads: their own operators, packed from U_
        xnn_operator_t op = nullptr;
        xnn_check(xnn_create_batch_matrix_multiply_nc_f32_const_weights(36, (size_t)cin_, (size_t)cout_, U_.data(), 0, &op),
                  "create batched GEMM (Winograd)");
        slot_op_.push_back(op), slot_T_.push_back(0);
    }
    for (size_t s = 0; s < slots; s++) {   // every slot for a whole chunk here; a last, smaller one in its chunk
        if (slot_T_[s] == Tc) continue;
        const size_t batch = 36;
        size_t w = 0, align = 0;
        xnn_check(xnn_reshape_batch_matrix_multiply_nc_f32(slot_op_[s], 1, &batch, &batch, Tc, (size_t)cin_, (size_t)cout_,
                                                           &w, &align, nullptr),
                  "reshape batched GEMM (Winograd)");
        slot_T_[s] = Tc;
        slot_ws_ = std::max(slot_ws_, align64(w + align));
    }
    const size_t op_ws = slot_ws_;
    const size_t v = align64((36 * Tc * cin_ + 16) * sizeof(float)), m = align64((36 * Tc * cout_ + 16) * sizeof(float));
    ws.reserve(slots * (op_ws + v + m));
    SlotJob sj;
    sj.job = WinogradJob{x, in, out, span, n, nullptr, nullptr, bias_.data(), gate, H, W, cin_, cout_, 1, 0, 0, relu_};
    sj.op = slot_op_.data(), sj.slot_T = slot_T_.data(), sj.ws = (uint8_t*)ws.data();
    sj.op_ws = op_ws, sj.v = v, sj.m = m, sj.Tc = Tc, sj.all = all, sj.slots = slots;
    pthreadpool_parallelize_1d(pool, slot_chunk, &sj, chunks, 0);
    if (sj.status != 0) xnn_check((xnn_status)sj.status.load(), "batched GEMM (Winograd), a thread's chunk");
}

}  // namespace cnnlens
