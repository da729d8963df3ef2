// tools.h: tools that test an explanation instead of drawing it ("is the network cheating?").
//
//   occlusion     slide a mean-filled patch over the input: how much does the class lose?
//   faithfulness  delete (or insert) the pixels a map ranks first: does the class fall (rise) fast?
//   sanity        randomise the weights from the top down: does the map change, as it should?
//   pointing      how much of a map's positive mass lies on the object, and does its peak?
//
// Every tool runs on a forwarded network (Vgg::forward on the image), uses the explain service
// for the maps it judges, and leaves the network forwarded on the same input. Costly tools
// report (done, total) through `progress`; throwing from it cancels.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "explain/methods.h"

namespace cnnlens {

using Progress = std::function<void(int done, int total)>;

enum class Tool { Occlusion, Faithfulness, Sanity, Pointing };
struct ToolInfo {
    Tool id;
    const char* name;    // "occlusion": the CLI command, the page's API and URL parameter
    const char* label;   // "Occlusion": the page
    const char* about;   // one line
};
const std::vector<ToolInfo>& tools();   // the one list of tools; the CLI and the page read it
const ToolInfo* tool_find(const std::string& name);
const ToolInfo& tool_info(Tool t);

// ---------------------------------------------------------------------------- occlusion

// Zeiler & Fergus 2014: a patch x patch square of the blank value (model/predict.h: the
// preprocessing mean, 0 after preprocessing; black for Fashion-MNIST-like models) at every position y, x = 0, stride, 2 stride, ... while position + patch <= side; the map is the
// drop of the class's softmax probability (prob) and of its logit (logit) there, [ny][nx].
struct Occlusion {
    int ny = 0, nx = 0, patch = 0, stride = 0;
    std::vector<float> prob, logit;
};
// patch 0, stride 0: occlusion_defaults() for the input size. brute_force: one whole forward pass per position (the
// reference); otherwise only what each patch changes is recomputed (the same numbers).
// The default patch and stride for a side x side input (the CLI's and the page's): the patch
// side / 7 rounded to a multiple of 2 (at least 2), unless given; the stride 1 up to 64 px inputs
// (every position: cheap there, a 28x28 input gives a 25x25 map), else patch / 2 (224: patch 32,
// stride 16, 13x13 positions).
struct OcclusionDefaults {
    int patch, stride;
};
OcclusionDefaults occlusion_defaults(int side, int patch = 0);
Occlusion occlusion(Vgg& net, int cls, int patch = 0, int stride = 0, bool brute_force = false,
                    const Progress& progress = nullptr);

// ---------------------------------------------------------------------------- faithfulness

// Petsiuk et al. 2018 (RISE): the input pixels ranked by a map (upsampled bilinearly to the input,
// highest first, ties by lower index); in `steps` equal steps the top-ranked pixels are set to the
// blank value (deletion) or, from an all-blank image, restored (insertion); the class probability after
// each of the steps + 1 points (fraction = step / steps of the pixels, k = step * pixels / steps
// rounded down); areas under the curves by the trapezoid rule over fraction.
struct Faithfulness {
    std::vector<double> fraction, deletion, insertion;
    double deletion_auc = 0, insertion_auc = 0;
};
// The pixel ranking of a map (h x w, upsampled to side x side): indices, highest value first.
std::vector<int> rank_pixels(const std::vector<float>& map, int h, int w, int side);
// A random ranking (the baseline a map should beat), seeded.
std::vector<int> random_ranking(int pixels, uint64_t seed);
Faithfulness faithfulness(Vgg& net, int cls, const std::vector<int>& ranking, int steps,
                          const Progress& progress = nullptr);
// The CSV: step,fraction,deletion_prob,insertion_prob, one row per point, then a last row
// "auc,,<deletion AUC>,<insertion AUC>".
std::string faithfulness_csv(const Faithfulness& f);

// What a map ranks pixels by: a layer map as it is (h x w), an input-space map per pixel as the
// sum over channels of |value| (side x side).
std::vector<float> map_magnitude(const ExplainResult& r);

// ---------------------------------------------------------------------------- sanity

// Adebayo et al. 2018, cascading randomisation: step 0 is the trained network; step s
// re-initialises the s layers with weights nearest the output (predictions first, then fc2, fc1,
// the last conv, ...) with the training code's rule (convs He-normal, linear N(0, 0.01^2), zero
// biases; seeded), and each method's map at `layer` for `cls` is compared with step 0's by
// Spearman's rank correlation (input-space maps: per pixel, the sum over channels of |value|).
struct SanityRow {
    int step = 0;
    std::string randomised_to;   // the lowest layer re-initialised so far ("none" at step 0)
    std::string method;
    double spearman = 1;
};
struct Sanity {
    std::vector<SanityRow> rows;
    std::vector<std::vector<ExplainResult>> maps;   // [step][method]: the maps themselves
    std::vector<Method> methods;
    // Methods whose map keeps a Spearman correlation above 0.5 after every layer above `layer`
    // is randomised: their map does not depend on what the network learned there.
    std::vector<std::string> survivors;
};
// The methods compared: every cheap method of the table that runs at this layer (the input
// gradients too). input: the preprocessed image (HWC) the network was forwarded on.
Sanity sanity(const Vgg& net, const std::vector<float>& input, int cls, const LayerInfo& layer, uint64_t seed,
              const Progress& progress = nullptr);
std::string sanity_csv(const Sanity& s);   // step,randomised_to,method,spearman

// ---------------------------------------------------------------------------- pointing game

// How a map (h x w, upsampled to the mask's side) sits on an object mask (side x side, 1 = object):
// the share of its positive mass inside (energy-based pointing game, Wang et al. 2020; -1 when
// it has no positive mass) and whether its maximum falls inside (pointing game, Zhang et al. 2016).
struct Pointing {
    double energy_inside = -1;
    bool max_inside = false;
};
Pointing pointing(const std::vector<float>& map, int h, int w, const std::vector<uint8_t>& mask, int side);
// The object in an image a model saw: for models of objects on a black background (Fashion-MNIST)
// its non-black pixels, as `cnnlens eval` measures CAM on the garment; empty for others (the user
// marks the object). fitted: the input image at the model's input size.
std::vector<uint8_t> default_object_mask(const Image& fitted, const VggArch& arch);

}  // namespace cnnlens
