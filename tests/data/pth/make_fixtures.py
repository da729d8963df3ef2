#!/usr/bin/python3
"""Generates the torch .pth fixtures read by tests/test_torch_pth.cpp.

    /usr/bin/python3 tests/data/pth/make_fixtures.py      # Debian python3-torch 1.13.1

Writes into this script's directory; deterministic (the same bytes on every run).

* Positive fixtures are written by torch.save itself, in the zip format and in the legacy
  (pre-1.6) format. torch's legacy writer names storages after memory addresses, so those
  files are canonicalised afterwards: the storage keys become "0", "1", ... (in order of
  first appearance) and the storage records follow the new sorted key list, the exact
  layout torch writes. Exceptions, built by hand: tiny_zip64.pth (zip64 records, archive
  folder "archive", a byteorder entry) and py2_legacy.pth (a Python-2 / torch<0.4 style
  pickle: BINSTRING, OrderedDict([[k, v], ...]), torch._utils._rebuild_tensor and a legacy
  storage view). Every positive fixture is checked here with torch.load.
* The script re-executes itself with PYTHONHASHSEED=0: the TorchScript writer emits code
  in set order.
* expected_<case>.txt: one line per tensor in file order,
      <name> <dtype> <shape|-> <raw little-endian bytes in hex|-> <float32 bytes in hex|=>
  ("=" when the dtype is already F32; "-" for a 0-d shape or zero bytes).
* Negative fixtures: a pickled list, a pickled int, a dict without tensors, whole pickled
  models (__main__ class, torchvision VGG, TorchScript), malicious pickles (hand-written
  bytes that would call posix.system / os.system / builtins.eval; never executed here),
  and a repacked zip whose entries are deflated.
"""
import collections
import io
import os
import pickle
import pickletools
import struct
import sys
import zipfile
import zlib

if os.environ.get('PYTHONHASHSEED') != '0':  # TorchScript code emission follows set order
    os.execve(sys.executable, [sys.executable] + sys.argv, dict(os.environ, PYTHONHASHSEED='0'))

import torch
import torch.nn as nn
import torchvision

OUT = os.path.dirname(os.path.abspath(__file__))
DTYPES = {torch.float32: 'F32', torch.float16: 'F16', torch.bfloat16: 'BF16', torch.float64: 'F64'}


def raw_bytes(t):
    return t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()


def write_expected(case, sd):
    lines = []
    for name, t in sd.items():
        if t.dtype not in DTYPES:
            continue  # the reader skips integer tensors (listed in metadata["skipped"])
        shape = ','.join(str(s) for s in t.shape) or '-'
        raw = raw_bytes(t).hex() or '-'
        f32 = '=' if t.dtype == torch.float32 else (raw_bytes(t.float()).hex() or '-')
        lines.append(f'{name} {DTYPES[t.dtype]} {shape} {raw} {f32}\n')
    with open(os.path.join(OUT, f'expected_{case}.txt'), 'w') as f:
        f.writelines(lines)


def path(name):
    return os.path.join(OUT, name)


def verify(name, sd, wrapper=None):
    """torch.load must give back exactly sd (same keys, order, dtypes, shapes, bytes)."""
    obj = torch.load(path(name))
    if wrapper:
        obj = obj[wrapper]
    assert list(obj.keys()) == list(sd.keys()), name
    for k, t in sd.items():
        u = obj[k]
        assert u.dtype == t.dtype and u.shape == t.shape and raw_bytes(u) == raw_bytes(t), (name, k)


# --- legacy canonicalisation ------------------------------------------------------------

def split_pickles(raw, count):
    parts, pos = [], 0
    for _ in range(count):
        for op, _arg, p in pickletools.genops(io.BytesIO(raw[pos:])):
            if op.name == 'STOP':
                parts.append(raw[pos:pos + p + 1])
                pos += p + 1
                break
    return parts, pos


class _StorageScan(pickle.Unpickler):
    """Reads the main pickle only to learn each storage key's type; builds no tensors."""
    def __init__(self, data):
        super().__init__(io.BytesIO(data))
        self.types = {}

    def find_class(self, module, name):
        if module == 'collections' and name == 'OrderedDict':
            return collections.OrderedDict
        if module == 'torch' and name.endswith('Storage'):
            return getattr(torch, name)
        return lambda *args: None

    def persistent_load(self, pid):
        if pid[0] == 'storage':
            self.types[pid[2]] = pid[1]


def canonical_legacy(raw):
    parts, pos = split_pickles(raw, 5)
    magic, version, sys_info, main, keys_pickle = parts
    scan = _StorageScan(main)
    scan.load()
    old_keys = pickle.loads(keys_pickle)
    # Re-emit the main pickle with keys "0", "1", ... in order of first appearance; a
    # string whose length changes also changes the length of the FRAME holding it.
    rename, out, frame_at = {}, bytearray(), None
    ops = list(pickletools.genops(io.BytesIO(main)))
    for (op, arg, p), (_n, _a, next_p) in zip(ops, ops[1:] + [(None, None, len(main))]):
        if op.name == 'FRAME':
            frame_at = len(out) + 1
        if isinstance(arg, str) and arg in scan.types:
            enc = rename.setdefault(arg, str(len(rename))).encode()
            head = b'X' + struct.pack('<I', len(enc)) if op.name == 'BINUNICODE' else b'\x8c' + bytes([len(enc)])
            assert op.name in ('BINUNICODE', 'SHORT_BINUNICODE')
            chunk = head + enc
            if frame_at is not None:
                old_len = struct.unpack_from('<Q', out, frame_at)[0]
                struct.pack_into('<Q', out, frame_at, old_len + len(chunk) - (next_p - p))
            out += chunk
        else:
            out += main[p:next_p]
    records, o = {}, pos
    for k in old_keys:
        count = int.from_bytes(raw[o:o + 8], 'little')
        size = 8 + count * scan.types[k](0).element_size()
        records[rename[k]] = raw[o:o + size]
        o += size
    assert o == len(raw)
    new_keys = sorted(records)
    proto = main[1]
    return (magic + version + sys_info + bytes(out) + pickle.dumps(new_keys, protocol=proto)
            + b''.join(records[k] for k in new_keys))


def save_zip(obj, name, **kw):
    torch.save(obj, path(name), **kw)


def save_legacy(obj, name, protocol=2, canonical=True):
    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=False, pickle_protocol=protocol)
    with open(path(name), 'wb') as f:
        f.write(canonical_legacy(buf.getvalue()) if canonical else buf.getvalue())


# --- hand-written containers ------------------------------------------------------------

def write_zip64(name, entries):
    """A stored zip where every size/offset lives in zip64 extra fields and records."""
    out, central = bytearray(), bytearray()
    for ename, data in entries:
        n = ename.encode()
        crc = zlib.crc32(data)
        offset = len(out)
        local_extra = struct.pack('<HHQQ', 1, 16, len(data), len(data))
        out += struct.pack('<IHHHHHIIIHH', 0x04034b50, 45, 0, 0, 0, 0x21, crc,
                           0xffffffff, 0xffffffff, len(n), len(local_extra)) + n + local_extra + data
        cd_extra = struct.pack('<HHQQQ', 1, 24, len(data), len(data), offset)
        central += struct.pack('<IHHHHHHIIIHHHHHII', 0x02014b50, 45, 45, 0, 0, 0, 0x21, crc,
                               0xffffffff, 0xffffffff, len(n), len(cd_extra), 0, 0, 0, 0,
                               0xffffffff) + n + cd_extra
    cd_offset = len(out)
    out += central
    z64 = len(out)
    out += struct.pack('<IQHHIIQQQQ', 0x06064b50, 44, 45, 45, 0, 0, len(entries), len(entries),
                       len(central), cd_offset)
    out += struct.pack('<IIQI', 0x07064b50, 0, z64, 1)
    out += struct.pack('<IHHHHIIH', 0x06054b50, 0, 0, 0xffff, 0xffff, 0xffffffff, 0xffffffff, 0)
    with open(path(name), 'wb') as f:
        f.write(out)


class Pk:
    """Minimal protocol-2 pickle emitter for hand-made pickles (Python 2 style strings)."""
    def __init__(self):
        self.b = bytearray(b'\x80\x02')

    def s(self, text):  # SHORT_BINSTRING, how Python 2 pickles a str
        self.b += b'U' + bytes([len(text)]) + text.encode()
        return self

    def i(self, v):
        self.b += b'K' + bytes([v]) if 0 <= v < 256 else b'J' + struct.pack('<i', v)
        return self

    def op(self, raw):
        self.b += raw
        return self

    def glob(self, module, name):
        self.b += b'c' + module.encode() + b'\n' + name.encode() + b'\n'
        return self

    def ints(self, vals):
        self.op(b'(')
        for v in vals:
            self.i(v)
        return self.op(b't')

    def done(self):
        return bytes(self.b + b'.')


def legacy_header():
    raw = io.BytesIO()
    torch.save({}, raw, _use_new_zipfile_serialization=False)
    parts, _ = split_pickles(raw.getvalue(), 3)
    return b''.join(parts)


def make_py2_legacy():
    """torch<0.4 / Python 2 layout: OrderedDict([[k, v], ...]) of _rebuild_tensor(storage,
    offset, size, stride), SHORT_BINSTRING strings and a storage view (view_metadata)."""
    g = torch.Generator().manual_seed(99)
    root = torch.randn(12, generator=g)
    dbl = torch.randn(5, generator=g, dtype=torch.float64)
    longs = torch.tensor([7, -1], dtype=torch.int64)

    def storage(pk, typ, key, numel, view=None):
        pk.op(b'(').s('storage').glob('torch', typ).s(key).s('cpu').i(numel)
        if view is None:
            pk.op(b'N')
        else:
            pk.op(b'(').s(view[0]).i(view[1]).i(view[2]).op(b't')
        pk.op(b't' + b'Q')

    def tensor(pk, name, typ, key, numel, offset, size, stride, view=None):
        pk.op(b']').op(b'(').s(name).glob('torch._utils', '_rebuild_tensor').op(b'(')
        storage(pk, typ, key, numel, view)
        pk.i(offset).ints(size).ints(stride).op(b't' + b'R').op(b'e')

    pk = Pk().glob('collections', 'OrderedDict').op(b']').op(b'(')
    tensor(pk, 'a', 'FloatStorage', '140001', 12, 2, [2, 3], [3, 1])
    tensor(pk, 'b', 'FloatStorage', '140001', 12, 1, [3, 2], [1, 3], view=('140777', 4, 7))
    tensor(pk, 'c', 'DoubleStorage', '140002', 5, 0, [5], [1])
    tensor(pk, 'n', 'LongStorage', '140003', 2, 0, [2], [1])
    main = pk.op(b'e').op(b'\x85R').done()
    keys = Pk().op(b']').op(b'(').s('140001').s('140002').s('140003').op(b'e').done()
    data = b''.join(struct.pack('<q', t.numel()) + raw_bytes(t) for t in (root, dbl, longs))
    with open(path('py2_legacy.pth'), 'wb') as f:
        f.write(legacy_header() + main + keys + data)
    sd = collections.OrderedDict()
    sd['a'] = root[2:8].reshape(2, 3)
    sd['b'] = torch.as_strided(root[4:11].clone(), (3, 2), (1, 3), 1)
    sd['c'] = dbl
    sd['n'] = longs
    return sd


# --- state dicts ------------------------------------------------------------------------

class TinyVGG(nn.Module):
    """VGG layout (features.i / classifier.{0,3,6}) at toy size: 8x8 input, 2 blocks."""
    def __init__(self, bn=False):
        super().__init__()
        layers, c = [], 3
        for v in (4, 'M', 8, 'M'):
            if v == 'M':
                layers.append(nn.MaxPool2d(2))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1)] + ([nn.BatchNorm2d(v)] if bn else []) + [nn.ReLU()]
                c = v
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Linear(32, 8), nn.ReLU(), nn.Dropout(), nn.Linear(8, 8),
                                        nn.ReLU(), nn.Dropout(), nn.Linear(8, 10))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def tiny_model(seed, bn=False):
    g = torch.Generator().manual_seed(seed)
    m = TinyVGG(bn)
    with torch.no_grad():
        for name, t in m.state_dict().items():
            if t.dtype == torch.int64:
                t.fill_(7)  # num_batches_tracked
            elif 'running_var' in name:
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            else:
                t.copy_(torch.randn(t.shape, generator=g))
    return m


def views_dict():
    g = torch.Generator().manual_seed(3)
    base = torch.randn(6, 8, generator=g)
    p4 = torch.randn(2, 3, 4, 5, generator=g)
    h = torch.randn(3, 5, generator=g).half()
    sd = collections.OrderedDict()
    sd['base'] = base
    sd['transposed'] = base.t()               # shares base's storage, non-contiguous
    sd['row2'] = base[2]                       # storage offset 16
    sd['rows3to5'] = base[3:5]                 # storage offset 24
    sd['cols'] = base[:, 1:7:2]                # strided
    sd['scalar'] = base[1, 3]                  # 0-d view, offset 11
    sd['empty'] = base[:, 2:2]                 # zero elements
    sd['permuted'] = p4.permute(0, 2, 3, 1)
    sd['expanded'] = torch.tensor([1.5, -2.0]).reshape(2, 1).expand(2, 5)  # stride 0
    sd['half_t'] = h.t()
    return sd


def mixed_dict():
    g = torch.Generator().manual_seed(4)
    special = [0.0, -0.0, 1.0, -2.5, float('inf'), float('-inf'), float('nan'), 65504.0, 6e-8, 1e-40, 3.4e38]
    sd = collections.OrderedDict()
    sd['f32'] = torch.tensor(special, dtype=torch.float32)
    sd['f16'] = torch.tensor(special, dtype=torch.float32).half()
    sd['bf16'] = torch.tensor(special, dtype=torch.float32).bfloat16()
    sd['f64'] = torch.tensor(special + [1e-300], dtype=torch.float64)
    sd['f16_rand'] = torch.randn(3, 4, generator=g).half()
    sd['bf16_rand'] = torch.randn(2, 3, 3, generator=g).bfloat16()
    sd['int32'] = torch.arange(5, dtype=torch.int32)
    sd['bool'] = torch.tensor([True, False])
    return sd


def main():
    for f in os.listdir(OUT):
        if f.endswith(('.pth', '.pt', '.pkl', '.txt')):
            os.remove(path(f))

    tiny = tiny_model(1).state_dict()  # has _metadata (pickled through BUILD)
    write_expected('tiny', tiny)
    save_zip(tiny, 'tiny_zip.pth')
    save_legacy(tiny, 'tiny_legacy.pth')
    save_zip(tiny, 'tiny_p4_zip.pth', pickle_protocol=4)
    save_legacy(tiny, 'tiny_p5_legacy.pth', protocol=5)
    with zipfile.ZipFile(path('tiny_zip.pth')) as z:
        entries = [('archive/' + i.filename.split('/', 1)[1], z.read(i)) for i in z.infolist()]
    write_zip64('tiny_zip64.pth', entries[:1] + [('archive/byteorder', b'little')] + entries[1:])
    with zipfile.ZipFile(path('deflate_zip.pth'), 'w', zipfile.ZIP_DEFLATED) as z:
        for n, d in entries:
            z.writestr(zipfile.ZipInfo(n, date_time=(1980, 1, 1, 0, 0, 0)), d, zipfile.ZIP_DEFLATED)
    for n in ('tiny_zip.pth', 'tiny_legacy.pth', 'tiny_p4_zip.pth', 'tiny_p5_legacy.pth', 'tiny_zip64.pth'):
        verify(n, tiny)

    half = collections.OrderedDict((k, v.half()) for k, v in tiny.items())
    bf16 = collections.OrderedDict((k, v.bfloat16()) for k, v in tiny.items())
    write_expected('half', half)
    write_expected('bf16', bf16)
    save_zip(half, 'half_zip.pth')
    save_legacy(bf16, 'bf16_legacy.pth')
    verify('half_zip.pth', half)
    verify('bf16_legacy.pth', bf16)

    mixed = mixed_dict()
    write_expected('mixed', mixed)
    save_zip(mixed, 'mixed_zip.pth')
    save_legacy(mixed, 'mixed_legacy.pth')
    verify('mixed_zip.pth', mixed)
    verify('mixed_legacy.pth', mixed)

    views = views_dict()
    write_expected('views', views)
    save_zip(views, 'views_zip.pth')
    save_legacy(views, 'views_legacy.pth')
    verify('views_zip.pth', views)
    verify('views_legacy.pth', views)

    py2 = make_py2_legacy()
    write_expected('py2', py2)
    verify('py2_legacy.pth', py2)

    bn = tiny_model(2, bn=True).state_dict()
    write_expected('bn', bn)
    save_zip(bn, 'bn_zip.pth')
    save_legacy(bn, 'bn_legacy.pth')
    verify('bn_zip.pth', bn)
    verify('bn_legacy.pth', bn)

    # Checkpoint wrappers; the optimizer state holds tensors too, under integer keys.
    opt = {'state': {0: {'momentum_buffer': torch.ones(3)}}, 'param_groups': [{'lr': 0.1, 'params': [0]}]}
    save_zip({'epoch': 3, 'arch': 'vgg', 'state_dict': tiny, 'optimizer': opt}, 'wrapper_zip.pth')
    save_legacy({'model': tiny, 'epoch': 1}, 'wrapper_model_legacy.pth')
    verify('wrapper_zip.pth', tiny, 'state_dict')
    verify('wrapper_model_legacy.pth', tiny, 'model')

    # Negative cases.
    save_zip([torch.ones(2), torch.zeros(3)], 'list_zip.pth')
    save_legacy(42, 'int_legacy.pth')
    save_zip({'epoch': 3, 'lr': 0.1, 'name': 'x'}, 'nodict_zip.pth')
    save_zip(tiny_model(1), 'module_zip.pth')
    vgg = torchvision.models.vgg.VGG(nn.Sequential(nn.ReLU()), num_classes=10, init_weights=False)
    vgg.classifier = nn.Identity()  # no parameters left, so the legacy file has no storages
    save_legacy(vgg, 'vggmodule_legacy.pth', canonical=False)  # no storages: already deterministic
    lin = nn.Linear(3, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.arange(6.).reshape(2, 3))
        lin.bias.zero_()
    torch.jit.save(torch.jit.script(lin), path('jit_zip.pt'))  # TorchScript archive

    # Malicious pickles, written as bytes (what pickle would emit for a __reduce__ returning
    # (os.system, (cmd,)) and (eval, (src,))). They are never unpickled here.
    posix_system = b'\x80\x02cposix\nsystem\nq\x00X\x0e\x00\x00\x00echo pwned >&2q\x01\x85q\x02Rq\x03.'
    src = b'__import__("os").getpid()'
    body = (b'\x8c\x08builtins\x94\x8c\x04eval\x94\x93\x94\x8c' + bytes([len(src)]) + src
            + b'\x94\x85\x94R\x94.')
    builtins_eval = b'\x80\x04\x95' + struct.pack('<Q', len(body)) + body
    os_system = b'\x80\x02}q\x00X\x01\x00\x00\x00aq\x01cos\nsystem\nq\x02X\x04\x00\x00\x00trueq\x03\x85q\x04Rq\x05s.'
    for b in (posix_system, builtins_eval, os_system):
        list(pickletools.genops(io.BytesIO(b)))  # well-formed pickles (parsed, not run)
    with open(path('mal_raw.pkl'), 'wb') as f:
        f.write(posix_system)
    with zipfile.ZipFile(path('mal_zip.pth'), 'w', zipfile.ZIP_STORED) as z:
        for n, d in (('archive/data.pkl', builtins_eval), ('archive/version', b'3\n')):
            info = zipfile.ZipInfo(n, date_time=(1980, 1, 1, 0, 0, 0))
            z.writestr(info, d)
    with open(path('mal_legacy.pth'), 'wb') as f:
        f.write(legacy_header() + os_system + pickle.dumps([], protocol=2))

    total = sum(os.path.getsize(path(f)) for f in os.listdir(OUT))
    print(f'wrote {len(os.listdir(OUT))} files, {total} bytes, into {OUT}')


if __name__ == '__main__':
    main()
