// hdf5.h: a minimal read-only HDF5 reader over a file held in memory.
//
// Just enough of the HDF5 format to read weight files (Keras .h5) without libhdf5, so it
// also builds with emscripten. Supported: superblock versions 0-3 (with a userblock of
// 512·2^k bytes), object headers v1/v2 with continuation blocks, old-style groups (v1 B-tree
// + local heap), new-style groups (link messages, and dense links in a fractal heap indexed
// by a v2 B-tree), compact and dense attributes holding fixed- or variable-length strings,
// datasets of little-endian IEEE float16/32/64 stored compact, contiguous or chunked
// without filters (v1 B-tree, single-chunk, implicit and fixed-array chunk indexes).
// Anything else (filters such as gzip, other datatypes, shared messages, soft links,
// extensible-array / v2 B-tree chunk indexes) is refused with a cnnlens::Error naming it.
//
// Every offset and length taken from the file is bounds-checked, every tree walk has a
// depth limit and a work budget and refuses a node reached twice, and names and strings
// copied are charged to the budget, so a truncated or malicious file throws cnnlens::Error
// instead of crashing, hanging or allocating without bound.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "io/tensor_file.h"

namespace cnnlens {

// The values of one dataset: C order, little-endian, `nbytes` = numel * dtype_size.
struct H5Dataset {
    std::vector<int64_t> shape;     // [] for a scalar
    DType dtype = DType::F32;       // F16, F32 or F64
    const uint8_t* data = nullptr;  // into the file buffer, or into *owned
    size_t nbytes = 0;
    std::unique_ptr<std::vector<uint8_t>> owned;  // set when the reader had to assemble it (chunked)
    uint64_t address = 0;           // file address of its object header: one per dataset, whatever the path
};

// An open HDF5 file. The buffer must outlive the H5File and every H5Dataset read from it.
// Paths are '/'-separated names relative to the root group ("" or "/" is the root).
// Every method throws cnnlens::Error on a missing object or a corrupt/unsupported file.
// All calls on one H5File share a work budget proportional to the file size (which bounds
// the time a malicious file can take, and the names and strings it can make the reader copy),
// so an H5File is not meant for concurrent use. Chunked datasets are assembled into memory:
// since filters are refused, every chunk is stored as is, and all chunked datasets of a file
// together fit in it, so one H5File assembles at most the file size plus 16 MB in all;
// read each dataset once.
class H5File {
public:
    H5File(const uint8_t* data, size_t size);

    bool exists(const std::string& path) const;
    bool is_group(const std::string& path) const;
    std::vector<std::string> list(const std::string& group) const;  // link names, sorted

    std::vector<std::string> attribute_names(const std::string& path) const;
    bool has_attribute(const std::string& path, const std::string& name) const;
    // A string attribute (fixed- or variable-length; scalar -> 1 element; an empty array
    // or a null dataspace -> no elements). Fixed-length strings lose their padding.
    std::vector<std::string> string_attribute(const std::string& path, const std::string& name) const;

    H5Dataset dataset(const std::string& path) const;

    int superblock_version() const { return sb_version_; }
    uint64_t userblock_size() const { return base_; }

private:
    friend struct H5Reader;
    const uint8_t* data_;
    size_t size_;
    uint64_t base_ = 0;  // absolute offset of the superblock; file addresses are relative to it
    int sb_version_ = 0;
    unsigned so_ = 8, sl_ = 8;   // sizes of file offsets and lengths in bytes
    uint64_t root_ = 0;          // address of the root group's object header
    mutable uint64_t work_ = 0;       // parsing work done so far (B-tree entries, names, strings, ...)
    mutable uint64_t assembled_ = 0;  // bytes of chunked datasets assembled so far
};

}  // namespace cnnlens
