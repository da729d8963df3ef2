#!/usr/bin/env bash
# Regenerates the oracle fixtures in this folder with the PyTorch reference oracle
# (shared/oracle/vgg_reference.py, Debian's python3-torch 1.13.1). Not needed to run the tests.
#
#   ORACLE=../shared/oracle tests/data/oracle/make_fixtures.sh
#
# Each case folder holds the weights in every format the oracle writes, input.png, meta.json and
# the reference arrays (float32 .npy) computed in float64.
set -euo pipefail
cd "$(dirname "$0")"
ORACLE=${ORACLE:-../../../../shared/oracle}
PY=/usr/bin/python3
IMG=$ORACLE/images

gen() {   # gen CASE IMAGE ARGS...
    local dir=$1 img=$2; shift 2
    rm -rf "$dir"; mkdir -p "$dir"
    $PY "$ORACLE/vgg_reference.py" --image "$IMG/$img" --out "$dir" --classes top1,3 "$@" \
        --save-safetensors "$dir/w.safetensors" --save-pth "$dir/w.pth" --save-pth-legacy "$dir/w_legacy.pth" \
        --save-keras-h5 "$dir/w.h5" >/dev/null
}
TINY=(--cfg 64,M,128,M,256,256,M --width-div 8 --num-classes 10 --hidden 64)

gen tiny_fc chelsea.png "${TINY[@]}" --input-size 32 --head fc --seed 1 --save-timm-safetensors tiny_fc/w_timm.safetensors
gen tiny_gap coffee.png "${TINY[@]}" --input-size 32 --head gap --seed 2
gen tiny_fc_caffe astronaut.png "${TINY[@]}" --input-size 32 --head fc --seed 3 --preprocess caffe
# odd input size: the pools floor 36 -> 18 -> 9 -> 4
gen tiny_fc_odd rocket.png --cfg 8,M,16,16,M,24,M --num-classes 7 --hidden 32 --input-size 36 --head fc --seed 4 \
    --save-timm-safetensors tiny_fc_odd/w_timm.safetensors
# VGG11 layout (cfg A) at width 1/16, gap head, 48 px
gen a_gap rocket.png --cfg A --width-div 16 --num-classes 5 --input-size 48 --head gap --seed 5
# a custom list without the trailing max-pool, fc head (the .pth cannot show the missing pool)
gen tiny_fc_nopool chelsea.png --cfg 8,M,16 --num-classes 5 --hidden 16 --input-size 16 --head fc --seed 6
du -sh .
