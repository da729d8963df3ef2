// keras_h5.h: reads Keras HDF5 weight files (save_weights layout) into a TensorFile.
//
// Layout: root attribute `layer_names` lists the layers in model order; each layer is a
// group whose attribute `weight_names` lists its datasets, whose paths relative to the
// group are the weight names themselves (Keras 1: "fc1_W_1:0"; Keras 2: "fc1/kernel:0").
// A full-model save keeps the same layout under a top-level "model_weights" group.
#pragma once
#include <cstddef>
#include <cstdint>

#include "io/tensor_file.h"

namespace cnnlens {

// Tensors are named "<layer>/<weight_name>", in layer order then weight_names order;
// format = "keras-h5"; metadata["layer_names"] = the comma-joined layer names.
// Contiguous datasets are views into `data` (keep it alive); chunked ones are assembled.
// Throws cnnlens::Error ("not an HDF5 file (bad signature)", "not a Keras weights file: no
// 'layer_names' attribute", a layer, weight or dataset listed twice, or an HDF5 problem
// naming the dataset).
TensorFile load_keras_h5(const uint8_t* data, size_t size);

}  // namespace cnnlens
