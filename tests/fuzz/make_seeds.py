#!/usr/bin/python3
"""make_seeds.py: the seed corpus of every fuzz target, from the repo's fixtures.

    /usr/bin/python3 tests/fuzz/make_seeds.py REPO_DIR OUT_DIR

Writes OUT_DIR/<target>/ for safetensors, torch_pth, keras_h5, npy, idx, image and arch:
copies of tests/data fixtures and the built-in model, plus small files made here (IDX plain
and gzipped with stored, fixed and dynamic DEFLATE blocks; .npy variants; PNM, HDR and PSD
images). Deterministic; standard library only.
"""
import glob
import gzip
import os
import shutil
import struct
import sys
import zlib

repo, out = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(repo, "tests/hostile"))
import samples  # noqa: E402


def put(target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def copy(target, pattern, prefix=""):
    for p in sorted(glob.glob(os.path.join(repo, pattern))):
        rel = os.path.relpath(p, repo).replace("/", "_")
        os.makedirs(os.path.join(out, target), exist_ok=True)
        shutil.copyfile(p, os.path.join(out, target, prefix + rel))


weights = {
    "safetensors": ["tests/data/oracle/*/w*.safetensors", "tests/data/extra/*.safetensors",
                    "tests/data/extra/bn/*.safetensors", "assets/fashion_mnist_vgg_gap.safetensors"],
    "torch_pth": ["tests/data/oracle/*/w*.pth", "tests/data/pth/*.pth", "tests/data/pth/*.pt",
                  "tests/data/pth/*.pkl", "tests/data/extra/bn/*.pth"],
    "keras_h5": ["tests/data/oracle/*/w.h5", "tests/data/h5/*.h5"],
}
for target, pats in weights.items():
    for pat in pats:
        copy(target, pat)
        copy("arch", pat)

# npy: the small fixtures, and the variants the writer never makes
for p in sorted(glob.glob(os.path.join(repo, "tests/data/**/*.npy"), recursive=True)):
    if os.path.getsize(p) <= 1024:
        copy("npy", os.path.relpath(p, repo))


def npy(dict_text, data, version=1):
    pre = 10 if version == 1 else 12
    h = dict_text + " " * ((64 - (pre + len(dict_text) + 1) % 64) % 64) + "\n"
    n = struct.pack("<H", len(h)) if version == 1 else struct.pack("<I", len(h))
    return b"\x93NUMPY" + bytes([version, 0]) + n + h.encode() + data


put("npy", "f8.npy", npy("{'descr': '<f8', 'fortran_order': False, 'shape': (2, 2), }", struct.pack("<4d", 1, -2, 0.5, 1e300)))
put("npy", "v2.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", struct.pack("<3f", 1, 2, 3), 2))
put("npy", "scalar.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", struct.pack("<f", 7)))
put("npy", "empty.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }", b""))
put("npy", "fortran.npy", npy("{'descr': '<f4', 'fortran_order': True, 'shape': (1L, 2L), }", struct.pack("<2f", 1, 2)))

# idx: plain and gzipped, every DEFLATE block type, two gzip members
labels = bytes([0, 0, 8, 1, 0, 0, 0, 12]) + bytes(i % 10 for i in range(12))
images = bytes([0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 5, 0, 0, 0, 4]) + bytes((i * 13) & 255 for i in range(60))
put("idx", "labels.idx1", labels)
put("idx", "images.idx3", images)
put("idx", "f32.idx1", bytes([0, 0, 0x0D, 1, 0, 0, 0, 1]) + struct.pack(">f", 1.5))


def gz(data, level, strategy=zlib.Z_DEFAULT_STRATEGY):
    c = zlib.compressobj(level, zlib.DEFLATED, 31, 9, strategy)
    return c.compress(data) + c.flush()


put("idx", "images_stored.idx3.gz", gz(images, 0))
put("idx", "images_fixed.idx3.gz", gz(images, 9, zlib.Z_FIXED))
put("idx", "images_dynamic.idx3.gz", gz(images, 9))
big = bytes([0, 0, 8, 2, 0, 0, 1, 0, 0, 0, 0, 64]) + bytes(((i * i) >> 3) & 255 for i in range(256 * 64))
put("idx", "big_dynamic.idx2.gz", gzip.compress(big, 9, mtime=0))
put("idx", "two_members.idx1.gz", gzip.compress(labels[:10], mtime=0) + gzip.compress(labels[10:], mtime=0))
for p in ["/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz"]:   # a real one, 5 KB
    if os.path.exists(p):
        shutil.copyfile(p, os.path.join(out, "idx", "fashion_t10k_labels.gz"))

# images: the fixtures, the gallery, two photos, and the formats without a fixture
for pat in ["tests/data/image/*.png", "tests/data/image/*.jpg", "tests/data/image/*.bmp", "tests/data/image/*.gif",
            "tests/data/image/*.tga", "tests/data/oracle/*/input.png", "assets/fashion-mnist/*.png",
            "assets/samples/astronaut.jpg", "assets/samples/rocket.jpg"]:
    copy("image", pat)
put("image", "gen_p6.ppm", samples.pnm(19, 13))
put("image", "gen_p5.pgm", samples.pnm(11, 7, grey=True))
put("image", "gen_p6_16.ppm", samples.pnm(5, 4, maxval=65535))
put("image", "gen_flat.hdr", samples.hdr(5, 4))
put("image", "gen_rle.hdr", samples.hdr(21, 9))
put("image", "gen_raw.psd", samples.psd(17, 11))
put("image", "gen_rle.psd", samples.psd(17, 11, 4, rle=True))
put("image", "gen_interlaced.png", samples.png(23, 17, 6, 8, 1))
put("image", "gen_grey_alpha.png", samples.png(9, 9, 4))

for t in sorted(os.listdir(out)):
    print("seeds %-12s %4d files" % (t, len(os.listdir(os.path.join(out, t)))))
