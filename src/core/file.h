// file.h: whole files in and out, with messages that name the path.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace cnnlens {

// what: the file's role in messages ("cannot open image 'x.png': ...").
std::vector<uint8_t> read_file(const std::string& path, const char* what = nullptr);
void write_file(const std::string& path, const void* data, size_t size);
inline void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
    write_file(path, bytes.data(), bytes.size());
}
inline void write_file(const std::string& path, const std::string& text) { write_file(path, text.data(), text.size()); }
// Creates a directory (an existing one is fine).
void make_dir(const std::string& path);

}  // namespace cnnlens
