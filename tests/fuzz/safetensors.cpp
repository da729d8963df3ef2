// libFuzzer target: the safetensors reader (u64 header length, JSON header, tensor views).
#include "fuzz_util.h"
#include "io/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    CNNLENS_FUZZ_RUN({
        cnnlens::TensorFile tf = cnnlens::load_safetensors(data, size);
        cnnlens_fuzz::check_tensors(tf);
    });
}
