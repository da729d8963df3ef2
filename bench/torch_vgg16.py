#!/usr/bin/python3
"""torch_vgg16.py: the benchmark's PyTorch side (Debian's python3-torch, python3-torchvision).

    torch_vgg16.py models --out DIR [--weights W] [--seed 7]
        One VGG16 (torchvision layout), from W (safetensors or a torchvision .pth state dict) or
        random (torchvision's initialisation, torch.manual_seed(seed)), written for every peer:
          DIR/vgg16.safetensors    CNN Lens (the page and the native CLI); W itself if it is one
          DIR/vgg16.onnx           onnxruntime-web (torch.onnx.export, opset 13)
          DIR/vgg16_tfjs.bin/.json TF.js layers API: float32 kernels HWIO, biases, dense [in, out]
                                   (fc1's rows reordered from torch's CHW flatten to TF's HWC)
        Skipped when DIR/models.json says the same source was already written.

    torch_vgg16.py time --weights W [--threads 1,2] [--reps 5] [--input RGB]
        Forward of VGG16 at 224x224, batch 1, torch.no_grad, after one warm-up, per thread count
        (torch.set_num_threads); JSON on stdout. --input: 224*224*3 raw uint8 RGB, preprocessed
        as torchvision's (the top-5 logits of it are printed, to compare with the other peers).
        Convolutions run in oneDNN (mkldnn), the fully connected layers in the BLAS Debian's
        alternatives select (./build.sh bench-peers installs OpenBLAS, libopenblas0-pthread).

Reads and writes safetensors with the standard library and numpy (Debian has no
python3-safetensors). Not part of the product; run by bench/bench.mjs.
"""
import argparse
import json
import os
import struct
import sys
import time

import numpy as np
import torch
import torchvision

MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        dtype = {"F32": np.float32, "F16": np.float16}[t["dtype"]]
        a, b = t["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype=dtype).reshape(t["shape"]).astype(np.float32))
    return out


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        a = np.ascontiguousarray(t.detach().numpy(), dtype=np.float32)
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        blobs.append(a)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(path + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for a in blobs:
            f.write(a.tobytes())
    os.replace(path + ".tmp", path)


def load_vgg16(weights, seed=7):
    torch.manual_seed(seed)
    model = torchvision.models.vgg16()
    if weights:
        sd = read_safetensors(weights) if weights.endswith(".safetensors") else torch.load(weights, map_location="cpu")
        model.load_state_dict(sd)
    return model.eval()


def cmd_models(a):
    a.out = os.path.abspath(a.out)
    os.makedirs(a.out, exist_ok=True)
    src = ({"weights": os.path.abspath(a.weights), "size": os.path.getsize(a.weights),
            "mtime": int(os.path.getmtime(a.weights))} if a.weights else {"random_seed": a.seed})
    stamp = os.path.join(a.out, "models.json")
    if os.path.exists(stamp):
        old = json.load(open(stamp))
        if old.get("source") == src and all(os.path.exists(p) for p in old["files"].values()):
            print(json.dumps(old))
            return
    model = load_vgg16(a.weights, a.seed)
    sd = model.state_dict()
    files = {}
    if a.weights and a.weights.endswith(".safetensors"):
        files["cnnlens"] = os.path.abspath(a.weights)
    else:
        files["cnnlens"] = os.path.join(a.out, "vgg16.safetensors")
        write_safetensors(files["cnnlens"], sd)
    files["onnx"] = os.path.join(a.out, "vgg16.onnx")
    with torch.no_grad():
        torch.onnx.export(model, torch.zeros(1, 3, 224, 224), files["onnx"] + ".tmp", opset_version=13,
                          input_names=["input"], output_names=["logits"])
    os.replace(files["onnx"] + ".tmp", files["onnx"])
    # TF.js: the layers in model order, [kernel, bias] each
    layers, blobs, offset = [], [], 0
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    denses = [m for m in model.classifier if isinstance(m, torch.nn.Linear)]
    for i, m in enumerate(convs + denses):
        w = m.weight.detach().numpy()
        if w.ndim == 4:
            k = w.transpose(2, 3, 1, 0)                                  # OIHW -> HWIO
        elif i == len(convs):                                            # fc1: rows from CHW to HWC order
            k = w.reshape(w.shape[0], 512, 7, 7).transpose(2, 3, 1, 0).reshape(-1, w.shape[0])
        else:
            k = w.T                                                      # [out, in] -> [in, out]
        for arr in (np.ascontiguousarray(k, np.float32), m.bias.detach().numpy().astype(np.float32)):
            layers.append({"shape": list(arr.shape), "offset": offset})
            offset += arr.nbytes
            blobs.append(arr)
    files["tfjs"] = os.path.join(a.out, "vgg16_tfjs.bin")
    with open(files["tfjs"] + ".tmp", "wb") as f:
        for arr in blobs:
            f.write(arr.tobytes())
    os.replace(files["tfjs"] + ".tmp", files["tfjs"])
    files["tfjs_manifest"] = os.path.join(a.out, "vgg16_tfjs.json")
    json.dump({"tensors": layers}, open(files["tfjs_manifest"], "w"))
    info = {"source": src, "files": files}
    json.dump(info, open(stamp, "w"), indent=1)
    print(json.dumps(info))


def preprocess(rgb):
    x = (np.frombuffer(rgb, np.uint8).reshape(224, 224, 3).astype(np.float32) / 255 - MEAN) / STD
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None]


def blas_loaded():
    """The BLAS and LAPACK libraries this process mapped (Debian's alternatives decide which)."""
    libs = set()
    for line in open("/proc/self/maps"):
        p = line.split()[-1]
        if any(k in p for k in ("blas", "lapack", "dnnl")):
            libs.add(os.path.realpath(p))
    return sorted(libs)


def cmd_time(a):
    model = load_vgg16(a.weights)
    x = preprocess(open(a.input, "rb").read()) if a.input else torch.rand(1, 3, 224, 224) * 4 - 2
    out = {"torch": torch.__version__, "torchvision": torchvision.__version__,
           "mkldnn": bool(torch.backends.mkldnn.is_available()),
           "blas": blas_loaded(),
           "forward": {}}
    with torch.no_grad():
        for n in [int(t) for t in a.threads.split(",")]:
            torch.set_num_threads(n)
            y = model(x)   # warm-up
            ms = []
            for _ in range(a.reps):
                t0 = time.perf_counter()
                y = model(x)
                ms.append((time.perf_counter() - t0) * 1000)
            out["forward"][str(n)] = {"ms": ms, "threads_in_effect": torch.get_num_threads()}
        top = torch.topk(y[0], 5)
        out["top5"] = [{"index": int(i), "logit": float(v)} for v, i in zip(top.values, top.indices)]
    print(json.dumps(out))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("models")
    m.add_argument("--out", required=True)
    m.add_argument("--weights")
    m.add_argument("--seed", type=int, default=7)
    t = sub.add_parser("time")
    t.add_argument("--weights", required=True)
    t.add_argument("--threads", default="1,2")
    t.add_argument("--reps", type=int, default=5)
    t.add_argument("--input")
    a = p.parse_args()
    {"models": cmd_models, "time": cmd_time}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
