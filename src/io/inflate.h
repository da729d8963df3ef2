// inflate.h: a compact DEFLATE decoder (RFC 1951) with the gzip wrapper (RFC 1952), so the
// core reads .gz data files (the Fashion-MNIST IDX files ship gzipped) without zlib, natively
// and in the WebAssembly build alike.
//
//   std::vector<uint8_t> raw = gunzip(bytes.data(), bytes.size(), max_out);   // checks CRC-32 and size
//
// Corrupt or truncated input throws cnnlens::Error; it never reads outside the buffer.
// Every call names the most output it accepts (`max_out`): DEFLATE expands up to 1032:1, so a
// small file can ask for gigabytes, and the gzip trailer's ISIZE is just another number from
// the file. Output beyond max_out fails with an error naming the limit; nothing larger than
// max_out (or than what the compressed size can produce) is ever reserved.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace cnnlens {

// True if the buffer starts with the gzip magic 1f 8b.
bool is_gzip(const uint8_t* data, size_t size);

// Decompresses one raw DEFLATE stream of at most max_out bytes; *consumed (if given) = bytes
// of input used.
std::vector<uint8_t> inflate_raw(const uint8_t* data, size_t size, size_t max_out, size_t* consumed = nullptr);

// Decompresses every member of a gzip file (concatenated members are joined), at most
// max_out bytes in all.
std::vector<uint8_t> gunzip(const uint8_t* data, size_t size, size_t max_out);

// CRC-32 (the gzip/zlib polynomial 0xEDB88320), continued from crc.
uint32_t crc32_update(uint32_t crc, const uint8_t* data, size_t size);

}  // namespace cnnlens
