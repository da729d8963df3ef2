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
check "text as image"        1 'error: .*not a PNG, JPEG, BMP or GIF file' predict --weights "$w" --image "$tmp/text.png"
check "empty image"          1 'error: .*empty'                  predict --weights "$w" --image "$tmp/empty"
check "huge image"           1 'error: .*limit'                  predict --weights "$w" --image "$tmp/huge.png"
check "over memory budget"   1 'error: .*input size 4000x4000 needs .* the limit is' predict --weights "$data/oracle/a_gap/w.pth" --image "$img" --input-size 4000
check "wrong cfg"            1 'error: .*does not match'         predict --weights "$w" --image "$img" --cfg D
check "bad class"            1 'error: unknown class'            explain --weights "$w" --image "$img" --class nosuch --dump-npy "$tmp/x"
check "unknown flag"         2 'error: unknown argument'         predict --wieghts "$w"
# no --weights: the built-in Fashion-MNIST model (class names from its metadata); a photo works too
fm=$data/../../assets/fashion-mnist/9-Ankle-boot-test00000.png
check "built-in model"       0 '^ +9 +[0-9.]+% .*Ankle boot'     predict --image "$fm"
check "built-in, photo"      0 '^ +[0-9]+ +[0-9.]+% .*(T-shirt|Trouser|Pullover|Dress|Coat|Sandal|Shirt|Sneaker|Bag|Ankle)' predict --image "$img"
check "built-in info"        0 'preprocessing mean_std'          info
check "built-in class name"  0 'class 7 \(Sneaker\)'             explain --image "$fm" --class sneaker --dump-npy "$tmp/b"
check "built-in dump"        0 'wrote 11 arrays'                 dump --image "$fm" --npy "$tmp/d"
# the greyscale input is [1,1,28,28]: 128 header bytes + 784 floats (3 channels were read past its end)
[[ $(stat -c %s "$tmp/d/input_nchw.npy" 2>/dev/null) == 3264 ]] && pass=$((pass + 1)) ||
    { fail=$((fail + 1)); echo "FAIL built-in dump: input_nchw.npy is $(stat -c %s "$tmp/d/input_nchw.npy" 2>&1) bytes, want 3264"; }
check "occlusion"            0 'class 9 \(Ankle boot\): 25x25 positions of a 4 px patch' occlusion --image "$fm" --patch 4 --stride 1 --dump-npy "$tmp/o"
[[ -f $tmp/o/occlusion_c9.npy && -f $tmp/o/occlusion_logit_c9.npy ]] && pass=$((pass + 1)) || { fail=$((fail + 1)); echo "FAIL occlusion files"; }
check "occlusion bad patch"  1 'error: --patch must be an integer in \[1, 28\]' occlusion --image "$fm" --patch 99 --dump-npy "$tmp/o"
check "faithfulness"         0 'deletion AUC [0-9.]+ \(random ranking'  faithfulness --image "$fm" --csv "$tmp/f.csv"
grep -q '^step,fraction,deletion_prob,insertion_prob$' "$tmp/f.csv" && grep -q '^auc,,' "$tmp/f.csv" && pass=$((pass + 1)) ||
    { fail=$((fail + 1)); echo "FAIL faithfulness csv"; }
check "sanity"               0 'steps x [0-9]+ methods'            sanity --image "$fm" --csv "$tmp/s.csv"
check "unknown method"       1 'error: unknown --method .nosuch. \(gradcam, ' explain --image "$fm" --method nosuch --dump-npy "$tmp/x"
check "grey input, rgb pre"  1 'error: .*does not fit'           predict --image "$fm" --preprocess torch
check "pack int8-fc"          0 '1 images: top-1 the same on 1; largest logits relative error' pack --out "$tmp/p.safetensors" --kind int8-fc --check "$fm"
check "packed predicts"      0 '^ +9 +[0-9.]+% .*Ankle boot'     predict --weights "$tmp/p.safetensors" --image "$fm"
check "pack bad kind"        1 'error: unknown pack kind .int4. \(f16 or int8-fc\)' pack --out "$tmp/q.safetensors" --kind int4
check "unknown command"      2 'error: unknown command'          frobnicate
echo "$pass passed, $fail failed"
[[ $fail == 0 ]]
