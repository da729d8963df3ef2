// error.h: how the core reports failure.
//
// Bad input (a corrupt weight file, an image that cannot be decoded, a shape that does
// not match) is not a bug: the core throws cnnlens::Error with a one-line message that
// names the problem, and the front end (CLI, web app) shows it. Broken invariants inside
// our own code are bugs and abort through CNN_ASSERT.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

namespace cnnlens {

struct Error : std::runtime_error {
    explicit Error(const std::string& what) : std::runtime_error(what) {}
};

// printf-style formatting into a std::string (messages only, never hot code).
std::string strformat(const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

// A string from a file made safe for a one-line message: control bytes escaped as \xNN, long
// strings cut after max_len bytes (with their length said).
std::string printable(const std::string& s, size_t max_len = 120);

// "a,b,,c" -> {"a", "b", "c"}: the non-empty pieces between separators.
std::vector<std::string> split(const std::string& s, char sep = ',');

[[noreturn]] void fail(const char* fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

}  // namespace cnnlens

#define CNN_ASSERT(cond)                                                                   \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            std::fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                                  \
        }                                                                                  \
    } while (0)
