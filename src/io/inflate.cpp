#include "io/inflate.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "core/error.h"

namespace cnnlens {

namespace {

// Bits are read least-significant first (RFC 1951 3.1.1).
struct BitReader {
    const uint8_t* p;
    size_t n, pos = 0;
    uint64_t buf = 0;
    int cnt = 0;

    void refill() {
        while (cnt <= 56 && pos < n) { buf |= (uint64_t)p[pos++] << cnt; cnt += 8; }
    }
    uint32_t bits(int k) {   // k <= 32
        if (cnt < k) {
            refill();
            if (cnt < k) fail("gzip: truncated deflate stream");
        }
        uint32_t v = (uint32_t)(buf & ((1ull << k) - 1));
        buf >>= k;
        cnt -= k;
        return v;
    }
    void align() { buf >>= cnt % 8; cnt -= cnt % 8; }
    size_t consumed() const { return pos - (size_t)cnt / 8; }   // after align()
};

// A canonical Huffman code: a 10-bit lookup table for short codes, the count/symbol lists
// (as in zlib's puff.c) for the rest.
struct Huffman {
    enum { kFast = 10 };
    uint16_t count[16] = {};     // codes of each length
    uint16_t symbol[288] = {};   // symbols ordered by code
    uint16_t fast[1 << kFast];   // (symbol << 4) | length, 0 = not in the table

    void build(const uint8_t* lengths, int n) {
        std::memset(count, 0, sizeof count);
        std::memset(fast, 0, sizeof fast);
        for (int s = 0; s < n; s++) count[lengths[s]]++;
        count[0] = 0;
        int left = 1;
        for (int len = 1; len < 16; len++) {
            left = 2 * left - count[len];
            if (left < 0) fail("gzip: over-subscribed Huffman code");
        }
        uint16_t offs[16];
        offs[1] = 0;
        for (int len = 1; len < 15; len++) offs[len + 1] = (uint16_t)(offs[len] + count[len]);
        for (int s = 0; s < n; s++)
            if (lengths[s]) symbol[offs[lengths[s]]++] = (uint16_t)s;
        // Canonical codes in symbol order; the table is indexed by the bit-reversed code.
        int code = 0, k = 0;
        for (int len = 1; len <= kFast; len++) {
            for (int j = 0; j < count[len]; j++, k++, code++) {
                int rev = 0;
                for (int b = 0; b < len; b++) rev |= ((code >> b) & 1) << (len - 1 - b);
                for (int fill = rev; fill < (1 << kFast); fill += 1 << len)
                    fast[fill] = (uint16_t)(symbol[k] << 4 | len);
            }
            code <<= 1;
        }
    }

    int decode(BitReader& br) const {
        if (br.cnt < kFast) br.refill();
        if (br.cnt >= kFast) {
            uint16_t e = fast[br.buf & ((1u << kFast) - 1)];
            if (e) { br.buf >>= (e & 15); br.cnt -= (e & 15); return e >> 4; }
        }
        int code = 0, first = 0, index = 0;   // bit by bit (puff.c's slow decode)
        for (int len = 1; len < 16; len++) {
            code |= (int)br.bits(1);
            int c = count[len];
            if (code - c < first) return symbol[index + (code - first)];
            index += c;
            first = (first + c) << 1;
            code <<= 1;
        }
        fail("gzip: invalid Huffman code");
    }
};

const uint16_t kLenBase[29] = {3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
                               35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
const uint8_t kLenExtra[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
const uint16_t kDistBase[30] = {1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769,
                                1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
const uint8_t kDistExtra[30] = {0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

// The output limit: `room` bytes for this stream, out of the caller's `max_out` (gzip members
// share one limit); messages name max_out.
struct Limit {
    size_t room, max_out;
    [[noreturn]] void exceeded() const {
        fail("gzip: decompressed data exceeds the limit of %zu bytes (%.1f MB)", max_out, max_out / 1048576.0);
    }
};

// Makes room for n more bytes, growing the buffer geometrically as push_back would but never
// past the limit (so a stream near the limit cannot leave a buffer of twice the limit).
inline void make_room(std::vector<uint8_t>& out, size_t n, const Limit& lim) {
    if (n > lim.room - out.size()) lim.exceeded();
    if (out.capacity() - out.size() < n)
        out.reserve(std::min(lim.room, std::max(out.size() + n, 2 * out.capacity())));
}

void inflate_block(BitReader& br, const Huffman& lit, const Huffman& dist, std::vector<uint8_t>& out,
                   const Limit& lim) {
    while (true) {
        int s = lit.decode(br);
        if (s < 256) {
            make_room(out, 1, lim);
            out.push_back((uint8_t)s);
            continue;
        }
        if (s == 256) return;
        s -= 257;
        if (s >= 29) fail("gzip: bad length symbol");
        size_t len = kLenBase[s] + br.bits(kLenExtra[s]);
        int d = dist.decode(br);
        if (d >= 30) fail("gzip: bad distance symbol");
        size_t dd = kDistBase[d] + br.bits(kDistExtra[d]);
        if (dd > out.size()) fail("gzip: distance %zu reaches before the start of the data", dd);
        make_room(out, len, lim);
        const size_t at = out.size();
        out.resize(at + len);   // within capacity: no reallocation
        uint8_t* o = out.data() + at;
        const uint8_t* src = o - dd;
        if (dd == 1) std::memset(o, *src, len);
        else if (dd >= len) std::memcpy(o, src, len);
        else for (size_t i = 0; i < len; i++) o[i] = src[i];   // overlapping: repeats the last dd bytes
    }
}

}  // namespace

bool is_gzip(const uint8_t* data, size_t size) { return size >= 2 && data[0] == 0x1f && data[1] == 0x8b; }

uint32_t crc32_update(uint32_t crc, const uint8_t* data, size_t size) {
    struct Table {
        uint32_t t[256];
        Table() {
            for (uint32_t i = 0; i < 256; i++) {
                uint32_t c = i;
                for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
                t[i] = c;
            }
        }
    };
    static const Table tab;  // built once, thread-safely
    const uint32_t* table = tab.t;
    crc = ~crc;
    for (size_t i = 0; i < size; i++) crc = table[(crc ^ data[i]) & 255] ^ (crc >> 8);
    return ~crc;
}

// DEFLATE's best case is a 258-byte match in 2 bits: 1032 output bytes per input byte.
static size_t max_expansion(size_t compressed) {
    return (uint64_t)compressed > (uint64_t)SIZE_MAX / 1032 ? SIZE_MAX : compressed * 1032 + 1032;
}

// `hint` (a guess at the output size) is only ever used to reserve, and never beyond the limit
// or what `size` compressed bytes can expand to.
static std::vector<uint8_t> inflate_into(const uint8_t* data, size_t size, size_t* consumed, const Limit& lim,
                                         size_t hint) {
    BitReader br{data, size};
    std::vector<uint8_t> out;
    out.reserve(std::min(hint, std::min(lim.room, max_expansion(size))));
    Huffman lit, dist;
    bool last = false;
    while (!last) {
        last = br.bits(1);
        int type = (int)br.bits(2);
        if (type == 0) {   // stored: LEN, NLEN, then LEN raw bytes
            br.align();
            uint32_t len = br.bits(16), nlen = br.bits(16);
            if ((len ^ 0xffff) != nlen) fail("gzip: stored block length check failed");
            make_room(out, len, lim);
            for (uint32_t i = 0; i < len; i++) out.push_back((uint8_t)br.bits(8));
        } else if (type == 1) {   // fixed Huffman codes (RFC 1951 3.2.6)
            struct Fixed {
                Huffman lit, dist;
                Fixed() {
                    uint8_t l[288];
                    for (int i = 0; i < 288; i++) l[i] = i < 144 ? 8 : i < 256 ? 9 : i < 280 ? 7 : 8;
                    lit.build(l, 288);
                    for (int i = 0; i < 30; i++) l[i] = 5;
                    dist.build(l, 30);
                }
            };
            static const Fixed fixed;  // built once, thread-safely
            inflate_block(br, fixed.lit, fixed.dist, out, lim);
        } else if (type == 2) {   // dynamic codes, themselves Huffman-coded (3.2.7)
            int nlen = (int)br.bits(5) + 257, ndist = (int)br.bits(5) + 1, ncode = (int)br.bits(4) + 4;
            if (nlen > 286 || ndist > 30) fail("gzip: bad dynamic block header");
            static const uint8_t order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
            uint8_t lengths[320] = {};
            for (int i = 0; i < ncode; i++) lengths[order[i]] = (uint8_t)br.bits(3);
            Huffman lencode;
            lencode.build(lengths, 19);
            std::memset(lengths, 0, sizeof lengths);
            for (int i = 0; i < nlen + ndist;) {
                int s = lencode.decode(br);
                if (s < 16) { lengths[i++] = (uint8_t)s; continue; }
                int rep, val = 0;
                if (s == 16) {
                    if (i == 0) fail("gzip: repeat with no previous length");
                    val = lengths[i - 1], rep = 3 + (int)br.bits(2);
                } else if (s == 17) {
                    rep = 3 + (int)br.bits(3);
                } else {
                    rep = 11 + (int)br.bits(7);
                }
                if (i + rep > nlen + ndist) fail("gzip: too many code lengths");
                while (rep--) lengths[i++] = (uint8_t)val;
            }
            if (!lengths[256]) fail("gzip: no end-of-block code");
            lit.build(lengths, nlen);
            dist.build(lengths + nlen, ndist);
            inflate_block(br, lit, dist, out, lim);
        } else {
            fail("gzip: invalid block type 3");
        }
    }
    br.align();
    if (consumed) *consumed = br.consumed();
    return out;
}

std::vector<uint8_t> inflate_raw(const uint8_t* data, size_t size, size_t max_out, size_t* consumed) {
    return inflate_into(data, size, consumed, Limit{max_out, max_out}, size * 4);
}

std::vector<uint8_t> gunzip(const uint8_t* data, size_t size, size_t max_out) {
    std::vector<uint8_t> all;
    size_t pos = 0;
    while (pos < size) {
        const uint8_t* p = data + pos;
        size_t n = size - pos;
        if (n < 18 || !is_gzip(p, n)) {
            if (pos == 0) fail("not a gzip file (no 1f 8b header)");
            break;   // trailing padding after the last member
        }
        if (p[2] != 8) fail("gzip: compression method %d is not deflate", p[2]);
        const int flags = p[3];
        size_t h = 10;
        if (flags & 4) {   // FEXTRA
            if (h + 2 > n) fail("gzip: truncated header");
            h += 2 + (p[h] | p[h + 1] << 8);
        }
        for (int bit : {8, 16}) {   // FNAME, FCOMMENT: zero-terminated
            if (!(flags & bit)) continue;
            while (h < n && p[h]) h++;
            h++;
        }
        if (flags & 2) h += 2;   // FHCRC
        if (h + 8 > n) fail("gzip: truncated header");
        // ISIZE of the last member guesses the output size (a hint only: it is the size mod 2^32).
        uint32_t isize_hint = (uint32_t)data[size - 4] | (uint32_t)data[size - 3] << 8 |
                              (uint32_t)data[size - 2] << 16 | (uint32_t)data[size - 1] << 24;
        size_t used = 0;
        std::vector<uint8_t> out = inflate_into(p + h, n - h, &used, Limit{max_out - all.size(), max_out}, isize_hint);
        size_t t = h + used;
        if (t + 8 > n) fail("gzip: truncated trailer");
        uint32_t crc = (uint32_t)p[t] | (uint32_t)p[t + 1] << 8 | (uint32_t)p[t + 2] << 16 | (uint32_t)p[t + 3] << 24;
        uint32_t isize = (uint32_t)p[t + 4] | (uint32_t)p[t + 5] << 8 | (uint32_t)p[t + 6] << 16 | (uint32_t)p[t + 7] << 24;
        if (crc32_update(0, out.data(), out.size()) != crc) fail("gzip: CRC-32 mismatch (corrupt data)");
        if ((uint32_t)out.size() != isize) fail("gzip: size mismatch (corrupt data)");
        if (all.empty()) all = std::move(out);
        else {
            all.reserve(all.size() + out.size());   // exactly: <= max_out
            all.insert(all.end(), out.begin(), out.end());
        }
        pos += t + 8;
    }
    return all;
}

}  // namespace cnnlens
