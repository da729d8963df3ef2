#!/usr/bin/python3
"""make_cases.py: the hostile corpus. Writes damaged weight files and images into OUT_DIR.

    /usr/bin/python3 tests/hostile/make_cases.py REPO_DIR OUT_DIR [SEED]

Deterministic for a seed (default 1). Standard library only. Names tell the case:
    weights/<base>.<kind>-<detail>.<ext>    kind: cut (truncated), flip (random bytes),
                                            size (a length/offset field), shape (an absurd shape)
    images/<base>.<kind>-<detail>.<ext>     kind: cut, flip, size, sample (a valid file of a
                                            format about to be refused: TGA, PNM, HDR, PSD)
and OUT_DIR/manifest.txt lists 'weights|image TRUNCATED(0/1) PATH', one case per line.
"""
import io
import json
import os
import pickletools
import random
import struct
import sys
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import samples  # noqa: E402

repo, out = sys.argv[1], sys.argv[2]
rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 1)
manifest = []


def read(rel):
    with open(os.path.join(repo, rel), "rb") as f:
        return f.read()


def write(kind, name, data, truncated=False):
    d = os.path.join(out, "weights" if kind == "weights" else "images")
    os.makedirs(d, exist_ok=True)
    p = os.path.join(d, name)
    with open(p, "wb") as f:
        f.write(data)
    manifest.append("%s %d %s" % (kind, 1 if truncated else 0, p))


def cuts(data, n):
    """n cut points spread over the file, denser at the start (headers live there)."""
    pts = set()
    for i in range(n):
        f = (i / n) ** 2 if i % 2 else i / n
        pts.add(int(len(data) * f))
    pts.update({1, 7, 8, 9, 16, 64})
    return sorted(p for p in pts if 0 < p < len(data))


def flips(data, k, lo=0, hi=None):
    b = bytearray(data)
    hi = len(b) if hi is None else min(hi, len(b))
    for _ in range(k):
        b[rng.randrange(lo, hi)] ^= rng.randrange(1, 256)
    return bytes(b)


ABSURD32 = [0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 0x10000000]
ABSURD64 = [0, 0x7FFFFFFFFFFFFFFF, 0xFFFFFFFFFFFFFFFF, 1 << 40, 1 << 62]


def word_edits(data, span, count, tag):
    """Aligned 4- and 8-byte little-endian words in the first `span` bytes set to absurd values."""
    res = []
    for i in range(count):
        b = bytearray(data)
        if i % 2:
            off = rng.randrange(0, max(1, min(span, len(b) - 8)) // 8) * 8
            b[off:off + 8] = struct.pack("<Q", rng.choice(ABSURD64))
        else:
            off = rng.randrange(0, max(1, min(span, len(b) - 4)) // 4) * 4
            b[off:off + 4] = struct.pack("<I", rng.choice(ABSURD32))
        res.append(("%s%d-at%d" % (tag, i, off), bytes(b)))
    return res


# ---------------------------------------------------------------------------- weights

def st_split(data):
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n]), data[8 + n:]


def st_join(header, body, pad=True):
    h = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + body


def safetensors_cases(base, data):
    for c in cuts(data, 14):
        write("weights", "%s.cut-%d.safetensors" % (base, c), data[:c], True)
    hlen = 8 + struct.unpack("<Q", data[:8])[0]
    for i in range(8):
        write("weights", "%s.flip-%d.safetensors" % (base, i), flips(data, 1 + i % 4, 0, hlen + 64))
    for v in [0, 1, len(data), len(data) - 7, 1 << 32, 0xFFFFFFFFFFFFFFFF]:
        write("weights", "%s.size-hlen%d.safetensors" % (base, v), struct.pack("<Q", v) + data[8:])
    header, body = st_split(data)
    names = [k for k in header if k != "__metadata__"]
    edits = [
        ("shape-huge", lambda t: t.__setitem__("shape", [1 << 40, 1 << 40])),
        ("shape-neg", lambda t: t.__setitem__("shape", [-1] + t["shape"][1:])),
        ("shape-zero", lambda t: t.__setitem__("shape", [0] + t["shape"][1:])),
        ("shape-wrap", lambda t: t.__setitem__("shape", [1 << 62, 4] + t["shape"][2:])),
        ("shape-float", lambda t: t.__setitem__("shape", [2.5] + t["shape"][1:])),
        ("shape-deep", lambda t: t.__setitem__("shape", [1] * 60)),
        ("offs-past", lambda t: t.__setitem__("data_offsets", [t["data_offsets"][0], len(body) + 4096])),
        ("offs-rev", lambda t: t.__setitem__("data_offsets", t["data_offsets"][::-1])),
        ("offs-huge", lambda t: t.__setitem__("data_offsets", [1 << 63, (1 << 64) - 1])),
        ("dtype-i8", lambda t: t.__setitem__("dtype", "I8")),
        ("dtype-c64", lambda t: t.__setitem__("dtype", "C64")),
    ]
    for j, (tag, fn) in enumerate(edits):
        h = json.loads(json.dumps(header))
        fn(h[names[(j * 7) % len(names)]])
        write("weights", "%s.shape-%s.safetensors" % (base, tag), st_join(h, body))
    # zero-sized convs whose bytes still fit: the first conv with 0 output channels (and a
    # [0] bias), then also the next conv with 0 input channels, as a consistent file would be
    convs = sorted((int(k.split(".")[1]), k) for k in names
                   if k.startswith("features.") and k.endswith(".weight") and len(header[k]["shape"]) == 4)
    if len(convs) >= 2:
        h = json.loads(json.dumps(header))

        def empty(key, shape):
            h[key]["shape"] = shape
            h[key]["data_offsets"] = [h[key]["data_offsets"][0]] * 2

        w0, w1 = convs[0][1], convs[1][1]
        empty(w0, [0] + h[w0]["shape"][1:])
        if w0[:-6] + "bias" in h:
            empty(w0[:-6] + "bias", [0])
        write("weights", "%s.shape-zero-out-channels.safetensors" % base, st_join(h, body))
        empty(w1, [h[w1]["shape"][0], 0, 3, 3])
        write("weights", "%s.shape-zero-channels.safetensors" % base, st_join(h, body))
        h.pop("__metadata__", None)   # no cfg in the metadata to contradict the layers
        write("weights", "%s.shape-zero-channels-nometa.safetensors" % base, st_join(h, body))


def pickle_int_edits(pkl, count, tag):
    """The pickle with one integer opcode (shapes, strides, offsets, storage sizes) replaced by
    an absurd one; other bytes unchanged."""
    ints = [(pos, op.name, arg) for op, arg, pos in pickletools.genops(pkl)
            if op.name in ("BININT", "BININT1", "BININT2", "LONG1")]
    res = []
    if not ints:
        return res
    for i in range(count):
        pos, name, arg = ints[rng.randrange(len(ints))]
        size = {"BININT": 5, "BININT1": 2, "BININT2": 3}.get(name)
        if size is None:
            size = 2 + pkl[pos + 1]
        v = rng.choice([-1, 0, 0x7FFFFFFF, -0x80000000, 1 << 40, 1 << 62, (1 << 64) + 3])
        if -0x80000000 <= v <= 0x7FFFFFFF:
            new = b"J" + struct.pack("<i", v)
        else:
            n = (v.bit_length() + 8) // 8
            new = b"\x8a" + bytes([n]) + v.to_bytes(n, "little", signed=True)
        res.append(("%s%d-%s%d" % (tag, i, name, arg if isinstance(arg, int) else 0), pkl[:pos] + new + pkl[pos + size:]))
    return res


def pth_zip_cases(base, data):
    for c in cuts(data, 12):
        write("weights", "%s.cut-%d.pth" % (base, c), data[:c], True)
    for i in range(6):
        write("weights", "%s.flip-%d.pth" % (base, i), flips(data, 1 + i % 3))
    # the end of central directory and the central directory: sizes and offsets
    eocd = data.rfind(b"PK\x05\x06")
    cd = data.find(b"PK\x01\x02")
    for i, (off, fmt) in enumerate([(eocd + 10, "<H"), (eocd + 12, "<I"), (eocd + 16, "<I"),
                                    (cd + 20, "<I"), (cd + 24, "<I"), (cd + 42, "<I"), (cd + 28, "<H")]):
        if off < 0 or off + struct.calcsize(fmt) > len(data):
            continue
        for v in ([0xFFFF, 0] if fmt == "<H" else [0xFFFFFFFF, 0x7FFFFFF0, len(data) * 2]):
            b = bytearray(data)
            b[off:off + struct.calcsize(fmt)] = struct.pack(fmt, v)
            write("weights", "%s.size-cd%d-%x.pth" % (base, i, v), bytes(b))
    # absurd shapes inside the pickle, rebuilt as a valid zip
    z = zipfile.ZipFile(io.BytesIO(data))
    pkl_name = next(n for n in z.namelist() if n.endswith("data.pkl"))
    for tag, pkl in pickle_int_edits(z.read(pkl_name), 8, "shape"):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as w:
            for n in z.namelist():
                w.writestr(n, pkl if n == pkl_name else z.read(n))
        write("weights", "%s.%s.pth" % (base, tag), buf.getvalue())


def pth_legacy_cases(base, data):
    for c in cuts(data, 12):
        write("weights", "%s.cut-%d.pth" % (base, c), data[:c], True)
    for i in range(6):
        write("weights", "%s.flip-%d.pth" % (base, i), flips(data, 1 + i % 3, 0, 4096))
    # five pickles (magic number, protocol, sys_info, the state dict, the storage keys), then
    # each storage as a u64 element count and its bytes
    pickles = []
    pos = 0
    while pos < len(data) and len(pickles) < 5:
        try:
            last = None
            for op, arg, p in pickletools.genops(data[pos:]):
                last = p
            pickles.append((pos, pos + last + 1))
            pos += last + 1
        except Exception:
            break
    if len(pickles) == 5:
        s, e = pickles[3]
        for tag, pkl in pickle_int_edits(data[s:e], 8, "shape"):
            write("weights", "%s.%s.pth" % (base, tag), data[:s] + pkl + data[e:])
        e = pickles[4][1]
        for tag, b in word_edits(data[e:], 8, 3, "size"):   # the first storage's element count
            write("weights", "%s.%s.pth" % (base, tag), data[:e] + b)


def h5_cases(base, data):
    for c in cuts(data, 14):
        write("weights", "%s.cut-%d.h5" % (base, c), data[:c], True)
    for i in range(8):
        write("weights", "%s.flip-%d.h5" % (base, i), flips(data, 1 + i % 4))
    for tag, b in word_edits(data, 2048, 8, "size"):
        write("weights", "%s.%s.h5" % (base, tag), b)
    # dataspace dims (8-byte little-endian): a 3x3 kernel's [3,3,cin,cout] made absurd
    k33 = struct.pack("<QQ", 3, 3)
    hits = []
    pos = data.find(k33)
    while pos >= 0 and len(hits) < 6:
        hits.append(pos)
        pos = data.find(k33, pos + 1)
    for i, p in enumerate(hits):
        for v in [0, 1 << 40, 0xFFFFFFFFFFFFFFFF]:
            b = bytearray(data)
            b[p + 16:p + 24] = struct.pack("<Q", v)
            write("weights", "%s.shape-dims%d-%x.h5" % (base, i, v), bytes(b))


safetensors_cases("tiny_gap", read("tests/data/oracle/tiny_gap/w.safetensors"))
safetensors_cases("tiny_fc_timm", read("tests/data/oracle/tiny_fc_odd/w_timm.safetensors"))
safetensors_cases("builtin", read("assets/fashion_mnist_vgg_gap.safetensors"))
pth_zip_cases("tiny_gap_zip", read("tests/data/oracle/tiny_gap/w.pth"))
pth_zip_cases("bn_zip", read("tests/data/pth/bn_zip.pth"))
pth_legacy_cases("tiny_gap_legacy", read("tests/data/oracle/tiny_gap/w_legacy.pth"))
pth_legacy_cases("tiny_legacy", read("tests/data/pth/tiny_legacy.pth"))
h5_cases("tiny_gap", read("tests/data/oracle/tiny_gap/w.h5"))
h5_cases("keras_tiny", read("tests/data/h5/keras_tiny.h5"))

# ---------------------------------------------------------------------------- images

def image_cases(base, ext, data, ncuts=14, nflips=6, size_fields=()):
    for c in cuts(data, ncuts):
        write("image", "%s.cut-%d.%s" % (base, c, ext), data[:c], True)
    for i in range(nflips):
        b = flips(data, 1 + i % 3, 0, len(data))
        if ext == "png":
            b = samples.png_chunk_fix(b)   # past the CRCs (stb_image skips them anyway)
        write("image", "%s.flip-%d.%s" % (base, i, ext), b)
    for off, fmt, values in size_fields:
        for v in values:
            b = bytearray(data)
            b[off:off + struct.calcsize(fmt)] = struct.pack(fmt, v)
            b = bytes(b)
            if ext == "png":
                b = samples.png_chunk_fix(b)
            write("image", "%s.size-%d-%x.%s" % (base, off, v & 0xFFFFFFFF, ext), b)


def jpeg_sof(data):
    pos = 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        m = data[pos + 1]
        if 0xC0 <= m <= 0xCF and m not in (0xC4, 0xC8, 0xCC):
            return pos
        pos += 2 + struct.unpack(">H", data[pos + 2:pos + 4])[0]
    return None


big = [0, 1, 0x7FFF, 0xFFFF]
for name in ["src.png", "grey16.png", "palette.png", "rgba.png"]:
    d = read("tests/data/image/" + name)
    image_cases(name[:-4], "png", d, size_fields=[(16, ">I", [0, 1 << 31, 20000]), (20, ">I", [0, 0xFFFFFFFF, 20000]),
                                                 (24, "B", [0, 3, 32]), (25, "B", [1, 7])])
interlaced = samples.png(23, 17, 6, 8, 1)
image_cases("interlaced", "png", interlaced, ncuts=10, nflips=4)
for name in ["src.jpg", "src_prog.jpg"]:
    d = read("tests/data/image/" + name)
    sof = jpeg_sof(d)
    image_cases(name[:-4], "jpg", d, ncuts=20, nflips=8,
                size_fields=[(sof + 5, ">H", big), (sof + 7, ">H", big), (sof + 9, "B", [0, 2, 255])])
photo = read("assets/samples/chelsea.jpg")
image_cases("chelsea", "jpg", photo, ncuts=12, nflips=4)
d = read("tests/data/image/src.bmp")
image_cases("src", "bmp", d, size_fields=[(2, "<I", [0, 0xFFFFFFFF]), (10, "<I", [0, 0xFFFFFFF0]), (14, "<I", [0, 12, 0xFFFF]),
                                          (18, "<i", [0, -1, 1 << 20]), (22, "<i", [0, -(1 << 20), 0x7FFFFFFF]),
                                          (28, "<H", [0, 1, 7, 64])])
d = read("tests/data/image/src.gif")
image_cases("src", "gif", d, size_fields=[(6, "<H", big), (8, "<H", big), (10, "B", [0xFF, 0x00])])
for name in ["src.tga", "src_rle.tga"]:
    d = read("tests/data/image/" + name)
    image_cases(name[:-4], "tga", d, size_fields=[(12, "<H", big), (14, "<H", big), (16, "B", [0, 15, 32, 99]), (2, "B", [1, 3, 9, 11])])
for tag, d in [("p6", samples.pnm(19, 13)), ("p5", samples.pnm(19, 13, grey=True)), ("p6_16", samples.pnm(9, 7, maxval=65535))]:
    write("image", "%s.sample.ppm" % tag, d)
    image_cases(tag, "ppm", d, ncuts=8, nflips=3)
for tag, d in [("flat", samples.hdr(5, 4)), ("rle", samples.hdr(21, 9))]:
    write("image", "%s.sample.hdr" % tag, d)
    image_cases(tag, "hdr", d, ncuts=8, nflips=3)
for tag, d in [("raw", samples.psd(17, 11)), ("rle", samples.psd(17, 11, 4, rle=True))]:
    write("image", "%s.sample.psd" % tag, d)
    image_cases(tag, "psd", d, ncuts=8, nflips=3, size_fields=[(14, ">I", [0, 1 << 20]), (18, ">I", [0, 0xFFFFFFFF]), (12, ">H", [0, 99])])

with open(os.path.join(out, "manifest.txt"), "w") as f:
    f.write("\n".join(manifest) + "\n")
w = sum(1 for m in manifest if m.startswith("weights"))
print("hostile corpus: %d weight files, %d images in %s" % (w, len(manifest) - w, out))
