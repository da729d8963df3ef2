// xnn.h: what every user of XNNPACK here needs: initialisation once, status checks that throw
// cnnlens::Error, and a workspace aligned as XNNPACK wants.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include <xnnpack.h>

namespace cnnlens {

void xnn_init();                                 // xnn_initialize, once per process
void xnn_check(xnn_status s, const char* what);  // throws "XNNPACK: <what> failed (status N)"

// A byte buffer whose data() is 64-byte aligned, for xnn_setup_*'s workspace.
struct XnnWorkspace {
    std::vector<uint8_t> bytes;
    void reserve(size_t n) {
        if (bytes.size() < n + 64) bytes.assign(n + 64, 0);
    }
    void* data() { return (void*)(((uintptr_t)bytes.data() + 63) & ~(uintptr_t)63); }
};

}  // namespace cnnlens
