#!/usr/bin/env bash
# Runs the libFuzzer targets of a sanitizer build tree (./build.sh fuzz calls it).
#
#   tests/fuzz/run.sh BUILD_DIR [TARGET|all] [SECONDS]      (default: all, 60 s each)
#
# Each target fuzzes for SECONDS with a persistent corpus outside git, build/fuzz-corpus/TARGET,
# plus seeds remade from the fixtures by make_seeds.py each time (a private folder per run, so
# runs may go side by side). Budgets: 2 GB resident (and no single allocation above it), 5 s per
# input (FUZZ_TIMEOUT=SECONDS: on a busy machine a niced run waits for the CPU and a 0.5-s input
# can pass 5 s of wall time; replay a timeout alone before believing it). A crash, sanitizer
# report, leak, timeout or out-of-memory stops that target and leaves the input in
# build/fuzz-artifacts/TARGET/; the script prints per target: executions, coverage (cov = edges,
# ft = features), corpus size, and the file of anything found. Exit status 1 if anything was found.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$(cd "$1" && pwd)/tests/fuzz
want=${2:-all}
secs=${3:-60}
all=(safetensors torch_pth keras_h5 npy idx image arch)
declare -A max_len=([safetensors]=262144 [torch_pth]=262144 [keras_h5]=262144 [npy]=16384 [idx]=65536
                    [image]=65536 [arch]=1310720)   # arch: room for the built-in model (1.15 MB)
if [[ $want == all ]]; then
    targets=("${all[@]}")
elif [[ -n ${max_len[$want]:-} ]]; then
    targets=("$want")
else
    echo "unknown fuzz target '$want' (one of: ${all[*]}, all)" >&2
    exit 2
fi

seeds=$root/build/fuzz-seeds.$$
trap 'rm -rf "$seeds"' EXIT
/usr/bin/python3 "$root/tests/fuzz/make_seeds.py" "$root" "$seeds" >/dev/null || exit 1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

found=0
for t in "${targets[@]}"; do
    corpus=$root/build/fuzz-corpus/$t art=$root/build/fuzz-artifacts/$t log=$root/build/fuzz-logs/$t.log
    mkdir -p "$corpus" "$art" "$(dirname "$log")"
    t0=$SECONDS
    nice "$bin/fuzz_$t" -rss_limit_mb=2048 -timeout="${FUZZ_TIMEOUT:-5}" -max_len="${max_len[$t]}" -max_total_time="$secs" \
        -print_final_stats=1 -artifact_prefix="$art/" "$corpus" "$seeds/$t" >"$log" 2>&1
    rc=$?
    execs=$(grep -oE 'stat::number_of_executed_units: [0-9]+' "$log" | grep -oE '[0-9]+$' | tail -1)
    status=$(grep -E '^#[0-9]+' "$log" | grep -E 'cov: ' | tail -1)
    cov=$(grep -oE 'cov: [0-9]+' <<<"$status" | grep -oE '[0-9]+')
    ft=$(grep -oE 'ft: [0-9]+' <<<"$status" | grep -oE '[0-9]+')
    corp=$(find "$corpus" -type f | wc -l)
    printf 'fuzz %-12s %9s execs in %ss, cov %s ft %s, corpus %s files (+%s seeds)' "$t" "${execs:-?}" "$((SECONDS - t0))" \
        "${cov:-?}" "${ft:-?}" "$corp" "$(find "$seeds/$t" -type f | wc -l)"
    if [[ $rc == 0 ]]; then
        echo ": ok"
    else
        found=1
        unit=$(grep -oE 'Test unit written to \S+' "$log" | tail -1 | cut -d' ' -f5)
        what=$(grep -m1 -E '^SUMMARY: |==ERROR: |runtime error|broken promise|ALARM: |out-of-memory' "$log" | cut -c1-160)
        echo ": FOUND (exit $rc) ${what:-see the log}"
        echo "     input: ${unit:-none written}; log: $log"
        echo "     replay: $bin/fuzz_$t ${unit:-<input>}; minimize: $bin/fuzz_$t -minimize_crash=1 -runs=10000 ${unit:-<input>}"
    fi
done
exit $found
