// keras_h5.cpp: Keras HDF5 weights -> TensorFile, on top of the generic H5File reader.
#include "io/keras_h5.h"

#include "core/error.h"
#include "io/hdf5.h"

namespace cnnlens {

// Reads a string-array attribute; Keras splits ones too big for an object header into
// name0, name1, ... (save_attributes_to_hdf5_group), which are concatenated here.
// Returns false if neither form exists.
static bool read_names(const H5File& f, const std::string& path, const std::string& name,
                       std::vector<std::string>& out) {
    std::vector<std::string> attrs = f.attribute_names(path);
    auto has = [&](const std::string& n) {
        for (const std::string& a : attrs)
            if (a == n) return true;
        return false;
    };
    out.clear();
    if (has(name)) {
        out = f.string_attribute(path, name);
        return true;
    }
    if (!has(name + "0")) return false;
    for (int i = 0; has(name + std::to_string(i)); i++)
        for (std::string& s : f.string_attribute(path, name + std::to_string(i))) out.push_back(std::move(s));
    return true;
}

TensorFile load_keras_h5(const uint8_t* data, size_t size) {
    H5File f(data, size);
    std::string root;  // prefix of the group holding the layers
    std::vector<std::string> layers;
    if (!read_names(f, "", "layer_names", layers)) {
        if (!f.exists("model_weights") || !f.is_group("model_weights") ||
            !read_names(f, "model_weights", "layer_names", layers))
            fail("not a Keras weights file: no 'layer_names' attribute");
        root = "model_weights/";
    }

    TensorFile tf;
    tf.format = "keras-h5";
    std::string joined;
    for (const std::string& layer : layers) {
        joined += (joined.empty() ? "" : ",") + layer;
        if (layer.empty()) fail("Keras HDF5: empty name in 'layer_names'");
        std::vector<std::string> weights;
        if (!f.exists(root + layer))
            fail("Keras HDF5: layer '%s' is listed in 'layer_names' but has no group", layer.c_str());
        if (!read_names(f, root + layer, "weight_names", weights))
            fail("Keras HDF5: layer '%s' has no 'weight_names' attribute", layer.c_str());
        for (const std::string& w : weights) {
            H5Dataset ds = f.dataset(root + layer + "/" + w);
            TensorRef t;
            t.name = layer + "/" + w;
            t.shape = ds.shape;
            t.dtype = ds.dtype;
            t.data = ds.data;
            t.nbytes = ds.nbytes;
            if (ds.owned) tf.owned.push_back(std::move(ds.owned));
            tf.tensors.push_back(std::move(t));
        }
    }
    tf.metadata["layer_names"] = joined;
    return tf;
}

}  // namespace cnnlens
