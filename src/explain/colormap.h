// colormap.h: scalar -> colour maps for feature maps and heatmaps, and figure helpers.
//
// viridis (the default: perceptually uniform and colour-blind safe), inferno, turbo and jet.
// viridis and inferno use the polynomial fits of Matt Zucker (CC0, shadertoy WlfXRN; within
// 4 resp. 9 of 255 of matplotlib's tables), turbo Google's published 256-entry table (Anton
// Mikhailov, Apache-2.0; its polynomial fit misses the ends by up to 32/255), jet is the
// classic (MATLAB) piecewise-linear map. shaders/colormap.glsl, the GPU twin, must follow
// (its turbo is still the polynomial fit).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace cnnlens {

enum class Colormap { Viridis, Inferno, Turbo, Jet, Grey };

Colormap colormap_parse(const std::string& name);   // throws on an unknown name
const char* colormap_name(Colormap c);
// t in [0,1] (clamped; NaN -> 0) -> 8-bit RGB.
void colormap_rgb(Colormap c, float t, uint8_t rgb[3]);

// Min-max normalisation to [0,1] with an epsilon: a constant map becomes all zeros.
void normalize01(const float* in, size_t n, float* out);

// A PNG-ready RGB grid of the first `count` channels of an HWC feature map, each channel
// normalised on its own, tiles scaled (nearest) to about `tile` pixels, `cols` per row.
struct RgbImage {
    int width = 0, height = 0;
    std::vector<uint8_t> rgb;
};
RgbImage feature_grid(const float* hwc, int H, int W, int C, const std::vector<int>& channels, int cols, int tile,
                      Colormap cmap);

}  // namespace cnnlens
