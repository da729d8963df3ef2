// explain.cpp: Grad-CAM & co. over activations and gradients, and display helpers (see explain.h).
#include "explain/explain.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "core/error.h"
#include "core/xnn.h"

namespace cnnlens {

namespace {

// map[p] = max(0, sum_k w[k] A[p,k]) (relu) or the plain sum: 16 partial sums in float (k mod 16,
// at most K / 16 terms each: a relative error of about 1e-6 of sum |w a| for VGG16's 512 channels)
// added in double in a fixed order. The compiler vectorises them (one running sum was a chain of
// dependent additions: the filmstrip's 13 maps took VGG16 about 45 ms in WebAssembly; 8 sums in
// double 7.9 ms, these 6.4, on one thread under node). Each pixel's sum alone, so the same numbers
// on any number of threads (pool: nullptr = this one).
void weighted_sum(const float* A, size_t HW, int K, const double* w, bool relu, float* map, pthreadpool_t pool = nullptr) {
    constexpr size_t kPixels = 256;   // per task
    std::vector<float> wf(w, w + K);
    const float* __restrict wp = wf.data();
    parallel_for(pool, (HW + kPixels - 1) / kPixels, [&](size_t task) {
        constexpr int L = 16;
        const int KL = K - K % L;
        for (size_t p = task * kPixels, end = std::min(p + kPixels, HW); p < end; p++) {
            const float* __restrict a = A + p * K;
            float acc[L] = {};
            for (int k = 0; k < KL; k += L)
                for (int j = 0; j < L; j++) acc[j] += wp[k + j] * a[k + j];
            for (int k = KL; k < K; k++) acc[k - KL] += wp[k] * a[k];
            double s = 0;
            for (int j = 0; j < L; j += 4) s += ((double)acc[j] + acc[j + 1]) + ((double)acc[j + 2] + acc[j + 3]);
            map[p] = (float)(relu ? std::max(s, 0.0) : s);
        }
    });
}

void check_shape(int H, int W, int K) { CNN_ASSERT(H > 0 && W > 0 && K > 0); }

}  // namespace

void gradcam(const float* A, const float* G, int H, int W, int K, float* map, float* alpha, bool counterfactual) {
    check_shape(H, W, K);
    std::vector<double> sums((size_t)K, 0.0);
    for (size_t p = 0; p < (size_t)H * W; p++)
        for (int k = 0; k < K; k++) sums[k] += G[p * K + k];
    gradcam_sums(A, sums.data(), H, W, K, map, alpha, counterfactual);
}

void gradcam_sums(const float* A, const double* sums, int H, int W, int K, float* map, float* alpha, bool counterfactual,
                  pthreadpool_t pool) {
    check_shape(H, W, K);
    const size_t HW = (size_t)H * W;
    std::vector<double> a(sums, sums + K);
    for (int k = 0; k < K; k++) a[k] = (counterfactual ? -a[k] : a[k]) / (double)HW;
    if (alpha)
        for (int k = 0; k < K; k++) alpha[k] = (float)a[k];
    weighted_sum(A, HW, K, a.data(), true, map, pool);
}

void gradcampp(const float* A, const float* G, int H, int W, int K, float* map, float* weights) {
    check_shape(H, W, K);
    const size_t HW = (size_t)H * W;
    std::vector<double> S((size_t)K, 0.0), w((size_t)K, 0.0);
    for (size_t p = 0; p < HW; p++)
        for (int k = 0; k < K; k++) S[k] += A[p * K + k];
    for (size_t p = 0; p < HW; p++)
        for (int k = 0; k < K; k++) {
            const double g = G[p * K + k];
            if (g <= 0) continue;   // max(G,0) = 0, and a = 0 where G == 0
            const double g2 = g * g, a = g2 / (2 * g2 + S[k] * (g2 * g) + 1e-6);
            w[k] += g * a;
        }
    if (weights)
        for (int k = 0; k < K; k++) weights[k] = (float)w[k];
    weighted_sum(A, HW, K, w.data(), true, map);
}

void layercam(const float* A, const float* G, int H, int W, int K, float* map) {
    check_shape(H, W, K);
    for (size_t p = 0, HW = (size_t)H * W; p < HW; p++) {
        double s = 0;
        for (int k = 0; k < K; k++) s += (double)std::max(G[p * K + k], 0.0f) * A[p * K + k];
        map[p] = (float)std::max(s, 0.0);
    }
}

void hirescam(const float* A, const float* G, int H, int W, int K, float* map) {
    check_shape(H, W, K);
    for (size_t p = 0, HW = (size_t)H * W; p < HW; p++) {
        double s = 0;
        for (int k = 0; k < K; k++) s += (double)G[p * K + k] * A[p * K + k];
        map[p] = (float)std::max(s, 0.0);
    }
}

void xgradcam(const float* A, const float* G, int H, int W, int K, float* map, float* weights) {
    check_shape(H, W, K);
    const size_t HW = (size_t)H * W;
    std::vector<double> sa((size_t)K, 0.0), sga((size_t)K, 0.0);
    for (size_t p = 0; p < HW; p++)
        for (int k = 0; k < K; k++) sa[k] += A[p * K + k], sga[k] += (double)G[p * K + k] * A[p * K + k];
    for (int k = 0; k < K; k++) sga[k] /= sa[k] + 1e-7;
    if (weights)
        for (int k = 0; k < K; k++) weights[k] = (float)sga[k];
    weighted_sum(A, HW, K, sga.data(), true, map);
}

namespace {

// The unit eigenvector of the largest eigenvalue of a symmetric n x n matrix (row-major, in
// double), by cyclic Jacobi rotations: exact to rounding, whatever the gap between eigenvalues.
std::vector<double> top_eigenvector(std::vector<double> a, int n, double* lambda) {
    std::vector<double> v((size_t)n * n, 0.0);
    for (int i = 0; i < n; i++) v[(size_t)i * n + i] = 1;
    for (int sweep = 0; sweep < 100; sweep++) {
        double off = 0, diag = 0;
        for (int i = 0; i < n; i++) {
            diag += a[(size_t)i * n + i] * a[(size_t)i * n + i];
            for (int j = i + 1; j < n; j++) off += a[(size_t)i * n + j] * a[(size_t)i * n + j];
        }
        if (off <= 1e-30 * diag || off == 0) break;
        for (int p = 0; p < n; p++)
            for (int q = p + 1; q < n; q++) {
                const double apq = a[(size_t)p * n + q];
                if (std::fabs(apq) < 1e-300) continue;
                const double app = a[(size_t)p * n + p], aqq = a[(size_t)q * n + q];
                const double theta = (aqq - app) / (2 * apq);
                const double t = (theta >= 0 ? 1 : -1) / (std::fabs(theta) + std::sqrt(theta * theta + 1));
                const double c = 1 / std::sqrt(t * t + 1), s = t * c;
                for (int k = 0; k < n; k++) {   // A <- J^T A J, columns then rows
                    const double akp = a[(size_t)k * n + p], akq = a[(size_t)k * n + q];
                    a[(size_t)k * n + p] = c * akp - s * akq, a[(size_t)k * n + q] = s * akp + c * akq;
                }
                for (int k = 0; k < n; k++) {
                    const double apk = a[(size_t)p * n + k], aqk = a[(size_t)q * n + k];
                    a[(size_t)p * n + k] = c * apk - s * aqk, a[(size_t)q * n + k] = s * apk + c * aqk;
                }
                for (int k = 0; k < n; k++) {
                    const double vkp = v[(size_t)k * n + p], vkq = v[(size_t)k * n + q];
                    v[(size_t)k * n + p] = c * vkp - s * vkq, v[(size_t)k * n + q] = s * vkp + c * vkq;
                }
            }
    }
    int best = 0;
    for (int i = 1; i < n; i++)
        if (a[(size_t)i * n + i] > a[(size_t)best * n + best]) best = i;
    *lambda = a[(size_t)best * n + best];
    std::vector<double> e((size_t)n);
    for (int k = 0; k < n; k++) e[(size_t)k] = v[(size_t)k * n + best];
    return e;
}

}  // namespace

void eigencam(const float* M, int H, int W, int K, float* map) {
    check_shape(H, W, K);
    const int P = H * W;
    std::vector<double> mean((size_t)K, 0.0), c((size_t)P * K), mean_map((size_t)P, 0.0);
    for (int p = 0; p < P; p++)
        for (int k = 0; k < K; k++) mean[(size_t)k] += M[(size_t)p * K + k], mean_map[(size_t)p] += M[(size_t)p * K + k];
    for (int k = 0; k < K; k++) mean[(size_t)k] /= P;
    for (int p = 0; p < P; p++)
        for (int k = 0; k < K; k++) c[(size_t)p * K + k] = M[(size_t)p * K + k] - mean[(size_t)k];
    // M_c v1 = s1 u1: the top eigenvector of the smaller Gram matrix gives it
    std::vector<double> proj((size_t)P, 0.0);
    double lambda = 0;
    if (K <= P) {
        std::vector<double> g((size_t)K * K, 0.0);
        for (int p = 0; p < P; p++)
            for (int i = 0; i < K; i++)
                for (int j = i; j < K; j++) g[(size_t)i * K + j] += c[(size_t)p * K + i] * c[(size_t)p * K + j];
        for (int i = 0; i < K; i++)
            for (int j = 0; j < i; j++) g[(size_t)i * K + j] = g[(size_t)j * K + i];
        std::vector<double> v = top_eigenvector(std::move(g), K, &lambda);
        for (int p = 0; p < P; p++)
            for (int k = 0; k < K; k++) proj[(size_t)p] += c[(size_t)p * K + k] * v[(size_t)k];
    } else {
        std::vector<double> g((size_t)P * P, 0.0);
        for (int i = 0; i < P; i++)
            for (int j = i; j < P; j++) {
                double s = 0;
                for (int k = 0; k < K; k++) s += c[(size_t)i * K + k] * c[(size_t)j * K + k];
                g[(size_t)i * P + j] = g[(size_t)j * P + i] = s;
            }
        std::vector<double> u = top_eigenvector(std::move(g), P, &lambda);
        const double s1 = std::sqrt(std::max(lambda, 0.0));
        for (int p = 0; p < P; p++) proj[(size_t)p] = s1 * u[(size_t)p];
    }
    double corr = 0;
    for (int p = 0; p < P; p++) corr += proj[(size_t)p] * mean_map[(size_t)p];
    const double sign = corr < 0 ? -1 : 1;
    for (int p = 0; p < P; p++) map[p] = (float)std::max(sign * proj[(size_t)p], 0.0);
}

double spearman(const float* a, const float* b, size_t n) {
    auto ranks = [n](const float* x) {
        std::vector<size_t> idx(n);
        std::iota(idx.begin(), idx.end(), 0);
        std::stable_sort(idx.begin(), idx.end(), [x](size_t i, size_t j) { return x[i] < x[j]; });
        std::vector<double> r(n);
        for (size_t i = 0; i < n;) {   // ties share their average rank
            size_t j = i;
            while (j + 1 < n && x[idx[j + 1]] == x[idx[i]]) j++;
            for (size_t k = i; k <= j; k++) r[idx[k]] = (i + j) / 2.0 + 1;
            i = j + 1;
        }
        return r;
    };
    const std::vector<double> ra = ranks(a), rb = ranks(b);
    double ma = 0, mb = 0;
    for (size_t i = 0; i < n; i++) ma += ra[i], mb += rb[i];
    ma /= (double)n, mb /= (double)n;
    double sab = 0, saa = 0, sbb = 0;
    for (size_t i = 0; i < n; i++) {
        sab += (ra[i] - ma) * (rb[i] - mb), saa += (ra[i] - ma) * (ra[i] - ma), sbb += (rb[i] - mb) * (rb[i] - mb);
    }
    return saa > 0 && sbb > 0 ? sab / std::sqrt(saa * sbb) : 0.0;   // a constant map correlates with nothing
}

void cam(const float* A_last, int H, int W, int K, const float* w_row, float* map) {
    check_shape(H, W, K);
    std::vector<double> w(w_row, w_row + K);
    weighted_sum(A_last, (size_t)H * W, K, w.data(), false, map);
}

void upsample_bilinear(const float* map, int h, int w, int H, int W, float* out, bool align_corners) {
    CNN_ASSERT(h > 0 && w > 0 && H > 0 && W > 0);
    struct Tap { int i0, i1; double f; };
    // torch's area_pixel_compute_source_index (align_corners=False) and its clamping.
    auto taps = [align_corners](int in, int n) {
        std::vector<Tap> t((size_t)n);
        const double scale = (double)in / n;
        for (int d = 0; d < n; d++) {
            const double src = align_corners ? (n > 1 ? d * (double)(in - 1) / (n - 1) : 0.0)
                                             : std::max((d + 0.5) * scale - 0.5, 0.0);
            const int i0 = std::min((int)src, in - 1);
            t[(size_t)d] = {i0, std::min(i0 + 1, in - 1), std::min(std::max(src - i0, 0.0), 1.0)};
        }
        return t;
    };
    const std::vector<Tap> ty = taps(h, H), tx = taps(w, W);
    for (int y = 0; y < H; y++) {
        const Tap& a = ty[(size_t)y];
        const float *r0 = map + (size_t)a.i0 * w, *r1 = map + (size_t)a.i1 * w;
        for (int x = 0; x < W; x++) {
            const Tap& b = tx[(size_t)x];
            const double v0 = (1 - b.f) * r0[b.i0] + b.f * r0[b.i1], v1 = (1 - b.f) * r1[b.i0] + b.f * r1[b.i1];
            out[(size_t)y * W + x] = (float)((1 - a.f) * v0 + a.f * v1);
        }
    }
}

void guided_gradcam(const float* cam_map, int h, int w, const float* gb, int H, int W, int C, float* out) {
    std::vector<float> norm((size_t)h * w), up((size_t)H * W);
    normalize01(cam_map, norm.size(), norm.data());
    upsample_bilinear(norm.data(), h, w, H, W, up.data());
    for (size_t p = 0; p < up.size(); p++)
        for (int ch = 0; ch < C; ch++) out[p * C + ch] = up[p] * gb[p * C + ch];
}

Image gradient_image(const float* g, int H, int W, int C, bool bgr) {
    CNN_ASSERT(H > 0 && W > 0 && (C == 1 || C == 3));
    const size_t n = (size_t)H * W * C;
    double mean = 0, var = 0;
    for (size_t i = 0; i < n; i++) mean += g[i];
    mean /= (double)n;
    for (size_t i = 0; i < n; i++) var += (g[i] - mean) * (g[i] - mean);
    const double scale = 0.1 / (std::sqrt(var / (double)n) + 1e-5);
    Image img;
    img.width = W, img.height = H;
    img.rgb.resize((size_t)H * W * 3);
    for (size_t p = 0; p < (size_t)H * W; p++)
        for (int ch = 0; ch < 3; ch++) {
            const int src = C == 1 ? 0 : bgr ? 2 - ch : ch;
            double v = std::clamp((g[p * C + src] - mean) * scale + 0.5, 0.0, 1.0);
            img.rgb[p * 3 + ch] = (uint8_t)std::lround(v * 255);
        }
    return img;
}

Image overlay(const Image& img, const float* map01, Colormap cmap, float alpha) {
    Image out = img;
    const float a = std::clamp(alpha, 0.0f, 1.0f);
    uint8_t c[3];
    for (size_t p = 0, n = (size_t)img.width * img.height; p < n; p++) {
        colormap_rgb(cmap, map01[p], c);
        for (int ch = 0; ch < 3; ch++)
            out.rgb[p * 3 + ch] = (uint8_t)std::lround((1 - a) * img.rgb[p * 3 + ch] + a * c[ch]);
    }
    return out;
}

Image explanation_figure(const Image& img, const float* map, int h, int w, int tile, Colormap cmap, float alpha,
                         int gap) {
    if (img.width <= 0 || img.height <= 0) fail("figure: empty image");
    if (!map || h <= 0 || w <= 0) fail("figure: empty map");
    if (tile < 8 || tile > 4096) fail("figure: tile side %d is not in [8, 4096]", tile);
    gap = std::clamp(gap, 0, tile);
    Image big;   // the image at tile x tile, nearest
    big.width = big.height = tile;
    big.rgb.resize((size_t)tile * tile * 3);
    for (int y = 0; y < tile; y++)
        for (int x = 0; x < tile; x++)
            std::memcpy(&big.rgb[((size_t)y * tile + x) * 3],
                        &img.rgb[((size_t)(y * img.height / tile) * img.width + x * img.width / tile) * 3], 3);
    std::vector<float> up((size_t)tile * tile), up01(up.size());
    upsample_bilinear(map, h, w, tile, tile, up.data());
    normalize01(up.data(), up.size(), up01.data());
    Image heat = big;
    for (size_t p = 0; p < up01.size(); p++) colormap_rgb(cmap, up01[p], &heat.rgb[p * 3]);
    const Image tiles[3] = {big, heat, overlay(big, up01.data(), cmap, alpha)};
    Image fig;
    fig.width = 3 * tile + 4 * gap;
    fig.height = tile + 2 * gap;
    fig.rgb.assign((size_t)fig.width * fig.height * 3, 255);
    for (int t = 0; t < 3; t++)
        for (int y = 0; y < tile; y++)
            std::copy_n(&tiles[t].rgb[(size_t)y * tile * 3], (size_t)tile * 3,
                        &fig.rgb[((size_t)(gap + y) * fig.width + gap + t * (tile + gap)) * 3]);
    return fig;
}

Image filmstrip(const Image& img, const std::vector<MapRef>& maps, Colormap cmap, float alpha, int cols, int gap,
                bool with_image, bool shared_scale) {
    const int W = img.width, H = img.height, n = (int)maps.size() + (with_image ? 1 : 0);
    if (W <= 0 || H <= 0) fail("filmstrip: empty image");
    if (n == 0) fail("filmstrip: nothing to show");
    const size_t HW = (size_t)W * H;
    std::vector<float> up(HW * maps.size()), norm(up.size());
    for (size_t i = 0; i < maps.size(); i++) {
        if (!maps[i].data || maps[i].h <= 0 || maps[i].w <= 0) fail("filmstrip: map %d is empty", (int)i);
        upsample_bilinear(maps[i].data, maps[i].h, maps[i].w, H, W, up.data() + i * HW);
    }
    if (shared_scale) normalize01(up.data(), up.size(), norm.data());
    else
        for (size_t i = 0; i < maps.size(); i++) normalize01(up.data() + i * HW, HW, norm.data() + i * HW);
    gap = std::max(gap, 0);
    cols = cols <= 0 ? n : std::min(cols, n);
    const int rows = (n + cols - 1) / cols;
    Image fig;
    fig.width = cols * W + (cols + 1) * gap;
    fig.height = rows * H + (rows + 1) * gap;
    fig.rgb.assign((size_t)fig.width * fig.height * 3, 255);
    for (int t = 0; t < n; t++) {
        const int i = t - (with_image ? 1 : 0);
        const Image tile = i < 0 ? img : overlay(img, norm.data() + (size_t)i * HW, cmap, alpha);
        const int x0 = gap + (t % cols) * (W + gap), y0 = gap + (t / cols) * (H + gap);
        for (int y = 0; y < H; y++)
            std::copy_n(&tile.rgb[(size_t)y * W * 3], (size_t)W * 3, &fig.rgb[((size_t)(y0 + y) * fig.width + x0) * 3]);
    }
    return fig;
}

std::vector<int> top_channels(const float* alpha, int K, int n) {
    std::vector<int> idx((size_t)std::max(K, 0));
    std::iota(idx.begin(), idx.end(), 0);
    n = std::clamp(n, 0, std::max(K, 0));
    std::partial_sort(idx.begin(), idx.begin() + n, idx.end(),
                      [&](int a, int b) { return alpha[a] > alpha[b] || (alpha[a] == alpha[b] && a < b); });
    idx.resize((size_t)n);
    return idx;
}

}  // namespace cnnlens
