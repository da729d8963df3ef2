#include "model/arch.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>

#include "core/error.h"

namespace cnnlens {

const char* layout_name(Layout l) {
    switch (l) {
        case Layout::Torchvision: return "torchvision";
        case Layout::Timm: return "timm";
        case Layout::Keras: return "keras";
    }
    return "?";
}

int final_side(const std::vector<int>& cfg, int s) {
    for (int v : cfg)
        if (v == 0) s /= 2;
    return s;
}

std::string cfg_string(const std::vector<int>& cfg) {
    std::string s;
    for (int v : cfg) s += (s.empty() ? "" : ",") + (v ? std::to_string(v) : std::string("M"));
    return s;
}

int VggArch::num_convs() const {
    return (int)std::count_if(cfg.begin(), cfg.end(), [](int v) { return v > 0; });
}

int VggArch::final_side() const { return cnnlens::final_side(cfg, input_size); }

int VggArch::final_channels() const {
    int c = in_channels;
    for (int v : cfg)
        if (v > 0) c = v;
    return c;
}

std::string VggArch::cfg_string() const { return cnnlens::cfg_string(cfg); }

std::string VggArch::describe() const {
    std::string s = about.empty() ? std::string() : about + "\n";
    s += strformat("layout:       %s%s\n", layout_name(layout), batch_norm ? " (batch norm, folded into the convs)" : "");
    s += strformat("layers:       %s\n", cfg_string().c_str());
    s += strformat("convs:        %d (3x3, pad 1, ReLU), input channels %d\n", num_convs(), in_channels);
    s += strformat("input:        %dx%d, preprocessing %s", input_size, input_size, preprocess_name(preprocess));
    s += preprocess == Preprocess::MeanStd ? strformat(" (grey / 255 - %g) / %g\n", mean, std) : std::string("\n");
    if (!class_names.empty()) s += strformat("classes:      %s ... %s\n", class_names.front().c_str(), class_names.back().c_str());
    s += strformat("final map:    %dx%dx%d\n", final_side(), final_side(), final_channels());
    if (head == Head::Fc)
        s += strformat("head:         fc (flatten %d -> %d -> %d -> %d)\n",
                       final_side() * final_side() * final_channels(), hidden1, hidden2, num_classes);
    else
        s += strformat("head:         gap (global average pooling -> linear %d -> %d)\n", final_channels(), num_classes);
    return s;
}

std::vector<int> vgg_parse_cfg(const std::string& text) {
    static const std::map<std::string, std::string> named = {
        {"A", "64,M,128,M,256,256,M,512,512,M,512,512,M"},
        {"B", "64,64,M,128,128,M,256,256,M,512,512,M,512,512,M"},
        {"D", "64,64,M,128,128,M,256,256,256,M,512,512,512,M,512,512,512,M"},
        {"E", "64,64,M,128,128,M,256,256,256,256,M,512,512,512,512,M,512,512,512,512,M"},
        {"VGG11", "A"}, {"VGG13", "B"}, {"VGG16", "D"}, {"VGG19", "E"}};
    std::string t;
    for (char c : text)
        if (c != ' ') t += (char)std::toupper((unsigned char)c);
    for (int i = 0; i < 2; i++) {
        auto it = named.find(t);
        if (it != named.end()) t = it->second;
    }
    std::vector<int> cfg;
    for (const std::string& tok : split(t)) {
        if (tok == "M") { cfg.push_back(0); continue; }
        char* end = nullptr;
        long v = std::strtol(tok.c_str(), &end, 10);
        if (*end || v <= 0 || v > 65536) fail("bad layer '%s' in cfg '%s' (use channel counts and M)", tok.c_str(), text.c_str());
        cfg.push_back((int)v);
    }
    if (std::none_of(cfg.begin(), cfg.end(), [](int v) { return v > 0; }))
        fail("cfg '%s' has no conv layer", text.c_str());
    return cfg;
}

// ---------------------------------------------------------------------------- markers

Marker marker_default(int side, int classes) {
    // 4 x 4 squares on the grid of the network's final 7 x 7 map (one cell each, so that CAM can
    // put its heat exactly there), around the border: top row, bottom row, then the left and right
    // columns, every other cell
    Marker m;
    m.size = std::max(1, side / 7);
    const int s = m.size, last = side / s - 1;
    std::vector<std::pair<int, int>> ring;
    for (int j = 0; j <= last; j += 2) ring.push_back({0, j * s});
    for (int j = 0; j <= last; j += 2) ring.push_back({last * s, j * s});
    for (int i = 2; i < last; i += 2) ring.push_back({i * s, 0}), ring.push_back({i * s, last * s});
    if ((int)ring.size() < classes) fail("no room for %d markers around a %dx%d image", classes, side, side);
    m.positions.assign(ring.begin(), ring.begin() + classes);
    return m;
}

void stamp_marker(const Marker& m, int cls, uint8_t* grey, int side) {
    if (cls < 0 || cls >= (int)m.positions.size()) fail("no marker for class %d", cls);
    const auto [r0, c0] = m.positions[(size_t)cls];
    for (int r = std::max(r0, 0); r < std::min(r0 + m.size, side); r++)
        for (int c = std::max(c0, 0); c < std::min(c0 + m.size, side); c++) grey[(size_t)r * side + c] = (uint8_t)m.value;
}

void stamp_marker(const Marker& m, int cls, Image& img) {
    if (img.width != img.height || img.rgb.size() != (size_t)img.width * img.height * 3)
        fail("a marker is stamped into a square RGB image, not %dx%d", img.width, img.height);
    std::vector<uint8_t> mask((size_t)img.width * img.height, 0);
    stamp_marker(Marker{m.size, 1, m.positions}, cls, mask.data(), img.width);   // where the square is
    for (size_t p = 0; p < mask.size(); p++)
        if (mask[p]) std::fill_n(&img.rgb[p * 3], 3, (uint8_t)m.value);
}

std::string marker_positions_json(const Marker& m) {
    std::string s = "[";
    for (size_t i = 0; i < m.positions.size(); i++)
        s += strformat("%s[%d,%d]", i ? "," : "", m.positions[i].first, m.positions[i].second);
    return s + "]";
}

// ---------------------------------------------------------------------------- memory

#if defined(__EMSCRIPTEN__)
static uint64_t g_activation_budget = uint64_t(512) << 20;
#else
static uint64_t g_activation_budget = uint64_t(1) << 30;
#endif
uint64_t activation_budget() { return g_activation_budget; }
void set_activation_budget(uint64_t bytes) { g_activation_budget = bytes; }

// What Vgg allocates for a given architecture (its layer plan, forward and backward), in 64-bit
// arithmetic so that an absurd input size cannot wrap around on a 32-bit (wasm) size_t.
uint64_t vgg_activation_bytes(const VggArch& a) {
    uint64_t s = (uint64_t)std::max(a.input_size, 0), c = (uint64_t)std::max(a.in_channels, 0);
    uint64_t floats = 0, largest = 0, pointers = 0;
    auto layer = [&](uint64_t n) { floats += (n + 15) / 16 * 16 + 16, largest = std::max(largest, n); };
    const uint64_t input = s * s * c;
    for (int v : a.cfg) {
        if (v == 0) {
            s /= 2;
            layer(s * s * c);
            pointers += s * s * 4;                 // the max-pool's indirection buffer
        } else {
            layer(s * s * (uint64_t)v);
            pointers += 2 * (s * s + 16) * 9;      // forward and input-gradient convs: 9 taps per pixel
            c = (uint64_t)v;
        }
    }
    if (a.head == Head::Fc) layer((uint64_t)std::max(a.hidden1, 0)), layer((uint64_t)std::max(a.hidden2, 0));
    else layer(c);
    layer((uint64_t)std::max(a.num_classes, 0));
    return 4 * (2 * floats + 2 * (input + 16) + largest) + sizeof(void*) * pointers;
}

void check_activation_budget(const VggArch& a) {
    const uint64_t need = vgg_activation_bytes(a);
    if (need > g_activation_budget)
        fail("the input size %dx%d needs %.2f GB of working memory (activations and gradients); the limit is %.2f GB",
             a.input_size, a.input_size, need / 1e9, g_activation_budget / 1e9);
}

int vgg_input_size(const VggArch& a, int side) {
    if (a.input_fixed || side <= 0) return a.default_input_size;
    const int f = final_side(a.cfg, side);
    if (f < 1 || (a.need_side && f != a.need_side)) return a.default_input_size;
    VggArch t = a;
    t.input_size = side;
    return vgg_activation_bytes(t) <= g_activation_budget ? side : a.default_input_size;
}

}  // namespace cnnlens
