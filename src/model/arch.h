// arch.h: what a VGG-family network is, independent of any file or engine: the layer list
// (torchvision configs A/B/D/E or any custom list), the head (`fc` or `gap`), the input, the
// preprocessing its weights expect, and the working memory a network of it needs.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "io/image.h"

namespace cnnlens {

enum class Head { Fc, Gap };

// A shortcut marker ("Clever Hans"): a size x size square of grey level `value` whose position
// says the class: positions[c] = the {row, col} of class c's top-left corner, in input pixels.
// A model trained with markers (cnnlens train --marker) carries them in its metadata
// (marker_size, marker_value, marker_positions), so anyone can stamp them and check it.
struct Marker {
    int size = 0, value = 255;
    std::vector<std::pair<int, int>> positions;
    bool empty() const { return positions.empty(); }
};
// Markers around the border of a side x side image, squares of side / 7 (4 x 4, 2% of a 28 x 28
// image) on the grid of the final 7 x 7 map: every other cell of the top row, the bottom row,
// then the left and right columns.
Marker marker_default(int side, int classes);
// Stamps class c's marker into a side x side grey image (one byte per pixel).
void stamp_marker(const Marker& m, int cls, uint8_t* grey, int side);
// The same into a square RGB image (every channel; what the network sees, before preprocessing):
// the page's "stamp a marker" and the compute module's edits. Throws on an unknown class or an
// image that is not square.
void stamp_marker(const Marker& m, int cls, Image& img);
std::string marker_positions_json(const Marker& m);   // [[r,c],...], the metadata's form
enum class Layout { Torchvision, Timm, Keras };   // where the weights came from
const char* layout_name(Layout l);                // "torchvision", "timm", "keras"

struct VggArch {
    std::vector<int> cfg;        // conv output channels in order; 0 marks a 2x2 max-pool ('M')
    int in_channels = 3;
    int input_size = 224;        // square input side
    int default_input_size = 224;  // without an image: flag > metadata > what the head implies > 224
    bool input_fixed = false;    // the size was given (flag, metadata): no other size is used
    int need_side = 0;           // fc head: the final map side its classifier takes (0: gap, any)
    Head head = Head::Fc;
    int hidden1 = 4096, hidden2 = 4096;  // fc head widths (fc1, fc2)
    int num_classes = 1000;
    bool batch_norm = false;     // the file has batch norm after each conv (folded at load)
    Layout layout = Layout::Torchvision;
    Preprocess preprocess = Preprocess::Torch;  // the default for this weight source
    float mean = 0, std = 1;     // Preprocess::MeanStd constants (metadata "mean", "std")
    std::vector<std::string> class_names;  // metadata "class_names" (a JSON list); empty = none
    std::string about;           // metadata "description" (one paragraph), shown first by describe()
    Marker marker;               // metadata marker_*: a shortcut the model was trained on (empty: none)
    std::string dataset;         // metadata "dataset" (e.g. "fashion-mnist"); empty if the file does not say

    int num_convs() const;
    int final_side() const;      // feature-map side after the last layer of cfg
    int final_channels() const;
    std::string cfg_string() const;  // "64,64,M,128,..."
    std::string describe() const;    // multi-line human summary
};

// Parses "A"/"B"/"D"/"E", "vgg11".."vgg19" or a list like "64,M,128,M" (M = 2x2 max-pool).
std::vector<int> vgg_parse_cfg(const std::string& text);
std::string cfg_string(const std::vector<int>& cfg);
int final_side(const std::vector<int>& cfg, int input_size);   // floor-halved at every pool

// The working memory of a network beyond its weights, which grows with the input size: every
// layer's output and gradient, the input and its gradient, XNNPACK's indirection buffers.
// It is checked against activation_budget() before anything is allocated (check_activation_budget):
// an input size asked for (flag, metadata) beyond it is an error, and a square image's own
// side is taken (vgg_input_size) only when it fits.
uint64_t vgg_activation_bytes(const VggArch& arch);
// 1 GiB natively (VGG16 fits up to about 600x600 inputs), 512 MiB in WebAssembly, whose 4 GiB
// address space also holds the weights.
uint64_t activation_budget();
void set_activation_budget(uint64_t bytes);
void check_activation_budget(const VggArch& arch);   // throws, naming both sizes

// The input side a network of this architecture uses for a square image of side image_side
// (0: not square or none): the image's own side when the size is not fixed, the classifier
// takes the resulting final map, and it fits the budget; otherwise arch.default_input_size.
int vgg_input_size(const VggArch& arch, int image_side);

}  // namespace cnnlens
