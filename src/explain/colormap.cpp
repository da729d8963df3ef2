#include "explain/colormap.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace cnnlens {

Colormap colormap_parse(const std::string& n) {
    if (n == "viridis") return Colormap::Viridis;
    if (n == "inferno") return Colormap::Inferno;
    if (n == "turbo") return Colormap::Turbo;
    if (n == "jet") return Colormap::Jet;
    if (n == "grey" || n == "gray") return Colormap::Grey;
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

void colormap_rgb(Colormap cm, float t, uint8_t rgb[3]) {
    if (!(t >= 0)) t = 0;   // also NaN
    if (t > 1) t = 1;
    float f[3];
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
        case Colormap::Turbo: {
            static const float turbo[6][3] = {{0.13572138f, 0.09140261f, 0.10667330f}, {4.61539260f, 2.19418839f, 12.64194608f},
                                              {-42.66032258f, 4.84296658f, -60.58204836f}, {132.13108234f, -14.18503333f, 110.36276771f},
                                              {-152.94239396f, 4.27729857f, -89.90310912f}, {59.28637943f, 2.82956604f, 27.34824973f}};
            poly(turbo, 6, t, f);
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

void normalize01(const float* in, size_t n, float* out) {
    float lo = INFINITY, hi = -INFINITY;
    for (size_t i = 0; i < n; i++)
        if (std::isfinite(in[i])) lo = std::min(lo, in[i]), hi = std::max(hi, in[i]);
    const float range = hi - lo;
    for (size_t i = 0; i < n; i++)
        out[i] = std::isfinite(in[i]) && range > 1e-12f * std::max(1.0f, std::fabs(hi)) ? (in[i] - lo) / range : 0.0f;
}

RgbImage feature_grid(const float* hwc, int H, int W, int C, const std::vector<int>& channels, int cols, int tile,
                      Colormap cmap) {
    const int n = (int)channels.size();
    cols = std::max(1, std::min(cols, n));
    const int rows = (n + cols - 1) / cols;
    const int scale = std::max(1, tile / std::max(H, W)), th = H * scale, tw = W * scale, gap = 2;
    RgbImage img;
    img.width = cols * tw + (cols + 1) * gap;
    img.height = rows * th + (rows + 1) * gap;
    img.rgb.assign((size_t)img.width * img.height * 3, 255);
    std::vector<float> ch((size_t)H * W), norm((size_t)H * W);
    for (int k = 0; k < n; k++) {
        int c = channels[(size_t)k];
        CNN_ASSERT(c >= 0 && c < C);
        for (size_t p = 0; p < (size_t)H * W; p++) ch[p] = hwc[p * C + c];
        normalize01(ch.data(), ch.size(), norm.data());
        int x0 = gap + (k % cols) * (tw + gap), y0 = gap + (k / cols) * (th + gap);
        for (int y = 0; y < th; y++)
            for (int x = 0; x < tw; x++)
                colormap_rgb(cmap, norm[(size_t)(y / scale) * W + x / scale],
                             &img.rgb[((size_t)(y0 + y) * img.width + x0 + x) * 3]);
    }
    return img;
}

}  // namespace cnnlens
