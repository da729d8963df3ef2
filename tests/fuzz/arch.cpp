// libFuzzer target: architecture inference from a parsed weight file of any format
// (load_weights sniffs safetensors, .pth or Keras .h5), without an image side and with the
// sides of the fixtures' images, as the CLI and the web app call it; then the weights converted
// (without the engine: its activation memory is another budget's business).
#include "fuzz_util.h"
#include "io/weights.h"
#include "model/vgg.h"

using namespace cnnlens;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    CNNLENS_FUZZ_RUN({
        const TensorFile tf = load_weights(data, size);
        cnnlens_fuzz::check_tensors(tf);
        for (int side : {0, 28, 32, 224}) {
            try {
                VggArch a = vgg_infer_arch(tf, {}, side);
                if (a.input_size <= 0 || a.num_classes <= 0 || a.in_channels <= 0 || a.final_side() < 1)
                    cnnlens_fuzz::broken("inferred architecture is not runnable:", a.cfg_string().c_str());
                for (int c : a.cfg)
                    if (c < 0) cnnlens_fuzz::broken("negative channel count in", a.cfg_string().c_str());
                (void)a.describe();
                if (side == 0) (void)vgg_params(tf);   // and the weights converted (dense kept float16 / int8)
            } catch (const Error&) {
            }
        }
    });
}
