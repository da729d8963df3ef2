// keras_h5.cpp: Keras HDF5 weights -> TensorFile, on top of the generic H5File reader.
#include "io/keras_h5.h"

#include <map>
#include <set>

#include "core/error.h"
#include "io/hdf5.h"

namespace cnnlens {

namespace {


}  // namespace

// Reads a string-array attribute; Keras splits ones too big for an object header into
// name0, name1, ... (save_attributes_to_hdf5_group), which are concatenated here.
// Returns false if neither form exists.
static bool read_names(const H5File& f, const std::string& path, const std::string& name,
                       std::vector<std::string>& out) {
    const std::vector<std::string> names = f.attribute_names(path);
    const std::set<std::string> attrs(names.begin(), names.end());
    auto has = [&](const std::string& n) { return attrs.count(n) > 0; };
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

    // A name listed twice would read (and, for a chunked dataset, assemble) its data again;
    // Keras never writes one twice, so repeats are refused rather than multiplying memory.
    // The same goes for two names of one dataset (a second hard link, another spelling of the
    // path); H5File's assembly budget (the file size plus 16 MB) bounds what is read before
    // the repeat shows.
    TensorFile tf;
    tf.format = "keras-h5";
    std::string joined;
    std::set<std::string> seen_layers;
    std::map<uint64_t, std::string> seen_datasets;  // object header address -> tensor name
    for (const std::string& layer : layers) {
        joined += (joined.empty() ? "" : ",") + layer;
        if (layer.empty()) fail("Keras HDF5: empty name in 'layer_names'");
        if (!seen_layers.insert(layer).second)
            fail("Keras HDF5: layer '%s' is listed twice in 'layer_names'", printable(layer).c_str());
        std::vector<std::string> weights;
        if (!f.exists(root + layer))
            fail("Keras HDF5: layer '%s' is listed in 'layer_names' but has no group", printable(layer).c_str());
        if (!read_names(f, root + layer, "weight_names", weights))
            fail("Keras HDF5: layer '%s' has no 'weight_names' attribute", printable(layer).c_str());
        std::set<std::string> seen_weights;
        for (const std::string& w : weights) {
            if (!seen_weights.insert(w).second)
                fail("Keras HDF5: layer '%s' lists weight '%s' twice in 'weight_names'", printable(layer).c_str(), printable(w).c_str());
            H5Dataset ds = f.dataset(root + layer + "/" + w);
            TensorRef t;
            t.name = layer + "/" + w;
            auto dup = seen_datasets.emplace(ds.address, t.name);
            if (!dup.second)
                fail("Keras HDF5: weights '%s' and '%s' are the same dataset", printable(dup.first->second).c_str(),
                     printable(t.name).c_str());
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
