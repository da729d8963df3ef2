// libFuzzer target: image decoding (stb_image behind our size limits and JPEG completeness
// check), then every resize mode of image_fit to a small side and the three preprocessings.
// Every preprocessed value must be written and finite (the buffer starts as NaN).
#include <cmath>
#include <vector>

#include "fuzz_util.h"
#include "io/image.h"

using namespace cnnlens;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    CNNLENS_FUZZ_RUN({
        const Image img = image_decode(data, size);
        if (img.width <= 0 || img.height <= 0 || img.width > kMaxImageSide || img.height > kMaxImageSide ||
            (int64_t)img.width * img.height > kMaxImagePixels || img.rgb.size() != (size_t)img.width * img.height * 3)
            cnnlens_fuzz::broken("decoded image breaks the size limits or its own size");
        const int side = 5 + (int)(size % 24);   // a small network input, odd and even
        for (ResizeMode mode : {ResizeMode::Exact, ResizeMode::CropTorchvision, ResizeMode::Squash,
                                ResizeMode::CenterSquare, ResizeMode::Object}) {
            Image fit;
            try {
                fit = image_fit(img, side, mode);
            } catch (const Error&) {
                continue;   // e.g. 'exact' with another size
            }
            if (fit.width != side || fit.height != side || fit.rgb.size() != (size_t)side * side * 3)
                cnnlens_fuzz::broken("image_fit did not give side x side pixels in mode", resize_mode_name(mode));
            std::vector<float> x((size_t)side * side * 3 + 1, NAN);
            for (Preprocess pre : {Preprocess::Torch, Preprocess::Caffe}) {
                image_preprocess(fit, pre, x.data());
                for (size_t i = 0; i + 1 < x.size(); i++)
                    if (!std::isfinite(x[i])) cnnlens_fuzz::broken("preprocessed value not written", preprocess_name(pre));
                if (!std::isnan(x.back())) cnnlens_fuzz::broken("preprocessing wrote past its output", preprocess_name(pre));
            }
            std::vector<float> g((size_t)side * side + 1, NAN);
            image_preprocess_grey(fit, 0.2860f, 0.3530f, g.data());
            for (size_t i = 0; i + 1 < g.size(); i++)
                if (!std::isfinite(g[i])) cnnlens_fuzz::broken("grey preprocessed value not written");
            if (!std::isnan(g.back())) cnnlens_fuzz::broken("grey preprocessing wrote past its output");
        }
    });
}
