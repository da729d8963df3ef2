// colormap.h: scalar -> colour maps for feature maps and heatmaps, and figure helpers.
//
// viridis (the default: perceptually uniform and colour-blind safe), inferno, turbo and jet.
// viridis and inferno use the polynomial fits of Matt Zucker (CC0, shadertoy WlfXRN; within
// 4 resp. 9 of 255 of matplotlib's tables), turbo Google's published 256-entry table (Anton
// Mikhailov, Apache-2.0; its polynomial fit misses the ends by up to 32/255), jet is the
// classic (MATLAB) piecewise-linear map. shaders/colormap.glsl, the GPU twin, uses the same
// coefficients and the same turbo table (a test compares them).
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "io/image.h"

namespace cnnlens {

enum class Colormap { Viridis, Inferno, Turbo, Jet, Grey };

// Every colormap, in menu order (viridis first: the default).
constexpr Colormap kColormaps[] = {Colormap::Viridis, Colormap::Inferno, Colormap::Turbo, Colormap::Jet, Colormap::Grey};
Colormap colormap_parse(const std::string& name);   // throws on an unknown name
const char* colormap_name(Colormap c);
// t in [0,1] (clamped; NaN -> 0) -> 8-bit RGB.
void colormap_rgb(Colormap c, float t, uint8_t rgb[3]);

// Min-max normalisation to [0,1] with an epsilon: a constant map becomes all zeros.
void normalize01(const float* in, size_t n, float* out);

// How feature maps are scaled for display: each channel on its own, the layer on one scale, or
// the whole network on one scale (over every conv and pool layer of the last forward).
enum class NormScope { Channel, Layer, Network };
struct Range {
    float lo = INFINITY, hi = -INFINITY;
};
Range value_range(const float* x, size_t n);   // over the finite values
// (x - lo) / (hi - lo), clamped to [0,1]; NaN and a (near) constant range give 0.
float scale01(float x, Range r);
// The range each channel of an HWC map (HW positions, C channels) is scaled from.
std::vector<Range> channel_ranges(const float* hwc, size_t HW, int C, NormScope scope, Range network = {});

// A PNG-ready RGB grid of the first `count` channels of an HWC feature map, each channel
// normalised on its own, tiles scaled (nearest) to about `tile` pixels, `cols` per row.
Image feature_grid(const float* hwc, int H, int W, int C, const std::vector<int>& channels, int cols, int tile,
                   Colormap cmap);

}  // namespace cnnlens
