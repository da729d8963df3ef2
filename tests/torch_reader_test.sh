#!/usr/bin/env bash
# torch_reader_test.sh CNNLENS ROOT: the shipped built-in model, read independently by PyTorch
# (scripts/eval_torch.py: its own safetensors parser, torch.nn layers), must score what
# `cnnlens eval` says on the 10k Fashion-MNIST test set, to 0.1 point, and at least 93.0%.
# Needs Debian's python3-torch (./build.sh test installs it).
set -euo pipefail
cli=$1 root=$2
w=$root/assets/fashion_mnist_vgg_gap.safetensors
/usr/bin/python3 -c "import torch" 2>/dev/null || { echo "python3-torch is missing: apt-get install python3-torch" >&2; exit 1; }
ours=$("$cli" eval --weights "$w" --threads 2 | sed -n 's/^accuracy \([0-9.]*\)%.*/\1/p')
theirs=$(/usr/bin/python3 "$root/scripts/eval_torch.py" "$w" | sed -n 's/.*accuracy \([0-9.]*\)%.*/\1/p')
echo "test accuracy: cnnlens eval $ours%, PyTorch $theirs%"
awk -v a="$ours" -v b="$theirs" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(a != "" && b != "" && d <= 0.1 && a >= 93.0) }'
