#include "core/xnn.h"

#include "core/error.h"

namespace cnnlens {

void xnn_init() {
    static bool done = false;
    if (done) return;
    xnn_check(xnn_initialize(nullptr), "xnn_initialize");
    done = true;
}

void xnn_check(xnn_status s, const char* what) {
    if (s != xnn_status_success) fail("XNNPACK: %s failed (status %d)", what, (int)s);
}

}  // namespace cnnlens
