#include "explain/colormap.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace cnnlens {

Colormap colormap_parse(const std::string& n) {
    for (Colormap c : kColormaps)
        if (n == colormap_name(c)) return c;
    if (n == "gray") return Colormap::Grey;
    fail("unknown colormap '%s' (viridis, inferno, turbo, jet, grey)", n.c_str());
}

const char* colormap_name(Colormap c) {
    switch (c) {
        case Colormap::Viridis: return "viridis";
        case Colormap::Inferno: return "inferno";
        case Colormap::Turbo: return "turbo";
        case Colormap::Jet: return "jet";
        case Colormap::Grey: return "grey";
    }
    return "?";
}

// c0 + t*(c1 + t*(c2 + ...)) per channel.
static void poly(const float (*c)[3], int n, float t, float out[3]) {
    for (int k = 0; k < 3; k++) {
        float v = c[n - 1][k];
        for (int i = n - 2; i >= 0; i--) v = c[i][k] + t * v;
        out[k] = v;
    }
}

// Turbo (Anton Mikhailov, Google, 2019, Apache-2.0): the published turbo_colormap_data table
// (also matplotlib's _turbo_data), 256 RGB entries rounded to 8 bits. Its polynomial fit is off
// by up to 32/255 at the ends (t=0 gave (35,23,27) instead of (48,18,59)).
static const uint8_t kTurbo[256 * 3] = {
    48, 18, 59, 50, 21, 67, 51, 24, 74, 52, 27, 81, 53, 30, 88, 54, 33, 95, 55, 36, 102, 56, 39, 109,
    57, 42, 115, 58, 45, 121, 59, 47, 128, 60, 50, 134, 61, 53, 139, 62, 56, 145, 63, 59, 151, 63, 62, 156,
    64, 64, 162, 65, 67, 167, 65, 70, 172, 66, 73, 177, 66, 75, 181, 67, 78, 186, 68, 81, 191, 68, 84, 195,
    68, 86, 199, 69, 89, 203, 69, 92, 207, 69, 94, 211, 70, 97, 214, 70, 100, 218, 70, 102, 221, 70, 105, 224,
    70, 107, 227, 71, 110, 230, 71, 113, 233, 71, 115, 235, 71, 118, 238, 71, 120, 240, 71, 123, 242, 70, 125, 244,
    70, 128, 246, 70, 130, 248, 70, 133, 250, 70, 135, 251, 69, 138, 252, 69, 140, 253, 68, 143, 254, 67, 145, 254,
    66, 148, 255, 65, 150, 255, 64, 153, 255, 62, 155, 254, 61, 158, 254, 59, 160, 253, 58, 163, 252, 56, 165, 251,
    55, 168, 250, 53, 171, 248, 51, 173, 247, 49, 175, 245, 47, 178, 244, 46, 180, 242, 44, 183, 240, 42, 185, 238,
    40, 188, 235, 39, 190, 233, 37, 192, 231, 35, 195, 228, 34, 197, 226, 32, 199, 223, 31, 201, 221, 30, 203, 218,
    28, 205, 216, 27, 208, 213, 26, 210, 210, 26, 212, 208, 25, 213, 205, 24, 215, 202, 24, 217, 200, 24, 219, 197,
    24, 221, 194, 24, 222, 192, 24, 224, 189, 25, 226, 187, 25, 227, 185, 26, 228, 182, 28, 230, 180, 29, 231, 178,
    31, 233, 175, 32, 234, 172, 34, 235, 170, 37, 236, 167, 39, 238, 164, 42, 239, 161, 44, 240, 158, 47, 241, 155,
    50, 242, 152, 53, 243, 148, 56, 244, 145, 60, 245, 142, 63, 246, 138, 67, 247, 135, 70, 248, 132, 74, 248, 128,
    78, 249, 125, 82, 250, 122, 85, 250, 118, 89, 251, 115, 93, 252, 111, 97, 252, 108, 101, 253, 105, 105, 253, 102,
    109, 254, 98, 113, 254, 95, 117, 254, 92, 121, 254, 89, 125, 255, 86, 128, 255, 83, 132, 255, 81, 136, 255, 78,
    139, 255, 75, 143, 255, 73, 146, 255, 71, 150, 254, 68, 153, 254, 66, 156, 254, 64, 159, 253, 63, 161, 253, 61,
    164, 252, 60, 167, 252, 58, 169, 251, 57, 172, 251, 56, 175, 250, 55, 177, 249, 54, 180, 248, 54, 183, 247, 53,
    185, 246, 53, 188, 245, 52, 190, 244, 52, 193, 243, 52, 195, 241, 52, 198, 240, 52, 200, 239, 52, 203, 237, 52,
    205, 236, 52, 208, 234, 52, 210, 233, 53, 212, 231, 53, 215, 229, 53, 217, 228, 54, 219, 226, 54, 221, 224, 55,
    223, 223, 55, 225, 221, 55, 227, 219, 56, 229, 217, 56, 231, 215, 57, 233, 213, 57, 235, 211, 57, 236, 209, 58,
    238, 207, 58, 239, 205, 58, 241, 203, 58, 242, 201, 58, 244, 199, 58, 245, 197, 58, 246, 195, 58, 247, 193, 58,
    248, 190, 57, 249, 188, 57, 250, 186, 57, 251, 184, 56, 251, 182, 55, 252, 179, 54, 252, 177, 54, 253, 174, 53,
    253, 172, 52, 254, 169, 51, 254, 167, 50, 254, 164, 49, 254, 161, 48, 254, 158, 47, 254, 155, 45, 254, 153, 44,
    254, 150, 43, 254, 147, 42, 254, 144, 41, 253, 141, 39, 253, 138, 38, 252, 135, 37, 252, 132, 35, 251, 129, 34,
    251, 126, 33, 250, 123, 31, 249, 120, 30, 249, 117, 29, 248, 114, 28, 247, 111, 26, 246, 108, 25, 245, 105, 24,
    244, 102, 23, 243, 99, 21, 242, 96, 20, 241, 93, 19, 240, 91, 18, 239, 88, 17, 237, 85, 16, 236, 83, 15,
    235, 80, 14, 234, 78, 13, 232, 75, 12, 231, 73, 12, 229, 71, 11, 228, 69, 10, 226, 67, 10, 225, 65, 9,
    223, 63, 8, 221, 61, 8, 220, 59, 7, 218, 57, 7, 216, 55, 6, 214, 53, 6, 212, 51, 5, 210, 49, 5,
    208, 47, 5, 206, 45, 4, 204, 43, 4, 202, 42, 4, 200, 40, 3, 197, 38, 3, 195, 37, 3, 193, 35, 2,
    190, 33, 2, 188, 32, 2, 185, 30, 2, 183, 29, 2, 180, 27, 1, 178, 26, 1, 175, 24, 1, 172, 23, 1,
    169, 22, 1, 167, 20, 1, 164, 19, 1, 161, 18, 1, 158, 16, 1, 155, 15, 1, 152, 14, 1, 149, 13, 1,
    146, 11, 1, 142, 10, 1, 139, 9, 2, 136, 8, 2, 133, 7, 2, 129, 6, 2, 126, 5, 2, 122, 4, 3};

void colormap_rgb(Colormap cm, float t, uint8_t rgb[3]) {
    if (!(t >= 0)) t = 0;   // also NaN
    if (t > 1) t = 1;
    float f[3] = {0, 0, 0};
    static const float viridis[7][3] = {{0.2777273272234177f, 0.005407344544966578f, 0.3340998053353061f},
                                        {0.1050930431085774f, 1.404613529898575f, 1.384590162594685f},
                                        {-0.3308618287255563f, 0.214847559468213f, 0.09509516302823659f},
                                        {-4.634230498983486f, -5.799100973351585f, -19.33244095627987f},
                                        {6.228269936347081f, 14.17993336680509f, 56.69055260068105f},
                                        {4.776384997670288f, -13.74514537774601f, -65.35303263337234f},
                                        {-5.435455855934631f, 4.645852612178535f, 26.3124352495832f}};
    static const float inferno[7][3] = {{0.0002189403691192265f, 0.001651004631001012f, -0.01948089843709184f},
                                        {0.1065134194856116f, 0.5639564367884091f, 3.932712388889277f},
                                        {11.60249308247187f, -3.972853965665698f, -15.9423941062914f},
                                        {-41.70399613139459f, 17.43639888205313f, 44.35414519872813f},
                                        {77.162935699427f, -33.40235894210092f, -81.80730925738993f},
                                        {-71.31942824499214f, 32.62606426397723f, 73.20951985803202f},
                                        {25.13112622477341f, -12.24266895238567f, -23.07032500287172f}};
    switch (cm) {
        case Colormap::Viridis: poly(viridis, 7, t, f); break;
        case Colormap::Inferno: poly(inferno, 7, t, f); break;
        case Colormap::Turbo: {   // the published 256-entry table, linearly interpolated
            const float x = t * 255;
            const int i = std::min((int)x, 254);
            for (int k = 0; k < 3; k++) f[k] = (kTurbo[i * 3 + k] + (x - i) * (kTurbo[i * 3 + 3 + k] - kTurbo[i * 3 + k])) / 255;
            break;
        }
        case Colormap::Jet:
            f[0] = std::clamp(1.5f - std::fabs(4 * t - 3), 0.0f, 1.0f);
            f[1] = std::clamp(1.5f - std::fabs(4 * t - 2), 0.0f, 1.0f);
            f[2] = std::clamp(1.5f - std::fabs(4 * t - 1), 0.0f, 1.0f);
            break;
        case Colormap::Grey: f[0] = f[1] = f[2] = t; break;
    }
    for (int k = 0; k < 3; k++) rgb[k] = (uint8_t)std::lround(std::clamp(f[k], 0.0f, 1.0f) * 255.0f);
}

Range value_range(const float* x, size_t n) {
    Range r;
    for (size_t i = 0; i < n; i++)
        if (std::isfinite(x[i])) r.lo = std::min(r.lo, x[i]), r.hi = std::max(r.hi, x[i]);
    return r;
}

float scale01(float x, Range r) {
    const float range = r.hi - r.lo;
    if (!std::isfinite(x) || !(range > 1e-12f * std::max(1.0f, std::fabs(r.hi)))) return 0.0f;
    return std::clamp((x - r.lo) / range, 0.0f, 1.0f);
}

void normalize01(const float* in, size_t n, float* out) {
    const Range r = value_range(in, n);
    for (size_t i = 0; i < n; i++) out[i] = scale01(in[i], r);
}

std::vector<Range> channel_ranges(const float* hwc, size_t HW, int C, NormScope scope, Range network) {
    std::vector<Range> r((size_t)C);
    for (size_t p = 0; p < HW; p++)
        for (int c = 0; c < C; c++) {
            const float v = hwc[p * C + c];
            if (std::isfinite(v)) r[(size_t)c].lo = std::min(r[(size_t)c].lo, v), r[(size_t)c].hi = std::max(r[(size_t)c].hi, v);
        }
    if (scope == NormScope::Channel) return r;
    Range all = network;
    if (scope == NormScope::Layer) {
        all = Range();
        for (const Range& x : r) all.lo = std::min(all.lo, x.lo), all.hi = std::max(all.hi, x.hi);
    }
    return std::vector<Range>((size_t)C, all);
}

Image feature_grid(const float* hwc, int H, int W, int C, const std::vector<int>& channels, int cols, int tile,
                      Colormap cmap) {
    const int n = (int)channels.size();
    cols = std::max(1, std::min(cols, n));
    const int rows = (n + cols - 1) / cols;
    // Small maps grow by a whole factor (crisp pixels); large ones shrink to about `tile`.
    const int big = std::max(H, W);
    const double scale = big <= tile ? std::max(1, tile / big) : (double)tile / big;
    const int th = std::max(1, (int)(H * scale)), tw = std::max(1, (int)(W * scale)), gap = 2;
    Image img;
    img.width = cols * tw + (cols + 1) * gap;
    img.height = rows * th + (rows + 1) * gap;
    img.rgb.assign((size_t)img.width * img.height * 3, 255);
    const std::vector<Range> ranges = channel_ranges(hwc, (size_t)H * W, C, NormScope::Channel);
    for (int k = 0; k < n; k++) {
        int c = channels[(size_t)k];
        CNN_ASSERT(c >= 0 && c < C);
        int x0 = gap + (k % cols) * (tw + gap), y0 = gap + (k / cols) * (th + gap);
        for (int y = 0; y < th; y++)
            for (int x = 0; x < tw; x++) {
                const size_t p = (size_t)std::min(H - 1, (int)(y / scale)) * W + std::min(W - 1, (int)(x / scale));
                colormap_rgb(cmap, scale01(hwc[p * C + c], ranges[(size_t)c]), &img.rgb[((size_t)(y0 + y) * img.width + x0 + x) * 3]);
            }
    }
    return img;
}

}  // namespace cnnlens
