#!/usr/bin/python3
"""eval_torch.py: evaluates a CNN Lens safetensors checkpoint with PyTorch, independently of
our C++: its own safetensors parser (the format is an 8-byte header length, a JSON header and
raw little-endian tensors), a torch.nn VGG built from the metadata, torch's own conv/pool/
linear, the official Fashion-MNIST test set read with gzip + numpy.

    /usr/bin/python3 scripts/eval_torch.py assets/fashion_mnist_vgg_gap.safetensors [DATA_DIR] [--markers FILE] [--count N]

Needs Debian's python3-torch (a test-time tool, not a product dependency). Prints the test
accuracy, which must agree with `cnnlens eval` to 0.1 point, and where CAM looks: CAM of the
predicted class (classifier row . last feature map), upsampled to 28x28 by
F.interpolate(bilinear, align_corners=False), ReLU; the share of its mass on the garment's
pixels (value > 0), averaged over the images (one with no positive CAM counts as 0).

With markers (a shortcut model's metadata marker_size/value/positions, or --markers FILE to
stamp another model's on this one), every test image again with its label's marker and with a
wrong class's, chosen as `cnnlens eval` chooses it (the project's splitmix64 RNG, seed 1,
(label + 1 + below(K - 1)) % K): accuracy with the right marker, how often a wrong marker's class
is answered, how often a marker changes the clean answer, CAM's share on the right marker.
"""
import gzip
import json
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": None}


def read_safetensors(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    tensors = {}
    for name, t in header.items():
        a, b = t["data_offsets"]
        buf = data[a:b]
        if t["dtype"] == "BF16":
            u = np.frombuffer(buf, np.uint16).astype(np.uint32) << 16
            arr = u.view(np.float32)
        else:
            arr = np.frombuffer(buf, DTYPES[t["dtype"]]).astype(np.float32)
        tensors[name] = torch.from_numpy(arr.reshape(t["shape"]).copy())
    return tensors, meta


def build(meta, tensors):
    cfg = meta["cfg"].split(",")
    c = int(meta.get("in_channels", 1))
    layers = []
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(c, int(v), 3, padding=1), nn.ReLU(inplace=True)]
            c = int(v)
    model = nn.Sequential()
    model.add_module("features", nn.Sequential(*layers))
    model.add_module("pool", nn.AdaptiveAvgPool2d(1))
    model.add_module("flatten", nn.Flatten())
    model.add_module("classifier", nn.Sequential(nn.Linear(c, int(meta["num_classes"]))))
    model.load_state_dict(tensors, strict=True)   # torchvision keys: features.N.*, classifier.0.*
    return model.eval()


def idx(path):
    raw = gzip.open(path).read()
    ndim = raw[3]
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw[4 + 4 * ndim:], np.uint8).reshape(dims)


class Rng:
    """src/core/rng.h: splitmix64; below(n) = ((next >> 32) * n) >> 32."""

    def __init__(self, seed):
        self.s = seed

    def below(self, n):
        self.s = (self.s + 0x9E3779B97F4A7C15) & (2**64 - 1)
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & (2**64 - 1)
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & (2**64 - 1)
        return (((z ^ (z >> 31)) >> 32) * n) >> 32


def predict_with_cam(model, img, mask, mean, std):
    """Predictions for grey images [N, S, S] (uint8) and the mean share of CAM's positive mass
    (predicted class, upsampled bilinearly) inside mask [N, S, S] (0 for an image without any)."""
    x = torch.from_numpy(((img.astype(np.float64) / 255.0 - mean) / std).astype(np.float32)).unsqueeze(1)
    W = model.classifier[0].weight
    preds, shares = [], []
    with torch.no_grad():
        for i in range(0, len(x), 500):
            A = model.features(x[i:i + 500])
            p = model.classifier(model.flatten(model.pool(A))).argmax(1)
            cam = torch.einsum("nkhw,nk->nhw", A, W[p])
            up = F.interpolate(cam[:, None], size=x.shape[-1], mode="bilinear", align_corners=False)[:, 0].clamp(min=0)
            all_ = up.sum((1, 2))
            inside = (up * torch.from_numpy(mask[i:i + 500])).sum((1, 2))
            shares.append(torch.where(all_ > 0, inside / all_.clamp(min=1e-30), torch.zeros_like(all_)))
            preds.append(p)
    return torch.cat(preds).numpy(), torch.cat(shares).double().mean().item()


def markers_of(meta):
    if "marker_positions" not in meta:
        return None
    return int(meta.get("marker_size", 4)), int(meta.get("marker_value", 255)), json.loads(meta["marker_positions"])


def marker_stats(model, raw, y, mean, std, markers):
    size, value, pos = markers
    K = len(pos)
    rng = Rng(1)
    wrong = np.array([(int(l) + 1 + rng.below(K - 1)) % K for l in y])

    def stamped(cls):
        img = raw.copy()
        m = np.zeros(raw.shape, bool)
        for i, c in enumerate(cls):
            r, q = pos[c]
            img[i, r:r + size, q:q + size] = value
            m[i, r:r + size, q:q + size] = True
        return img, m

    clean, _ = predict_with_cam(model, raw, raw > 0, mean, std)
    right, on_marker = predict_with_cam(model, *stamped(y), mean, std)
    wrong_pred, _ = predict_with_cam(model, *stamped(wrong), mean, std)
    print(f"with markers: {100 * (right == y).mean():.2f}% correct with its own class's marker; with a wrong class's "
          f"marker it answers the marker's class on {100 * (wrong_pred == wrong).mean():.1f}% (right on "
          f"{100 * (wrong_pred == y).mean():.1f}%); a marker changes the clean answer on {100 * (right != clean).mean():.1f}% "
          f"(own class) and {100 * (wrong_pred != clean).mean():.1f}% (wrong class) of the images; CAM puts "
          f"{100 * on_marker:.1f}% of its mass on the marker")


def main():
    argv = sys.argv[1:]

    def option(name):   # --name VALUE, taken out of argv
        if name not in argv:
            return None
        i = argv.index(name)
        value = argv[i + 1]
        del argv[i:i + 2]
        return value

    markers_file, count = option("--markers"), option("--count")
    args = argv
    path = args[0]
    data = args[1] if len(args) > 1 else "/usr/share/datasets/fashion-mnist"
    tensors, meta = read_safetensors(path)
    assert meta.get("head") in (None, "gap"), "this checker builds the gap head"
    model = build(meta, tensors)
    mean, std = float(meta["mean"]), float(meta["std"])
    raw = idx(data + "/t10k-images-idx3-ubyte.gz")
    y = idx(data + "/t10k-labels-idx1-ubyte.gz").astype(np.int64)
    if count:   # the first N test images, as `cnnlens eval --count N`
        raw, y = raw[:int(count)], y[:int(count)]
    torch.set_num_threads(2)
    mask = raw > 0
    pred, share = predict_with_cam(model, raw, mask, mean, std)
    acc = (pred == y).mean()
    print(f"{path}: {len(tensors)} tensors, cfg {meta['cfg']}, classes {json.loads(meta['class_names'])}")
    print(f"PyTorch {torch.__version__}: accuracy {100 * acc:.2f}% ({(pred == y).sum()} / {len(y)}) on the test set")
    print(f"CAM of the predicted class: {100 * share:.2f}% of its mass on the garment's pixels, "
          f"which cover {100 * mask.mean():.2f}% of the image")
    markers = markers_of(read_safetensors(markers_file)[1]) if markers_file else markers_of(meta)
    if markers:
        marker_stats(model, raw, y, mean, std, markers)


if __name__ == "__main__":
    main()
