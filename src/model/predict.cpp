#include "model/predict.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <strings.h>

#include "core/error.h"
#include "io/imagenet_labels.h"
#include "io/weights.h"

namespace cnnlens {

std::unique_ptr<Vgg> vgg_load(const uint8_t* data, size_t size, const ArchOverrides& ov, int image_side) {
    TensorFile tf = load_weights(data, size);
    VggArch arch = vgg_infer_arch(tf, ov, image_side);
    return std::make_unique<Vgg>(arch, tf);
}

std::unique_ptr<Vgg> vgg_load(std::vector<uint8_t>&& bytes, const ArchOverrides& ov, int image_side) {
    auto file = std::make_shared<std::vector<uint8_t>>(std::move(bytes));
    TensorFile tf = load_weights(file->data(), file->size());
    VggArch arch = vgg_infer_arch(tf, ov, image_side);
    return std::make_unique<Vgg>(arch, tf, file);
}

ResizeMode default_resize(const VggArch& arch) {
    if (arch.in_channels == 1) return ResizeMode::Object;
    return arch.layout == "keras" ? ResizeMode::Squash : ResizeMode::CropTorchvision;
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

std::string class_name(const VggArch& arch, int index) {
    if (index >= 0 && index < (int)arch.class_names.size()) return arch.class_names[(size_t)index];
    if (arch.num_classes == 1000 && index >= 0 && index < 1000) return imagenet_classes()[index].name;
    return "class " + std::to_string(index);
}

int class_find(const VggArch& arch, const std::string& q) {
    char* end = nullptr;
    long v = std::strtol(q.c_str(), &end, 10);
    if (!q.empty() && !*end) return v >= 0 && v < arch.num_classes ? (int)v : -1;
    for (size_t i = 0; i < arch.class_names.size(); i++)
        if (strcasecmp(arch.class_names[i].c_str(), q.c_str()) == 0) return (int)i;
    if (arch.num_classes == 1000) return imagenet_find(q);
    return -1;
}

}  // namespace cnnlens
