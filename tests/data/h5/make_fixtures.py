#!/usr/bin/python3
"""Writes the small HDF5 fixtures read by tests/test_keras_h5.cpp.

Regenerate (deterministic: fixed seeds, no timestamps) from the repository root with
    /usr/bin/python3 tests/data/h5/make_fixtures.py

Files (all in this directory):
  keras_tiny.h5            VGG cfg [4,'M',8,'M'] on 8x8 input, hidden 8, 10 classes, init
                           'fanin' seed 7, written by the oracle's own save_keras_h5
                           (superblock 0, old-style groups).
  keras_tiny_expected.bin  its tensors as little-endian float32, concatenated in file order
                           (layer_names order, then weight_names order).
  keras_tiny_latest.h5     the same layers written libver='latest' (superblock 3, v2 object
                           headers, 9 root links -> dense link storage in a fractal heap).
  keras_tiny_ub512.h5      the same as keras_tiny.h5 behind a 512-byte userblock.
  keras_tiny_v108_off4.h5  the same, libver='v108' (superblock 2) with 4-byte offsets/lengths.
  keras2_model.h5          Keras-2 full-model layout: model_weights/<layer>/<layer>/kernel:0.
  keras_split_attrs.h5     layer_names split into layer_names0/layer_names1 (Keras' form for
                           attributes too large for an object header).
  no_layer_names.h5        valid HDF5 without a layer_names attribute.
  variants.h5 / variants_latest.h5
                           the same generic content in default and 'latest' format: float16/
                           float64/compact/chunked datasets (v1 B-tree resp. single, implicit,
                           fixed-array and paged fixed-array chunk indexes), empty, scalar,
                           unwritten, gzip, int and big-endian datasets, string attributes
                           (fixed, variable-length, scalar, empty, null dataspace), many links,
                           dense attributes, a creation-ordered group and a soft link.
Values of the variants are simple formulas, repeated in the C++ test.
"""
import os
import sys

import h5py
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, '/work/shared/oracle')
import vgg_reference as vr  # noqa: E402


N_MANY = 150  # links in group 'many': a two-level group B-tree in the old format


def path(name):
    return os.path.join(HERE, name)


def create_file(name, libver=None, userblock=0, sizes=None):
    """A new h5py.File made through the low-level API so that object timestamps are off
    (byte-identical reruns) and userblock / offset sizes / format bounds can be chosen."""
    fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
    fcpl.set_obj_track_times(False)
    if userblock:
        fcpl.set_userblock(userblock)
    if sizes:
        fcpl.set_sizes(*sizes)
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    if libver:
        fapl.set_libver_bounds(libver, libver)
    fid = h5py.h5f.create(path(name).encode(), h5py.h5f.ACC_TRUNC, fcpl=fcpl, fapl=fapl)
    return h5py.File(fid)


def new_group(parent, name, track_order=False):
    """parent.create_group(name) without timestamps (optionally creation-ordered)."""
    gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
    gcpl.set_obj_track_times(False)
    if track_order:
        flags = h5py.h5p.CRT_ORDER_TRACKED | h5py.h5p.CRT_ORDER_INDEXED
        gcpl.set_link_creation_order(flags)
        gcpl.set_attr_creation_order(flags)
    return h5py.Group(h5py.h5g.create(parent.id, name.encode(), gcpl=gcpl))


def write_keras(f, layers):
    """The layout of the oracle's save_keras_h5, into an open file."""
    f.attrs['layer_names'] = np.array([n.encode('utf8') for n, _ in layers])
    for name, ws in layers:
        g = new_group(f, name)
        if ws:
            g.attrs['weight_names'] = np.array([wn.encode('utf8') for wn, _ in ws])
        else:
            g.attrs['weight_names'] = np.array([], dtype='S1')
        for wn, a in ws:
            g.create_dataset(wn, data=np.ascontiguousarray(a, dtype='<f4'))


def keras_fixtures():
    model = vr.VGGRef([4, 'M', 8, 'M'], num_classes=10, head='fc', hidden=8, input_size=8)
    vr.init_weights(model, 'fanin', 7)
    vr.save_keras_h5(path('keras_tiny.h5'), model)
    layers = vr.keras_layers(model)
    with open(path('keras_tiny_expected.bin'), 'wb') as out:
        for _, ws in layers:
            for _, a in ws:
                out.write(np.ascontiguousarray(a, dtype='<f4').tobytes())
    with create_file('keras_tiny_latest.h5', libver=h5py.h5f.LIBVER_LATEST) as f:
        write_keras(f, layers)
    with create_file('keras_tiny_ub512.h5', userblock=512) as f:
        write_keras(f, layers)
    with create_file('keras_tiny_v108_off4.h5', libver=h5py.h5f.LIBVER_V18, sizes=(4, 4)) as f:
        write_keras(f, layers)


def keras2_fixture():
    """Keras 2 model.save() layout: weights under model_weights, nested weight names."""
    with create_file('keras2_model.h5') as f:
        f.attrs['keras_version'] = '2.2.4'
        f.attrs['backend'] = 'tensorflow'
        f.attrs['model_config'] = '{"class_name": "Sequential"}'
        mw = new_group(f, 'model_weights')
        mw.attrs['layer_names'] = np.array([b'input_1', b'dense_1', b'dense_2'])
        mw.attrs['backend'] = b'tensorflow'
        mw.attrs['keras_version'] = b'2.2.4'
        new_group(mw, 'input_1').attrs['weight_names'] = np.array([], dtype='S1')
        for name, (n_in, n_out) in (('dense_1', (3, 4)), ('dense_2', (4, 2))):
            g = new_group(mw, name)
            g.attrs['weight_names'] = np.array([(name + '/kernel:0').encode(), (name + '/bias:0').encode()])
            k = (np.arange(n_in * n_out, dtype='<f4') * 0.5 - 1).reshape(n_in, n_out)
            inner = new_group(g, name)
            inner.create_dataset('kernel:0', data=k)
            inner.create_dataset('bias:0', data=np.arange(n_out, dtype='<f4') + 0.25)
        new_group(f, 'optimizer_weights')


def misc_fixtures():
    with create_file('keras_split_attrs.h5') as f:
        f.attrs['layer_names0'] = np.array([b'a', b'b'])
        f.attrs['layer_names1'] = np.array([b'c'])
        for i, n in enumerate('abc'):
            g = new_group(f, n)
            g.attrs['weight_names'] = np.array([b'w'])
            g.create_dataset('w', data=np.full((2,), i, dtype='<f4'))
    with create_file('no_layer_names.h5') as f:
        new_group(f, 'block1_conv1').create_dataset('w', data=np.zeros(3, dtype='<f4'))
        f.attrs['weight_names'] = np.array([b'w'])


def variants(name, libver):
    latest = libver is not None
    with create_file(name, libver=libver) as f:
        f.create_dataset('f32_contig', data=(np.arange(12, dtype='<f4') * 0.5 - 2).reshape(3, 4))
        f.create_dataset('f16', data=(np.arange(15) * 0.125 - 1).astype('<f2').reshape(3, 5))
        f.create_dataset('f64', data=(np.arange(12, dtype='<f8') / 3.0).reshape(4, 3))
        f.create_dataset('chunked', data=(np.arange(30 * 40, dtype='<f4') * 0.25).reshape(30, 40), chunks=(3, 3))
        f.create_dataset('chunked_single', data=np.arange(30, dtype='<f4').reshape(6, 5) + 0.5, chunks=(6, 5))
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_alloc_time(h5py.h5d.ALLOC_TIME_EARLY)
        f.create_dataset('chunked_implicit', data=-np.arange(120, dtype='<f4').reshape(10, 12), chunks=(4, 5), dcpl=dcpl)
        if latest:  # 1089 chunks > 1024 entries per fixed-array page
            f.create_dataset('chunked_paged', data=np.arange(33 * 33, dtype='<f4').reshape(33, 33), chunks=(1, 1))
        f.create_dataset('gzip', data=np.arange(20, dtype='<f4'), compression='gzip')
        dcpl = h5py.h5p.create(h5py.h5p.DATASET_CREATE)
        dcpl.set_layout(h5py.h5d.COMPACT)
        f.create_dataset('compact', data=np.arange(1, 7, dtype='<f4') * 1.5, dcpl=dcpl)
        f.create_dataset('empty', shape=(0,), dtype='<f4')
        f.create_dataset('empty2d', data=np.zeros((0, 4), dtype='<f4'))
        f.create_dataset('empty_chunked', shape=(0, 4), maxshape=(None, 4), chunks=(2, 4), dtype='<f4')
        f.create_dataset('scalar', data=np.float32(3.25))
        f.create_dataset('int32', data=np.arange(3, dtype='<i4'))
        f.create_dataset('big_endian', data=np.arange(3, dtype='>f4'))
        f.create_dataset('resizable', data=np.arange(4, dtype='<f4'), maxshape=(None,), chunks=(2,))
        f.create_dataset('unwritten', shape=(5,), dtype='<f4')
        new_group(new_group(new_group(f, 'a'), 'b'), 'c').create_dataset('deep', data=np.array([7, 8], dtype='<f4'))
        many = new_group(f, 'many')
        for i in range(N_MANY):
            many['l%03d' % i] = f['scalar']
        ordered = new_group(f, 'ordered', track_order=True)
        for i in range(10):
            ordered.create_dataset('d%d' % i, data=np.array([i], dtype='<f4'))
        f['soft'] = h5py.SoftLink('/scalar')
        f.attrs['fixed'] = np.array([b'alpha', b'be', b'gamma'])
        f.attrs['vlen'] = ['one', 'two', 'three']
        f.attrs['vlen_scalar'] = 'hello'
        f.attrs['fixed_scalar'] = np.bytes_(b'xyz')
        f.attrs['empty'] = np.array([], dtype='S1')
        f.attrs['null'] = h5py.Empty('S1')
        f.attrs['number'] = np.int32(5)
        g = new_group(f, 'dense_attrs')
        for i in range(12):
            g.attrs['a%02d' % i] = np.array([b'v%02d' % i])


def main():
    np.random.seed(0)
    keras_fixtures()
    keras2_fixture()
    misc_fixtures()
    variants('variants.h5', None)
    variants('variants_latest.h5', h5py.h5f.LIBVER_LATEST)
    total = 0
    for n in sorted(os.listdir(HERE)):
        if n.endswith('.h5') or n.endswith('.bin'):
            total += os.path.getsize(path(n))
            print('%-28s %7d bytes' % (n, os.path.getsize(path(n))))
    print('total %d bytes' % total)


if __name__ == '__main__':
    main()
