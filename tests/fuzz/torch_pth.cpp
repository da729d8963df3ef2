// libFuzzer target: PyTorch .pth, both containers: the zip archive (stored, deflated, zip64)
// and the legacy pickle sequence, through the restricted unpickler. Seeded with both kinds.
#include "fuzz_util.h"
#include "io/torch_pth.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    CNNLENS_FUZZ_RUN({
        cnnlens::TensorFile tf = cnnlens::load_torch_pth(data, size);
        cnnlens_fuzz::check_tensors(tf);
    });
}
