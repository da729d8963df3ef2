#include "core/error.h"

#include <cstdarg>
#include <vector>

namespace cnnlens {

static std::string vformat(const char* fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    int n = std::vsnprintf(nullptr, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0) return fmt;
    std::vector<char> buf((size_t)n + 1);
    std::vsnprintf(buf.data(), buf.size(), fmt, ap);
    return std::string(buf.data(), (size_t)n);
}

std::string strformat(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    std::string s = vformat(fmt, ap);
    va_end(ap);
    return s;
}

std::string printable(const std::string& s, size_t max_len) {
    std::string r;
    for (size_t i = 0; i < s.size() && i < max_len; i++) {
        unsigned char c = (unsigned char)s[i];
        r += (c >= 32 && c != 127) ? std::string(1, (char)c) : strformat("\\x%02x", c);
    }
    if (s.size() > max_len) r += strformat("... (%zu bytes)", s.size());
    return r;
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    size_t p = 0;
    while (p <= s.size()) {
        size_t q = s.find(sep, p);
        if (q == std::string::npos) q = s.size();
        if (q > p) out.push_back(s.substr(p, q - p));
        p = q + 1;
    }
    return out;
}

void fail(const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    std::string s = vformat(fmt, ap);
    va_end(ap);
    throw Error(s);
}

}  // namespace cnnlens
