// explain.h: explanation maps (Grad-CAM, counterfactual Grad-CAM, Grad-CAM++, LayerCAM, CAM,
// guided Grad-CAM) as pure functions of activations and gradients, and display helpers
// (bilinear upsampling, heatmap overlay, filmstrip figure, top channels).
//
// Conventions: A is the post-ReLU output of a conv layer, HWC [H,W,K] (Vgg::act), and G is
// d logit_c / d A of the same shape (Vgg::grad after Vgg::backward(c)). Every map is [H,W]
// row-major at the layer's resolution, raw (no upsampling, no normalisation) unless stated.
// Sums run in double. The definitions are those of the oracle (shared/oracle/README.md,
// "Outputs"); tests/test_explain.cpp checks them against its gradcam_*, gradcampp_* and cam_*
// arrays.
#pragma once
#include <vector>
#include <pthreadpool.h>

#include "explain/colormap.h"
#include "io/image.h"

namespace cnnlens {

// Grad-CAM (Selvaraju et al., ICCV 2017; pytorch-grad-cam grad_cam.py):
//   alpha_k = mean_{h,w} G[h,w,k],  map[h,w] = max(0, sum_k alpha_k A[h,w,k]).
// counterfactual: the same with -G (Selvaraju et al. sec. 3.3, "counterfactual
// explanations": the regions whose removal would raise the class score).
// map: H*W, alpha: K (may be null).
void gradcam(const float* A, const float* G, int H, int W, int K, float* map, float* alpha,
             bool counterfactual = false);
// The same from the gradient's per-channel sums over the map (K values, Vgg::grad_sums):
// alpha_k = sums_k / (H W) (-sums_k / (H W): counterfactual); the map's pixels on the pool's threads.
void gradcam_sums(const float* A, const double* sums, int H, int W, int K, float* map, float* alpha,
                  bool counterfactual = false, pthreadpool_t pool = nullptr);

// Grad-CAM++ (Chattopadhay et al., WACV 2018), exactly pytorch-grad-cam
// grad_cam_plusplus.py (absolute eps 1e-6):
//   S_k = sum_{h,w} A_k,  a = G^2 / (2 G^2 + S_k G^3 + 1e-6), a = 0 where G == 0,
//   w_k = sum_{h,w} max(G,0) a,  map = max(0, sum_k w_k A_k).
// map: H*W, weights: K (may be null).
void gradcampp(const float* A, const float* G, int H, int W, int K, float* map, float* weights);

// LayerCAM (Jiang et al., IEEE TIP 2021; pytorch-grad-cam layer_cam.py):
//   map[h,w] = max(0, sum_k max(G[h,w,k],0) A[h,w,k]).
// (With post-ReLU A every term is >= 0, so the ReLU only matters for signed activations.)
void layercam(const float* A, const float* G, int H, int W, int K, float* map);

// HiResCAM (Draelos & Carin 2020; pytorch-grad-cam hirescam.py): the gradient times the
// activation, summed over channels, no averaging: map = max(0, sum_k G[h,w,k] A[h,w,k]).
void hirescam(const float* A, const float* G, int H, int W, int K, float* map);

// XGradCAM (Fu et al., BMVC 2020; pytorch-grad-cam xgrad_cam.py):
//   w_k = sum_{h,w} G A / (sum_{h,w} A_k + 1e-7),  map = max(0, sum_k w_k A_k).
// weights: K (may be null).
void xgradcam(const float* A, const float* G, int H, int W, int K, float* map, float* weights);

// EigenCAM (Muhammad & Yeasin, IJCNN 2020; pytorch-grad-cam get_2d_projection): the H*W x K
// matrix M (the activations A for EigenCAM, G * A for EigenGradCAM), each channel centred on its
// mean, projected on its first right singular vector v: map = max(0, M_c v). The sign of v is
// the one that makes the projection correlate positively with the mean over channels of M (an
// SVD's sign is arbitrary; this makes the map light up where the features are).
void eigencam(const float* M, int H, int W, int K, float* map);

// Spearman's rank correlation of two maps of n values (average ranks for ties), as
// scipy.stats.spearmanr: the sanity check's measure of how much a map changed.
double spearman(const float* a, const float* b, size_t n);

// CAM (Zhou et al., CVPR 2016), gap head only: map[h,w] = sum_k w_row[k] A_last[h,w,k] with
// w_row = row c of the gap head's linear weight (classifier.0.weight[c], K values). Signed: no
// bias, no ReLU, no normalisation (the oracle's cam_c*.npy). For the gap head
// logit_c = mean_hw(map) + b_c, d logit_c / d A = w_row[k] / (H W) everywhere, hence
// max(0, CAM_c) = H W * Grad-CAM_c at the last conv.
void cam(const float* A_last, int H, int W, int K, const float* w_row, float* map);

// Bilinear resize of an h x w map to H x W (up or down), as
// torch.nn.functional.interpolate(mode='bilinear', align_corners=False) (no antialiasing):
// half-pixel centres, src = max((dst + 0.5) * in / out - 0.5, 0), i0 = floor(src),
// i1 = min(i0 + 1, in - 1), weights (1 - f, f) with f = src - i0; separable, in double.
// cv2.resize(INTER_LINEAR), which pytorch-grad-cam uses, has the same geometry.
// align_corners: torch's align_corners=True instead (nn.UpsamplingBilinear2d, which ScoreCAM
// uses): src = dst * (in - 1) / (out - 1).
void upsample_bilinear(const float* map, int h, int w, int H, int W, float* out, bool align_corners = false);

// Guided Grad-CAM (Selvaraju et al. sec. 3.2): out[y,x,ch] = up[y,x] * gb[y,x,ch], where
// up = upsample_bilinear(normalize01(cam)) to the input size H x W, and gb is the guided
// backprop input gradient, HWC with C channels (Vgg::backward(c, true), Vgg::input_grad).
// Normalising the low-resolution map first and then resizing is pytorch-grad-cam's order
// (scale_cam_image, then cam_mask * gb in its usage example). An all-zero cam gives all zeros.
// out: H*W*C.
void guided_gradcam(const float* cam, int h, int w, const float* gb, int H, int W, int C, float* out);

// A signed gradient image (saliency, guided backprop, guided Grad-CAM; HWC, C = 3 channels, or
// C = 1 for a greyscale model, shown grey) as an RGB picture, as pytorch-grad-cam's deprocess_image: x = (g - mean) / (std + 1e-5) * 0.1 + 0.5,
// clipped to [0,1], mean and std over all values. bgr: the gradient is in BGR order (caffe
// preprocessing) and is shown as RGB.
Image gradient_image(const float* g, int H, int W, int C = 3, bool bgr = false);

// The colormapped heatmap blended over the image (pytorch-grad-cam show_cam_on_image with
// image_weight = 1 - alpha): out = round((1 - alpha) * img + alpha * colormap(map01)).
// map01: img.height x img.width values in [0,1] (normalize01 / upsample_bilinear first).
Image overlay(const Image& img, const float* map01, Colormap cmap, float alpha);

// The article's figure of one explanation: the image, the heatmap alone and the overlay, side by
// side, each tile x tile pixels (the image enlarged nearest-neighbour, as the page shows a small
// input; the map upsampled bilinearly and normalised to [0,1]), framed and separated by `gap`
// white pixels: (3 tile + 4 gap) x (tile + 2 gap). The page's "Save figure" and the compute
// module's cl_figure draw it; the caption (class, method, layer) goes under it.
Image explanation_figure(const Image& img, const float* map, int h, int w, int tile, Colormap cmap, float alpha,
                         int gap = 8);

// One map of a filmstrip: h x w values, row-major (not owned).
struct MapRef {
    const float* data = nullptr;
    int h = 0, w = 0;
};
// A figure: the image itself (if with_image), then every map upsampled to the image size
// (upsample_bilinear), normalised (normalize01) on ONE shared scale (shared_scale: the tiles
// compare, e.g. Grad-CAM of every conv layer) or each on its own, and overlaid on the image
// (overlay). Tiles are laid out `cols` per row (0 = all in one row), separated and framed by
// `gap` white pixels.
Image filmstrip(const Image& img, const std::vector<MapRef>& maps, Colormap cmap, float alpha = 0.5f,
                int cols = 0, int gap = 4, bool with_image = true, bool shared_scale = true);

// The indices of the n largest weights (e.g. Grad-CAM alphas), by weight descending; ties keep
// the lower index first. n is clipped to [0, K].
std::vector<int> top_channels(const float* alpha, int K, int n);

}  // namespace cnnlens
