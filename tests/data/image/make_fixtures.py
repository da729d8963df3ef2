#!/usr/bin/python3
"""Makes the fixtures of tests/test_image.cpp (deterministic; about 100 KB in all).

    cd /work/main && /usr/bin/python3 tests/data/image/make_fixtures.py

Needs Debian's python3-pil (Pillow 9.4), python3-numpy and python3-torchvision (0.14). The
expected outputs are what PIL / torchvision / the oracle's formulas produce:
  * src.*: one 45x33 synthetic RGB image in PNG, BMP, TGA (raw and RLE), GIF (2 frames),
    JPEG (baseline 4:2:0 and progressive 4:4:4); *.rgb = PIL's decoding (raw RGB8).
  * grey.png, rgba.png, palette.png (with tRNS), rgb16.png, grey16.png and their .rgb.
    grey16.rgb keeps the high byte of each sample (stb_image); PIL instead clamps 16-bit
    grey to 255 (mode I -> RGB), which is not a meaningful image, so there we differ.
  * resize_WxH.rgb: PIL src.resize((W, H), BILINEAR).
  * fit_crop_S[_portrait].rgb: torchvision Resize(round(S*256/224)) + CenterCrop(S).
  * fit_square_S.rgb: the oracle's prepare_image (largest centred square, then resize).
  * pre.rgb (16x16, every byte value in every channel) and pre_{torch,caffe}.f32: the
    oracle's preprocess() (float64, rounded once to float32), channels last, little-endian.
  * negative cases: empty.bin, text.txt, truncated.png/.jpg, huge.png (header claims
    100000x100000), huge.jpg (30000x30000), wide.png (20000x10).
"""
import io
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
BILINEAR = Image.Resampling.BILINEAR
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


def put(name, data):
    with open(os.path.join(HERE, name), 'wb') as f:
        f.write(data)


def rgb(im):
    return np.asarray(im.convert('RGB'), dtype=np.uint8).tobytes()


def save(im, name, **kw):
    b = io.BytesIO()
    im.save(b, **kw)
    put(name, b.getvalue())
    return b.getvalue()


def png_raw(w, h, color_type, depth, rows):
    """A PNG written by hand (PIL cannot write 16-bit RGB)."""
    def chunk(t, d):
        return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
    ihdr = struct.pack('>IIBBBBB', w, h, depth, color_type, 0, 0, 0)
    idat = zlib.compress(b''.join(b'\0' + r for r in rows), 9)
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) + chunk(b'IDAT', idat) +
            chunk(b'IEND', b''))


def main():
    rs = np.random.RandomState(2024)
    h, w = 33, 45
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    a = np.stack([128 + 100 * np.sin(x / 6.0 + y / 11.0),
                  40 + 4.5 * x + 2 * y,
                  250 - 6 * y + 30 * np.cos(x / 3.0)], axis=-1)
    a[8:20, 10:22] = (250, 20, 30)  # hard edges
    a += rs.randint(-6, 7, a.shape)
    src = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), 'RGB')

    # lossless formats decode to src exactly
    save(src, 'src.png', format='PNG')
    save(src, 'src.bmp', format='BMP')
    save(src, 'src.tga', format='TGA')
    save(src, 'src_rle.tga', format='TGA', compression='tga_rle')
    put('src.rgb', rgb(src))
    for f in ('src.png', 'src.bmp', 'src.tga', 'src_rle.tga'):
        assert rgb(Image.open(os.path.join(HERE, f))) == rgb(src), f

    frame0 = src.quantize(64, dither=Image.Dither.NONE)
    frame1 = src.transpose(Image.Transpose.ROTATE_180).quantize(64, dither=Image.Dither.NONE)
    save(frame0, 'src.gif', format='GIF', save_all=True, append_images=[frame1])
    put('gif.rgb', rgb(Image.open(os.path.join(HERE, 'src.gif'))))  # first frame

    save(src, 'src.jpg', format='JPEG', quality=90)  # baseline, 4:2:0
    save(src, 'src_prog.jpg', format='JPEG', quality=90, progressive=True, subsampling=0)
    put('jpg.rgb', rgb(Image.open(os.path.join(HERE, 'src.jpg'))))
    put('jpg_prog.rgb', rgb(Image.open(os.path.join(HERE, 'src_prog.jpg'))))

    # other PNG flavours (23x17)
    g = rs.randint(0, 256, (17, 23)).astype(np.uint8)
    save(Image.fromarray(g, 'L'), 'grey.png', format='PNG')
    put('grey.rgb', rgb(Image.fromarray(g, 'L')))
    rgba = rs.randint(0, 256, (17, 23, 4)).astype(np.uint8)
    rgba[0, :, 3] = 0  # fully transparent pixels keep their colour
    save(Image.fromarray(rgba, 'RGBA'), 'rgba.png', format='PNG')
    put('rgba.rgb', rgb(Image.open(os.path.join(HERE, 'rgba.png'))))
    pal = src.crop((0, 0, 23, 17)).quantize(16, dither=Image.Dither.NONE)
    save(pal, 'palette.png', format='PNG', transparency=3)
    put('palette.rgb', rgb(Image.open(os.path.join(HERE, 'palette.png'))))
    a16 = rs.randint(0, 65536, (7, 9, 3)).astype('>u2')
    put('rgb16.png', png_raw(9, 7, 2, 16, [a16[r].tobytes() for r in range(7)]))
    put('rgb16.rgb', (a16 >> 8).astype(np.uint8).tobytes())
    assert rgb(Image.open(os.path.join(HERE, 'rgb16.png'))) == (a16 >> 8).astype(np.uint8).tobytes()
    g16 = rs.randint(0, 65536, (7, 9)).astype('>u2')
    put('grey16.png', png_raw(9, 7, 0, 16, [g16[r].tobytes() for r in range(7)]))
    put('grey16.rgb', np.repeat((g16 >> 8).astype(np.uint8)[..., None], 3, axis=2).tobytes())

    # PIL resize, down, up, mixed, one axis only
    for (w2, h2) in [(32, 32), (17, 29), (130, 23), (90, 70), (45, 20), (7, 33), (1, 1), (44, 34)]:
        put('resize_%dx%d.rgb' % (w2, h2), rgb(src.resize((w2, h2), BILINEAR)))

    # torchvision Resize + CenterCrop; the crops hit both halves of round-half-even
    import torchvision.transforms as T
    for s in (32, 20):
        r = round(s * 256 / 224)
        tf = T.Compose([T.Resize(r, interpolation=T.InterpolationMode.BILINEAR), T.CenterCrop(s)])
        put('fit_crop_%d.rgb' % s, rgb(tf(src)))
        put('fit_crop_%d_portrait.rgb' % s, rgb(tf(src.transpose(Image.Transpose.TRANSPOSE))))
    # the oracle's prepare_image (vgg_reference.py)
    for s in (32, 20):
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        put('fit_square_%d.rgb' % s,
            rgb(src.crop((left, top, left + side, top + side)).resize((s, s), BILINEAR)))

    # preprocessing, exactly the oracle's formula
    i = np.arange(256)
    p8 = np.stack([i, 255 - i, (i * 37 + 11) % 256], axis=-1).astype(np.uint8).reshape(16, 16, 3)
    put('pre.rgb', p8.tobytes())
    p = p8.astype(np.float64)
    torch_hwc = ((p / 255.0 - np.array(TORCH_MEAN)) / np.array(TORCH_STD)).astype(np.float32)
    caffe_hwc = (p[..., ::-1] - np.array(CAFFE_MEAN_BGR)).astype(np.float32)
    put('pre_torch.f32', torch_hwc.astype('<f4').tobytes())
    put('pre_caffe.f32', caffe_hwc.astype('<f4').tobytes())
    oracle = os.path.join(HERE, '..', '..', '..', '..', 'shared', 'oracle')
    if os.path.exists(os.path.join(oracle, 'vgg_reference.py')):  # cross-check when present
        sys.path.insert(0, oracle)
        import vgg_reference
        for mode, hwc in (('torch', torch_hwc), ('caffe', caffe_hwc)):
            nchw = vgg_reference.preprocess(p8, mode)
            assert np.array_equal(nchw[0].transpose(1, 2, 0), hwc), mode
        print('preprocessing matches the oracle bit for bit')

    # negative cases
    put('empty.bin', b'')
    put('text.txt', b'This is a text file, not an image.\n')
    png_bytes = open(os.path.join(HERE, 'src.png'), 'rb').read()
    put('truncated.png', png_bytes[:len(png_bytes) * 6 // 10])
    jpg_bytes = open(os.path.join(HERE, 'src.jpg'), 'rb').read()
    put('truncated.jpg', jpg_bytes[:len(jpg_bytes) * 6 // 10])
    # SOI, SOF0 (8-bit, 30000x30000, 3 components), EOI
    put('huge.jpg', bytes.fromhex('ffd8ffc000110875307530030111000211010311 01ffd9'.replace(' ', '')))
    for name, (hw, hh) in (('huge.png', (100000, 100000)), ('wide.png', (20000, 10))):
        def chunk(t, d):
            return struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
        ihdr = struct.pack('>IIBBBBB', hw, hh, 8, 2, 0, 0, 0)
        put(name, b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', ihdr) +
            chunk(b'IDAT', zlib.compress(b'\0' * 64)) + chunk(b'IEND', b''))

    total = sum(os.path.getsize(os.path.join(HERE, f)) for f in os.listdir(HERE))
    print('fixtures written, %d files, %d bytes' % (len(os.listdir(HERE)), total))


if __name__ == '__main__':
    main()
