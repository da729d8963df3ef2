// xnn.h: what every user of XNNPACK here needs: initialisation once, status checks that throw
// cnnlens::Error, a workspace aligned as XNNPACK wants, and a loop on the threads' pool.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include <pthreadpool.h>
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

// f(i) for every i in [0, n), on the pool's threads (nullptr: this one). f must not throw.
template <class F>
void parallel_for(pthreadpool_t pool, size_t n, const F& f) {
    pthreadpool_parallelize_1d(pool, [](void* ctx, size_t i) { (*(const F*)ctx)(i); }, (void*)&f, n, 0);
}

}  // namespace cnnlens
