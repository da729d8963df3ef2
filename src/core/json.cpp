#include "core/json.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "core/error.h"

namespace cnnlens {

std::string json_quote(const std::string& s) {
    std::string o = "\"";
    for (unsigned char c : s) {
        if (c == '"' || c == '\\') o += '\\', o += (char)c;
        else if (c == '\n') o += "\\n";
        else if (c == '\t') o += "\\t";
        else if (c < 0x20) o += strformat("\\u%04x", c);
        else o += (char)c;
    }
    return o + "\"";
}

// ---------------------------------------------------------------------------- writer

void JsonWriter::element() {
    if (after_key_) {
        after_key_ = false;
        return;
    }
    if (!first_.empty()) {
        if (!first_.back()) out_ += ',';
        first_.back() = false;
    }
}
void JsonWriter::open(char c) {
    element();
    out_ += c;
    first_.push_back(true);
}
void JsonWriter::close(char c) {
    CNN_ASSERT(!first_.empty() && !after_key_);
    first_.pop_back();
    out_ += c;
}
JsonWriter& JsonWriter::key(const std::string& k) {
    element();
    out_ += json_quote(k);
    out_ += ':';
    after_key_ = true;
    return *this;
}
JsonWriter& JsonWriter::value(const std::string& s) {
    element();
    out_ += json_quote(s);
    return *this;
}
JsonWriter& JsonWriter::value(double v) {
    element();
    if (!std::isfinite(v)) {
        out_ += "null";
        return *this;
    }
    char b[32];
    std::snprintf(b, sizeof b, "%.9g", v);
    out_ += b;
    return *this;
}
JsonWriter& JsonWriter::value(int64_t v) {
    element();
    out_ += std::to_string(v);
    return *this;
}
JsonWriter& JsonWriter::value(bool v) {
    element();
    out_ += v ? "true" : "false";
    return *this;
}
JsonWriter& JsonWriter::null() {
    element();
    out_ += "null";
    return *this;
}
JsonWriter& JsonWriter::raw(const std::string& json) {
    element();
    out_ += json;
    return *this;
}

// ---------------------------------------------------------------------------- reader

struct JsonParser {
    const std::string& s;
    size_t max_values;
    size_t i = 0, values = 0;
    int depth = 0;

    [[noreturn]] void bad(const char* what) { fail("malformed JSON at byte %zu: %s", i, what); }
    void ws() {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) i++;
    }
    bool eat(char c) {
        ws();
        if (i < s.size() && s[i] == c) return ++i, true;
        return false;
    }
    void expect(char c) {
        if (!eat(c)) bad(strformat("expected '%c'", c).c_str());
    }
    bool word(const char* w) {
        size_t n = std::char_traits<char>::length(w);
        if (s.compare(i, n, w) != 0) return false;
        i += n;
        return true;
    }
    void utf8(std::string& o, unsigned v) {
        if (v < 0x80) o += (char)v;
        else if (v < 0x800) o += (char)(0xc0 | (v >> 6)), o += (char)(0x80 | (v & 63));
        else o += (char)(0xe0 | (v >> 12)), o += (char)(0x80 | ((v >> 6) & 63)), o += (char)(0x80 | (v & 63));
    }
    std::string string() {
        expect('"');
        std::string o;
        for (;;) {
            if (i >= s.size()) bad("unterminated string");
            char c = s[i++];
            if (c == '"') return o;
            if ((unsigned char)c < 0x20) bad("control character in a string");
            if (c != '\\') {
                o += c;
                continue;
            }
            if (i >= s.size()) bad("unterminated escape");
            c = s[i++];
            switch (c) {
                case '"': case '\\': case '/': o += c; break;
                case 'n': o += '\n'; break;
                case 't': o += '\t'; break;
                case 'r': o += '\r'; break;
                case 'b': o += '\b'; break;
                case 'f': o += '\f'; break;
                case 'u': {
                    unsigned v = 0;
                    for (int k = 0; k < 4; k++, i++) {
                        char h = i < s.size() ? s[i] : 0;
                        int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
                              : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
                        if (d < 0) bad("bad \\u escape");
                        v = v * 16 + (unsigned)d;
                    }
                    utf8(o, v);   // surrogate pairs stay two 3-byte sequences: names are BMP text
                    break;
                }
                default: bad("bad escape");
            }
        }
    }
    Json value() {
        ws();
        if (i >= s.size()) bad("unexpected end");
        if (++values > max_values) fail("JSON document has more than %zu values", max_values);
        Json v;
        const char c = s[i];
        if (c == '{' || c == '[') {
            if (++depth > 64) bad("nested too deeply");
            i++;
            const char close = c == '{' ? '}' : ']';
            v.type_ = c == '{' ? Json::Object : Json::Array;
            if (!eat(close)) {
                do {
                    if (v.type_ == Json::Object) {
                        v.keys_.push_back(string());
                        expect(':');
                    }
                    v.items_.push_back(value());
                } while (eat(','));
                expect(close);
            }
            depth--;
        } else if (c == '"') {
            v.type_ = Json::String;
            v.str_ = string();
        } else if (word("true")) {
            v.type_ = Json::Bool, v.b_ = true;
        } else if (word("false")) {
            v.type_ = Json::Bool;
        } else if (word("null")) {
        } else {
            const char* start = s.c_str() + i;
            char* end = nullptr;
            v.num_ = std::strtod(start, &end);
            if (end == start || !(c == '-' || (c >= '0' && c <= '9'))) bad("expected a value");
            v.type_ = Json::Number;
            i += (size_t)(end - start);
        }
        return v;
    }
};

Json Json::parse(const std::string& text, size_t max_values) {
    JsonParser p{text, max_values};
    Json v = p.value();
    p.ws();
    if (p.i != text.size()) p.bad("text after the value");
    return v;
}

static const Json kNull;

int Json::integer(int def) const {
    if (type_ != Number || !(num_ >= -2147483648.0 && num_ <= 2147483647.0) || num_ != std::floor(num_)) return def;
    return (int)num_;
}
const Json& Json::operator[](size_t i) const { return type_ == Array && i < items_.size() ? items_[i] : kNull; }
const Json& Json::operator[](const std::string& key) const {
    if (type_ == Object)
        for (size_t i = 0; i < keys_.size(); i++)
            if (keys_[i] == key) return items_[i];
    return kNull;
}
bool Json::has(const std::string& key) const { return &(*this)[key] != &kNull; }
std::vector<std::string> Json::strings(const char* what) const {
    if (type_ != Array) fail("%s is not a JSON list of strings", what);
    std::vector<std::string> out;
    for (const Json& v : items_) {
        if (v.type_ != String) fail("%s is not a JSON list of strings", what);
        out.push_back(v.str_);
    }
    return out;
}

}  // namespace cnnlens
