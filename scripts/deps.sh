#!/usr/bin/env bash
# deps.sh: everything CNN Lens needs from outside the repo, on a Debian 12 machine.
#
#   scripts/deps.sh apt       install the Debian packages (root; skipped when all are present)
#   scripts/deps.sh sources   download the third-party sources from the Debian archive into
#                             .deps/src, verify their SHA-256, unpack, apply the Emscripten edits
#
# XNNPACK, pthreadpool, cpuinfo and fxdiv come as Debian source tarballs (orig.tar.xz), pinned
# by version and SHA-256 below (the values of the archive's signed Sources index). Bookworm's
# own XNNPACK tarball is not served by the mirror and its API is older, so the trixie/sid
# versions are used; the same sources build the native and the WebAssembly libraries.
# Dear ImGui comes from Debian's imgui source package (the -dev package lacks the backends).
# stb_image is trixie's (v2.30, with the 2.28 security fixes; bookworm's libstb-dev has 2.27).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEPS=$ROOT/.deps

APT_PACKAGES=(emscripten cmake ninja-build g++ python3 xz-utils curl ca-certificates
              doctest-dev
              dataset-fashion-mnist    # the training data of the built-in model, IDX .gz
              fonts-wqy-microhei python3-fonttools)   # the web app's Chinese glyphs, subset at build time
#        name         Debian source package=version             SHA-256 of its orig.tar.xz
SOURCES=(
  "xnnpack     xnnpack=0.0~git20241108.4ea82e5-2         90bde2caef0f880f627bab0dc805a86c4b8070cd98e3243db3046ab3f3be1a99"
  "pthreadpool pthreadpool=0.0~git20240616.560c60d-1     4cc3cbd933b28131d2a34edc54f76af9fb41bc490af5eae1a5bd3cd07ea90708"
  "cpuinfo     cpuinfo=0.0~git20250905.877328f-1         557ca404a3836b9f335a3a06b65ff9fe9dbaaefab7fb5c0185f53d9f33615a10"
  "fxdiv       fxdiv=0.0~git20200417.b408327-3           7953482badaf4cb34026c3487c257b8e4ab2df061c019bd6fabbbc12ad52c44b"
  "imgui       imgui=1.86+ds-1                           0dace0e8e57d298eb6e93af12dc19420cb96330832f6495c733b90aeeef11f64"
  "stb         libstb=0.0~git20241109.5c20573+ds-1       a3a5820445a7dd063516bb542a5cd54ced8efc9c5a30bfbaae1bab6dec2c1a74"
)
SRC_LIST=/etc/apt/sources.list.d/cnnlens-deb-src.sources

# A deb-src twin of the machine's Debian entry, with trixie and sid added: the bookworm orig
# tarballs of xnnpack, pthreadpool and cpuinfo are not served, the newer ones are.
add_deb_src() {
    [[ -f $SRC_LIST ]] && return 0
    local uri keyring
    uri=$(grep -h -m1 -E '^URIs:.*debian/?$' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}')
    [[ -n $uri ]] || uri=$(grep -h -m1 -E '^deb .*debian/? bookworm' /etc/apt/sources.list 2>/dev/null | awk '{print $2}')
    [[ -n $uri ]] || { echo "deps: no Debian entry in /etc/apt/sources.list(.d) to twin" >&2; exit 1; }
    keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    printf 'Types: deb-src\nURIs: %s\nSuites: bookworm bookworm-updates trixie sid\nComponents: main\nSigned-By: %s\n' \
        "$uri" "$keyring" > "$SRC_LIST"
    apt-get update -qq
}

deps_apt() {
    local missing=()
    for p in "${APT_PACKAGES[@]}" "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    ((${#missing[@]})) || return 0
    echo "deps: installing ${missing[*]}"
    if [[ $(id -u) != 0 ]]; then
        echo "deps: need root to apt-get install ${missing[*]}" >&2; exit 1
    fi
    add_deb_src
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# edit FILE PERL-EXPR CHECK-REGEX: apply a perl substitution and assert that it took.
edit() {
    perl -0pi -e "$2" "$1"
    grep -qE "$3" "$1" || { echo "deps: edit of $1 did not apply" >&2; exit 1; }
}

patch_for_emscripten() {
    local x=${1:-$DEPS/src}/xnnpack p=${1:-$DEPS/src}/pthreadpool
    # 1. XNNPACK's CMake rejects CMAKE_SYSTEM_NAME=Emscripten.
    edit $x/CMakeLists.txt 's/\|QURT\)\$"\)/|QURT|Emscripten)\$")/' 'QURT\|Emscripten'
    # 2. It has no wasm branch: add the wasm and wasmsimd production kernels.
    edit $x/CMakeLists.txt 's/\nSET\(ALL_MICROKERNEL_SRCS/\nIF(XNNPACK_TARGET_PROCESSOR MATCHES "^wasm")  # cnnlens edit\n  LIST(APPEND PROD_MICROKERNEL_SRCS \${PROD_WASM_MICROKERNEL_SRCS})\n  IF(CMAKE_C_FLAGS MATCHES "-msimd128")\n    LIST(APPEND PROD_MICROKERNEL_SRCS \${PROD_WASMSIMD_MICROKERNEL_SRCS})\n  ENDIF()\nENDIF()\nSET(ALL_MICROKERNEL_SRCS/' 'cnnlens edit'
    # 3. Two wasmsimd kernel families include <arm_neon.h>, which this emscripten lacks.
    for f in $x/src/f32-q[su]8-vcvt/gen/*wasmsimd*.c; do
        edit "$f" 's/#include <arm_neon.h>/#include <wasm_simd128.h>/' 'wasm_simd128'
    done
    # 4. pthreadpool always builds its single-thread shim under Emscripten: use real threads with -pthread.
    edit $p/CMakeLists.txt 's/IF\(EMSCRIPTEN\)\n  LIST\(APPEND PTHREADPOOL_SRCS src\/shim.c\)/IF(EMSCRIPTEN AND NOT CMAKE_C_FLAGS MATCHES "-pthread")  # cnnlens edit\n  LIST(APPEND PTHREADPOOL_SRCS src\/shim.c)\nELSEIF(EMSCRIPTEN)\n  LIST(APPEND PTHREADPOOL_SRCS src\/portable-api.c src\/memory.c src\/pthreads.c)/' 'cnnlens edit'
    # 5. ... whose memory.c needs posix_memalign: define _GNU_SOURCE as upstream does on Linux.
    edit $p/CMakeLists.txt 's/IF\(CMAKE_SYSTEM_NAME STREQUAL "Linux"\)\n  TARGET_COMPILE_DEFINITIONS\(pthreadpool PRIVATE _GNU_SOURCE=1\)/IF(CMAKE_SYSTEM_NAME MATCHES "^(Linux|Emscripten)\$")  # cnnlens edit\n  TARGET_COMPILE_DEFINITIONS(pthreadpool PRIVATE _GNU_SOURCE=1)/' 'Linux\|Emscripten'
}

deps_sources() {
    local stamp=$DEPS/src/.stamp want
    want=$({ printf '%s\n' "${SOURCES[@]}"; declare -f edit patch_for_emscripten; } | sha256sum | cut -c1-16)
    [[ -f $stamp && $(cat "$stamp") == "$want" ]] && return 0
    local new=$DEPS/src.new
    mkdir -p "$DEPS/download"
    rm -rf "$new"; mkdir -p "$new"
    for line in "${SOURCES[@]}"; do
        read -r name spec sha <<<"$line"
        local pkg=${spec%%=*} ver=${spec#*=}
        local file=$DEPS/download/${pkg}_${ver%-*}.orig.tar.xz
        if [[ ! -f $file ]] || ! echo "$sha  $file" | sha256sum -c --status; then
            [[ $(id -u) == 0 ]] && add_deb_src
            # apt prints 'URL' file size SHA256:hash from the archive's signed Sources index
            local uri index_sha
            read -r uri _ _ index_sha < <(apt-get source --print-uris "$spec" 2>/dev/null | grep "^'.*\.orig\.tar" || true)
            [[ -n ${uri:-} ]] || { echo "deps: apt-get source cannot find $spec (is a deb-src entry for trixie/sid configured?)" >&2; exit 1; }
            [[ ${index_sha#SHA256:} == "$sha" ]] || { echo "deps: $spec: the archive's index says ${index_sha}, expected $sha" >&2; exit 1; }
            echo "deps: downloading $(basename "$file")"
            curl -fsSL --retry 3 -o "$file.part" "${uri//\'/}"
            mv "$file.part" "$file"
        fi
        echo "$sha  $file" | sha256sum -c --status || { echo "deps: SHA-256 mismatch for $file" >&2; exit 1; }
        mkdir -p "$new/$name"
        if [[ $name == xnnpack ]]; then   # this tarball has no top-level directory
            tar -xJf "$file" -C "$new/$name"
        else
            tar -xJf "$file" -C "$new/$name" --strip-components=1
        fi
    done
    patch_for_emscripten "$new"
    echo "$want" > "$new/.stamp"
    rm -rf "$DEPS/src"
    mv "$new" "$DEPS/src"
}

case "${1:-}" in
    apt) shift; deps_apt "$@" ;;
    sources) deps_sources ;;
    patch) patch_for_emscripten "${2:?usage: deps.sh patch DIR}" ;;   # used by cmake/fetch_deps.cmake
    *) echo "usage: scripts/deps.sh apt [extra packages] | sources" >&2; exit 2 ;;
esac
