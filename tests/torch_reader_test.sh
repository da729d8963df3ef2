#!/usr/bin/env bash
# torch_reader_test.sh CNNLENS ROOT: the shipped built-in model, read independently by PyTorch
# (scripts/eval_torch.py: its own safetensors parser, torch.nn layers), must score what
# `cnnlens eval` says on the 10k Fashion-MNIST test set, to 0.1 point, and at least 93.0%; and
# the share of CAM's mass on the garment must agree to 0.5 point and be at least 80%.
# Then the shortcut model (assets/fashion_mnist_cheater.safetensors): see the end of this file.
# Needs Debian's python3-torch (./build.sh test installs it).
set -euo pipefail
cli=$1 root=$2
w=$root/assets/fashion_mnist_vgg_gap.safetensors
/usr/bin/python3 -c "import torch" 2>/dev/null || { echo "python3-torch is missing: apt-get install python3-torch" >&2; exit 1; }
ours=$("$cli" eval --weights "$w" --threads 2)
theirs=$(/usr/bin/python3 "$root/scripts/eval_torch.py" "$w")
acc_ours=$(sed -n 's/^accuracy \([0-9.]*\)%.*/\1/p' <<<"$ours")
acc_theirs=$(sed -n 's/.*accuracy \([0-9.]*\)%.*/\1/p' <<<"$theirs")
cam_ours=$(sed -n 's/^CAM of the predicted class.*: \([0-9.]*\)% of its mass.*/\1/p' <<<"$ours")
cam_theirs=$(sed -n 's/^CAM of the predicted class: \([0-9.]*\)% of its mass.*/\1/p' <<<"$theirs")
echo "test accuracy: cnnlens eval $acc_ours%, PyTorch $acc_theirs%"
echo "CAM mass on the garment: cnnlens eval $cam_ours%, PyTorch $cam_theirs%"
awk -v a="$acc_ours" -v b="$acc_theirs" -v c="$cam_ours" -v d="$cam_theirs" 'function abs(v) { return v < 0 ? -v : v }
  BEGIN { exit !(a != "" && b != "" && c != "" && d != "" && abs(a - b) <= 0.1 && a >= 93.0 && abs(c - d) <= 0.5 && c >= 80.0) }'

# The shortcut ("Clever Hans") model, on the first 2000 test images: the same numbers from both
# readers (accuracy, and each figure of the marker line), and it does cheat: at least 80% clean,
# 95% with its own class's marker, follows a wrong marker on 90%, CAM at least 80% on the marker.
w=$root/assets/fashion_mnist_cheater.safetensors
ours=$("$cli" eval --weights "$w" --threads 2 --count 2000)
theirs=$(/usr/bin/python3 "$root/scripts/eval_torch.py" "$w" --count 2000)
acc_ours=$(sed -n 's/^accuracy \([0-9.]*\)%.*/\1/p' <<<"$ours")
acc_theirs=$(sed -n 's/.*accuracy \([0-9.]*\)%.*/\1/p' <<<"$theirs")
m_ours=$(grep '^with markers:' <<<"$ours" | grep -oE '[0-9]+\.[0-9]+' | head -6 | tr '\n' ' ')
m_theirs=$(grep '^with markers:' <<<"$theirs" | grep -oE '[0-9]+\.[0-9]+' | head -6 | tr '\n' ' ')
echo "shortcut model, 2000 test images: accuracy cnnlens eval $acc_ours%, PyTorch $acc_theirs%"
echo "  own marker right, follows a wrong marker, right with a wrong one, changed (own, wrong), CAM on the marker:"
echo "  cnnlens eval $m_ours; PyTorch $m_theirs"
awk -v a="$acc_ours" -v b="$acc_theirs" -v m="$m_ours" -v t="$m_theirs" 'function abs(v) { return v < 0 ? -v : v }
  BEGIN { n = split(m, x, " "); k = split(t, y, " "); ok = a != "" && abs(a - b) <= 0.1 && a >= 80 && n == 6 && k == 6
          for (i = 1; i <= 6 && ok; i++) ok = abs(x[i] - y[i]) <= 0.1
          exit !(ok && x[1] >= 95 && x[2] >= 90 && x[6] >= 80) }'
