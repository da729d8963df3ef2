#include "train/train_layers.h"

#include <pthreadpool.h>
#include <xnnpack.h>

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace cnnlens {

WeightGradScratch::~WeightGradScratch() {
    if (op) xnn_delete_operator(op);
}

namespace {

struct Im2colJob {
    const float *x, *dz;
    int H, W, cin, cout;
    size_t p0, Pc;    // the chunk: positions p0 .. p0 + Pc of the flattened (n, h, w)
    float *a, *b;     // dz^T [cout][Pc], im2col [Pc][9 cin]
};

// Rows [j, j + n) of the chunk: their im2col rows and their columns of dz^T.
void im2col_rows(void* ctx, size_t j0, size_t nj) {
    const Im2colJob& J = *(const Im2colJob*)ctx;
    const int H = J.H, W = J.W, cin = J.cin, cout = J.cout;
    const size_t HW = (size_t)H * W;
    for (size_t j = j0; j < j0 + nj; j++) {
        const size_t p = J.p0 + j, n = p / HW;
        const int h = (int)(p % HW) / W, w = (int)(p % HW) % W;
        const float* x = J.x + n * HW * cin;
        float* row = J.b + j * 9 * cin;
        for (int ky = 0; ky < 3; ky++)
            for (int kx = 0; kx < 3; kx++, row += cin) {
                int yy = h + ky - 1, xx = w + kx - 1;
                if (yy < 0 || yy >= H || xx < 0 || xx >= W) std::memset(row, 0, (size_t)cin * sizeof(float));
                else std::memcpy(row, x + ((size_t)yy * W + xx) * cin, (size_t)cin * sizeof(float));
            }
        const float* dz = J.dz + p * cout;
        for (int o = 0; o < cout; o++) J.a[(size_t)o * J.Pc + j] = dz[o];
    }
}

void check(xnn_status s, const char* what) {
    if (s != xnn_status_success) fail("XNNPACK: %s failed (status %d)", what, (int)s);
}

}  // namespace

void conv3x3_weight_grad(const float* x, const float* dz, int N, int H, int W, int cin, int cout, float* dw, float* db,
                         WeightGradScratch& s, pthreadpool_t pool, size_t chunk) {
    const size_t P = (size_t)N * H * W, K9 = (size_t)9 * cin;
    // Chunks of positions, small enough that a GEMM's packed im2col panel and its rows of dz^T
    // stay in cache: XNNPACK's microkernels stream the whole reduction (K) per output tile.
    if (!chunk) chunk = 256;
    const size_t Pmax = std::min(P, chunk);
    if (!s.op) {
        check(xnn_initialize(nullptr), "xnn_initialize");
        check(xnn_create_batch_matrix_multiply_nc_f32(0, &s.op), "create batch-matrix-multiply");
    }
    s.a.resize((size_t)cout * Pmax + 16);
    s.b.resize(Pmax * K9 + 16);
    s.c.resize((size_t)cout * K9 + 16);
    size_t shaped = 0;   // the K the operator was last reshaped for
    for (size_t p0 = 0; p0 < P; p0 += Pmax) {
        const size_t Pc = std::min(Pmax, P - p0);
        Im2colJob job{x, dz, H, W, cin, cout, p0, Pc, s.a.data(), s.b.data()};
        pthreadpool_parallelize_1d_tile_1d(pool, im2col_rows, &job, Pc, 64, 0);
        if (Pc != shaped) {
            size_t ws = 0, align = 0;
            check(xnn_reshape_batch_matrix_multiply_nc_f32(s.op, 0, nullptr, nullptr, (size_t)cout, Pc, K9, &ws, &align, pool),
                  "reshape batch-matrix-multiply");
            if (s.workspace.size() < ws + align + 64) s.workspace.resize(ws + align + 64);
            shaped = Pc;
        }
        void* wsp = (void*)(((uintptr_t)s.workspace.data() + 63) & ~(uintptr_t)63);
        float* out = p0 == 0 ? dw : s.c.data();
        check(xnn_setup_batch_matrix_multiply_nc_f32(s.op, wsp, s.a.data(), s.b.data(), out), "setup batch-matrix-multiply");
        check(xnn_run_operator(s.op, pool), "run batch-matrix-multiply");
        if (p0 > 0)
            for (size_t i = 0; i < (size_t)cout * K9; i++) dw[i] += s.c[i];
    }
    if (db) {
        std::vector<double> acc((size_t)cout, 0.0);
        for (size_t p = 0; p < P; p++)
            for (int o = 0; o < cout; o++) acc[(size_t)o] += dz[p * cout + o];
        for (int o = 0; o < cout; o++) db[o] = (float)acc[(size_t)o];
    }
}

}  // namespace cnnlens
