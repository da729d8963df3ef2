// image.h: decoding images, resizing them exactly like PIL, turning them into network input,
// and writing PNGs.
//
// Every function works on 8-bit RGB. Resizing reproduces Pillow 9.4's
// Image.resize(..., BILINEAR) bit for bit (same coefficients, fixed-point arithmetic and
// rounding), and preprocessing reproduces the oracle's float64 formula rounded once to
// float32, so a C++ run sees the same input tensor as the PyTorch reference.
// Bad input (not an image, truncated, too large, wrong size) throws cnnlens::Error.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace cnnlens {

struct Image {
    int width = 0, height = 0;
    std::vector<uint8_t> rgb;  // RGB8, row-major, 3 bytes per pixel, width*height*3 bytes
};

// Decoding refuses images above these limits before allocating anything: 50 MP is about
// 150 MB of RGB8 (plus the decoder's own buffers), which a 32-bit WebAssembly heap can
// still hold; 16384 px per side covers any camera.
constexpr int64_t kMaxImagePixels = 50'000'000;
constexpr int kMaxImageSide = 16384;

// Decodes JPEG (baseline, progressive), PNG (8/16-bit, grey, palette, alpha), BMP and GIF
// (first frame) to RGB8: grey is replicated, alpha is dropped (as PIL's convert('RGB') does),
// 16-bit samples keep their high byte. No EXIF rotation (PIL's Image.open does none either).
// Other formats (TGA, PSD, HDR, PIC, PNM, ...) are refused by name; so is data that ends before
// the image does (every pixel comes from the file).
Image image_decode(const uint8_t* data, size_t size);
// Throws the decoder's message for a size above kMaxImagePixels or kMaxImageSide (for pixels
// that come from elsewhere: the browser's decoders, a webcam).
void image_check_size(int64_t w, int64_t h);
// Reads a whole file and decodes it; the message names the path on failure.
Image image_load(const std::string& path);

// PIL Image.resize((w, h), Image.BILINEAR): separable triangle filter whose support grows
// with the downscale factor (antialiased), horizontal pass first, uint8 between the passes.
// Returns a copy when the size does not change.
Image image_resize(const Image& img, int w, int h);
// A w x h greyscale image (one byte per pixel) as RGB with R = G = B.
Image image_from_grey(int w, int h, const uint8_t* grey);
// Each pixel becomes a factor x factor block (nearest neighbour): small inputs made visible.
Image image_zoom(const Image& img, int factor);
// torchvision CenterCrop(h, w) (no padding: the crop must fit):
// top = round((H - h) / 2), left = round((W - w) / 2), with Python's round-half-even.
Image image_center_crop(const Image& img, int w, int h);
// The oracle's largest centred square: s = min(W, H), left = (W - s) / 2, top = (H - s) / 2.
Image image_center_square(const Image& img);

enum class ResizeMode {
    Exact,            // must already be size x size, otherwise an error
    CropTorchvision,  // torchvision Resize(round(size*256/224)) + CenterCrop(size)
    Squash,           // resize to size x size ignoring aspect (Keras load_img(target_size))
    CenterSquare,     // the oracle: largest centred square, then resize to size x size
    Object,           // greyscale models trained on centred objects, light on dark: image_object_fit
};
// Returns a size x size image; an image already size x size passes through unchanged.
Image image_fit(const Image& img, int size, ResizeMode mode);
const char* resize_mode_name(ResizeMode mode);  // "exact", "resize-crop", "squash", "center-square", "object"
ResizeMode resize_mode_parse(const std::string& name);  // throws on an unknown name

// An image mapped to the look of a dataset of centred objects, light on a dark background,
// such as Fashion-MNIST (whose pipeline was: trim, resize the longest edge, centre, negate,
// greyscale). Returns a size x size grey image (stored as RGB with R = G = B):
//  1. grey = PIL's convert('L'): (19595 R + 38470 G + 7471 B + 32768) >> 16;
//  2. the background level is the median of a border ring (size/20 px, at least 1); a light
//     background (median > 127) is inverted, so the object becomes light on dark;
//  3. an image already size x size stops here (a dataset image passes through unchanged);
//  4. otherwise the background level maps to 0 and the brightest pixel to 255, the object is
//     cropped to the box of pixels above 32, its longest edge resized (PIL bilinear) to size,
//     and it is centred on black.
Image image_object_fit(const Image& img, int size);
uint8_t luma(uint8_t r, uint8_t g, uint8_t b);

// A brush stroke: every pixel whose centre lies within `radius` of the polyline through the
// points (x0, y0, x1, y1, ...: pixel units, (0, 0) the top-left corner of the image) becomes rgb.
// One point is a dot. The page's "edit the input" brush.
void image_paint(Image& img, const std::vector<float>& xy, float radius, const uint8_t rgb[3]);

enum class Preprocess {
    Torch,    // RGB order, (p/255 - [0.485,0.456,0.406]) / [0.229,0.224,0.225]
    Caffe,    // BGR order, p - [103.939,116.779,123.68] (Keras VGG16 preprocess_input)
    MeanStd,  // one grey channel, (luma/255 - mean) / std with the model's own constants
};
// Writes height*width*3 floats, channels last (HWC), computed in double and rounded once to
// float: bit-identical to the oracle's input_nchw.npy (transposed).
// (MeanStd needs the model's constants: image_preprocess_grey.)
void image_preprocess(const Image& img, Preprocess mode, float* out_hwc);
// height*width floats: (luma / 255 - mean) / std in double, rounded once to float.
void image_preprocess_grey(const Image& img, float mean, float std, float* out);
const char* preprocess_name(Preprocess mode);          // "torch", "caffe", "mean_std"
Preprocess preprocess_parse(const std::string& name);  // throws on an unknown name

// PNG encoding of 8-bit pixels, row-major, channels 1 (grey), 2 (grey+alpha), 3 (RGB) or
// 4 (RGBA).
std::vector<uint8_t> png_encode(int w, int h, int channels, const uint8_t* pixels);
void png_write(const std::string& path, int w, int h, int channels, const uint8_t* pixels);

}  // namespace cnnlens
