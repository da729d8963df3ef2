// imagenet_labels.h: the 1000 ImageNet (ILSVRC-2012) classes, in the standard order that
// every ImageNet-trained VGG uses for its 1000 logits (sorted by WordNet id:
// 0 = n01440764 tench ... 999 = n15075141 toilet tissue).
//
// Names are short human names (torchvision's), made unique even ignoring case:
// "crane (bird)" / "crane (machine)", "maillot" / "maillot (tank suit)",
// "Cardigan Welsh corgi" / "cardigan".
#pragma once
#include <string>

namespace cnnlens {

constexpr int kImageNetNumClasses = 1000;

struct ImageNetClass {
    const char* wnid;  // WordNet 3.0 noun id, e.g. "n01440764"
    const char* name;  // e.g. "tench"
};

// kImageNetNumClasses entries, index = class index.
const ImageNetClass* imagenet_classes();
// Class index of a name (case-insensitive, exact) or a WordNet id; -1 if none matches.
int imagenet_find(const std::string& query);

}  // namespace cnnlens
