#include "io/safetensors.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <set>

#include "core/error.h"

namespace cnnlens {

namespace {

// A minimal JSON reader for the safetensors header: objects, arrays, strings, integers.
struct Json {
    const char* p;
    const char* end;
    int depth = 0;

    void ws() { while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++; }
    bool peek(char c) { ws(); return p < end && *p == c; }
    void expect(char c) {
        ws();
        if (p >= end || *p != c) fail("safetensors: malformed JSON header: expected '%c'", c);
        p++;
    }
    std::string string() {
        expect('"');
        std::string s;
        while (true) {
            if (p >= end) fail("safetensors: malformed JSON header: unterminated string");
            char c = *p++;
            if (c == '"') break;
            if (c == '\\') {
                if (p >= end) fail("safetensors: malformed JSON header: bad escape");
                char e = *p++;
                switch (e) {
                    case 'n': s += '\n'; break;
                    case 't': s += '\t'; break;
                    case 'r': s += '\r'; break;
                    case 'b': s += '\b'; break;
                    case 'f': s += '\f'; break;
                    case 'u': {
                        if (end - p < 4) fail("safetensors: malformed JSON header: bad \\u escape");
                        unsigned v = 0;
                        for (int i = 0; i < 4; i++) {
                            char h = *p++;
                            v = v * 16 + (h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
                                          : h >= 'A' && h <= 'F' ? h - 'A' + 10 : 0);
                        }
                        if (v < 0x80) s += (char)v;                       // names are ASCII in practice
                        else if (v < 0x800) { s += (char)(0xc0 | (v >> 6)); s += (char)(0x80 | (v & 63)); }
                        else { s += (char)(0xe0 | (v >> 12)); s += (char)(0x80 | ((v >> 6) & 63)); s += (char)(0x80 | (v & 63)); }
                        break;
                    }
                    default: s += e;
                }
            } else {
                s += c;
            }
        }
        return s;
    }
    uint64_t integer() {
        ws();
        if (p >= end || *p < '0' || *p > '9') fail("safetensors: malformed JSON header: expected a non-negative integer");
        uint64_t v = 0;
        while (p < end && *p >= '0' && *p <= '9') {
            if (v > (UINT64_MAX - 9) / 10) fail("safetensors: integer too large in header");
            v = v * 10 + (uint64_t)(*p++ - '0');
        }
        return v;
    }
    std::vector<uint64_t> int_array() {
        expect('[');
        std::vector<uint64_t> v;
        if (peek(']')) { p++; return v; }
        while (true) {
            v.push_back(integer());
            if (v.size() > 64) fail("safetensors: array too long in header");
            if (peek(',')) { p++; continue; }
            expect(']');
            return v;
        }
    }
    // Skips any JSON value (used for unknown fields).
    void skip() {
        ws();
        if (p >= end) fail("safetensors: malformed JSON header: unexpected end");
        if (++depth > 32) fail("safetensors: JSON header nested too deeply");
        if (*p == '"') string();
        else if (*p == '{' || *p == '[') {
            char close = *p == '{' ? '}' : ']';
            bool obj = *p == '{';
            p++;
            if (peek(close)) { p++; }
            else {
                while (true) {
                    if (obj) { string(); expect(':'); }
                    skip();
                    if (peek(',')) { p++; continue; }
                    expect(close);
                    break;
                }
            }
        } else {
            while (p < end && *p != ',' && *p != '}' && *p != ']') p++;
        }
        depth--;
    }
};


bool parse_dtype(const std::string& s, DType* out, size_t* elsize) {
    if (s == "F32") { *out = DType::F32; *elsize = 4; return true; }
    if (s == "F16") { *out = DType::F16; *elsize = 2; return true; }
    if (s == "BF16") { *out = DType::BF16; *elsize = 2; return true; }
    if (s == "F64") { *out = DType::F64; *elsize = 8; return true; }
    if (s == "I8") { *out = DType::I8; *elsize = 1; return true; }   // fc weights with row scales
    return false;
}

size_t int_dtype_size(const std::string& s) {
    if (s == "I64" || s == "U64") return 8;
    if (s == "I32" || s == "U32") return 4;
    if (s == "I16" || s == "U16") return 2;
    if (s == "I8" || s == "U8" || s == "BOOL" || s == "F8_E4M3" || s == "F8_E5M2") return 1;
    return 0;
}

}  // namespace

TensorFile load_safetensors(const uint8_t* data, size_t size) {
    if (size < 8) fail("safetensors: file too short (%zu bytes): not a safetensors file", size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | data[i];
    if (n < 2 || n > size - 8)
        fail("safetensors: header length %llu does not fit a file of %zu bytes (truncated or not safetensors)",
             (unsigned long long)n, size);
    if (n > (100u << 20)) fail("safetensors: header length %llu is absurdly large", (unsigned long long)n);
    const uint8_t* base = data + 8 + n;
    const uint64_t data_size = size - 8 - n;

    TensorFile tf;
    tf.format = "safetensors";
    std::string skipped;
    std::set<std::string> names;  // a repeated name would be two tensors, and readers disagree on which wins
    struct Span { uint64_t begin, end; std::string name; };
    std::vector<Span> spans;   // every non-empty tensor's bytes
    Json js{(const char*)data + 8, (const char*)data + 8 + n};
    js.expect('{');
    if (js.peek('}')) { js.p++; return tf; }
    while (true) {
        std::string key = js.string();
        js.expect(':');
        if (key == "__metadata__") {
            js.expect('{');
            if (js.peek('}')) js.p++;
            else while (true) {
                std::string k = js.string();
                js.expect(':');
                tf.metadata[k] = js.string();
                if (js.peek(',')) { js.p++; continue; }
                js.expect('}');
                break;
            }
        } else {
            if (!names.insert(key).second) fail("safetensors: tensor '%s' appears twice in the header", printable(key).c_str());
            std::string dtype;
            std::vector<uint64_t> shape, offs;
            bool have_shape = false;
            js.expect('{');
            while (!js.peek('}')) {
                std::string f = js.string();
                js.expect(':');
                if (f == "dtype") dtype = js.string();
                else if (f == "shape") { shape = js.int_array(); have_shape = true; }
                else if (f == "data_offsets") offs = js.int_array();
                else js.skip();
                if (js.peek(',')) js.p++;
            }
            js.p++;
            if (dtype.empty() || !have_shape || offs.size() != 2)
                fail("safetensors: tensor '%s' lacks dtype, shape or data_offsets", printable(key).c_str());
            if (offs[0] > offs[1] || offs[1] > data_size)
                fail("safetensors: tensor '%s' has data_offsets [%llu,%llu] outside the %llu data bytes "
                     "(file truncated?)", printable(key).c_str(), (unsigned long long)offs[0], (unsigned long long)offs[1],
                     (unsigned long long)data_size);
            if (offs[0] < offs[1]) spans.push_back({offs[0], offs[1], key});
            DType dt;
            size_t elsize;
            // Dimensions become int64: the product of the nonzero ones must fit, so that no partial
            // product overflows even when a zero dimension makes the tensor empty.
            uint64_t numel = 1, nonzero = 1;
            for (uint64_t d : shape) {
                if (d != 0 && nonzero > (uint64_t)INT64_MAX / d) fail("safetensors: tensor '%s' shape overflows", printable(key).c_str());
                if (d != 0) nonzero *= d;
                numel *= d;
            }
            if (parse_dtype(dtype, &dt, &elsize)) {
                if (numel > UINT64_MAX / elsize || numel * elsize != offs[1] - offs[0])
                    fail("safetensors: tensor '%s' of shape and dtype %s needs %llu bytes but data_offsets "
                         "give %llu", printable(key).c_str(), printable(dtype).c_str(), (unsigned long long)(numel * elsize),
                         (unsigned long long)(offs[1] - offs[0]));
                TensorRef t;
                t.name = key;
                for (uint64_t d : shape) t.shape.push_back((int64_t)d);
                t.dtype = dt;
                t.data = base + offs[0];
                t.nbytes = (size_t)(offs[1] - offs[0]);
                tf.tensors.push_back(std::move(t));
            } else if (int_dtype_size(dtype)) {
                skipped += (skipped.empty() ? "" : ",") + key;
            } else {
                fail("safetensors: tensor '%s' has unsupported dtype '%s'", printable(key).c_str(), printable(dtype).c_str());
            }
        }
        if (js.peek(',')) { js.p++; continue; }
        js.expect('}');
        break;
    }
    // No two tensors share bytes (the format's rule): the engine reads tensors in place beside
    // fc1, whose columns it reorders in place, after checking their values.
    std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
    for (size_t i = 1; i < spans.size(); i++)
        if (spans[i].begin < spans[i - 1].end)
            fail("safetensors: tensors '%s' and '%s' share bytes (overlapping data_offsets)",
                 printable(spans[i - 1].name).c_str(), printable(spans[i].name).c_str());
    if (!skipped.empty()) tf.metadata["skipped"] = skipped;
    return tf;
}

}  // namespace cnnlens
