// libFuzzer target: the .npy reader (header dict, shape, float32/float64 data).
#include "fuzz_util.h"
#include "io/npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    CNNLENS_FUZZ_RUN({
        cnnlens::NpyArray a = cnnlens::npy_parse(data, size);
        uint64_t n = 1;
        for (int64_t d : a.shape) {
            if (d < 0) cnnlens_fuzz::broken("negative .npy dimension");
            n *= (uint64_t)d;
        }
        if (n != a.data.size()) cnnlens_fuzz::broken(".npy data size does not match the shape");
    });
}
