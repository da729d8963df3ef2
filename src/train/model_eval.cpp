#include "train/model_eval.h"

#include <algorithm>

#include "core/error.h"
#include "explain/explain.h"
#include "explain/methods.h"
#include "explain/tools.h"
#include "model/predict.h"

namespace cnnlens {

ModelEval eval_model(Vgg& net, const IdxDataset& d, int count) {
    const VggArch& arch = net.arch();
    const int S = d.rows, K = arch.num_classes;
    if (d.rows != d.cols || arch.input_size != S)
        fail("the model takes %dx%d inputs; the data are %dx%d", arch.input_size, arch.input_size, d.rows, d.cols);
    ModelEval r;
    r.n = count > 0 ? std::min(count, d.n) : d.n;
    r.confusion.assign((size_t)K * K, 0);
    const LayerInfo* last = &net.head_input();   // the layer the gap head pools (CAM's)
    const bool gap = arch.head == Head::Gap;
    std::vector<uint8_t> mask((size_t)S * S);
    for (int i = 0; i < r.n; i++) {
        const uint8_t* px = d.image(i);
        std::vector<float> x = prepare_input(image_from_grey(S, S, px), arch, default_resize(arch), arch.preprocess);
        net.forward(x.data());
        const float* l = net.logits();
        const int pred = (int)(std::max_element(l, l + K) - l), label = d.labels[(size_t)i];
        if (label < 0 || label >= K) fail("label %d of image %d is outside the model's %d classes", label, i, K);
        r.correct += pred == label;
        r.confusion[(size_t)label * K + pred]++;
        if (!gap) continue;
        const ExplainResult cam = explain(net, {Method::Cam, pred, last});
        size_t area = 0;
        for (size_t p = 0; p < mask.size(); p++) area += mask[p] = px[p] > 0;
        r.object_area += (double)area / mask.size();
        const double share = pointing(cam.map, cam.h, cam.w, mask, S).energy_inside;
        if (share >= 0) r.cam_on_object += share, r.cam_images++;   // else it adds 0
    }
    if (gap) {
        r.object_area /= r.n;
        r.cam_on_object /= r.n;
    }
    return r;
}

}  // namespace cnnlens
