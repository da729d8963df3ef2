#include <sys/stat.h>

#include <cmath>
#include <cstdlib>

#include "cli/cli.h"
#include "core/error.h"

namespace cnnlens {

std::string arg(const Args& a, const char* k, const std::string& def) {
    auto it = a.find(k);
    return it == a.end() ? def : it->second;
}

std::string arg_need(const Args& a, const char* k) {
    auto it = a.find(k);
    if (it == a.end()) fail("missing --%s (see --help)", k);
    return it->second;
}

double arg_num(const Args& a, const char* k, double def, double lo, double hi) {
    auto it = a.find(k);
    if (it == a.end()) return def;
    char* end = nullptr;
    const double v = std::strtod(it->second.c_str(), &end);
    if (it->second.empty() || *end || !(v >= lo && v <= hi))
        fail("--%s must be a number in [%g, %g], got '%s'", k, lo, hi, it->second.c_str());
    return v;
}

int arg_int(const Args& a, const char* k, int def, int lo, int hi) {
    auto it = a.find(k);
    if (it == a.end()) return def;
    char* end = nullptr;
    const long v = std::strtol(it->second.c_str(), &end, 10);
    if (it->second.empty() || *end || v < lo || v > hi)
        fail("--%s must be an integer in [%d, %d], got '%s'", k, lo, hi, it->second.c_str());
    return (int)v;
}

#ifndef CNNLENS_BUILTIN_MODEL
#define CNNLENS_BUILTIN_MODEL "assets/fashion_mnist_vgg_gap.safetensors"
#endif
std::string weights_path(const Args& a) {
    auto it = a.find("weights");
    if (it != a.end()) return it->second;
    struct stat st;
    if (stat(CNNLENS_BUILTIN_MODEL, &st) != 0)
        fail("no --weights given and the built-in model is missing (%s)", CNNLENS_BUILTIN_MODEL);
    return CNNLENS_BUILTIN_MODEL;
}

}  // namespace cnnlens
