// inflate.h: a compact DEFLATE decoder (RFC 1951) with the gzip wrapper (RFC 1952), so the
// core reads .gz data files (the Fashion-MNIST IDX files ship gzipped) without zlib, natively
// and in the WebAssembly build alike.
//
//   std::vector<uint8_t> raw = gunzip(bytes.data(), bytes.size());   // checks CRC-32 and size
//
// Corrupt or truncated input throws cnnlens::Error; it never reads outside the buffer.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace cnnlens {

// True if the buffer starts with the gzip magic 1f 8b.
bool is_gzip(const uint8_t* data, size_t size);

// Decompresses one raw DEFLATE stream; *consumed (if given) = bytes of input used.
std::vector<uint8_t> inflate_raw(const uint8_t* data, size_t size, size_t* consumed = nullptr);

// Decompresses every member of a gzip file (concatenated members are joined).
std::vector<uint8_t> gunzip(const uint8_t* data, size_t size);

// CRC-32 (the gzip/zlib polynomial 0xEDB88320), continued from crc.
uint32_t crc32_update(uint32_t crc, const uint8_t* data, size_t size);

}  // namespace cnnlens
