#!/usr/bin/env bash
# The cnnlens command line: exit codes and one-line errors for bad input, and a working run.
#   tests/cli_test.sh DATA_DIR CNNLENS...      (CNNLENS: the binary, or node --no-experimental-fetch cnnlens.js)
set -uo pipefail
data=$1; shift
cli=("$@")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
check() {   # check NAME EXPECTED_EXIT GREP_PATTERN ARGS...
    local name=$1 want=$2 pat=$3; shift 3
    local out rc
    out=$("${cli[@]}" "$@" 2>&1); rc=$?
    if [[ $rc == "$want" ]] && grep -qE -- "$pat" <<<"$out" && { [[ $want == 0 ]] || [[ $(wc -l <<<"$out") == 1 ]]; }; then
        pass=$((pass + 1))
    else
        fail=$((fail + 1)); echo "FAIL $name: exit $rc (want $want), output: $out"
    fi
}
w=$data/oracle/tiny_fc/w.safetensors
img=$data/oracle/tiny_fc/input.png
: > "$tmp/empty"
head -c 3000 "$w" > "$tmp/truncated.safetensors"
echo "not an image" > "$tmp/text.png"
printf '\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\1\x86\xa0\0\1\x86\xa0\x08\x02\0\0\0\0\0\0\0' > "$tmp/huge.png"

check "predict works"        0 '^ +[0-9]+ +[0-9.]+%'            predict --weights "$w" --image "$img"
check "info works"           0 'head: +fc'                       info --weights "$w"
check "dump works"           0 'wrote 11 arrays'                 dump --weights "$w" --image "$img" --npy "$tmp/out"
check "help"                 0 'usage: cnnlens predict'          predict --help
check "empty weights"        1 'error: .*empty'                  predict --weights "$tmp/empty" --image "$img"
check "truncated weights"    1 'error: .*truncated|error: .*outside' predict --weights "$tmp/truncated.safetensors" --image "$img"
check "image as weights"     1 'error: .*unsupported weight file format' predict --weights "$img" --image "$img"
check "missing weights"      1 'error: cannot open'              predict --weights "$tmp/nope" --image "$img"
check "text as image"        1 'error: .*(unknown image type|not an image)' predict --weights "$w" --image "$tmp/text.png"
check "empty image"          1 'error: .*empty'                  predict --weights "$w" --image "$tmp/empty"
check "huge image"           1 'error: .*limit'                  predict --weights "$w" --image "$tmp/huge.png"
check "wrong cfg"            1 'error: .*does not match'         predict --weights "$w" --image "$img" --cfg D
check "bad class"            1 'error: unknown class'            explain --weights "$w" --image "$img" --class nosuch --dump-npy "$tmp/x"
check "unknown flag"         2 'error: unknown argument'         predict --wieghts "$w"
# no --weights: the built-in Fashion-MNIST model (class names from its metadata); a photo works too
fm=$data/../../assets/fashion-mnist/9-Ankle-boot-test00000.png
check "built-in model"       0 '^ +9 +[0-9.]+% .*Ankle boot'     predict --image "$fm"
check "built-in, photo"      0 '^ +[0-9]+ +[0-9.]+% .*(T-shirt|Trouser|Pullover|Dress|Coat|Sandal|Shirt|Sneaker|Bag|Ankle)' predict --image "$img"
check "built-in info"        0 'preprocessing mean_std'          info
check "built-in class name"  0 'class 7 \(Sneaker\)'             explain --image "$fm" --class sneaker --dump-npy "$tmp/b"
# a greyscale model's input is dumped with its one channel (28x28 floats after the 128-byte header)
check "built-in dump"        0 'wrote .* input 28x28'            dump --image "$fm" --npy "$tmp/g"
if [[ $(wc -c < "$tmp/g/input_nchw.npy") == $((128 + 28 * 28 * 4)) ]]; then pass=$((pass + 1)); else
    fail=$((fail + 1)); echo "FAIL built-in dump: input_nchw.npy is $(wc -c < "$tmp/g/input_nchw.npy") bytes, want $((128 + 28 * 28 * 4))"; fi
check "grey input, rgb pre"  1 'error: .*does not fit'           predict --image "$fm" --preprocess torch
check "unknown command"      2 'error: unknown command'          frobnicate
echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
