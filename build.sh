#!/usr/bin/env bash
# build.sh: set up, build, test and serve CNN Lens on a Debian 12 machine.
#
#   ./build.sh            set up (apt packages, Debian sources) and build everything
#   ./build.sh test       build, then run every test: native, and WebAssembly under node
#   ./build.sh serve      build and serve the web app on http://127.0.0.1:8000
#   ./build.sh bench      forward-pass benchmarks, native and WebAssembly
#   ./build.sh native | wasm | wasm-mt | setup     one step only
#
# Build trees: build/native (g++), build/wasm (emscripten, SIMD), build/wasm-mt (SIMD + pthreads).
set -euo pipefail
cd "$(dirname "$0")"
export NODE_PATH=/usr/share/nodejs          # emcc needs acorn from Debian's node modules
NODE=(node --no-experimental-fetch)          # emscripten 3.1.6 output under node 20
JOBS=${JOBS:-$(nproc)}

setup() {
    scripts/deps.sh apt
    scripts/deps.sh sources
}

configure() {   # configure DIR [cmake args...]: only when the tree is new
    local dir=$1; shift
    [[ -f $dir/build.ninja ]] && return 0
    "$@" -S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >"$dir.configure.log" 2>&1 ||
        { cat "$dir.configure.log"; exit 1; }
}

build_native() {
    mkdir -p build
    configure build/native cmake
    cmake --build build/native -j"$JOBS"
}

build_wasm() {   # build_wasm DIR FLAGS
    local dir=$1 flags=$2
    mkdir -p build
    configure "$dir" emcmake cmake -DEMSCRIPTEN_SYSTEM_PROCESSOR=wasm \
        -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
        "-DCMAKE_CROSSCOMPILING_EMULATOR=$(command -v node);--no-experimental-fetch"
    cmake --build "$dir" -j"$JOBS"
}

build_all() {
    setup
    build_native
    build_wasm build/wasm "-msimd128"
    build_wasm build/wasm-mt "-msimd128 -pthread"
}

run_tests() {
    setup
    build_native
    build_wasm build/wasm "-msimd128"
    echo "== native tests"
    (cd build/native && ctest --output-on-failure)
    echo "== WebAssembly tests (node)"
    (cd build/wasm && ctest --output-on-failure)
}

bench() {
    build_all
    echo "== native"
    build/native/cnnlens bench --threads 1,2 "$@"
    echo "== WebAssembly SIMD, single-threaded build (node)"
    "${NODE[@]}" build/wasm/cnnlens.js bench --threads 1 "$@"
    echo "== WebAssembly SIMD + pthreads (node)"
    "${NODE[@]}" build/wasm-mt/cnnlens.js bench --threads 1,2 "$@"
}

case "${1:-all}" in
    all) build_all ;;
    setup) setup ;;
    native) setup; build_native ;;
    wasm) setup; build_wasm build/wasm "-msimd128" ;;
    wasm-mt) setup; build_wasm build/wasm-mt "-msimd128 -pthread" ;;
    test) run_tests ;;
    bench) shift; bench "$@" ;;
    serve) echo "the web app is not built yet (issue 4)" >&2; exit 1 ;;
    *) sed -n '2,12p' "$0"; exit 2 ;;
esac
