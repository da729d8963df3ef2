// tools.cpp: occlusion, faithfulness curves, the sanity check and the pointing game (tools.h).
#include "explain/tools.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/rng.h"
#include "explain/explain.h"
#include "model/predict.h"

namespace cnnlens {

namespace {

// Softmax probability of class c from the logits, in double.
double prob_of(const Vgg& net, int c) {
    const float* l = net.logits();
    const int n = net.num_classes();
    const double mx = *std::max_element(l, l + n);
    double sum = 0;
    for (int i = 0; i < n; i++) sum += std::exp((double)l[i] - mx);
    return std::exp((double)l[c] - mx) / sum;
}

void check_class(const Vgg& net, int c) {
    if (c < 0 || c >= net.num_classes()) fail("class %d is out of range (0..%d)", c, net.num_classes() - 1);
}

std::vector<float> input_copy(const Vgg& net) {
    const VggArch& a = net.arch();
    return std::vector<float>(net.input(), net.input() + (size_t)a.input_size * a.input_size * a.in_channels);
}

}  // namespace

const std::vector<ToolInfo>& tools() {
    static const std::vector<ToolInfo> table = {
        {Tool::Occlusion, "occlusion", "Occlusion",
         "hide each part of the image in turn: where does the class lose most? (Zeiler & Fergus 2014)"},
        {Tool::Faithfulness, "faithfulness", "Faithfulness",
         "delete (insert) the pixels a map ranks first: does the class fall (rise) faster than at random? (Petsiuk "
         "et al. 2018)"},
        {Tool::Sanity, "sanity", "Sanity check",
         "randomise the weights from the top down: a map that stays the same does not show what was learned "
         "(Adebayo et al. 2018)"},
        {Tool::Pointing, "pointing", "Pointing game",
         "how much of a map's heat lies on the object, and whether its peak does"},
    };
    return table;
}

const ToolInfo& tool_info(Tool t) {
    for (const ToolInfo& i : tools())
        if (i.id == t) return i;
    CNN_ASSERT(false);
}

const ToolInfo* tool_find(const std::string& name) {
    for (const ToolInfo& t : tools())
        if (name == t.name) return &t;
    return nullptr;
}

// ---------------------------------------------------------------------------- occlusion

OcclusionDefaults occlusion_defaults(int side, int patch) {
    if (patch <= 0) patch = std::max(2, (int)std::lround(side / 7.0 / 2) * 2);
    return {patch, side <= 64 ? 1 : std::max(1, patch / 2)};
}

Occlusion occlusion(Vgg& net, int cls, int patch, int stride, bool brute_force, const Progress& progress) {
    check_class(net, cls);
    const int S = net.arch().input_size, C = net.arch().in_channels;
    const OcclusionDefaults d = occlusion_defaults(S, patch);
    patch = d.patch;
    if (stride <= 0) stride = d.stride;
    if (patch > S) fail("the occlusion patch (%d px) is larger than the input (%d px)", patch, S);
    Occlusion o;
    o.patch = patch, o.stride = stride;
    o.ny = o.nx = (S - patch) / stride + 1;
    o.prob.resize((size_t)o.ny * o.nx), o.logit.resize(o.prob.size());
    const std::vector<float> x = input_copy(net);
    // The convolutions for batched work (Winograd in more layers of small models; conv3x3_algo), for
    // the fast path and the brute force alike, so that both give the same bits; as built again after.
    const bool switched = net.batched_convs(true);
    if (switched) net.forward(x.data());
    const double p0 = prob_of(net, cls), l0 = net.logits()[cls];
    std::vector<float> xi(x.size());   // brute force: the occluded input (patch_read writes it whole)
    const float blank = blank_value(net.arch());
    // The fast path runs kBatch positions at a time through the network (Vgg::forward_patches:
    // only what each patch reaches, the positions through each convolution together), then the head
    // on kHeadBatch positions at once (VGG16's fc6, 411 MB, is read once for all of them).
    constexpr int kBatch = 16, kHeadBatch = 48;
    const LayerInfo& hi = net.head_input();
    const int K = net.num_classes(), n = o.ny * o.nx;
    std::vector<float> blank_patch((size_t)patch * patch * C + 16, blank), maps, logits;
    std::vector<Patch> edits;
    auto restore = [&] {
        if (switched) net.batched_convs(false);
        if (switched || brute_force) net.forward(x.data());
    };
    try {
        for (int first = 0; first < n; first += brute_force ? 1 : kHeadBatch) {
            const int count = brute_force ? 1 : std::min(kHeadBatch, n - first);
            edits.clear();
            for (int pos = first; pos < first + count; pos++) {
                const int y = pos / o.nx * stride, x0 = pos % o.nx * stride;
                edits.push_back({y, x0, y + patch, x0 + patch, blank_patch.data()});
            }
            logits.resize((size_t)count * K);
            if (brute_force) {
                if (progress) progress(first, n);
                const Patch& e = edits[0];
                patch_read(x.data(), S, S, C, e, 0, 0, S, S, xi.data());
                net.forward(xi.data());
                std::copy(net.logits(), net.logits() + K, logits.begin());
            } else {
                maps.resize((size_t)count * hi.size());
                for (int j = 0; j < count; j += kBatch) {
                    if (progress) progress(first + j, n);
                    net.forward_patches(&edits[(size_t)j], std::min(kBatch, count - j), &maps[(size_t)j * hi.size()]);
                }
                net.head_batch(maps.data(), count, logits.data());
            }
            for (int j = 0; j < count; j++) {   // the drops
                const float* l = &logits[(size_t)j * K];
                const double mx = *std::max_element(l, l + K);
                double sum = 0;
                for (int c = 0; c < K; c++) sum += std::exp((double)l[c] - mx);
                o.prob[(size_t)(first + j)] = (float)(p0 - std::exp((double)l[cls] - mx) / sum);
                o.logit[(size_t)(first + j)] = (float)(l0 - l[cls]);
            }
        }
    } catch (...) {   // cancelled: the network as it was (the fast path leaves it as it is)
        restore();
        throw;
    }
    restore();
    return o;
}

// ---------------------------------------------------------------------------- faithfulness

std::vector<int> rank_pixels(const std::vector<float>& map, int h, int w, int side) {
    CNN_ASSERT(map.size() == (size_t)h * w);
    std::vector<float> up((size_t)side * side);
    upsample_bilinear(map.data(), h, w, side, side, up.data());
    std::vector<int> idx(up.size());
    std::iota(idx.begin(), idx.end(), 0);
    std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return up[(size_t)a] > up[(size_t)b]; });
    return idx;
}

std::vector<int> random_ranking(int pixels, uint64_t seed) {
    std::vector<int> idx((size_t)pixels);
    std::iota(idx.begin(), idx.end(), 0);
    Rng rng(seed);
    for (int i = pixels - 1; i > 0; i--) std::swap(idx[(size_t)i], idx[rng.below((uint32_t)i + 1)]);   // Fisher-Yates
    return idx;
}

Faithfulness faithfulness(Vgg& net, int cls, const std::vector<int>& ranking, int steps, const Progress& progress) {
    check_class(net, cls);
    const int S = net.arch().input_size, C = net.arch().in_channels, P = S * S;
    if ((int)ranking.size() != P) fail("a pixel ranking of %zu pixels for a %dx%d input", ranking.size(), S, S);
    if (steps < 1 || steps > P) fail("faithfulness steps must be 1..%d, got %d", P, steps);
    const std::vector<float> x = input_copy(net);
    const float blank = blank_value(net.arch());
    std::vector<float> del = x, ins(x.size(), blank);
    Faithfulness f;
    try {
        int done = 0;   // pixels moved so far
        for (int i = 0; i <= steps; i++) {
            if (progress) progress(i, steps + 1);
            const int k = (int)((int64_t)i * P / steps);
            for (; done < k; done++) {
                const size_t p = (size_t)ranking[(size_t)done];
                for (int c = 0; c < C; c++) del[p * C + c] = blank, ins[p * C + c] = x[p * C + c];
            }
            f.fraction.push_back((double)i / steps);
            net.forward(del.data());
            f.deletion.push_back(prob_of(net, cls));
            net.forward(ins.data());
            f.insertion.push_back(prob_of(net, cls));
        }
    } catch (...) {
        net.forward(x.data());
        throw;
    }
    net.forward(x.data());
    for (int i = 0; i < steps; i++) {
        const double dx = f.fraction[(size_t)i + 1] - f.fraction[(size_t)i];
        f.deletion_auc += dx * (f.deletion[(size_t)i] + f.deletion[(size_t)i + 1]) / 2;
        f.insertion_auc += dx * (f.insertion[(size_t)i] + f.insertion[(size_t)i + 1]) / 2;
    }
    return f;
}

std::string faithfulness_csv(const Faithfulness& f) {
    std::string s = "step,fraction,deletion_prob,insertion_prob\n";
    for (size_t i = 0; i < f.fraction.size(); i++)
        s += strformat("%zu,%.9g,%.9g,%.9g\n", i, f.fraction[i], f.deletion[i], f.insertion[i]);
    return s + strformat("auc,,%.9g,%.9g\n", f.deletion_auc, f.insertion_auc);
}

// ---------------------------------------------------------------------------- sanity

std::vector<float> map_magnitude(const ExplainResult& r) {
    if (r.c == 1) return r.map;
    std::vector<float> v((size_t)r.h * r.w, 0.0f);
    for (size_t p = 0; p < v.size(); p++)
        for (int c = 0; c < r.c; c++) v[p] += std::fabs(r.map[p * r.c + c]);
    return v;
}

Sanity sanity(const Vgg& net, const std::vector<float>& input, int cls, const LayerInfo& layer, uint64_t seed,
              const Progress& progress) {
    check_class(net, cls);
    Sanity s;
    for (const MethodInfo& m : methods())
        if (!m.costly && method_unavailable(m, net, &layer).empty()) s.methods.push_back(m.id);
    const int nlayers = (int)(net.dense().size() + net.arch().num_convs());
    // the step after which every layer above `layer` is re-initialised
    int above = (int)net.dense().size();
    for (size_t i = (size_t)net.layer_index(layer) + 1; i < net.layers().size(); i++) above += net.layers()[i].kind == LayerInfo::Conv;
    for (int step = 0; step <= nlayers; step++) {
        if (progress) progress(step, nlayers + 1);
        VggParams p = net.params();
        const std::string to = reinit_top_layers(p, step, seed);
        Vgg n(std::move(p));
        n.forward(input.data());
        std::vector<ExplainResult> maps;
        for (size_t k = 0; k < s.methods.size(); k++) {
            maps.push_back(explain(n, {s.methods[k], cls, n.layer(layer.name)}));
            const std::vector<float> a = map_magnitude(maps.back());
            const std::vector<float> b = step == 0 ? a : map_magnitude(s.maps[0][k]);
            s.rows.push_back({step, to, method_info(s.methods[k]).name, spearman(a.data(), b.data(), a.size())});
        }
        s.maps.push_back(std::move(maps));
    }
    for (const SanityRow& r : s.rows)
        if (r.step == above && r.spearman > 0.5) s.survivors.push_back(r.method);
    return s;
}

std::string sanity_csv(const Sanity& s) {
    std::string out = "step,randomised_to,method,spearman\n";
    for (const SanityRow& r : s.rows) out += strformat("%d,%s,%s,%.9g\n", r.step, r.randomised_to.c_str(), r.method.c_str(), r.spearman);
    return out;
}

// ---------------------------------------------------------------------------- pointing game

Pointing pointing(const std::vector<float>& map, int h, int w, const std::vector<uint8_t>& mask, int side) {
    CNN_ASSERT(map.size() == (size_t)h * w && mask.size() == (size_t)side * side);
    std::vector<float> up(mask.size());
    upsample_bilinear(map.data(), h, w, side, side, up.data());
    double all = 0, in = 0;
    size_t best = 0;
    for (size_t p = 0; p < up.size(); p++) {
        if (up[p] > 0) all += up[p], in += mask[p] ? up[p] : 0;
        if (up[p] > up[best]) best = p;
    }
    Pointing r;
    r.energy_inside = all > 0 ? in / all : -1;
    r.max_inside = mask[best] != 0;
    return r;
}

std::vector<uint8_t> default_object_mask(const Image& fitted, const VggArch& arch) {
    if (arch.preprocess != Preprocess::MeanStd) return {};
    std::vector<uint8_t> mask((size_t)fitted.width * fitted.height);
    for (size_t p = 0; p < mask.size(); p++) mask[p] = fitted.rgb[p * 3] > 0;   // grey: R = G = B
    return mask;
}

}  // namespace cnnlens
