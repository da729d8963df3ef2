// libFuzzer target: IDX arrays, plain or gzipped (gunzip: gzip members, DEFLATE, CRC-32).
#include "fuzz_util.h"
#include "io/idx.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    CNNLENS_FUZZ_RUN({
        cnnlens::IdxArray a = cnnlens::idx_parse(data, size);
        uint64_t n = 1;
        for (int d : a.dims) {
            if (d <= 0) cnnlens_fuzz::broken("IDX dimension <= 0");
            n *= (uint64_t)d;
        }
        if (n != a.data.size()) cnnlens_fuzz::broken("IDX data size does not match the dimensions");
    });
}
