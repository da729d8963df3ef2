#!/usr/bin/python3
"""Writes the hostile HDF5 fixtures read by tests/test_keras_h5.cpp: small files whose
structures reference one large object many times, so that a reader copying per reference
would need far more memory than the file's size.

Regenerate (deterministic) from the repository root with
    /usr/bin/python3 tests/data/h5/make_hostile.py
Larger copies for measuring a reader's peak memory by hand (not committed); --dag also points
every child of each inner B-tree node at its first child, so records repeat exponentially:
    /usr/bin/python3 tests/data/h5/make_hostile.py --scale 50 --dag --out /tmp/h5big

Files (all in this directory, h5py with libver='latest' unless noted):
  dense_attr_dup.h5        the root group holds a 4000-byte-named attribute and 100 short ones
                           in dense storage; every record of the attribute name index is then
                           patched to reference the long-named attribute's heap object.
  dense_link_dup.h5        the same with links: a 4000-byte-named link and 100 short ones to one
                           dataset; every record of the link name index references the long name.
  long_names.h5            a dataset linked under a 16000-byte name and an attribute with a
                           16000-byte name, both compact (in the root group's object header).
  keras_repeated_weight.h5 Keras layout (default format) whose layer 'dense' lists 'kernel', a
                           chunked 32 KB dataset, 1000 times in 'weight_names'.
  keras_aliased_weight.h5  Keras layout whose layer 'dense' lists 'kernel' and 'alias', a second
                           hard link to the same chunked dataset.
"""
import argparse
import os
import struct

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
LONG = 16000       # bytes in a long compact name
LONG_DENSE = 4000  # bytes in a long name in dense storage (h5py's heaps manage objects < 4 KB)
SHORT = 100        # short-named entries beside it


def create_file(path, latest):
    """A new h5py.File without object timestamps (byte-identical reruns)."""
    fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
    fcpl.set_obj_track_times(False)
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    if latest:
        fapl.set_libver_bounds(h5py.h5f.LIBVER_LATEST, h5py.h5f.LIBVER_LATEST)
    return h5py.File(h5py.h5f.create(path.encode(), h5py.h5f.ACC_TRUNC, fcpl=fcpl, fapl=fapl))


def dataset(parent, name, data, chunks=None):
    dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
    dcpl.set_obj_track_times(False)
    if chunks:
        dcpl.set_chunk(chunks)
    space = h5py.h5s.create_simple(data.shape)
    ds = h5py.h5d.create(parent.id, name.encode(), h5py.h5t.IEEE_F32LE, space, dcpl=dcpl)
    ds.write(h5py.h5s.ALL, h5py.h5s.ALL, np.ascontiguousarray(data, dtype='<f4'))
    return ds


def new_group(parent, name):
    """parent.create_group(name) without timestamps."""
    gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
    gcpl.set_obj_track_times(False)
    return h5py.Group(h5py.h5g.create(parent.id, name.encode(), gcpl=gcpl))


def limit_enc(x):
    """Bytes needed to encode any value in [0, x] (H5VM_limit_enc_size)."""
    return (max(x, 1).bit_length() - 1) // 8 + 1


def bt2_records(d, tree_type, dag=False):
    """(offset, size) of every record of the file's only v2 B-tree of `tree_type`
    (superblock 2/3 files: 8-byte addresses and lengths). With dag, every child pointer of an
    inner node is made a copy of the node's first one (after the walk has seen the originals)."""
    heads = []
    i = d.find(b'BTHD')
    while i >= 0:
        if d[i + 5] == tree_type:
            heads.append(i)
        i = d.find(b'BTHD', i + 4)
    assert len(heads) == 1, 'expected one v2 B-tree of type %d, found %d' % (tree_type, len(heads))
    h = heads[0]
    node_size, rsize, depth = struct.unpack_from('<IHH', d, h + 6)
    root, root_n = struct.unpack_from('<QH', d, h + 16)  # after split and merge percentages
    # Widths of the child-pointer fields per depth, as H5B2__hdr_init computes them.
    max0 = (node_size - 10) // rsize
    nrec_size, cum_size, cum = limit_enc(max0), [0], max0
    for lev in range(1, depth + 1):
        ptr = 8 + nrec_size + cum_size[lev - 1]
        m = (node_size - 10 - ptr) // (rsize + ptr)
        cum = (m + 1) * cum + m
        cum_size.append(limit_enc(cum))
    out = []

    def node(addr, n, lev):
        recs = addr + 6
        out.extend((recs + k * rsize, rsize) for k in range(n))
        if lev:
            p = recs + n * rsize
            width = 8 + nrec_size + (cum_size[lev - 1] if lev > 1 else 0)
            for k in range(n + 1):
                child = struct.unpack_from('<Q', d, p + k * width)[0]
                cn = int.from_bytes(d[p + k * width + 8:p + k * width + 8 + nrec_size], 'little')
                node(child, cn, lev - 1)
            if dag:
                for k in range(1, n + 1):
                    d[p + k * width:p + (k + 1) * width] = d[p:p + width]

    node(root, root_n, depth)
    return out


def point_all_records_at_longest(path, tree_type, id_at, id_len, heap_len_at, dag=False):
    """Rewrites every record's fractal heap ID to the ID of the largest heap object."""
    d = bytearray(open(path, 'rb').read())
    recs = bt2_records(d, tree_type, dag)
    ids = [bytes(d[o + id_at:o + id_at + id_len]) for o, _ in recs]
    longest = max(ids, key=heap_len_at)
    for o, _ in recs:
        d[o + id_at:o + id_at + id_len] = longest
    open(path, 'wb').write(bytes(d))
    return len(recs)


def heap_length(off_size, len_size):
    """The length field of a managed-object heap ID (version/type byte, offset, length)."""
    return lambda i: int.from_bytes(i[1 + off_size:1 + off_size + len_size], 'little')


def fheap_sizes(path):
    """(offset size, length size) of heap IDs in the file's fractal heaps (all alike here)."""
    d = open(path, 'rb').read()
    h = d.find(b'FRHP')
    max_man = struct.unpack_from('<I', d, h + 10)[0]
    # FRHP: sig, version, ID length (2), filter length (2), flags (1), max managed size (4),
    # then 4 lengths/addresses and 8 statistics (8 bytes each), table width (2), starting
    # block size (8), max direct block size (8), max heap size bits (2).
    p = h + 14 + 12 * 8
    width = struct.unpack_from('<H', d, p)[0]
    max_direct = struct.unpack_from('<Q', d, p + 10)[0]
    bits = struct.unpack_from('<H', d, p + 18)[0]
    assert width and max_direct
    off_size = (bits + 7) // 8
    len_size = min(((max_direct.bit_length() - 1) + 7) // 8, limit_enc(max_man))
    return off_size, len_size


def dense_attr_dup(path, short, dag):
    with create_file(path, latest=True) as f:
        f.attrs.create('A' * LONG_DENSE, np.bytes_(b'x'))
        for i in range(short):
            f.attrs.create('a%05d' % i, np.bytes_(b'v'))
    # attribute name index (type 8) record: heap ID (8), flags (1), creation order (4), hash (4)
    off, ln = fheap_sizes(path)
    return point_all_records_at_longest(path, 8, 0, 8, heap_length(off, ln), dag)


def dense_link_dup(path, short, dag):
    with create_file(path, latest=True) as f:
        ds = dataset(f, 'L' * LONG_DENSE, np.zeros(1))
        for i in range(short):
            f['l%05d' % i] = h5py.Dataset(ds)
    # link name index (type 5) record: name hash (4), heap ID (the heap's ID length, 7 here)
    off, ln = fheap_sizes(path)
    id_len = 1 + off + ln
    assert id_len == 7
    return point_all_records_at_longest(path, 5, 4, id_len, heap_length(off, ln), dag)


def long_names(path):
    with create_file(path, latest=True) as f:
        dataset(f, 'n' * LONG, np.arange(3))
        f.attrs.create('a' * LONG, np.bytes_(b'x'))


def keras_repeated(path, repeats):
    with create_file(path, latest=False) as f:
        f.attrs['layer_names'] = np.array([b'dense'])
        g = new_group(f, 'dense')
        if repeats <= 8000:
            g.attrs['weight_names'] = np.array([b'kernel'] * repeats)
        else:  # too big for an object header: Keras splits it into weight_names0, weight_names1, ...
            for k in range(0, repeats, 8000):
                g.attrs['weight_names%d' % (k // 8000)] = np.array([b'kernel'] * min(8000, repeats - k))
        dataset(g, 'kernel', np.arange(64 * 128).reshape(64, 128) * 0.5, chunks=(16, 128))


def keras_aliased(path):
    with create_file(path, latest=False) as f:
        f.attrs['layer_names'] = np.array([b'dense'])
        g = new_group(f, 'dense')
        g.attrs['weight_names'] = np.array([b'kernel', b'alias'])
        ds = dataset(g, 'kernel', np.arange(16 * 8).reshape(16, 8) * 0.25, chunks=(4, 8))
        g['alias'] = h5py.Dataset(ds)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--scale', type=int, default=1, help='multiply the repeated entries')
    ap.add_argument('--dag', action='store_true', help='make inner B-tree nodes share one child')
    ap.add_argument('--out', default=HERE)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    p = lambda n: os.path.join(a.out, n)
    n = dense_attr_dup(p('dense_attr_dup.h5'), SHORT * a.scale, a.dag)
    print('dense_attr_dup.h5: %d records reference one %d-byte name' % (n, LONG_DENSE))
    n = dense_link_dup(p('dense_link_dup.h5'), SHORT * a.scale, a.dag)
    print('dense_link_dup.h5: %d records reference one %d-byte name' % (n, LONG_DENSE))
    long_names(p('long_names.h5'))
    keras_repeated(p('keras_repeated_weight.h5'), 1000 * a.scale)
    keras_aliased(p('keras_aliased_weight.h5'))
    for n in ('dense_attr_dup.h5', 'dense_link_dup.h5', 'long_names.h5', 'keras_repeated_weight.h5',
              'keras_aliased_weight.h5'):
        print('%-26s %7d bytes' % (n, os.path.getsize(p(n))))


if __name__ == '__main__':
    main()
