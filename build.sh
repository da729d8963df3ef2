#!/usr/bin/env bash
# build.sh: set up, build, test and serve CNN Lens on a Debian 12 machine.
#
#   ./build.sh            set up (apt packages, Debian sources) and build everything
#   ./build.sh test       build, then run every test: native, and WebAssembly under node
#   ./build.sh serve      build and serve the web app on http://127.0.0.1:8000 (PORT=... to change)
#   ./build.sh bench      forward-pass benchmarks, native and WebAssembly
#   ./build.sh bench-peers [--weights W] [--reps N]   the page, TF.js, onnxruntime-web, native and PyTorch
#                         side by side in one run (bench/bench.mjs): build/bench/bench.json
#   ./build.sh fuzz [TARGET|all] [SECONDS]   build build/asan, run the libFuzzer target(s) (default all, 60 s each)
#   ./build.sh native | wasm | wasm-mt | asan | web | setup     one step only (web: the site in build/site)
#
# Build trees: build/native (g++), build/wasm (emscripten, SIMD), build/wasm-mt (SIMD + pthreads),
# build/asan (clang, ASan + UBSan, libFuzzer targets; links build/native's XNNPACK).
set -euo pipefail
cd "$(dirname "$0")"
export NODE_PATH=/usr/share/nodejs          # emcc needs acorn from Debian's node modules
NODE=(node --no-experimental-fetch)          # emscripten 3.1.6 output under node 20
JOBS=${JOBS:-$(nproc)}

setup() {
    scripts/deps.sh apt chromium      # chromium: the web app's end-to-end tests
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

# ASan + UBSan build of our own code (the CLI, the tests) and the libFuzzer targets; XNNPACK,
# pthreadpool and cpuinfo are linked, uninstrumented, from build/native instead of compiled again.
SANITIZER_PACKAGES=(clang libclang-rt-14-dev)   # clang 14 with its ASan, UBSan and libFuzzer runtimes
build_asan() {
    build_native
    configure build/asan cmake -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCNNLENS_FUZZ=ON \
        -DCNNLENS_XNNPACK_FROM="$PWD/build/native"
    cmake --build build/asan -j"$JOBS"
}

build_wasm() {   # build_wasm DIR FLAGS
    local dir=$1 flags=$2
    mkdir -p build
    configure "$dir" emcmake cmake -DEMSCRIPTEN_SYSTEM_PROCESSOR=wasm \
        -DCMAKE_C_FLAGS="$flags" -DCMAKE_CXX_FLAGS="$flags" \
        "-DCMAKE_CROSSCOMPILING_EMULATOR=$(command -v node);--no-experimental-fetch"
    cmake --build "$dir" -j"$JOBS"
}

# --- web app: both compute modules + the ImGui UI, assembled into build/site
BUILTIN_MODEL=assets/fashion_mnist_vgg_gap.safetensors   # the site's models/builtin.safetensors
CHEATER_MODEL=assets/fashion_mnist_cheater.safetensors   # models/cheater.safetensors (?model=models/cheater.safetensors)
# The Chinese UI's glyphs: fonts-wqy-microhei (scripts/deps.sh), subset to the characters of the
# string table and the lesson (scripts/subset_font.py, Debian's python3-fonttools) into fonts/zh.ttf
ZH_FONT=/usr/share/fonts/truetype/wqy/wqy-microhei.ttc
build_web() {
    build_wasm build/wasm "-msimd128"
    build_wasm build/wasm-mt "-msimd128 -pthread"
    cmake --build build/wasm -j"$JOBS" --target cnnlens_compute cnnlens_ui
    cmake --build build/wasm-mt -j"$JOBS" --target cnnlens_compute
    local site=build/site new=build/site.new
    rm -rf $new && mkdir -p $new/models $new/samples
    cp web/* $new/
    /usr/bin/python3 scripts/subset_font.py $ZH_FONT $new/fonts src/app/strings.cpp web/lesson.js
    cp /usr/share/doc/fonts-wqy-microhei/copyright $new/fonts/LICENSE-wqy-microhei.txt
    cp build/wasm/src/app/cnnlens_compute.{js,wasm} build/wasm/src/app/cnnlens_ui.{js,wasm} $new/
    cp build/wasm-mt/src/app/cnnlens_compute_mt.{js,wasm,worker.js} $new/
    cp $BUILTIN_MODEL $new/models/builtin.safetensors
    cp $CHEATER_MODEL $new/models/cheater.safetensors
    cp assets/samples/*.jpg assets/samples/LICENSES.md $new/samples/
    cp -r assets/fashion-mnist $new/samples/
    # the gallery: Fashion-MNIST test images first (the built-in model's), then photos; dataset: the
    # model_dataset() of the models its images suit ("" for photos: ImageNet models and others)
    python3 - $new/samples <<'EOF'
import glob, json, os, sys
d = sys.argv[1]
items = [dict(e, file="fashion-mnist/" + e["file"], group="Fashion-MNIST test set", dataset="fashion-mnist", thumb=40)
         for e in json.load(open(d + "/fashion-mnist/index.json"))]
items += [{"name": os.path.basename(f)[:-4], "file": os.path.basename(f), "group": "Photos", "dataset": "", "thumb": 64}
          for f in sorted(glob.glob(d + "/*.jpg"))]
json.dump(items, open(d + "/index.json", "w"), indent=0)
EOF
    rm -rf $site && mv $new $site
    echo "web app: $site"
}

serve() {
    build_all
    echo "== open http://127.0.0.1:${PORT:-8000}/"
    exec python3 scripts/serve.py build/site "${PORT:-8000}"
}

e2e_tests() {   # headless Chromium (Debian's) driven by playwright-core from npm
    [[ -d node_modules/playwright-core ]] || npm ci --no-audit --no-fund || npm install --no-audit --no-fund
    node --test tests/e2e/
}

build_all() {
    setup
    build_native
    build_wasm build/wasm "-msimd128"
    build_wasm build/wasm-mt "-msimd128 -pthread"
    build_web
}

run_tests() {
    setup
    # python3-torch: the independent reader of the built-in model (tests/torch_reader_test.sh);
    # clang + its runtimes: the sanitizer tree and libFuzzer
    scripts/deps.sh apt python3-torch "${SANITIZER_PACKAGES[@]}"
    build_native
    build_wasm build/wasm "-msimd128"
    echo "== native tests"
    (cd build/native && ctest --output-on-failure)
    echo "== sanitizer tests (ASan + UBSan) and fuzzing (libFuzzer, 30 s per target)"
    build_asan
    (cd build/asan && ctest --output-on-failure -LE slow)   # the hostile corpus under ASan: ctest -L slow
    tests/fuzz/run.sh build/asan all 30
    echo "== WebAssembly tests (node)"
    (cd build/wasm && ctest --output-on-failure)
    echo "== web app end-to-end tests (headless Chromium)"
    build_web
    e2e_tests
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

# The peers (npm: TF.js, onnxruntime-web) live in bench/'s own package, never in the site nor in
# the root's npm ci; PyTorch is Debian's (it also exports the ONNX model the peers run).
bench_peers() {
    build_all
    scripts/deps.sh apt python3-torch python3-torchvision libopenblas0-pthread   # PyTorch's BLAS: OpenBLAS, not the reference one
    [[ -d node_modules/playwright-core ]] || npm ci --no-audit --no-fund
    [[ -d bench/node_modules/onnxruntime-web ]] || (cd bench && npm ci --no-audit --no-fund)
    node bench/bench.mjs "$@"
}

case "${1:-all}" in
    all) build_all ;;
    setup) setup ;;
    native) setup; build_native ;;
    wasm) setup; build_wasm build/wasm "-msimd128" ;;
    wasm-mt) setup; build_wasm build/wasm-mt "-msimd128 -pthread" ;;
    test) run_tests ;;
    asan) setup; scripts/deps.sh apt "${SANITIZER_PACKAGES[@]}"; build_asan ;;
    fuzz) shift; setup; scripts/deps.sh apt "${SANITIZER_PACKAGES[@]}"; build_asan; tests/fuzz/run.sh build/asan "$@" ;;
    bench) shift; bench "$@" ;;
    bench-peers) shift; bench_peers "$@" ;;
    web) setup; build_web ;;
    serve) serve ;;
    *) sed -n '2,16p' "$0"; exit 2 ;;
esac
