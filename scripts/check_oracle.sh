#!/usr/bin/env bash
# check_oracle.sh: run `cnnlens dump` on every weight file of an oracle output folder and judge
# the arrays with the oracle's compare.py (forward quantities: logits and act_*).
#
#   scripts/check_oracle.sh REF_DIR [native|wasm|wasm-mt ...]     (default: native wasm)
#
# REF_DIR is made by shared/oracle/vgg_reference.py with --save-safetensors w.safetensors,
# --save-timm-safetensors w_timm.safetensors, --save-pth w.pth, --save-pth-legacy w_legacy.pth
# and --save-keras-h5 w.h5. Needs the oracle (ORACLE=path, default ../shared/oracle).
set -euo pipefail
cd "$(dirname "$0")/.."
REF=$1; shift
ORACLE=${ORACLE:-../shared/oracle}
PRE=$(/usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['preprocess']['mode'])" "$REF/meta.json")
export NODE_PATH=/usr/share/nodejs
status=0
for build in "${@:-native wasm}"; do
    for w in w.safetensors w_timm.safetensors w.pth w_legacy.pth w.h5; do
        [[ -f $REF/$w ]] || continue
        out=$(mktemp -d)
        case $build in
            native) cmd=(build/native/cnnlens) ;;
            *) cmd=(node --no-experimental-fetch "build/$build/cnnlens.js") ;;
        esac
        t0=$(date +%s.%N)
        "${cmd[@]}" dump --weights "$REF/$w" --image "$REF/input.png" --npy "$out" --preprocess "$PRE" >/dev/null
        t1=$(date +%s.%N)
        if res=$(/usr/bin/python3 "$ORACLE/compare.py" "$REF" "$out" --only logits,act_ --quiet 2>&1); then
            verdict=PASS
        else
            verdict=FAIL; status=1
        fi
        printf '%-8s %-20s %s  %s  (dump %.1f s)\n' "$build" "$w" "$verdict" "$(echo "$res" | tail -n1)" \
            "$(awk "BEGIN{print $t1 - $t0}")"
        rm -rf "$out"
    done
done
exit $status
