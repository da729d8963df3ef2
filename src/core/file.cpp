#include "core/file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "core/error.h"

namespace cnnlens {

std::vector<uint8_t> read_file(const std::string& path, const char* what) {
    const std::string role = what ? std::string(what) + " " : std::string();
    FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) fail("cannot open %s'%s': %s", role.c_str(), path.c_str(), std::strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        std::fclose(f);
        fail("cannot read %s'%s': not a regular file", role.c_str(), path.c_str());
    }
    std::vector<uint8_t> buf;
    buf.reserve((size_t)st.st_size);
    uint8_t chunk[1 << 16];
    size_t got;
    while ((got = std::fread(chunk, 1, sizeof chunk, f)) > 0) buf.insert(buf.end(), chunk, chunk + got);
    const bool bad = std::ferror(f) != 0;
    const int err = errno;
    std::fclose(f);
    if (bad) fail("cannot read %s'%s': %s", role.c_str(), path.c_str(), std::strerror(err));
    return buf;
}

void write_file(const std::string& path, const void* data, size_t size) {
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) fail("cannot write '%s': %s", path.c_str(), std::strerror(errno));
    const size_t n = std::fwrite(data, 1, size, f);
    if (std::fclose(f) != 0 || n != size) fail("error writing '%s'", path.c_str());
}

void make_dir(const std::string& path) {
    if (mkdir(path.c_str(), 0755) != 0 && errno != EEXIST) fail("cannot create directory '%s': %s", path.c_str(), std::strerror(errno));
}

}  // namespace cnnlens
