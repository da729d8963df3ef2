#!/usr/bin/env bash
# Hostile input through the command line: hundreds of truncated and mutated weight files (every
# format) and images (PNG, JPEG, BMP, GIF, TGA, PNM, HDR, PSD), written by
# tests/hostile/make_cases.py (deterministic), each run judged by tests/hostile/run_cases.py:
# within 5 s, exit by status never by a signal, one 'cnnlens: error:' line on failure, at most
# 1.5 GB resident, and the same output whatever malloc leaves in fresh memory.
#   tests/hostile_test.sh CNNLENS REPO_DIR [--sanitized]
set -euo pipefail
cli=$1 repo=$2; shift 2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
/usr/bin/python3 "$repo/tests/hostile/make_cases.py" "$repo" "$tmp" 1
/usr/bin/python3 "$repo/tests/hostile/run_cases.py" "$cli" "$repo" "$tmp" "$@"
