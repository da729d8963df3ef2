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

// Decodes JPEG (baseline, progressive), PNG (8/16-bit, grey, palette, alpha), BMP, GIF
// (first frame), TGA, PSD (composite), HDR, PIC and PNM to RGB8: grey is replicated, alpha
// is dropped (as PIL's convert('RGB') does), 16-bit samples keep their high byte. No EXIF
// rotation (PIL's Image.open does none either).
Image image_decode(const uint8_t* data, size_t size);
// Reads a whole file and decodes it; the message names the path on failure.
Image image_load(const std::string& path);

// PIL Image.resize((w, h), Image.BILINEAR): separable triangle filter whose support grows
// with the downscale factor (antialiased), horizontal pass first, uint8 between the passes.
// Returns a copy when the size does not change.
Image image_resize(const Image& img, int w, int h);
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
};
// Returns a size x size image; an image already size x size passes through unchanged.
Image image_fit(const Image& img, int size, ResizeMode mode);
const char* resize_mode_name(ResizeMode mode);  // "exact", "resize-crop", "squash", "center-square"
ResizeMode resize_mode_parse(const std::string& name);  // throws on an unknown name

enum class Preprocess {
    Torch,  // RGB order, (p/255 - [0.485,0.456,0.406]) / [0.229,0.224,0.225]
    Caffe,  // BGR order, p - [103.939,116.779,123.68] (Keras VGG16 preprocess_input)
};
// Writes height*width*3 floats, channels last (HWC), computed in double and rounded once to
// float: bit-identical to the oracle's input_nchw.npy (transposed).
void image_preprocess(const Image& img, Preprocess mode, float* out_hwc);
const char* preprocess_name(Preprocess mode);          // "torch", "caffe"
Preprocess preprocess_parse(const std::string& name);  // throws on an unknown name

// PNG encoding of 8-bit pixels, row-major, channels 1 (grey), 2 (grey+alpha), 3 (RGB) or
// 4 (RGBA).
std::vector<uint8_t> png_encode(int w, int h, int channels, const uint8_t* pixels);
void png_write(const std::string& path, int w, int h, int channels, const uint8_t* pixels);

}  // namespace cnnlens
