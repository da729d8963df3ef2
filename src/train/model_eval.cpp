#include "train/model_eval.h"

#include <algorithm>

#include "core/error.h"
#include "core/rng.h"
#include "explain/explain.h"
#include "explain/methods.h"
#include "explain/tools.h"
#include "model/predict.h"

namespace cnnlens {

ModelEval eval_model(Vgg& net, const IdxDataset& d, int count, const Marker* marker) {
    const VggArch& arch = net.arch();
    const int S = d.rows, K = arch.num_classes;
    if (d.rows != d.cols || arch.input_size != S)
        fail("the model takes %dx%d inputs; the data are %dx%d", arch.input_size, arch.input_size, d.rows, d.cols);
    if (!marker && !arch.marker.empty()) marker = &arch.marker;
    if (marker && (int)marker->positions.size() != K) fail("%zu markers for %d classes", marker->positions.size(), K);
    ModelEval r;
    r.n = count > 0 ? std::min(count, d.n) : d.n;
    r.confusion.assign((size_t)K * K, 0);
    r.marked = marker != nullptr;
    const LayerInfo* last = &net.head_input();   // the layer the gap head pools (CAM's)
    const bool gap = arch.head == Head::Gap;
    std::vector<uint8_t> mask((size_t)S * S), grey((size_t)S * S);
    Rng rng(1);
    auto predict = [&](const uint8_t* px) {
        std::vector<float> x = prepare_input(image_from_grey(S, S, px), arch, default_resize(arch), arch.preprocess);
        net.forward(x.data());
        const float* l = net.logits();
        return (int)(std::max_element(l, l + K) - l);
    };
    for (int i = 0; i < r.n; i++) {
        const uint8_t* px = d.image(i);
        const int pred = predict(px), label = d.labels[(size_t)i];
        if (label < 0 || label >= K) fail("label %d of image %d is outside the model's %d classes", label, i, K);
        r.correct += pred == label;
        r.confusion[(size_t)label * K + pred]++;
        if (gap) {
            const ExplainResult cam = explain(net, {Method::Cam, pred, last});
            size_t area = 0;
            for (size_t p = 0; p < mask.size(); p++) area += mask[p] = px[p] > 0;
            r.object_area += (double)area / mask.size();
            const double share = pointing(cam.map, cam.h, cam.w, mask, S).energy_inside;
            if (share >= 0) r.cam_on_object += share, r.cam_images++;   // else it adds 0
        }
        if (!marker) continue;
        std::copy(px, px + grey.size(), grey.begin());   // its own class's marker
        stamp_marker(*marker, label, grey.data(), S);
        const int pm = predict(grey.data());
        r.marked_accuracy += pm == label, r.changed_by_marker += pm != pred;
        if (gap) {
            std::fill(mask.begin(), mask.end(), 0);
            stamp_marker(Marker{marker->size, 1, marker->positions}, label, mask.data(), S);
            const ExplainResult cam = explain(net, {Method::Cam, pm, last});
            const double share = pointing(cam.map, cam.h, cam.w, mask, S).energy_inside;
            r.cam_on_marker += std::max(share, 0.0);
        }
        const int wrong = (label + 1 + (int)rng.below((uint32_t)K - 1)) % K;   // another class's marker
        std::copy(px, px + grey.size(), grey.begin());
        stamp_marker(*marker, wrong, grey.data(), S);
        const int pw = predict(grey.data());
        r.follows_wrong_marker += pw == wrong, r.wrong_marker_accuracy += pw == label, r.changed_by_wrong_marker += pw != pred;
    }
    if (gap) {
        r.object_area /= r.n;
        r.cam_on_object /= r.n;
    }
    if (marker) {
        for (double* v : {&r.marked_accuracy, &r.follows_wrong_marker, &r.wrong_marker_accuracy, &r.changed_by_marker,
                          &r.changed_by_wrong_marker, &r.cam_on_marker})
            *v /= r.n;
        r.marker_area = (double)marker->size * marker->size / ((double)S * S);
    }
    return r;
}

}  // namespace cnnlens
