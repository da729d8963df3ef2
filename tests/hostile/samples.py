"""samples.py: small valid images written with the standard library only, for the hostile
corpus (make_cases.py) and the fuzz seeds (tests/fuzz/make_seeds.py).

Formats the repo has no fixture of: PNM (P5 grey, P6 RGB), Radiance HDR (flat and RLE
scanlines), Photoshop PSD (raw and RLE composite), and PNGs of chosen sizes and colour types.
Every function returns bytes; the pixels are a deterministic pattern.
"""
import struct
import zlib


def pattern(w, h, c):
    """w*h*c bytes: gradients and a diagonal, so a decode error shows."""
    out = bytearray()
    for y in range(h):
        for x in range(w):
            for k in range(c):
                out.append((x * 37 + y * 11 + k * 80 + (40 if x == y else 0)) & 0xFF)
    return bytes(out)


def png(w, h, colour_type=2, bit_depth=8, interlace=0):
    """A PNG (colour_type 0 grey, 2 RGB, 4 grey+alpha, 6 RGBA; filter 0 rows)."""
    ch = {0: 1, 2: 3, 4: 2, 6: 4}[colour_type]
    bpp = ch * bit_depth // 8
    raw = pattern(w, h, bpp)
    rows = b"".join(b"\x00" + raw[y * w * bpp:(y + 1) * w * bpp] for y in range(h))
    if interlace:   # Adam7 with every pass's rows filtered with type 0
        rows = b""
        passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
        for x0, y0, dx, dy in passes:
            xs = range(x0, w, dx)
            for y in range(y0, h, dy):
                if not len(xs):
                    continue
                rows += b"\x00" + b"".join(raw[(y * w + x) * bpp:(y * w + x + 1) * bpp] for x in xs)

    def chunk(tag, data):
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, colour_type, 0, 0, interlace)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b"")


def png_chunk_fix(data):
    """Recomputes every chunk CRC of a (possibly edited) PNG, as far as the chunks go."""
    out = bytearray(data)
    pos = 8
    while pos + 12 <= len(out):
        n = struct.unpack(">I", out[pos:pos + 4])[0]
        if pos + 12 + n > len(out):
            break
        crc = zlib.crc32(bytes(out[pos + 4:pos + 8 + n])) & 0xFFFFFFFF
        out[pos + 8 + n:pos + 12 + n] = struct.pack(">I", crc)
        pos += 12 + n
    return bytes(out)


def pnm(w, h, grey=False, maxval=255):
    """Binary PNM: P5 (grey) or P6 (RGB); maxval > 255 gives 16-bit samples."""
    c = 1 if grey else 3
    data = pattern(w, h, c * (2 if maxval > 255 else 1))
    return b"P%d\n# cnnlens hostile sample\n%d %d\n%d\n" % (5 if grey else 6, w, h, maxval) + data


def _rgbe(w, h):
    px = pattern(w, h, 3)
    return [bytes([px[i], px[i + 1], px[i + 2], 128 + (i // 3) % 8]) for i in range(0, len(px), 3)]


def hdr(w, h, rle=None):
    """Radiance RGBE. rle=None picks what stb_image expects: flat for w < 8, new RLE otherwise."""
    if rle is None:
        rle = 8 <= w < 32768
    head = b"#?RADIANCE\n# cnnlens hostile sample\nFORMAT=32-bit_rle_rgbe\n\n-Y %d +X %d\n" % (h, w)
    px = _rgbe(w, h)
    if not rle:
        return head + b"".join(px)
    body = bytearray()
    for y in range(h):
        row = px[y * w:(y + 1) * w]
        body += bytes([2, 2, w >> 8, w & 0xFF])
        for k in range(4):
            comp = bytes(p[k] for p in row)
            i = 0
            while i < w:   # runs of equal bytes as run packets, the rest as literal packets
                j = i
                while j < w and j - i < 127 and comp[j] == comp[i]:
                    j += 1
                if j - i >= 3:
                    body += bytes([128 + j - i, comp[i]])
                    i = j
                else:
                    n = min(128, w - i)
                    body += bytes([n]) + comp[i:i + n]
                    i += n
    return head + bytes(body)


def psd(w, h, channels=3, rle=False):
    """Photoshop PSD, 8-bit RGB(A) composite image, raw or PackBits RLE."""
    head = b"8BPS" + struct.pack(">H6xHIIHH", 1, channels, h, w, 8, 3)
    head += struct.pack(">I", 0) + struct.pack(">I", 0) + struct.pack(">I", 0)   # colour mode, resources, layers
    planes = [pattern(w, h, 1)[::-1] if k % 2 else pattern(w, h, 1) for k in range(channels)]
    if not rle:
        return head + struct.pack(">H", 0) + b"".join(planes)
    rows, counts = [], []
    for p in planes:
        for y in range(h):
            row = p[y * w:(y + 1) * w]
            enc = bytearray()
            i = 0
            while i < w:   # literal packets only (valid PackBits), up to 128 bytes each
                n = min(128, w - i)
                enc += bytes([n - 1]) + row[i:i + n]
                i += n
            rows.append(bytes(enc))
            counts.append(len(enc))
    return head + struct.pack(">H", 1) + b"".join(struct.pack(">H", c) for c in counts) + b"".join(rows)
