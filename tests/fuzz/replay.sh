#!/usr/bin/env bash
# Replays every committed fuzz reproducer once through its target, under the fuzzing budgets.
#   tests/fuzz/replay.sh FUZZ_BIN_DIR REGRESSIONS_DIR
# regressions/<target>/<file> goes to FUZZ_BIN_DIR/fuzz_<target>; any crash, sanitizer report,
# leak, timeout or out-of-memory fails the test and names the file. Reproducers are small files,
# so one allocation above 512 MB (not the fuzzing's 2 GB) already counts as a runaway allocation.
set -uo pipefail
bin=$1 dir=$2
pass=0 fail=0
for f in "$dir"/*/*; do
    [[ -f $f ]] || continue
    t=$(basename "$(dirname "$f")")
    [[ $(basename "$f") == README* ]] && continue
    if out=$("$bin/fuzz_$t" -rss_limit_mb=2048 -malloc_limit_mb=512 -timeout=5 "$f" 2>&1); then
        pass=$((pass + 1))
    else
        fail=$((fail + 1))
        echo "FAIL $t: $f"
        grep -E 'ERROR|SUMMARY|runtime error|broken promise|ALARM|out-of-memory' <<<"$out" | head -5 | sed 's/^/    /'
    fi
done
echo "$pass reproducers pass, $fail fail"
[[ $fail == 0 ]]
