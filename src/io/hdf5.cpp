// hdf5.cpp: the read-only HDF5 parser behind H5File (hdf5.h lists what is supported).
//
// Structure layouts follow the HDF5 File Format Specification (version 3). Every read goes
// through Cur, which checks it against the structure's extent and the end of the file.
// Structures that valid files never share are refused when reached twice (a B-tree node in
// one walk, a heap object in one index, header bytes in one object's continuation chain), so
// one large name cannot be copied once per reference. H5Reader::tick charges a work budget
// per call and per file for entries visited and bytes copied, so what is left of cycles and
// blow-ups ends in an Error instead of a hang; collections are capped by what the file could
// legitimately hold.
//
// Sections: cursor, superblock and dataspace/datatype helpers; H5Reader: object headers, groups
// (symbol tables, link messages, B-tree v1), the fractal heap and v2 B-trees (dense storage),
// attributes, datasets (contiguous and chunked layouts); the public API (H5File).
#include "io/hdf5.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <iterator>
#include <map>
#include <set>

#include "core/error.h"

namespace cnnlens {

namespace {

typedef unsigned long long ull;

constexpr uint64_t kUndef = ~uint64_t(0);         // undefined address (all bits set)
constexpr int kMaxDepth = 32;                     // nesting limit of trees and heap blocks
constexpr uint64_t kMaxWork = uint64_t(1) << 24;  // work units (entries, string bytes) per call,
                                                  // and per file on top of 32 per file byte
constexpr size_t kMaxMessages = 65536;            // header messages per object, attributes per object
constexpr uint64_t kStringCost = 32;              // work per string besides its bytes (its std::string)
constexpr uint64_t kAssembleSlack = 16u << 20;    // chunked bytes assembled per file beyond its size
constexpr unsigned kMaxRank = 32;


unsigned floor_log2(uint64_t x) {
    unsigned r = 0;
    while (x >>= 1) r++;
    return r;
}
bool is_pow2(uint64_t x) { return x && !(x & (x - 1)); }
// Bytes needed to encode any value in [0, limit] (H5VM_limit_enc_size).
unsigned limit_enc(uint64_t limit) { return floor_log2(limit ? limit : 1) / 8 + 1; }

// Bounds-checked little-endian reader over the absolute byte range [pos, end) of the file.
struct Cur {
    const uint8_t* d;
    uint64_t fsize;  // size of the whole buffer
    uint64_t start, pos, end;
    unsigned so, sl;   // sizes of offsets and lengths
    const char* what;  // structure name for messages

    uint64_t left() const { return end - pos; }
    void need(uint64_t n) const {
        if (pos <= end && n <= end - pos) return;
        if (end == fsize || pos + n > fsize)
            fail("HDF5: truncated file: %s at 0x%llx extends past end of file (size %llu)", what, (ull)start,
                 (ull)fsize);
        fail("HDF5: corrupt file: %s at 0x%llx is too short (%llu bytes needed at offset %llu of %llu)", what,
             (ull)start, (ull)n, (ull)(pos - start), (ull)(end - start));
    }
    uint64_t u(unsigned n) {
        need(n);
        uint64_t v = 0;
        for (unsigned i = 0; i < n; i++) v |= (uint64_t)d[pos + i] << (8 * i);
        pos += n;
        return v;
    }
    uint64_t addr() {
        uint64_t v = u(so);
        return (so < 8 && v == (uint64_t(1) << (8 * so)) - 1) ? kUndef : v;
    }
    uint64_t len() { return u(sl); }
    void skip(uint64_t n) {
        need(n);
        pos += n;
    }
    const uint8_t* bytes(uint64_t n) {
        need(n);
        const uint8_t* p = d + pos;
        pos += n;
        return p;
    }
    bool sig(const char* s) {
        need(4);
        bool ok = std::memcmp(d + pos, s, 4) == 0;
        pos += 4;
        return ok;
    }
    // Checks the 4-byte signature and version byte that start most structures.
    void head(const char* s, unsigned version) {
        if (!sig(s) || u(1) != version) fail("HDF5: corrupt file: bad %s at 0x%llx", what, (ull)start);
    }
    // Splits off the next n bytes as a cursor of their own.
    Cur sub(uint64_t n) {
        need(n);
        Cur c = *this;
        c.start = pos;
        c.end = pos + n;
        pos += n;
        return c;
    }
};

struct Msg {
    unsigned type, flags;
    Cur body;
};
struct Link {
    std::string name;
    uint64_t addr;
    bool hard;
};
struct Type {
    unsigned cls, bits;
    uint64_t size;
    Cur props;
};
struct Space {
    bool null = false;
    std::vector<uint64_t> dims;
};
struct Attr {
    std::string name;
    Cur type, space, data;
};

struct FHeap {  // fractal heap header, as far as object lookup needs it
    unsigned id_len, flags, width, rows_direct, cur_rows, off_size, len_size;
    uint64_t start, root;
};

const char* class_name(unsigned cls) {
    static const char* names[] = {"integer",  "float",     "time", "string",          "bitfield", "opaque",
                                  "compound", "reference", "enum", "variable-length", "array"};
    return cls < 11 ? names[cls] : "unknown";
}

const char* filter_name(unsigned id) {
    switch (id) {
        case 1: return "deflate/gzip";
        case 2: return "shuffle";
        case 3: return "fletcher32";
        case 4: return "szip";
        case 5: return "nbit";
        case 6: return "scaleoffset";
        case 32000: return "lzf";
        case 32001: return "blosc";
        case 32004: return "lz4";
        case 32008: return "bitshuffle";
        case 32015: return "zstd";
    }
    return "unknown";
}

// The element count; the product of the nonzero dimensions must stay below 2^62 too, so that
// no partial product overflows int64 (TensorRef::numel) even when a zero makes the set empty.
uint64_t numel(const Space& s) {
    if (s.null) return 0;
    uint64_t n = 1, nonzero = 1;
    for (uint64_t d : s.dims) {
        if (d && nonzero > (uint64_t(1) << 62) / d) fail("HDF5: corrupt file: absurd dataspace size");
        if (d) nonzero *= d;
        n *= d;
    }
    return n;
}

}  // namespace

struct H5Reader {
    const H5File& f;
    uint64_t work = 0;

    explicit H5Reader(const H5File& file) : f(file) {}

    void tick(uint64_t n = 1) {
        work += n;
        f.work_ += n;
        if (work > kMaxWork || f.work_ > kMaxWork + 32 * (uint64_t)f.size_)
            fail(
                "HDF5: corrupt file: work limit exceeded (cycle or absurd size in a B-tree, heap or header "
                "chain, or names and strings far longer than the file)");
    }

    // Cursor over `len` bytes at file address `addr` (kUndef len: up to the end of the file).
    Cur at(uint64_t addr, uint64_t len, const char* what) const {
        const uint64_t avail = f.size_ - f.base_;
        if (addr == kUndef) fail("HDF5: corrupt file: %s has an undefined address", what);
        if (addr >= avail || (len != kUndef && len > avail - addr))
            fail("HDF5: truncated file: %s at 0x%llx extends past end of file (size %llu)", what,
                 (ull)(f.base_ + addr), (ull)f.size_);
        const uint64_t b = f.base_ + addr;
        return Cur{f.data_, f.size_, b, b, len == kUndef ? f.size_ : b + len, f.so_, f.sl_, what};
    }

    // ---- object headers -------------------------------------------------------------------

    // All messages of the object header at `addr`, following continuation blocks.
    std::vector<Msg> header(uint64_t addr) {
        Cur c = at(addr, kUndef, "object header");
        std::vector<Cur> blocks;
        const bool v2 = c.left() >= 4 && std::memcmp(f.data_ + c.pos, "OHDR", 4) == 0;
        bool crt_order = false;  // v2: messages carry a creation order field
        if (v2) {
            c.skip(4);
            if (c.u(1) != 2) fail("HDF5: unsupported object header version at 0x%llx", (ull)c.start);
            unsigned flags = (unsigned)c.u(1);
            crt_order = flags & 0x04;
            if (flags & 0x20) c.skip(16);  // times
            if (flags & 0x10) c.skip(4);   // attribute phase change values
            blocks.push_back(c.sub(c.u(1u << (flags & 3))));
        } else {
            unsigned ver = (unsigned)c.u(1);
            if (ver != 1) fail("HDF5: corrupt file: no object header at 0x%llx", (ull)c.start);
            c.skip(7);  // reserved, message count, reference count
            uint64_t n = c.u(4);
            c.skip(4);  // padding to 8-byte alignment
            blocks.push_back(c.sub(n));
        }

        // Byte ranges read so far: a continuation block overlapping one of them would read
        // the same messages again (a loop, or many copies of one large message).
        std::map<uint64_t, uint64_t> read{{c.start, blocks[0].end}};
        std::vector<Msg> out;
        for (size_t i = 0; i < blocks.size(); i++) {
            Cur b = blocks[i];
            if (i > 0 && v2) {
                if (!b.sig("OCHK"))
                    fail("HDF5: corrupt file: bad object header continuation block at 0x%llx", (ull)b.start);
                if (b.left() < 4)
                    fail("HDF5: corrupt file: object header continuation block at 0x%llx too short",
                         (ull)b.start);
                b.end -= 4;  // checksum
            }
            for (;;) {
                unsigned type, flags;
                uint64_t size;
                if (v2) {
                    if (b.left() < (crt_order ? 6u : 4u)) break;  // gap at the end of a chunk
                    type = (unsigned)b.u(1);
                    size = b.u(2);
                    flags = (unsigned)b.u(1);
                    if (crt_order) b.skip(2);
                } else {
                    if (b.left() < 8) break;
                    type = (unsigned)b.u(2);
                    size = b.u(2);
                    flags = (unsigned)b.u(1);
                    b.skip(3);
                }
                Cur body = b.sub(size);
                body.what = "object header message";
                tick();
                if (type == 0x10) {  // continuation: address + length of the next block
                    uint64_t a = body.addr(), n = body.len();
                    Cur next = at(a, n, "object header continuation block");
                    const uint64_t lo = next.start, hi = std::max(next.end, lo + 1);  // empty: 1 byte
                    auto it = read.upper_bound(lo);
                    if ((it != read.end() && it->first < hi) || (it != read.begin() && std::prev(it)->second > lo))
                        fail("HDF5: corrupt file: object header continuation loop at 0x%llx",
                             (ull)(f.base_ + a));
                    read.emplace(lo, hi);
                    blocks.push_back(next);
                } else {
                    if (out.size() >= kMaxMessages)
                        fail("HDF5: corrupt file: object header at 0x%llx has too many messages",
                             (ull)(f.base_ + addr));
                    out.push_back(Msg{type, flags, body});
                }
            }
        }
        return out;
    }

    // ---- groups ---------------------------------------------------------------------------

    // Appends a link; a group cannot hold more links than its file has room for (B-tree DAGs).
    void add(std::vector<Link>& out, Link&& l) {
        if (out.size() > f.size_ / 8) fail("HDF5: corrupt file: group has more links than the file can hold");
        out.push_back(std::move(l));
    }

    Link parse_link(Cur c) {
        if (c.u(1) != 1) fail("HDF5: unsupported link message version");
        unsigned fl = (unsigned)c.u(1);
        unsigned type = (fl & 0x08) ? (unsigned)c.u(1) : 0;
        if (fl & 0x04) c.skip(8);  // creation order
        if (fl & 0x10) c.skip(1);  // name character set
        uint64_t n = c.u(1u << (fl & 3));
        const char* p = (const char*)c.bytes(n);
        tick(n);  // the name is copied
        std::string name(p, (size_t)n);
        if (type == 0) return Link{std::move(name), c.addr(), true};
        return Link{std::move(name), kUndef, false};  // soft or external link: reported, never followed
    }

    // Old-style group: v1 B-tree (type 0) over symbol table nodes, names in a local heap.
    void old_group(uint64_t btree, uint64_t heap, std::vector<Link>& out) {
        Cur h = at(heap, 8 + 2 * f.sl_ + f.so_, "local heap");
        h.head("HEAP", 0);
        h.skip(3);
        uint64_t size = h.len();
        h.len();  // free list
        Cur names = at(h.addr(), size, "local heap data");
        std::set<uint64_t> seen;
        group_node(btree, names, -1, 0, seen, out);
    }

    // A tree node reached a second time in one walk (a DAG or a cycle) would repeat its
    // whole subtree; valid files never share nodes.
    static void visit(std::set<uint64_t>& seen, uint64_t addr, const char* what) {
        if (!seen.insert(addr).second) fail("HDF5: corrupt file: %s at 0x%llx reached twice", what, (ull)addr);
    }

    void group_node(uint64_t addr, const Cur& names, int level, int depth, std::set<uint64_t>& seen,
                    std::vector<Link>& out) {
        if (depth > kMaxDepth) fail("HDF5: corrupt file: group B-tree deeper than %d levels", kMaxDepth);
        Cur c = at(addr, kUndef, "group B-tree node");
        visit(seen, c.start, "group B-tree node");
        c.head("TREE", 0);  // node type 0: group
        int lev = (int)c.u(1);
        unsigned n = (unsigned)c.u(2);
        if (level >= 0 && lev != level)
            fail("HDF5: corrupt file: group B-tree node at 0x%llx has level %d, expected %d", (ull)c.start,
                 lev, level);
        c.skip(2 * f.so_);  // siblings
        tick(n);
        c.need((uint64_t)n * (f.sl_ + f.so_));
        std::vector<uint64_t> kids(n);
        for (unsigned i = 0; i < n; i++) {
            c.len();  // key: heap offset of the last name in the child
            kids[i] = c.addr();
        }
        for (uint64_t k : kids) {
            if (lev > 0)
                group_node(k, names, lev - 1, depth + 1, seen, out);
            else
                symbol_node(k, names, seen, out);
        }
    }

    void symbol_node(uint64_t addr, const Cur& names, std::set<uint64_t>& seen, std::vector<Link>& out) {
        Cur c = at(addr, 8, "symbol table node");
        visit(seen, c.start, "symbol table node");
        c.head("SNOD", 1);
        c.skip(1);
        uint64_t n = c.u(2);
        Cur e = at(addr + 8, n * (f.sl_ + f.so_ + 24), "symbol table node");
        tick(n);
        for (uint64_t i = 0; i < n; i++) {
            uint64_t off = e.len();
            uint64_t obj = e.addr();
            const bool soft = e.u(4) == 2;  // cache type 2: soft link, target in the scratch pad
            e.skip(20);                     // reserved, scratch pad
            if (off >= names.end - names.start)
                fail("HDF5: corrupt file: link name offset %llu outside local heap at 0x%llx", (ull)off,
                     (ull)names.start);
            const char* p = (const char*)f.data_ + names.start + off;
            const void* z = std::memchr(p, 0, (size_t)(names.end - names.start - off));
            if (!z)
                fail("HDF5: corrupt file: unterminated link name in local heap at 0x%llx", (ull)names.start);
            size_t len = (size_t)((const char*)z - p);
            tick(len);
            add(out, Link{std::string(p, len), soft ? kUndef : obj, !soft});
        }
    }

    // ---- fractal heap and v2 B-tree (dense link / attribute storage) -----------------------

    FHeap open_fheap(uint64_t addr) {
        Cur c = at(addr, kUndef, "fractal heap header");
        c.head("FRHP", 0);
        FHeap h;
        h.id_len = (unsigned)c.u(2);
        unsigned filter_len = (unsigned)c.u(2);
        h.flags = (unsigned)c.u(1);
        uint64_t max_man = c.u(4);
        c.len();
        c.addr();
        c.len();
        c.addr();                             // huge-object and free-space bookkeeping
        for (int i = 0; i < 8; i++) c.len();  // space and object statistics
        h.width = (unsigned)c.u(2);
        h.start = c.len();
        uint64_t max_direct = c.len();
        unsigned bits = (unsigned)c.u(2);
        c.skip(2);  // starting number of rows
        h.root = c.addr();
        h.cur_rows = (unsigned)c.u(2);
        if (filter_len) fail("HDF5: unsupported: filtered fractal heap at 0x%llx", (ull)c.start);
        if (!is_pow2(h.width) || !is_pow2(h.start) || !is_pow2(max_direct) || max_direct < h.start ||
            bits < 8 || bits > 64 || floor_log2(h.width) + floor_log2(max_direct) + h.cur_rows > 62)
            fail("HDF5: corrupt file: inconsistent fractal heap header at 0x%llx", (ull)c.start);
        h.rows_direct = floor_log2(max_direct) - floor_log2(h.start) + 2;
        h.off_size = (bits + 7) / 8;
        h.len_size = std::min((floor_log2(max_direct) + 7) / 8, limit_enc(max_man));
        return h;
    }

    // The bytes of the heap object whose ID is at the front of `id`. `seen` collects the
    // objects of one index: each link or attribute has its own object, and one object
    // referenced by many records would be copied once per record.
    Cur fheap_object(const FHeap& h, Cur id, std::set<uint64_t>& seen) {
        unsigned b0 = (unsigned)id.u(1);
        unsigned type = (b0 >> 4) & 3;
        if (b0 >> 6) fail("HDF5: unsupported fractal heap ID version");
        if (type == 2) {  // tiny: stored inside the ID
            uint64_t n = (h.id_len > 18) ? (((b0 & 0x0f) << 8) | id.u(1)) + 1 : (b0 & 0x0f) + 1;
            return id.sub(n);
        }
        if (type != 0) fail("HDF5: unsupported: 'huge' fractal heap object");
        uint64_t off = id.u(h.off_size), len = id.u(h.len_size);

        // Descend from the root through indirect blocks to the direct block holding `off`.
        uint64_t baddr = h.root, boff = 0, bsize = h.start;
        unsigned nrows = h.cur_rows;
        for (int depth = 0; nrows > 0; depth++) {
            if (depth > kMaxDepth) fail("HDF5: corrupt file: fractal heap deeper than %d levels", kMaxDepth);
            tick();
            Cur ib = at(baddr, kUndef, "fractal heap indirect block");
            ib.head("FHIB", 0);
            ib.skip(f.so_);
            if (ib.u(h.off_size) != boff)
                fail("HDF5: corrupt file: fractal heap block offset mismatch at 0x%llx", (ull)ib.start);
            uint64_t rel = off - boff, rstart = 0, rsize = 0, col = 0;
            unsigned r = 0;
            for (; r < nrows; r++) {
                rsize = r == 0 ? h.start : h.start << (r - 1);
                if (rel < rstart + rsize * h.width) {
                    col = (rel - rstart) / rsize;
                    break;
                }
                rstart += rsize * h.width;
            }
            if (r == nrows) fail("HDF5: corrupt file: fractal heap offset %llu outside the heap", (ull)off);
            uint64_t ndirect = (uint64_t)std::min(nrows, h.rows_direct) * h.width;
            uint64_t entry =
                r < h.rows_direct ? r * h.width + col : ndirect + (r - h.rows_direct) * h.width + col;
            ib.skip(entry * f.so_);
            baddr = ib.addr();
            if (baddr == kUndef) fail("HDF5: corrupt file: fractal heap object in an unallocated block");
            boff += rstart + col * rsize;
            bsize = rsize;
            if (r < h.rows_direct) {
                nrows = 0;
            } else {
                int n = (int)floor_log2(rsize) - (int)floor_log2(h.start * h.width) + 1;
                if (n <= 0 || (unsigned)n >= nrows)
                    fail("HDF5: corrupt file: bad fractal heap indirect block geometry");
                nrows = (unsigned)n;
            }
        }
        Cur db = at(baddr, bsize, "fractal heap direct block");
        db.head("FHDB", 0);
        db.skip(f.so_);
        if (db.u(h.off_size) != boff)
            fail("HDF5: corrupt file: fractal heap block offset mismatch at 0x%llx", (ull)db.start);
        uint64_t head = db.pos - db.start + ((h.flags & 2) ? 4 : 0), rel = off - boff;
        if (rel < head || rel > bsize || len > bsize - rel)
            fail("HDF5: corrupt file: fractal heap object (offset %llu, %llu bytes) outside its block",
                 (ull)off, (ull)len);
        db.pos = db.start + rel;
        if (!seen.insert(db.pos).second)
            fail("HDF5: corrupt file: fractal heap object at 0x%llx referenced twice", (ull)db.pos);
        return db.sub(len);
    }

    struct Bt2 {
        unsigned type, rsize, nrec_size;
        uint64_t node_size;
        std::vector<uint64_t> max_nrec;
        std::vector<unsigned> cum_size;  // bytes of a subtree's total record count, per depth
    };

    // Calls fn(record) for every record of the v2 B-tree at `addr`, in key order.
    void walk_bt2(uint64_t addr, unsigned type, const std::function<void(Cur)>& fn) {
        Cur c = at(addr, kUndef, "v2 B-tree header");
        c.head("BTHD", 0);
        Bt2 t;
        t.type = (unsigned)c.u(1);
        t.node_size = c.u(4);
        t.rsize = (unsigned)c.u(2);
        unsigned depth = (unsigned)c.u(2);
        c.skip(2);  // split / merge percentages
        uint64_t root = c.addr();
        unsigned root_n = (unsigned)c.u(2);
        if (t.type != type)
            fail("HDF5: corrupt file: v2 B-tree at 0x%llx has type %u, expected %u", (ull)c.start, t.type,
                 type);
        if (t.rsize == 0 || t.node_size < 10 + (uint64_t)t.rsize || depth > (unsigned)kMaxDepth)
            fail("HDF5: corrupt file: inconsistent v2 B-tree header at 0x%llx", (ull)c.start);
        // Node capacities per depth decide the width of the child-pointer fields (H5B2__hdr_init).
        t.max_nrec.push_back((t.node_size - 10) / t.rsize);
        t.cum_size.push_back(0);
        t.nrec_size = limit_enc(t.max_nrec[0]);
        uint64_t cum = t.max_nrec[0];
        for (unsigned d = 1; d <= depth; d++) {
            uint64_t ptr = f.so_ + t.nrec_size + t.cum_size[d - 1];
            if (t.node_size < 10 + ptr)
                fail("HDF5: corrupt file: inconsistent v2 B-tree header at 0x%llx", (ull)c.start);
            uint64_t m = (t.node_size - 10 - ptr) / (t.rsize + ptr);
            cum = (cum > (kUndef - m) / (m + 1)) ? kUndef : (m + 1) * cum + m;
            t.max_nrec.push_back(m);
            t.cum_size.push_back(limit_enc(cum));
        }
        std::set<uint64_t> seen;
        if (root != kUndef && root_n > 0) bt2_node(t, root, root_n, depth, seen, fn);
    }

    void bt2_node(const Bt2& t, uint64_t addr, uint64_t nrec, unsigned d, std::set<uint64_t>& seen,
                  const std::function<void(Cur)>& fn) {
        tick(nrec + 1);
        if (nrec > t.max_nrec[d])
            fail("HDF5: corrupt file: v2 B-tree node at 0x%llx claims %llu records", (ull)addr, (ull)nrec);
        Cur c = at(addr, t.node_size, "v2 B-tree node");
        visit(seen, c.start, "v2 B-tree node");
        c.head(d ? "BTIN" : "BTLF", 0);
        if (c.u(1) != t.type) fail("HDF5: corrupt file: bad v2 B-tree node at 0x%llx", (ull)c.start);
        Cur recs = c.sub(nrec * t.rsize);
        if (d == 0) {
            for (uint64_t i = 0; i < nrec; i++) fn(recs.sub(t.rsize));
            return;
        }
        std::vector<std::pair<uint64_t, uint64_t>> kids;
        for (uint64_t i = 0; i <= nrec; i++) {
            uint64_t a = c.addr(), n = c.u(t.nrec_size);
            if (d > 1) c.u(t.cum_size[d - 1]);
            kids.emplace_back(a, n);
        }
        for (uint64_t i = 0; i <= nrec; i++) {
            bt2_node(t, kids[i].first, kids[i].second, d - 1, seen, fn);
            if (i < nrec) fn(recs.sub(t.rsize));
        }
    }

    // Links of the group whose header messages are `msgs`; fails if it is not a group.
    std::vector<Link> links(const std::vector<Msg>& msgs, uint64_t addr) {
        std::vector<Link> out;
        bool group = false;
        for (const Msg& m : msgs) {
            Cur c = m.body;
            if (m.type == 0x11) {  // symbol table: old-style group
                group = true;
                uint64_t bt = c.addr(), heap = c.addr();
                old_group(bt, heap, out);
            } else if (m.type == 0x06) {  // link message: compact new-style group
                group = true;
                add(out, parse_link(c));
            } else if (m.type == 0x02) {  // link info: dense storage if it has a heap
                group = true;
                if (c.u(1) != 0) fail("HDF5: unsupported link info message version");
                if (c.u(1) & 1) c.skip(8);
                uint64_t heap = c.addr(), bt = c.addr();
                if (heap == kUndef) continue;
                FHeap h = open_fheap(heap);
                std::set<uint64_t> objs;
                walk_bt2(bt, 5, [&](Cur rec) {
                    rec.skip(4);  // name hash
                    add(out, parse_link(fheap_object(h, rec, objs)));
                });
            } else if (m.type == 0x0A) {  // group info
                group = true;
            }
        }
        if (!group) fail("HDF5: object at 0x%llx is not a group", (ull)(f.base_ + addr));
        return out;
    }

    static bool is_group(const std::vector<Msg>& msgs) {
        for (const Msg& m : msgs)
            if (m.type == 0x11 || m.type == 0x06 || m.type == 0x02 || m.type == 0x0A) return true;
        return false;
    }

    // Object header address of `path`; kUndef if a component is missing and allow_missing.
    uint64_t resolve(const std::string& path, bool allow_missing) {
        uint64_t cur = f.root_;
        size_t i = 0;
        while (i < path.size()) {
            size_t j = path.find('/', i);
            if (j == std::string::npos) j = path.size();
            std::string name = path.substr(i, j - i);
            i = j + 1;
            if (name.empty() || name == ".") continue;
            std::vector<Link> ls = links(header(cur), cur);
            auto it = std::find_if(ls.begin(), ls.end(), [&](const Link& l) { return l.name == name; });
            if (it == ls.end()) {
                if (allow_missing) return kUndef;
                fail("HDF5: no object named '%s' in '%s'", printable(name).c_str(), printable(path).c_str());
            }
            if (!it->hard) fail("HDF5: unsupported: '%s' is a soft or external link", printable(name).c_str());
            cur = it->addr;
        }
        return cur;
    }

    // ---- attributes -----------------------------------------------------------------------

    Attr parse_attr(Cur c) {
        unsigned ver = (unsigned)c.u(1);
        if (ver < 1 || ver > 3) fail("HDF5: unsupported attribute message version %u", ver);
        unsigned fl = (unsigned)c.u(1);
        uint64_t nlen = c.u(2), tlen = c.u(2), slen = c.u(2);
        if (ver >= 2 && (fl & 3)) fail("HDF5: unsupported: attribute with a shared datatype or dataspace");
        if (ver == 3) c.skip(1);       // name character set
        auto part = [&](uint64_t n) {  // version 1 pads each part to 8 bytes
            Cur p = c.sub(ver == 1 ? (n + 7) & ~uint64_t(7) : n);
            p.end = p.pos + n;
            return p;
        };
        Cur name = part(nlen);
        Attr a;
        const char* p = (const char*)name.bytes(nlen);
        tick(nlen);  // the name is copied
        const void* z = std::memchr(p, 0, (size_t)nlen);
        a.name.assign(p, z ? (size_t)((const char*)z - p) : (size_t)nlen);
        a.type = part(tlen);
        a.space = part(slen);
        a.data = c;
        return a;
    }

    std::vector<Attr> attrs(const std::vector<Msg>& msgs) {
        std::vector<Attr> out;
        for (const Msg& m : msgs) {
            if (m.type == 0x0C) {
                if (m.flags & 2) fail("HDF5: unsupported: shared attribute message");
                out.push_back(parse_attr(m.body));
            } else if (m.type == 0x15) {  // attribute info: dense storage if it has a heap
                Cur c = m.body;
                if (c.u(1) != 0) fail("HDF5: unsupported attribute info message version");
                if (c.u(1) & 1) c.skip(2);
                uint64_t heap = c.addr(), bt = c.addr();
                if (heap == kUndef) continue;
                FHeap h = open_fheap(heap);
                std::set<uint64_t> objs;
                walk_bt2(bt, 8, [&](Cur rec) {
                    Cur id = rec.sub(8);
                    if (rec.u(1) & 2) fail("HDF5: unsupported: shared attribute message");
                    if (out.size() >= kMaxMessages) fail("HDF5: corrupt file: too many attributes");
                    out.push_back(parse_attr(fheap_object(h, id, objs)));
                });
            }
        }
        return out;
    }

    static Type parse_type(Cur c) {
        Type t;
        unsigned b = (unsigned)c.u(1);
        t.cls = b & 15;
        t.bits = (unsigned)c.u(3);
        t.size = c.u(4);
        t.props = c;
        return t;
    }

    static Space parse_space(Cur c) {
        Space s;
        unsigned ver = (unsigned)c.u(1), rank = (unsigned)c.u(1);
        c.skip(1);  // flags
        if (ver == 1) {
            c.skip(5);
        } else if (ver == 2) {
            unsigned type = (unsigned)c.u(1);
            if (type > 2) fail("HDF5: corrupt file: bad dataspace type %u", type);
            s.null = type == 2;
        } else {
            fail("HDF5: unsupported dataspace message version %u", ver);
        }
        if (rank > kMaxRank) fail("HDF5: corrupt file: dataspace rank %u", rank);
        for (unsigned i = 0; i < rank; i++) s.dims.push_back(c.len());
        return s;
    }

    std::string global_heap_object(uint64_t coll, uint64_t index, uint64_t len) {
        Cur c = at(coll, 8 + f.sl_, "global heap collection");
        c.head("GCOL", 1);
        c.skip(3);
        uint64_t size = c.len();
        if (size < 8 + f.sl_) fail("HDF5: corrupt file: bad global heap collection at 0x%llx", (ull)c.start);
        Cur h = at(coll, size, "global heap collection");
        h.skip(8 + f.sl_);
        while (h.left() >= 8 + f.sl_) {
            tick();
            uint64_t i = h.u(2);
            h.skip(6);  // reference count, reserved
            uint64_t n = h.len();
            if (i == 0) break;  // free space up to the end of the collection
            if (n > h.left())
                fail("HDF5: corrupt file: global heap object overruns collection at 0x%llx", (ull)h.start);
            if (i == index) {
                if (len > n) fail("HDF5: corrupt file: string longer than its global heap object");
                tick(len);
                return std::string((const char*)h.bytes(len), (size_t)len);
            }
            h.skip(std::min((n + 7) & ~uint64_t(7), h.left()));
        }
        fail("HDF5: corrupt file: global heap object %llu not found in collection at 0x%llx", (ull)index,
             (ull)h.start);
    }

    std::vector<std::string> strings(const Attr& a) {
        Type t = parse_type(a.type);
        uint64_t n = numel(parse_space(a.space));
        Cur d = a.data;
        std::vector<std::string> out;
        if (t.cls == 3) {  // fixed-length
            if (t.size == 0) fail("HDF5: corrupt file: zero-length string type");
            if (n > d.left() / t.size)
                fail("HDF5: corrupt file: attribute '%s' has less data than its shape needs", printable(a.name).c_str());
            tick(n * (t.size + kStringCost));
            for (uint64_t i = 0; i < n; i++) {
                const char* p = (const char*)d.bytes(t.size);
                size_t len = (size_t)t.size;
                if ((t.bits & 15) == 2) {  // space padded
                    while (len && p[len - 1] == ' ') len--;
                } else {  // null terminated or null padded
                    const void* z = std::memchr(p, 0, len);
                    if (z) len = (size_t)((const char*)z - p);
                }
                out.emplace_back(p, len);
            }
        } else if (t.cls == 9 && (t.bits & 15) == 1) {  // variable-length: length + global heap ID
            uint64_t es = 4 + f.so_ + 4;
            if (n > d.left() / es)
                fail("HDF5: corrupt file: attribute '%s' has less data than its shape needs", printable(a.name).c_str());
            uint64_t total = 0;
            for (uint64_t i = 0; i < n; i++) {
                uint64_t len = d.u(4), coll = d.addr(), index = d.u(4);
                tick(kStringCost);
                total += len;
                if (total > f.size_)
                    fail("HDF5: corrupt file: attribute '%s' strings longer than the file", printable(a.name).c_str());
                out.push_back(len ? global_heap_object(coll, index, len) : std::string());
            }
        } else {
            fail("HDF5: attribute '%s' is not a string (datatype class %s)", printable(a.name).c_str(),
                 class_name(t.cls));
        }
        return out;
    }

    // ---- datasets -------------------------------------------------------------------------

    static DType float_type(const Type& t) {
        if (t.cls != 1)
            fail(
                "HDF5: unsupported datatype %s (only little-endian IEEE float16/32/64 datasets are "
                "supported)",
                class_name(t.cls));
        if (t.bits & 0x41) fail("HDF5: unsupported datatype: big-endian float");
        Cur p = t.props;
        unsigned off = (unsigned)p.u(2), prec = (unsigned)p.u(2);
        p.skip(1);
        unsigned esize = (unsigned)p.u(1);
        p.skip(1);
        unsigned msize = (unsigned)p.u(1);
        if (off == 0 && prec == 8 * t.size) {
            if (t.size == 2 && esize == 5 && msize == 10) return DType::F16;
            if (t.size == 4 && esize == 8 && msize == 23) return DType::F32;
            if (t.size == 8 && esize == 11 && msize == 52) return DType::F64;
        }
        fail("HDF5: unsupported datatype: non-IEEE %llu-byte float", (ull)t.size);
    }

    static void check_filters(Cur c) {
        unsigned ver = (unsigned)c.u(1), n = (unsigned)c.u(1);
        if (n == 0) return;
        if (ver == 1) c.skip(6);
        unsigned id = (unsigned)c.u(2);
        fail("HDF5: unsupported HDF5 filter %u (%s): compressed or filtered datasets cannot be read", id,
             filter_name(id));
    }

    H5Dataset dataset(uint64_t addr) {
        std::vector<Msg> msgs = header(addr);
        const Msg *sp = nullptr, *ty = nullptr, *ly = nullptr, *fp = nullptr;
        for (const Msg& m : msgs) {
            if (m.type == 0x01)
                sp = &m;
            else if (m.type == 0x03)
                ty = &m;
            else if (m.type == 0x08)
                ly = &m;
            else if (m.type == 0x0B)
                fp = &m;
        }
        if (!ly) fail("HDF5: object is not a dataset");
        if (!sp || !ty) fail("HDF5: corrupt file: dataset without dataspace or datatype");
        if ((sp->flags | ty->flags) & 2) fail("HDF5: unsupported: shared (committed) datatype or dataspace");
        H5Dataset ds;
        ds.address = addr;
        ds.dtype = float_type(parse_type(ty->body));
        const uint64_t es = dtype_size(ds.dtype);
        Space s = parse_space(sp->body);
        if (s.null) fail("HDF5: dataset has a null dataspace (no shape)");
        const uint64_t n = numel(s);
        for (uint64_t d : s.dims) {
            if (d > (uint64_t(1) << 62)) fail("HDF5: corrupt file: absurd dataset dimension");
            ds.shape.push_back((int64_t)d);
        }
        if (n > (uint64_t(1) << 62) / es) fail("HDF5: corrupt file: absurd dataset size");
        const uint64_t nbytes = n * es;
        if (nbytes > f.size_) fail("HDF5: dataset needs %llu bytes, more than the whole file", (ull)nbytes);
        ds.nbytes = (size_t)nbytes;
        if (fp) check_filters(fp->body);

        Cur c = ly->body;
        unsigned ver = (unsigned)c.u(1), cls = (unsigned)c.u(1);
        if (ver < 3 || ver > 4) fail("HDF5: unsupported data layout message version %u", ver);
        ds.data = f.data_;  // valid (never dereferenced) pointer for 0 bytes
        if (cls == 0) {     // compact: the values are in the header
            uint64_t size = c.u(2);
            Cur d = c.sub(size);
            if (size != nbytes)
                fail("HDF5: corrupt file: compact dataset has %llu bytes, its shape needs %llu", (ull)size,
                     (ull)nbytes);
            ds.data = f.data_ + d.pos;
        } else if (cls == 1) {  // contiguous: a view into the file
            uint64_t a = c.addr(), size = c.len();
            if (nbytes == 0) return ds;
            if (a == kUndef) fail("HDF5: dataset has no data written (storage not allocated)");
            if (size < nbytes)
                fail("HDF5: corrupt file: contiguous storage of %llu bytes, shape needs %llu", (ull)size,
                     (ull)nbytes);
            ds.data = f.data_ + at(a, nbytes, "dataset data").pos;
        } else if (cls == 2) {
            chunked(c, ver, s.dims, es, ds);
        } else {
            fail("HDF5: unsupported data layout class %u", cls);
        }
        return ds;
    }

    // Assembles a chunked dataset into ds.owned. Every element must be covered by exactly one chunk.
    void chunked(Cur c, unsigned ver, const std::vector<uint64_t>& dims, uint64_t es, H5Dataset& ds) {
        const size_t rank = dims.size();
        std::vector<uint64_t> chunk;
        unsigned nd, index = 0;  // index 0: v1 B-tree (layout version 3)
        uint64_t idx_addr;
        if (ver == 3) {
            nd = (unsigned)c.u(1);
            idx_addr = c.addr();
            for (unsigned i = 0; i < nd; i++) chunk.push_back(c.u(4));
        } else {
            unsigned flags = (unsigned)c.u(1);
            nd = (unsigned)c.u(1);
            unsigned enc = (unsigned)c.u(1);
            if (enc < 1 || enc > 8) fail("HDF5: corrupt file: bad chunk dimension encoding");
            for (unsigned i = 0; i < nd; i++) chunk.push_back(c.u(enc));
            index = (unsigned)c.u(1);
            if (index == 1 && (flags & 2))
                fail("HDF5: unsupported HDF5 filter on single-chunk dataset");
            else if (index == 3)
                c.skip(1);  // page bits, repeated in the fixed array header
            else if (index == 4)
                c.skip(5);  // extensible array parameters
            else if (index == 5)
                c.skip(6);  // v2 B-tree parameters
            else if (index != 1 && index != 2)
                fail("HDF5: unsupported chunk index type %u", index);
            idx_addr = c.addr();
        }
        if (rank == 0 || nd != rank + 1 || chunk[rank] != es)
            fail("HDF5: corrupt file: chunk dimensions do not match the dataset");
        chunk.pop_back();
        uint64_t cbytes = es, nchunks = 1;
        for (size_t d = 0; d < rank; d++) {
            if (chunk[d] == 0 || chunk[d] > f.size_) fail("HDF5: corrupt file: bad chunk dimension");
            cbytes *= chunk[d];
            if (cbytes > f.size_) fail("HDF5: corrupt file: chunk larger than the file");
            nchunks *= (dims[d] + chunk[d] - 1) / chunk[d];
        }
        if (ds.nbytes == 0) return;
        if (index == 4) fail("HDF5: unsupported chunk index: extensible array (resizable dataset)");
        if (index == 5)
            fail("HDF5: unsupported chunk index: v2 B-tree (dataset resizable in several dimensions)");
        if (idx_addr == kUndef) fail("HDF5: dataset has no data written (no chunks allocated)");
        // Chunks are stored unfiltered, so all datasets assembled from one file fit in the file:
        // more means the same data is being assembled again and again.
        if (ds.nbytes > f.size_ + kAssembleSlack - f.assembled_)
            fail("HDF5: assembling chunked datasets of more than the file size plus %llu MB (%llu bytes so far, "
                 "%llu more needed); is a dataset read many times?", (ull)(kAssembleSlack >> 20), (ull)f.assembled_,
                 (ull)ds.nbytes);
        f.assembled_ += ds.nbytes;
        ds.owned.reset(new std::vector<uint8_t>(ds.nbytes));
        uint8_t* out = ds.owned->data();
        ds.data = out;

        uint64_t copied = 0;
        std::vector<uint64_t> ext(rank), idx(rank);
        std::vector<bool> stored(nchunks);  // nchunks <= elements <= file size
        // Copies the part of the chunk at grid offset `off` that lies inside the dataset.
        auto put = [&](const uint64_t* off, uint64_t caddr) {
            tick();
            uint64_t total = 1, k = 0;
            for (size_t d = 0; d < rank; d++) {
                if (off[d] % chunk[d] || off[d] >= dims[d])
                    fail("HDF5: corrupt file: chunk offset out of range");
                ext[d] = std::min(chunk[d], dims[d] - off[d]);
                total *= ext[d];
                idx[d] = 0;
                k = k * ((dims[d] + chunk[d] - 1) / chunk[d]) + off[d] / chunk[d];
            }
            if (stored[k]) fail("HDF5: corrupt file: chunk %llu of the dataset is stored twice", (ull)k);
            stored[k] = true;
            copied += total * es;
            if (copied > ds.nbytes) fail("HDF5: corrupt file: overlapping chunks");
            const uint8_t* src = f.data_ + at(caddr, cbytes, "data chunk").pos;
            const uint64_t run = ext[rank - 1] * es;
            for (uint64_t r = 0, rows = total / ext[rank - 1]; r < rows; r++) {
                uint64_t s = 0, t = 0;
                for (size_t d = 0; d < rank; d++) {
                    uint64_t i = d + 1 < rank ? idx[d] : 0;
                    s = s * chunk[d] + i;
                    t = t * dims[d] + off[d] + i;
                }
                std::memcpy(out + t * es, src + s * es, (size_t)run);
                for (size_t d = rank - 1; d-- > 0;) {
                    if (++idx[d] < ext[d]) break;
                    idx[d] = 0;
                }
            }
        };
        // Grid offset of the i-th chunk in row-major chunk order.
        std::vector<uint64_t> off(rank);
        auto grid = [&](uint64_t i) {
            for (size_t d = rank; d-- > 0;) {
                uint64_t nc = (dims[d] + chunk[d] - 1) / chunk[d];
                off[d] = (i % nc) * chunk[d];
                i /= nc;
            }
            return off.data();
        };

        if (index == 0) {
            std::set<uint64_t> seen;
            chunk_node(idx_addr, -1, 0, rank, seen, [&](const uint64_t* o, uint64_t a, uint64_t size) {
                if (size < cbytes)
                    fail("HDF5: corrupt file: chunk of %llu bytes, expected %llu", (ull)size, (ull)cbytes);
                put(o, a);
            });
        } else if (index == 1) {  // single chunk
            put(grid(0), idx_addr);
        } else if (index == 2) {  // implicit: chunks stored back to back in grid order
            if (nchunks > (f.size_ - f.base_) / cbytes)
                fail("HDF5: truncated file: implicit chunk index past end of file");
            for (uint64_t i = 0; i < nchunks; i++) put(grid(i), idx_addr + i * cbytes);
        } else {  // fixed array of chunk addresses, possibly split into pages
            Cur h = at(idx_addr, kUndef, "fixed array header");
            h.head("FAHD", 0);
            unsigned client = (unsigned)h.u(1), esz = (unsigned)h.u(1), page_bits = (unsigned)h.u(1);
            uint64_t count = h.len(), db = h.addr();
            if (client != 0 || esz != f.so_)
                fail("HDF5: unsupported HDF5 filter (filtered chunks in fixed array index)");
            if (count != nchunks || page_bits > 32)
                fail("HDF5: corrupt file: fixed array at 0x%llx does not match the dataset", (ull)h.start);
            Cur b = at(db, kUndef, "fixed array data block");
            b.head("FADB", 0);
            const uint64_t page = uint64_t(1) << page_bits;
            if (count <= page) {
                b.skip(1 + f.so_);  // client id, header address
                for (uint64_t i = 0; i < count; i++) {
                    uint64_t a = b.addr();
                    if (a != kUndef) put(grid(i), a);
                }
            } else {  // pages of `page` entries, each followed by a checksum
                const uint64_t npages = (count + page - 1) / page;
                const uint64_t first = db + 10 + f.so_ + (npages + 7) / 8;
                for (uint64_t p = 0; p < npages; p++) {
                    uint64_t k = std::min(page, count - p * page);
                    Cur pc = at(first + p * (page * f.so_ + 4), k * f.so_, "fixed array page");
                    for (uint64_t i = 0; i < k; i++) {
                        uint64_t a = pc.addr();
                        if (a != kUndef) put(grid(p * page + i), a);
                    }
                }
            }
        }
        if (copied != ds.nbytes)
            fail("HDF5: dataset has chunks that were never written (%llu of %llu bytes present)", (ull)copied,
                 (ull)ds.nbytes);
    }

    // v1 B-tree (type 1) of raw data chunks: calls fn(offsets, chunk address, chunk bytes).
    void chunk_node(uint64_t addr, int level, int depth, size_t rank, std::set<uint64_t>& seen,
                    const std::function<void(const uint64_t*, uint64_t, uint64_t)>& fn) {
        if (depth > kMaxDepth) fail("HDF5: corrupt file: chunk B-tree deeper than %d levels", kMaxDepth);
        Cur c = at(addr, kUndef, "chunk B-tree node");
        visit(seen, c.start, "chunk B-tree node");
        c.head("TREE", 1);  // node type 1: raw data chunks
        int lev = (int)c.u(1);
        unsigned n = (unsigned)c.u(2);
        if (level >= 0 && lev != level)
            fail("HDF5: corrupt file: chunk B-tree node at 0x%llx has level %d, expected %d", (ull)c.start,
                 lev, level);
        c.skip(2 * f.so_);  // siblings
        tick(n);
        c.need((uint64_t)n * (8 + 8 * (rank + 1) + f.so_));
        std::vector<uint64_t> offs(n * (rank + 1)), sizes(n), kids(n);
        for (unsigned i = 0; i < n; i++) {
            sizes[i] = c.u(4);
            c.skip(4);  // filter mask
            for (size_t d = 0; d <= rank; d++) offs[i * (rank + 1) + d] = c.u(8);
            if (offs[i * (rank + 1) + rank] != 0)
                fail("HDF5: corrupt file: bad chunk key at 0x%llx", (ull)c.start);
            kids[i] = c.addr();
        }
        for (unsigned i = 0; i < n; i++) {
            if (lev > 0)
                chunk_node(kids[i], lev - 1, depth + 1, rank, seen, fn);
            else
                fn(&offs[i * (rank + 1)], kids[i], sizes[i]);
        }
    }
};

// ---- public API ---------------------------------------------------------------------------

namespace {

// Runs fn, appending what was being read to any error message.
template <class F>
auto in_context(const char* what, const std::string& path, F&& fn) -> decltype(fn()) {
    try {
        return fn();
    } catch (const Error& e) { fail("%s (reading %s '%s')", e.what(), what, printable(path).c_str()); }
}

}  // namespace

H5File::H5File(const uint8_t* data, size_t size) : data_(data), size_(size) {
    static const uint8_t kSig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    uint64_t off = 0;  // the superblock may follow a userblock of 512 * 2^k bytes
    for (;;) {
        if (!data || size < 8 || off > size - 8) fail("not an HDF5 file (bad signature)");
        if (std::memcmp(data + off, kSig, 8) == 0) break;
        off = off ? off * 2 : 512;
    }
    base_ = off;
    H5Reader r(*this);
    Cur c = r.at(0, kUndef, "superblock");
    c.skip(8);
    sb_version_ = (int)c.u(1);
    uint64_t stored_base, eof;
    if (sb_version_ == 0 || sb_version_ == 1) {
        c.skip(4);  // versions of free space, root group entry, reserved, shared header
        so_ = (unsigned)c.u(1);
        sl_ = (unsigned)c.u(1);
        c.skip(9 + (sb_version_ == 1 ? 4 : 0));  // reserved, B-tree K values, flags
    } else if (sb_version_ == 2 || sb_version_ == 3) {
        so_ = (unsigned)c.u(1);
        sl_ = (unsigned)c.u(1);
        c.skip(1);  // flags
    } else {
        fail("HDF5: unsupported superblock version %d", sb_version_);
    }
    if ((so_ != 2 && so_ != 4 && so_ != 8) || (sl_ != 2 && sl_ != 4 && sl_ != 8))
        fail("HDF5: corrupt file: bad sizes of offsets/lengths (%u/%u)", so_, sl_);
    c.so = so_;
    c.sl = sl_;
    stored_base = c.addr();
    if (sb_version_ < 2) {
        c.addr();  // free-space info
        eof = c.addr();
        c.addr();  // driver info
        c.len();   // root group symbol table entry: link name offset, then object header address
        root_ = c.addr();
    } else {
        c.addr();  // superblock extension
        eof = c.addr();
        root_ = c.addr();
    }
    // The end-of-file address is stored base-inclusive: its distance from the stored base is
    // the length of the HDF5 data.
    if (eof != kUndef && stored_base != kUndef && eof >= stored_base && eof - stored_base > size - base_)
        fail("HDF5: truncated file: superblock records %llu bytes of data, only %llu present",
             (ull)(eof - stored_base), (ull)(size - base_));
}

bool H5File::exists(const std::string& path) const {
    return in_context("object", path, [&] { return H5Reader(*this).resolve(path, true) != kUndef; });
}

bool H5File::is_group(const std::string& path) const {
    return in_context("object", path, [&] {
        H5Reader r(*this);
        return H5Reader::is_group(r.header(r.resolve(path, false)));
    });
}

std::vector<std::string> H5File::list(const std::string& group) const {
    return in_context("group", group, [&] {
        H5Reader r(*this);
        uint64_t a = r.resolve(group, false);
        std::vector<std::string> names;
        for (const Link& l : r.links(r.header(a), a)) names.push_back(l.name);
        std::sort(names.begin(), names.end());
        return names;
    });
}

std::vector<std::string> H5File::attribute_names(const std::string& path) const {
    return in_context("attributes of", path, [&] {
        H5Reader r(*this);
        std::vector<std::string> names;
        for (const Attr& a : r.attrs(r.header(r.resolve(path, false)))) names.push_back(a.name);
        return names;
    });
}

bool H5File::has_attribute(const std::string& path, const std::string& name) const {
    std::vector<std::string> names = attribute_names(path);
    return std::find(names.begin(), names.end(), name) != names.end();
}

std::vector<std::string> H5File::string_attribute(const std::string& path, const std::string& name) const {
    return in_context("attributes of", path, [&] {
        H5Reader r(*this);
        for (const Attr& a : r.attrs(r.header(r.resolve(path, false))))
            if (a.name == name) return r.strings(a);
        fail("HDF5: no attribute '%s'", printable(name).c_str());
    });
}

H5Dataset H5File::dataset(const std::string& path) const {
    return in_context("dataset", path, [&] {
        H5Reader r(*this);
        return r.dataset(r.resolve(path, false));
    });
}

}  // namespace cnnlens
