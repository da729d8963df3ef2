// libFuzzer target: our HDF5 reader under the Keras weights layout (superblocks, object
// headers, B-trees, heaps, attributes, contiguous and chunked datasets).
#include "fuzz_util.h"
#include "io/keras_h5.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    CNNLENS_FUZZ_RUN({
        cnnlens::TensorFile tf = cnnlens::load_keras_h5(data, size);
        cnnlens_fuzz::check_tensors(tf);
    });
}
