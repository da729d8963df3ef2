// test_labels.cpp: the bundled ImageNet class list (order, ids, unique names, lookup).
#include <doctest/doctest.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <set>
#include <string>

#include "io/imagenet_labels.h"

using namespace cnnlens;

TEST_CASE("ImageNet classes: standard order and known entries") {
    const ImageNetClass* c = imagenet_classes();
    struct Known { int index; const char* wnid; const char* name; };
    for (const Known& k : {Known{0, "n01440764", "tench"}, Known{1, "n01443537", "goldfish"},
                           Known{134, "n02012849", "crane (bird)"}, Known{281, "n02123045", "tabby"},
                           Known{282, "n02123159", "tiger cat"}, Known{386, "n02504458", "African elephant"},
                           Known{517, "n03126707", "crane (machine)"}, Known{638, "n03710637", "maillot"},
                           Known{639, "n03710721", "maillot (tank suit)"},
                           Known{999, "n15075141", "toilet tissue"}}) {
        CAPTURE(k.index);
        CHECK(std::string(c[k.index].wnid) == k.wnid);
        CHECK(std::string(c[k.index].name) == k.name);
    }
    // the standard order is the WordNet ids sorted ascending, each 'n' + 8 digits
    for (int i = 0; i < kImageNetNumClasses; ++i) {
        CAPTURE(i);
        REQUIRE(std::strlen(c[i].wnid) == 9);
        CHECK(c[i].wnid[0] == 'n');
        if (i > 0) CHECK(std::strcmp(c[i - 1].wnid, c[i].wnid) < 0);
    }
}

TEST_CASE("ImageNet classes: all 1000 names are unique, even ignoring case") {
    std::set<std::string> names;
    for (int i = 0; i < kImageNetNumClasses; ++i) {
        std::string n = imagenet_classes()[i].name;
        CHECK(!n.empty());
        std::transform(n.begin(), n.end(), n.begin(), [](unsigned char ch) { return char(std::tolower(ch)); });
        names.insert(n);
    }
    CHECK(names.size() == 1000);
}

TEST_CASE("imagenet_find by name or WordNet id") {
    CHECK(imagenet_find("tench") == 0);
    CHECK(imagenet_find("Tabby") == 281);
    CHECK(imagenet_find("CRANE (MACHINE)") == 517);
    CHECK(imagenet_find("n02012849") == 134);
    CHECK(imagenet_find("N15075141") == 999);
    CHECK(imagenet_find("cardigan") == 474);
    CHECK(imagenet_find("Cardigan Welsh corgi") == 264);
    CHECK(imagenet_find("crane") == -1);  // ambiguous, so not a name
    CHECK(imagenet_find("tab") == -1);     // exact names only
    CHECK(imagenet_find("") == -1);
    for (int i = 0; i < kImageNetNumClasses; ++i) {
        CAPTURE(i);
        CHECK(imagenet_find(imagenet_classes()[i].name) == i);
        CHECK(imagenet_find(imagenet_classes()[i].wnid) == i);
    }
}
