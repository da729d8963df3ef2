// conv3x3.h: one 3x3, pad-1, stride-1 convolution over HWC maps (+ bias, + ReLU), or its input
// gradient, by one of three algorithms with the same numbers to float rounding:
//
//   Direct    XNNPACK's convolution operator (an implicit GEMM: 9 multiply-adds per tap)
//   Gemm      compact: the weights themselves, not copied (XNNPACK packs a layer's worth at a time
//             into the shared workspace): rows of the map unrolled (im2col) times the weights, or
//             for the input gradient the gradient times the weights, summed back into place
//             (col2im). No kernel memory of its own, for the memory-lean networks (conv3x3_algo).
//   Winograd  F(4x4, 3x3) (Lavin & Gray 2016): each 6x6 input tile and each kernel go to the
//             Winograd domain, where a 4x4 output tile costs 36 products instead of 144; the 36
//             products over all tiles are one XNNPACK batched GEMM [36][tiles x cin] x [36][cin x
//             cout] with the transformed kernels packed once. 4x fewer GEMM flops, plus the
//             transforms (memory bound), and 4x the kernel bytes (36 values per 9).
//
//   Conv3x3 c(w_ohwi, bias, cin, cout, relu, Conv3x3::Winograd);
//   c.run(x, H, W, y, workspace, pool);                 // y: H x W x cout
//   c.run_patches(x, H, W, in, out, n, workspace, pool);   // n edited copies of x, parts of their outputs
//
// run_patches gives the same values, bit for bit, as run() on each edited input (occlusion's
// incremental pass equals a whole forward): Winograd computes the whole tiles covering each
// output rectangle, all edits' tiles through one batched GEMM (the transformed kernels are read
// once for all of them); the direct operator runs a window of the edited input with its one-pixel
// halo. The operators are reshaped only when the size asked for changes.
// The model uses Winograd where it measured faster (conv3x3_algo); the direct operator stays the
// reference and serves the layers with few channels.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/xnn.h"

namespace cnnlens {

// A map as one edit sees it: a layer's whole map (H x W x C, given beside it) with the rectangle
// rows y0..y1 - 1, columns x0..x1 - 1 holding `values` ((y1 - y0) x (x1 - x0) x C) instead. An
// empty rectangle: the map unedited.
struct Patch {
    int y0 = 0, x0 = 0, y1 = 0, x1 = 0;
    float* values = nullptr;
    bool contains(int y, int x) const { return y >= y0 && y < y1 && x >= x0 && x < x1; }
};

// Rows r0..r1 - 1, columns c0..c1 - 1 of `base` (H x W x C) with p over it, into dst (row-major,
// zeros where the rectangle leaves the map).
void patch_read(const float* base, int H, int W, int C, const Patch& p, int r0, int c0, int r1, int c1, float* dst);

// A conv's kernel as the model keeps it: float32 OHWI [cout][3][3][cin], or float16 OIHW
// [cout][cin][3][3] (a lean network's, read in place in its file: a pack's layout).
struct ConvKernel {
    const float* f32 = nullptr;
    const uint16_t* f16 = nullptr;   // any alignment; finite values (checked when loaded)
    ConvKernel(const float* w = nullptr) : f32(w) {}
    ConvKernel(const float* w, const uint16_t* h) : f32(w), f16(h) {}
};
// The kernel as float32 OHWI into out [cout][3][3][cin].
void conv3x3_kernel_f32(ConvKernel w, int cin, int cout, float* out, pthreadpool_t pool = nullptr);
// The kernel's float32 values: w.f32 itself, or a conversion held in `copy`.
const float* conv3x3_kernel_f32(ConvKernel w, int cin, int cout, std::vector<float>& copy);

class Conv3x3 {
public:
    enum Algo { Direct, Winograd, Gemm };
    // w: [cout][3][3][cin] (ConvKernel); b: cout values or nullptr; relu: clamp the output at 0.
    // Gemm reads w at every run (a float16 kernel converted into the workspace): w must outlive
    // the operator; the others pack it.
    Conv3x3(ConvKernel w, const float* b, int cin, int cout, bool relu, Algo algo);
    // The gradient of that convolution (without bias and ReLU) w.r.t. its input: an operator from
    // cout channels to cin, a 3x3 conv with the kernel flipped (layers.h). Gemm reads w itself.
    static std::unique_ptr<Conv3x3> input_gradient(ConvKernel w, int cin, int cout, Algo algo);
    ~Conv3x3();
    Conv3x3(const Conv3x3&) = delete;
    Conv3x3& operator=(const Conv3x3&) = delete;

    // x: H x W x cin (XNNPACK may read up to 16 bytes past its end); y: H x W x cout.
    // gate (H x W x cin, or nullptr): the input is x where gate > 0, else 0 (a gradient through
    // the ReLU whose output gate is: Winograd applies it as it reads its tiles, one pass less).
    void run(const float* x, int H, int W, float* y, XnnWorkspace& ws, pthreadpool_t pool,
             const float* gate = nullptr);
    // n edited inputs, x with in[i] over it: writes the rectangle of out[i] (y0..x1 given, inside
    // the map; values: room for it) of each one's output, as run() on that input gives it.
    void run_patches(const float* x, int H, int W, const Patch* in, Patch* out, int n, XnnWorkspace& ws,
                     pthreadpool_t pool);
    // Along an axis of n pixels: the outputs [*o0, *o1) whose computed values can change when the
    // inputs [a0, a1) do. Direct: one pixel further each way (the 3x3 taps). Winograd: every
    // output of every tile whose 6x6 input window meets them (the transforms mix the whole window
    // into each output's rounding), so that what is not recomputed is bit for bit unchanged.
    void reach(int a0, int a1, int n, int* o0, int* o1) const;
    Algo algo() const { return algo_; }

private:
    Algo algo_;
    int cin_, cout_;
    bool relu_;
    ConvKernel w_;                  // Gemm: the weights
    bool transposed_ = false;       // Gemm: the input gradient of w_'s convolution
    xnn_operator_t op_[2] = {};     // Direct: the convolution; Winograd: the batched GEMM of each part;
                                    // Gemm: the fully connected product with weights given at each run
    int parts_ = 1;                 // Winograd: of the output channels, in equal parts (M: part-major)
    size_t shape_[2] = {0, 0};      // what op_ is reshaped for: Direct H, W; Winograd: tiles
    pthreadpool_t shape_pool_ = nullptr;   // and the pool it was planned for
    size_t shape_threads_ = 0;
    size_t op_ws_ = 0;              // the workspace op_ needs at that shape (bytes, aligned)
    std::vector<float> bias_;       // Winograd: added in the output transform
    std::vector<float> win_in_, win_out_;   // Direct run_patches: a window and its output; run(): the gated input
    // Winograd with small kernels (the large maps): each thread takes a few hundred KB of tiles at a
    // time through all three steps with a GEMM operator of its own (slot s; slot 0 is op_[0]), so
    // that its tiles and products stay in its own cache, with no wait for the other threads
    // between the steps. The transformed kernels are kept (at most kChunkKernelBytes) for the slots
    // made when a pool of more threads comes.
    std::vector<float> U_;
    std::vector<xnn_operator_t> slot_op_;
    std::vector<size_t> slot_T_;    // what each slot's operator is reshaped for (tiles)
    size_t slot_ws_ = 0;            // the workspace a slot's operator needs for a whole chunk (bytes, aligned)
    void shape(size_t a, size_t b, pthreadpool_t pool);
    void winograd_slots(const float* x, int H, int W, const Patch* in, Patch* out, int n, const void* spans,
                        XnnWorkspace& ws, pthreadpool_t pool, const float* gate);
    // Gemm's workspace: the kernel as float32 (when kept in float16), the operator's (packed
    // weights), a band's gated input gradient, a band's unrolled rows. gemm_reserve: for maps W wide.
    struct GemmPlan { size_t band, weights, gated, cols; };
    GemmPlan gemm_reserve(int H, int W, bool gated, XnnWorkspace& ws, pthreadpool_t pool);
    void gemm(const float* x, int H, int W, float* y, XnnWorkspace& ws, pthreadpool_t pool, const float* gate,
              bool convert = true);
    void winograd(const float* x, int H, int W, const Patch* in, Patch* out, int n, XnnWorkspace& ws,
                  pthreadpool_t pool, const float* gate = nullptr);
};

// The algorithm the model uses for a layer with these channel counts at an H x W input, for one
// input at a time (a forward pass, an input gradient) or for many at once (occlusion's positions,
// Vgg::batched_convs). lean: a network kept small in memory (a compact pack's): a layer whose
// operator would hold more than 4 MB of kernels (Winograd: 4x the weights) computes from the
// weights themselves (Gemm). The benchmark can force one for the networks built after the call
// (policy "auto", "direct", "winograd" or "gemm").
enum class ConvUse { Single, Batched };
Conv3x3::Algo conv3x3_algo(int cin, int cout, int H, int W, ConvUse use = ConvUse::Single, bool lean = false);
void conv3x3_set_policy(const char* policy);

// Winograd F(4x4, 3x3)'s matrices: input tile d (6x6) -> B^T d B; kernel g (3x3) -> G g G^T
// (in double: 1/6, 1/12, 1/24); product m (6x6) -> A^T m A (4x4).
extern const float kWinogradBT[6][6], kWinogradAT[4][6];
extern const double kWinogradG[6][3];

}  // namespace cnnlens
