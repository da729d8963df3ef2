// model_eval.h: a shipped classifier measured on a greyscale IDX test set exactly as the
// product runs it: every image goes through prepare_input (the app's and CLI's path) and
// Vgg::forward, batch 1. For a gap head it also measures where CAM looks.
#pragma once
#include <vector>

#include "io/idx.h"
#include "model/vgg.h"

namespace cnnlens {

struct ModelEval {
    int n = 0, correct = 0;
    std::vector<int> confusion;   // [true][predicted], num_classes^2
    // gap head only (else 0): CAM of the predicted class at the layer before the pooling,
    // upsampled to the input size (bilinear), ReLU; the share of its mass on the object's
    // pixels (value > 0), averaged over all images (one without positive CAM shows nothing:
    // it counts as 0); and, as the baseline, the mean share of the image the object covers.
    double cam_on_object = 0, object_area = 0;
    int cam_images = 0;           // images with some positive CAM
    double accuracy() const { return n ? (double)correct / n : 0; }
    // With markers (a shortcut model's own, or another's stamped on this one): every image again
    // with its label's marker and with a wrong class's (seeded): the accuracy on correctly
    // marked images; on wrongly marked ones, how often the answer is the marker's class; how often
    // a marker changes the clean answer; the share of CAM's positive mass on the correct marker.
    bool marked = false;
    double marked_accuracy = 0, follows_wrong_marker = 0, wrong_marker_accuracy = 0;
    double changed_by_marker = 0, changed_by_wrong_marker = 0, cam_on_marker = 0, marker_area = 0;
};

// count = 0: the whole set. The network's input size must equal the images' side. marker: the
// markers to stamp (null: the model's own, if it has any).
ModelEval eval_model(Vgg& net, const IdxDataset& d, int count = 0, const Marker* marker = nullptr);

}  // namespace cnnlens
