// image.cpp: image decoding (stb_image), PIL-exact resizing, cropping, preprocessing and
// PNG writing. See image.h for the contracts.
#include "io/image.h"

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

#include "core/error.h"
#include "core/file.h"

namespace cnnlens {

// ---------------------------------------------------------------------------- decoding

namespace {

// stb_image refuses a JPEG that stops early, but only says "expected marker". Walking the
// marker segments up to the end-of-image marker lets us say "truncated" instead (PIL
// refuses such files too). Returns true for data that is not a JPEG.
bool jpeg_is_complete(const uint8_t* d, size_t n) {
    if (n < 2 || d[0] != 0xFF || d[1] != 0xD8) return true;
    size_t pos = 2;
    while (pos < n) {
        if (d[pos] != 0xFF) {  // stray bytes between segments: skip them, as libjpeg does
            ++pos;
            continue;
        }
        while (pos < n && d[pos] == 0xFF) ++pos;  // fill bytes
        if (pos >= n) return false;
        const uint8_t marker = d[pos++];
        if (marker == 0xD9) return true;                                 // EOI
        if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;  // no length
        if (pos + 2 > n) return false;
        const size_t len = (size_t(d[pos]) << 8) | d[pos + 1];
        if (len < 2 || pos + len > n) return false;
        pos += len;
        if (marker == 0xDA) {  // SOS: skip entropy-coded data up to the next real marker
            while (pos + 1 < n &&
                   !(d[pos] == 0xFF && d[pos + 1] != 0x00 && d[pos + 1] != 0xFF &&
                     !(d[pos + 1] >= 0xD0 && d[pos + 1] <= 0xD7)))
                ++pos;
            if (pos + 1 >= n) return false;
        }
    }
    return false;
}

// The file's format from its first bytes: one of the four that are decoded, or Refused with the
// format's name (rare formats whose stb decoders had the most security bugs, and formats only
// the browser decodes), or Unknown.
enum class Format { Png, Jpeg, Bmp, Gif, Refused, Unknown };
Format sniff_format(const uint8_t* d, size_t n, const char** name) {
    auto is = [&](const char* magic, size_t at = 0) {
        size_t k = std::strlen(magic);
        return n >= at + k && std::memcmp(d + at, magic, k) == 0;
    };
    *name = nullptr;
    if (is("\x89PNG\r\n\x1a\n")) return Format::Png;
    if (n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF) return Format::Jpeg;
    if (is("BM")) return Format::Bmp;
    if (is("GIF87a") || is("GIF89a")) return Format::Gif;
    if (is("8BPS")) *name = "Photoshop (PSD)";
    else if (is("#?RADIANCE") || is("#?RGBE")) *name = "Radiance HDR";
    else if (is("\x53\x80\xf6\x34")) *name = "Softimage PIC";
    else if (n >= 3 && d[0] == 'P' && d[1] >= '1' && d[1] <= '7' && std::isspace(d[2])) *name = "PNM (PPM/PGM/PBM)";
    else if (is("RIFF") && is("WEBP", 8)) *name = "WebP";
    else if (is("ftyp", 4) && (is("avif", 8) || is("avis", 8))) *name = "AVIF";
    else if (is("II*\0") || is("MM\0*")) *name = "TIFF";
    else if (is("TRUEVISION-XFILE", n >= 18 ? n - 18 : 0)) *name = "TGA";
    return *name ? Format::Refused : Format::Unknown;
}

uint32_t be16(const uint8_t* p) { return uint32_t(p[0]) << 8 | p[1]; }
uint32_t be32(const uint8_t* p) { return be16(p) << 16 | be16(p + 2); }
uint32_t le16(const uint8_t* p) { return uint32_t(p[1]) << 8 | p[0]; }
uint32_t le32(const uint8_t* p) { return le16(p + 2) << 16 | le16(p); }

// An uncompressed BMP must hold all its rows: stb_image would read zeros past the end.
bool bmp_is_complete(const uint8_t* d, size_t n) {
    if (n < 30) return false;
    const uint32_t offset = le32(d + 10), hsz = le32(d + 14);
    int64_t w, h, bpp, compression = 0;
    if (hsz == 12) {
        w = le16(d + 18), h = le16(d + 20), bpp = le16(d + 24);
    } else {
        if (n < 34) return false;
        w = int32_t(le32(d + 18)), h = int32_t(le32(d + 22)), bpp = le16(d + 28), compression = le32(d + 30);
    }
    if (compression != 0 && compression != 3) return true;   // stb_image refuses RLE itself
    if (w < 0) w = -w;
    if (h < 0) h = -h;
    const uint64_t stride = (uint64_t(w) * uint64_t(bpp) + 31) / 32 * 4;
    return uint64_t(offset) + stride * uint64_t(h) <= n;
}

// A GIF must hold its first image's data up to the block terminator (later frames are not
// decoded): stb_image would read zeros past the end.
bool gif_is_complete(const uint8_t* d, size_t n) {
    if (n < 13) return false;
    size_t pos = 13;
    if (d[10] & 0x80) pos += size_t(3) << ((d[10] & 7) + 1);   // global colour table
    auto sub_blocks = [&]() {                                   // ends after the 0 terminator
        while (pos < n) {
            const size_t len = d[pos++];
            if (len == 0) return true;
            pos += len;
        }
        return false;
    };
    while (pos < n) {
        const uint8_t b = d[pos++];
        if (b == 0x21) {                       // extension: label, sub-blocks
            if (++pos > n || !sub_blocks()) return false;
        } else if (b == 0x2C) {                // image descriptor, local colour table, LZW size, data
            if (pos + 9 > n) return false;
            const uint8_t flags = d[pos + 8];
            pos += 9;
            if (flags & 0x80) pos += size_t(3) << ((flags & 7) + 1);
            return ++pos <= n && sub_blocks();
        } else {
            return false;                      // the trailer or junk before any image
        }
    }
    return false;
}

// The size written in the header of a PNG, JPEG, GIF or BMP file. stb_image's own
// header reader refuses sizes over 1 GB of pixels as "corrupt", so without this a huge but
// valid photo would get a misleading message instead of the size limit.
bool sniff_size(const uint8_t* d, size_t n, int64_t* w, int64_t* h) {
    if (n >= 24 && std::memcmp(d, "\x89PNG\r\n\x1a\n", 8) == 0 && std::memcmp(d + 12, "IHDR", 4) == 0) {
        *w = be32(d + 16), *h = be32(d + 20);
        return true;
    }
    if (n >= 10 && (std::memcmp(d, "GIF87a", 6) == 0 || std::memcmp(d, "GIF89a", 6) == 0)) {
        *w = le16(d + 6), *h = le16(d + 8);
        return true;
    }
    if (n >= 26 && d[0] == 'B' && d[1] == 'M') {
        if (le32(d + 14) == 12) {
            *w = le16(d + 18), *h = le16(d + 20);
        } else {
            *w = int32_t(le32(d + 18)), *h = int32_t(le32(d + 22));
            if (*h < 0) *h = -*h;  // top-down rows
        }
        return true;
    }
    if (n >= 4 && d[0] == 0xFF && d[1] == 0xD8) {  // JPEG: find the SOFn segment
        size_t pos = 2;
        while (pos + 4 <= n && d[pos] == 0xFF) {
            const uint8_t m = d[pos + 1];
            if (m == 0xFF) {  // fill byte
                ++pos;
                continue;
            }
            if (m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC) {
                if (pos + 9 > n) return false;
                *h = be16(d + pos + 5), *w = be16(d + pos + 7);
                return true;
            }
            pos += 2 + be16(d + pos + 2);
        }
    }
    return false;
}

}  // namespace

void image_check_size(int64_t w, int64_t h) {
    const double pixels = double(w) * double(h);   // header fields up to 2^32 each: no int64 product
    if (pixels > double(kMaxImagePixels))
        fail("image is %lldx%lld pixels (%.1f MP); the limit is %lld MP", (long long)w,
             (long long)h, pixels / 1e6, (long long)(kMaxImagePixels / 1'000'000));
    if (w > kMaxImageSide || h > kMaxImageSide)
        fail("image is %lldx%lld pixels; the limit is %d pixels per side", (long long)w,
             (long long)h, kMaxImageSide);
    if (w < 1 || h < 1) fail("image is %lldx%lld pixels", (long long)w, (long long)h);
}

namespace {

struct StbiFree {
    void operator()(stbi_uc* p) const { stbi_image_free(p); }
};

}  // namespace

Image image_decode(const uint8_t* data, size_t size) {
    if (size == 0) fail("cannot decode image: the data is empty (0 bytes)");
    if (size > size_t(INT_MAX)) fail("cannot decode image: %zu bytes is more than 2 GB", size);
    const int len = int(size);

    const char* refused = nullptr;
    const Format format = sniff_format(data, size, &refused);
    if (format == Format::Refused)
        fail("cannot decode image: %s images are not supported (PNG, JPEG, BMP and GIF are; the web page also "
             "reads WebP and AVIF)", refused);
    if (format == Format::Unknown)
        fail("cannot decode image (%zu bytes): not a PNG, JPEG, BMP or GIF file", size);
    // The header alone gives the size: refuse huge images before any pixel is allocated.
    int64_t sw = 0, sh = 0;
    if (sniff_size(data, size, &sw, &sh)) image_check_size(sw, sh);
    int w = 0, h = 0, comp = 0;
    if (!stbi_info_from_memory(data, len, &w, &h, &comp))
        fail("cannot decode image (%zu bytes): %s", size, stbi_failure_reason());
    if (w <= 0 || h <= 0) fail("cannot decode image: it claims a size of %dx%d pixels", w, h);
    image_check_size(w, h);
    const int64_t pixels = int64_t(w) * h;
    // Every decoded pixel must come from the file: refuse data that ends early.
    if (format == Format::Jpeg && !jpeg_is_complete(data, size))
        fail("cannot decode image: the JPEG data ends before its end-of-image marker "
             "(truncated file?)");
    if (format == Format::Bmp && !bmp_is_complete(data, size))
        fail("cannot decode image: the BMP data ends before its last row (truncated file?)");
    if (format == Format::Gif && !gif_is_complete(data, size))
        fail("cannot decode image: the GIF data ends inside its first image (truncated file?)");

    int w2 = 0, h2 = 0;
    std::unique_ptr<stbi_uc, StbiFree> px(stbi_load_from_memory(data, len, &w2, &h2, &comp, 3));
    if (!px)
        fail("cannot decode image (%dx%d): %s (corrupt or truncated data)", w, h,
             stbi_failure_reason());
    if (w2 != w || h2 != h)
        fail("cannot decode image: header says %dx%d but the decoder produced %dx%d", w, h, w2, h2);

    Image img;
    img.width = w;
    img.height = h;
    img.rgb.assign(px.get(), px.get() + size_t(pixels) * 3);
    return img;
}

Image image_load(const std::string& path) {
    const std::vector<uint8_t> buf = read_file(path, "image");
    try {
        return image_decode(buf.data(), buf.size());
    } catch (const Error& e) {
        fail("%s: %s", path.c_str(), e.what());
    }
}

// ---------------------------------------------------------------------------- resizing

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // Pillow's fixed-point precision for 8-bit images

// Pillow's precompute_coeffs() + normalize_coeffs_8bpc() for the bilinear filter and the
// full-image box: for each output index, the first input index, the tap count and ksize
// fixed-point weights. Every double operation is the one Pillow performs, in its order.
struct Coeffs {
    int ksize = 0;
    std::vector<int> bounds;  // [xmin, count] per output index
    std::vector<int32_t> k;   // ksize weights per output index
};

double bilinear_filter(double x) {
    if (x < 0.0) x = -x;
    return x < 1.0 ? 1.0 - x : 0.0;
}

Coeffs precompute_coeffs(int in_size, int out_size) {
    const double scale = double(float(in_size)) / out_size;  // Pillow: (double)(in1 - in0) / outSize
    const double filterscale = std::max(scale, 1.0);
    const double support = 1.0 * filterscale;  // bilinear support = 1
    Coeffs c;
    c.ksize = int(std::ceil(support)) * 2 + 1;
    c.bounds.resize(size_t(out_size) * 2);
    c.k.assign(size_t(out_size) * size_t(c.ksize), 0);
    std::vector<double> w(size_t(c.ksize));
    for (int xx = 0; xx < out_size; ++xx) {
        const double center = 0.0 + (xx + 0.5) * scale;
        const double ss = 1.0 / filterscale;
        int xmin = int(center - support + 0.5);  // truncation toward zero, as in C
        if (xmin < 0) xmin = 0;
        int xmax = int(center + support + 0.5);
        if (xmax > in_size) xmax = in_size;
        xmax -= xmin;
        double ww = 0.0;
        for (int x = 0; x < xmax; ++x) {
            w[size_t(x)] = bilinear_filter((x + xmin - center + 0.5) * ss);
            ww += w[size_t(x)];
        }
        int32_t* k = &c.k[size_t(xx) * size_t(c.ksize)];
        for (int x = 0; x < xmax; ++x) {
            double v = w[size_t(x)];
            if (ww != 0.0) v /= ww;
            k[x] = v < 0 ? int32_t(-0.5 + v * (1 << kPrecisionBits))
                         : int32_t(0.5 + v * (1 << kPrecisionBits));
        }
        c.bounds[size_t(xx) * 2] = xmin;
        c.bounds[size_t(xx) * 2 + 1] = xmax;
    }
    return c;
}

inline uint8_t clip8(int32_t v) {
    v >>= kPrecisionBits;  // arithmetic shift, like Pillow's clip8 lookup index
    return uint8_t(v < 0 ? 0 : v > 255 ? 255 : v);
}

}  // namespace

Image image_resize(const Image& img, int w, int h) {
    if (w <= 0 || h <= 0) fail("cannot resize to %dx%d pixels", w, h);
    if (img.width <= 0 || img.height <= 0 || img.rgb.size() != size_t(img.width) * img.height * 3)
        fail("cannot resize an empty or malformed %dx%d image", img.width, img.height);
    if (int64_t(w) * h > kMaxImagePixels || w > kMaxImageSide || h > kMaxImageSide)
        fail("cannot resize to %dx%d pixels; the limit is %lld MP and %d pixels per side", w, h,
             (long long)(kMaxImagePixels / 1'000'000), kMaxImageSide);
    if (w == img.width && h == img.height) return img;

    const Coeffs cx = precompute_coeffs(img.width, w);
    const Coeffs cy = precompute_coeffs(img.height, h);

    // Horizontal pass (only over the rows the vertical pass reads), rounded to uint8.
    Image tmp;
    const Image* src = &img;
    int row0 = 0;
    if (w != img.width) {
        row0 = cy.bounds[0];
        const int row_end = cy.bounds[size_t(h) * 2 - 2] + cy.bounds[size_t(h) * 2 - 1];
        tmp.width = w;
        tmp.height = row_end - row0;
        tmp.rgb.resize(size_t(tmp.width) * tmp.height * 3);
        for (int y = 0; y < tmp.height; ++y) {
            const uint8_t* in = &img.rgb[size_t(y + row0) * img.width * 3];
            uint8_t* out = &tmp.rgb[size_t(y) * w * 3];
            for (int xx = 0; xx < w; ++xx) {
                const int xmin = cx.bounds[size_t(xx) * 2], n = cx.bounds[size_t(xx) * 2 + 1];
                const int32_t* k = &cx.k[size_t(xx) * size_t(cx.ksize)];
                int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
                for (int x = 0; x < n; ++x) {
                    const uint8_t* p = in + size_t(x + xmin) * 3;
                    s0 += p[0] * k[x];
                    s1 += p[1] * k[x];
                    s2 += p[2] * k[x];
                }
                out[xx * 3 + 0] = clip8(s0);
                out[xx * 3 + 1] = clip8(s1);
                out[xx * 3 + 2] = clip8(s2);
            }
        }
        src = &tmp;
    }
    if (h == img.height) return tmp;  // only the width changed: no vertical pass (as Pillow)

    // Vertical pass.
    Image out;
    out.width = w;
    out.height = h;
    out.rgb.resize(size_t(w) * h * 3);
    const size_t stride = size_t(w) * 3;
    for (int yy = 0; yy < h; ++yy) {
        const int ymin = cy.bounds[size_t(yy) * 2] - row0, n = cy.bounds[size_t(yy) * 2 + 1];
        const int32_t* k = &cy.k[size_t(yy) * size_t(cy.ksize)];
        uint8_t* o = &out.rgb[size_t(yy) * stride];
        for (size_t i = 0; i < stride; ++i) {
            int32_t s = 1 << (kPrecisionBits - 1);
            for (int y = 0; y < n; ++y) s += src->rgb[size_t(y + ymin) * stride + i] * k[y];
            o[i] = clip8(s);
        }
    }
    return out;
}

// ---------------------------------------------------------------------------- cropping

namespace {

Image crop(const Image& img, int left, int top, int w, int h) {
    Image out;
    out.width = w;
    out.height = h;
    out.rgb.resize(size_t(w) * h * 3);
    for (int y = 0; y < h; ++y)
        std::memcpy(&out.rgb[size_t(y) * w * 3], &img.rgb[(size_t(y + top) * img.width + left) * 3],
                    size_t(w) * 3);
    return out;
}

// Python's int(round(d / 2.0)) for an integer d >= 0: halves go to the even neighbour.
int half_round_even(int d) {
    const int q = d / 2;
    return (d % 2 == 0 || q % 2 == 0) ? q : q + 1;
}

}  // namespace

Image image_from_grey(int w, int h, const uint8_t* grey) {
    Image out;
    out.width = w, out.height = h;
    out.rgb.resize(size_t(w) * h * 3);
    for (size_t i = 0; i < size_t(w) * h; i++) out.rgb[i * 3] = out.rgb[i * 3 + 1] = out.rgb[i * 3 + 2] = grey[i];
    return out;
}

Image image_zoom(const Image& img, int factor) {
    if (factor < 1 || int64_t(img.width) * factor * img.height * factor > kMaxImagePixels)
        fail("cannot enlarge a %dx%d image %d times", img.width, img.height, factor);
    if (factor == 1) return img;
    Image out;
    out.width = img.width * factor, out.height = img.height * factor;
    out.rgb.resize(size_t(out.width) * out.height * 3);
    for (int y = 0; y < out.height; y++)
        for (int x = 0; x < out.width; x++)
            std::memcpy(&out.rgb[(size_t(y) * out.width + x) * 3], &img.rgb[(size_t(y / factor) * img.width + x / factor) * 3], 3);
    return out;
}

Image image_center_crop(const Image& img, int w, int h) {
    if (w <= 0 || h <= 0 || w > img.width || h > img.height)
        fail("cannot crop %dx%d pixels out of a %dx%d image", w, h, img.width, img.height);
    return crop(img, half_round_even(img.width - w), half_round_even(img.height - h), w, h);
}

Image image_center_square(const Image& img) {
    if (img.width <= 0 || img.height <= 0) fail("cannot crop an empty image");
    const int s = std::min(img.width, img.height);
    return crop(img, (img.width - s) / 2, (img.height - s) / 2, s, s);
}

uint8_t luma(uint8_t r, uint8_t g, uint8_t b) {
    return (uint8_t)((19595u * r + 38470u * g + 7471u * b + 32768u) >> 16);
}

Image image_object_fit(const Image& img, int size) {
    if (size <= 0) fail("invalid input size %d", size);
    const int W = img.width, H = img.height;
    if (W <= 0 || H <= 0 || img.rgb.size() != size_t(W) * H * 3) fail("cannot fit a malformed %dx%d image", W, H);
    std::vector<uint8_t> g(size_t(W) * H);
    for (size_t i = 0; i < g.size(); i++) g[i] = luma(img.rgb[i * 3], img.rgb[i * 3 + 1], img.rgb[i * 3 + 2]);
    // the background: the median of a border ring
    const int ring = std::max(1, std::min(W, H) / 20);
    std::vector<uint8_t> border;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++)
            if (y < ring || y >= H - ring || x < ring || x >= W - ring) border.push_back(g[size_t(y) * W + x]);
    std::nth_element(border.begin(), border.begin() + border.size() / 2, border.end());
    int bg = border[border.size() / 2];
    if (bg > 127) {
        for (uint8_t& v : g) v = 255 - v;
        bg = 255 - bg;
    }
    if (W == size && H == size) return image_from_grey(W, H, g.data());
    // background to 0, brightest to 255; then the box of the object
    const int hi = *std::max_element(g.begin(), g.end());
    const double gain = 255.0 / std::max(1, hi - bg);
    int x0 = W, y0 = H, x1 = -1, y1 = -1;
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            uint8_t& v = g[size_t(y) * W + x];
            v = (uint8_t)std::clamp((int)std::lround((v - bg) * gain), 0, 255);
            if (v > 32) x0 = std::min(x0, x), x1 = std::max(x1, x), y0 = std::min(y0, y), y1 = std::max(y1, y);
        }
    if (x1 < 0) x0 = 0, y0 = 0, x1 = W - 1, y1 = H - 1;  // nothing stands out: keep it all
    const Image obj = crop(image_from_grey(W, H, g.data()), x0, y0, x1 - x0 + 1, y1 - y0 + 1);
    const bool wide = obj.width >= obj.height;
    const int l = wide ? obj.width : obj.height, s = wide ? obj.height : obj.width;
    const int rs = std::max(1, (int)std::lround((double)s * size / l));
    const Image fit = wide ? image_resize(obj, size, rs) : image_resize(obj, rs, size);
    Image out;
    out.width = out.height = size;
    out.rgb.assign(size_t(size) * size * 3, 0);
    const int ox = (size - fit.width) / 2, oy = (size - fit.height) / 2;
    for (int y = 0; y < fit.height; y++)
        std::memcpy(&out.rgb[(size_t(y + oy) * size + ox) * 3], &fit.rgb[size_t(y) * fit.width * 3], size_t(fit.width) * 3);
    return out;
}

Image image_fit(const Image& img, int size, ResizeMode mode) {
    if (size <= 0) fail("invalid input size %d", size);
    if (mode == ResizeMode::Object) return image_object_fit(img, size);
    if (img.width == size && img.height == size) return img;
    switch (mode) {
    case ResizeMode::Exact:
        fail("the image is %dx%d but the network needs exactly %dx%d (resize mode 'exact'; "
             "choose another resize mode to resize it)",
             img.width, img.height, size, size);
    case ResizeMode::CropTorchvision: {
        // torchvision Resize(r): the shorter side becomes r, the longer int(r * long / short).
        const int r = (16 * size + 7) / 14;  // round(size * 256 / 224); never a tie
        const bool wide = img.width > img.height;
        const int s = wide ? img.height : img.width, l = wide ? img.width : img.height;
        const int rl = int(int64_t(r) * l / s);
        const Image resized = wide ? image_resize(img, rl, r) : image_resize(img, r, rl);
        return image_center_crop(resized, size, size);
    }
    case ResizeMode::Squash:
        return image_resize(img, size, size);
    case ResizeMode::CenterSquare:
        return image_resize(image_center_square(img), size, size);
    case ResizeMode::Object:
        break;
    }
    fail("unknown resize mode");
}

const char* resize_mode_name(ResizeMode mode) {
    switch (mode) {
    case ResizeMode::Exact: return "exact";
    case ResizeMode::CropTorchvision: return "resize-crop";
    case ResizeMode::Squash: return "squash";
    case ResizeMode::CenterSquare: return "center-square";
    case ResizeMode::Object: return "object";
    }
    return "?";
}

ResizeMode resize_mode_parse(const std::string& name) {
    for (ResizeMode m : {ResizeMode::Exact, ResizeMode::CropTorchvision, ResizeMode::Squash,
                         ResizeMode::CenterSquare, ResizeMode::Object})
        if (name == resize_mode_name(m)) return m;
    fail("unknown resize mode '%s' (expected exact, resize-crop, squash, center-square or object)",
         name.c_str());
}

// ---------------------------------------------------------------------------- painting

void image_paint(Image& img, const std::vector<float>& xy, float radius, const uint8_t rgb[3]) {
    if (xy.size() < 2 || !(radius > 0) || !std::isfinite(radius)) return;
    for (float v : xy)   // points from the page: no float -> int conversion out of range below
        if (!std::isfinite(v) || std::fabs(v) > 1e6f) return;
    radius = std::min(radius, 1e6f);
    const size_t n = xy.size() / 2;
    for (size_t s = 0; s < n; s++) {   // segment s: point s to point s + 1 (the last: a dot)
        const float ax = xy[2 * s], ay = xy[2 * s + 1];
        const float bx = s + 1 < n ? xy[2 * s + 2] : ax, by = s + 1 < n ? xy[2 * s + 3] : ay;
        const float dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy;
        const int x0 = std::max(0, (int)std::floor(std::min(ax, bx) - radius)),
                  x1 = std::min(img.width - 1, (int)std::ceil(std::max(ax, bx) + radius));
        const int y0 = std::max(0, (int)std::floor(std::min(ay, by) - radius)),
                  y1 = std::min(img.height - 1, (int)std::ceil(std::max(ay, by) + radius));
        for (int y = y0; y <= y1; y++)
            for (int x = x0; x <= x1; x++) {
                const float px = x + 0.5f - ax, py = y + 0.5f - ay;
                const float t = len2 > 0 ? std::clamp((px * dx + py * dy) / len2, 0.0f, 1.0f) : 0.0f;
                const float ex = px - t * dx, ey = py - t * dy;
                if (ex * ex + ey * ey <= radius * radius)
                    for (int k = 0; k < 3; k++) img.rgb[((size_t)y * img.width + x) * 3 + k] = rgb[k];
            }
    }
}

// ---------------------------------------------------------------------------- preprocessing

void image_preprocess(const Image& img, Preprocess mode, float* out_hwc) {
    if (img.rgb.size() != size_t(img.width) * img.height * 3)
        fail("cannot preprocess a malformed %dx%d image", img.width, img.height);
    if (mode == Preprocess::MeanStd) fail("mean_std preprocessing needs the model's constants (image_preprocess_grey)");
    // One float per (output channel, byte value), each computed exactly as the oracle does:
    // torch (p / 255.0 - mean) / std, caffe p - mean_bgr, in double, then rounded to float.
    static const double kTorchMean[3] = {0.485, 0.456, 0.406};
    static const double kTorchStd[3] = {0.229, 0.224, 0.225};
    static const double kCaffeMeanBgr[3] = {103.939, 116.779, 123.68};
    float table[3][256];
    int src_channel[3];
    for (int c = 0; c < 3; ++c) {
        src_channel[c] = mode == Preprocess::Torch ? c : 2 - c;  // caffe reads B, G, R
        for (int v = 0; v < 256; ++v) {
            const double p = v;
            table[c][v] = mode == Preprocess::Torch ? float((p / 255.0 - kTorchMean[c]) / kTorchStd[c])
                                                    : float(p - kCaffeMeanBgr[c]);
        }
    }
    const size_t n = size_t(img.width) * img.height;
    for (size_t i = 0; i < n; ++i)
        for (int c = 0; c < 3; ++c) out_hwc[i * 3 + c] = table[c][img.rgb[i * 3 + src_channel[c]]];
}

void image_preprocess_grey(const Image& img, float mean, float std, float* out) {
    if (img.rgb.size() != size_t(img.width) * img.height * 3)
        fail("cannot preprocess a malformed %dx%d image", img.width, img.height);
    if (!(std > 0)) fail("invalid preprocessing std %g", (double)std);
    float table[256];
    for (int v = 0; v < 256; ++v) table[v] = float((v / 255.0 - mean) / std);
    for (size_t i = 0, n = size_t(img.width) * img.height; i < n; ++i)
        out[i] = table[luma(img.rgb[i * 3], img.rgb[i * 3 + 1], img.rgb[i * 3 + 2])];
}

const char* preprocess_name(Preprocess mode) {
    return mode == Preprocess::Torch ? "torch" : mode == Preprocess::Caffe ? "caffe" : "mean_std";
}

Preprocess preprocess_parse(const std::string& name) {
    if (name == "torch") return Preprocess::Torch;
    if (name == "caffe") return Preprocess::Caffe;
    if (name == "mean_std") return Preprocess::MeanStd;
    fail("unknown preprocessing '%s' (expected torch, caffe or mean_std)", name.c_str());
}

// ---------------------------------------------------------------------------- PNG

std::vector<uint8_t> png_encode(int w, int h, int channels, const uint8_t* pixels) {
    if (w <= 0 || h <= 0 || channels < 1 || channels > 4 || !pixels)
        fail("cannot encode a PNG of %dx%d pixels with %d channels", w, h, channels);
    if (int64_t(w) * channels > INT_MAX / 2 || int64_t(w) * h > kMaxImagePixels)
        fail("cannot encode a PNG of %dx%d pixels: too large", w, h);
    std::vector<uint8_t> out;
    auto append = [](void* ctx, void* data, int n) {
        auto* v = static_cast<std::vector<uint8_t>*>(ctx);
        const auto* b = static_cast<const uint8_t*>(data);
        v->insert(v->end(), b, b + n);
    };
    if (!stbi_write_png_to_func(append, &out, w, h, channels, pixels, w * channels))
        fail("PNG encoding of a %dx%d image failed", w, h);
    return out;
}

void png_write(const std::string& path, int w, int h, int channels, const uint8_t* pixels) {
    write_file(path, png_encode(w, h, channels, pixels));
}

}  // namespace cnnlens
