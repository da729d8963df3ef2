#include "model/predict.h"

#include <strings.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>

#include "core/error.h"
#include "io/imagenet_labels.h"
#include "io/weights.h"

namespace cnnlens {

std::unique_ptr<Vgg> vgg_load(std::shared_ptr<std::vector<uint8_t>> file, const ArchOverrides& ov, int image_side) {
    TensorFile tf = load_weights(file->data(), file->size());
    return std::make_unique<Vgg>(vgg_params(tf, ov, image_side, std::move(file)));
}

std::unique_ptr<Vgg> vgg_load(std::vector<uint8_t>&& bytes, const ArchOverrides& ov, int image_side) {
    return vgg_load(std::make_shared<std::vector<uint8_t>>(std::move(bytes)), ov, image_side);
}

std::unique_ptr<Vgg> vgg_load(const uint8_t* data, size_t size, const ArchOverrides& ov, int image_side) {
    TensorFile tf = load_weights(data, size);
    return std::make_unique<Vgg>(vgg_params(tf, ov, image_side));
}

ResizeMode default_resize(const VggArch& arch) {
    if (arch.in_channels == 1) return ResizeMode::Object;
    return arch.layout == Layout::Keras ? ResizeMode::Squash : ResizeMode::CropTorchvision;
}

std::vector<float> prepare_input(const Image& img, const VggArch& arch, ResizeMode mode, Preprocess pre) {
    if (arch.in_channels != 1 && arch.in_channels != 3)
        fail("this model takes %d input channels; only RGB (3) and greyscale (1) models are supported", arch.in_channels);
    if ((pre == Preprocess::MeanStd) != (arch.in_channels == 1))
        fail("preprocessing '%s' does not fit this model's %d input channel(s)", preprocess_name(pre), arch.in_channels);
    Image fit = image_fit(img, arch.input_size, mode);
    std::vector<float> x((size_t)arch.input_size * arch.input_size * arch.in_channels);
    if (pre == Preprocess::MeanStd) image_preprocess_grey(fit, arch.mean, arch.std, x.data());
    else image_preprocess(fit, pre, x.data());
    return x;
}

float blank_value(const VggArch& a) { return a.preprocess == Preprocess::MeanStd ? -a.mean / a.std : 0.0f; }

std::array<uint8_t, 3> blank_rgb(const VggArch& a) {
    if (a.preprocess == Preprocess::MeanStd) return {0, 0, 0};
    if (a.preprocess == Preprocess::Caffe) return {124, 117, 104};   // the BGR mean (103.939, 116.779, 123.68) as RGB
    return {124, 116, 104};                                         // 255 x (0.485, 0.456, 0.406)
}

std::vector<float> input_nchw(const float* hwc, int side, int channels) {
    const size_t plane = (size_t)side * side;
    std::vector<float> out(plane * channels);
    for (int c = 0; c < channels; c++)
        for (size_t p = 0; p < plane; p++) out[c * plane + p] = hwc[p * channels + c];
    return out;
}

std::vector<Prediction> top_k(const float* logits, int n, int k) {
    double mx = -INFINITY, sum = 0;
    for (int i = 0; i < n; i++) mx = std::max(mx, (double)logits[i]);
    for (int i = 0; i < n; i++) sum += std::exp((double)logits[i] - mx);
    std::vector<int> idx((size_t)n);
    for (int i = 0; i < n; i++) idx[(size_t)i] = i;
    k = std::min(k, n);
    std::partial_sort(idx.begin(), idx.begin() + k, idx.end(),
                      [&](int a, int b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); });
    std::vector<Prediction> out;
    for (int i = 0; i < k; i++) {
        int c = idx[(size_t)i];
        out.push_back({c, logits[c], (float)(std::exp((double)logits[c] - mx) / sum)});
    }
    return out;
}

static bool imagenet_head(const std::vector<std::string>& names, int n) { return names.empty() && n == kImageNetNumClasses; }

std::string class_name(const std::vector<std::string>& names, int n, int index) {
    if (index >= 0 && index < (int)names.size()) return names[(size_t)index];
    if (imagenet_head(names, n) && index >= 0 && index < n) return imagenet_classes()[index].name;
    return "class " + std::to_string(index);
}

// An index: digits only.
static bool as_index(const std::string& q, long* v) {
    char* end = nullptr;
    *v = std::strtol(q.c_str(), &end, 10);
    return !q.empty() && std::isdigit((unsigned char)q[0]) && !*end;
}

int class_find(const std::vector<std::string>& names, int n, const std::string& q) {
    long v;
    if (as_index(q, &v)) return v >= 0 && v < n ? (int)v : -1;
    for (size_t i = 0; i < names.size(); i++)
        if (strcasecmp(names[i].c_str(), q.c_str()) == 0) return (int)i;
    if (imagenet_head(names, n)) return imagenet_find(q);
    return -1;
}

namespace {
struct DatasetInfo {
    const char *id, *name, *kinds;   // id as the metadata spells it; kinds: what each class is
};
const DatasetInfo kDatasets[] = {
    {"fashion-mnist", "Fashion-MNIST", "kinds of clothing"},
    {"mnist", "MNIST", "handwritten digits"},
    {"cifar10", "CIFAR-10", "kinds of vehicles and animals"},
    {"cifar100", "CIFAR-100", "kinds of objects, plants and animals"},
    {"imagenet", "ImageNet", "kinds of objects and animals"},
};
}  // namespace

std::string model_dataset(const VggArch& a) {
    std::string d;
    for (char c : a.dataset) d += (char)std::tolower((unsigned char)c);
    if (d.empty() && imagenet_head(a.class_names, a.num_classes)) d = "imagenet";
    return d;
}

std::string model_knows(const VggArch& a) {
    const std::string d = model_dataset(a);
    for (const DatasetInfo& k : kDatasets)
        if (d == k.id) return std::to_string(a.num_classes) + " " + k.kinds + " (" + k.name + ")";
    std::string s = std::to_string(a.num_classes) + (a.num_classes == 1 ? " class" : " classes");
    if (!d.empty()) s += " (" + a.dataset + ")";
    if (!a.class_names.empty()) {
        s += ": ";
        for (size_t i = 0; i < a.class_names.size() && i < 4; i++) s += (i ? ", " : "") + a.class_names[i];
        if (a.class_names.size() > 4) s += ", ...";
    }
    return s;
}

int class_search(const std::vector<std::string>& names, int n, const std::string& query, std::vector<int>& out,
                 int max_out) {
    std::string q;
    for (char c : query) q += (char)std::tolower((unsigned char)c);
    while (!q.empty() && q.back() == ' ') q.pop_back();
    long v;
    if (as_index(q, &v)) {
        if (v < 0 || v >= n) return 0;
        if (max_out > 0) out.push_back((int)v);
        return 1;
    }
    int total = 0;
    for (int i = 0; i < n; i++) {
        std::string name = class_name(names, n, i);
        for (char& c : name) c = (char)std::tolower((unsigned char)c);
        const bool wnid = imagenet_head(names, n) && std::string(imagenet_classes()[i].wnid).rfind(q, 0) == 0;
        if (name.find(q) != std::string::npos || wnid) {
            if ((int)out.size() < max_out) out.push_back(i);
            total++;
        }
    }
    return total;
}

}  // namespace cnnlens
