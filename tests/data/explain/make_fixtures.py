#!/usr/bin/python3
"""Fixtures for tests/test_explain.cpp: the gradients the oracle does not write.

    ORACLE=../shared/oracle /usr/bin/python3 tests/data/explain/make_fixtures.py

For every oracle case in tests/data/oracle (tiny_fc, tiny_gap, tiny_fc_caffe, tiny_fc_odd,
a_gap) it rebuilds the oracle's model (vgg_reference.VGGRef from meta.json, weights from the
case's w.safetensors), feeds input.png with the case's preprocessing, runs it in float64 and
writes <case>/grad_<L>_c<c>.npy = d logit_c / d A_L (HWC, float32) for every conv layer L and
every class c of the case, plus <case>/manifest.txt (conv layers, last conv, classes, head and
the oracle's prerelu_norm values, which compare.py uses as floors). It checks on the way that
the re-run reproduces the oracle's input, activations and Grad-CAM maps.
upsample/: random maps and torch.nn.functional.interpolate(mode='bilinear',
align_corners=False) of them (computed in float64, stored float32).
Deterministic: fixed seeds, no threads-dependent reductions that reach float32 precision.
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ORACLE = os.environ.get('ORACLE', os.path.join(HERE, '../../../../shared/oracle'))
sys.path.insert(0, os.path.abspath(ORACLE))
import vgg_reference as vr  # noqa: E402

CASES = ['tiny_fc', 'tiny_gap', 'tiny_fc_caffe', 'tiny_fc_odd', 'a_gap']
torch.set_num_threads(2)


def hwc(t):
    return t.detach()[0].permute(1, 2, 0).to(torch.float64).numpy()


def make_case(case):
    src = os.path.join(HERE, '..', 'oracle', case)
    meta = json.load(open(os.path.join(src, 'meta.json')))
    cfg = meta['cfg_effective']
    model = vr.VGGRef(cfg, num_classes=meta['num_classes'], head=meta['head'],
                      hidden=meta['hidden'] or 4096, input_size=meta['input_size'])
    vr.load_weights_into(model, os.path.join(src, 'w.safetensors'))
    model = model.to(torch.float64).eval()
    pix = np.asarray(Image.open(os.path.join(src, 'input.png')).convert('RGB'), dtype=np.uint8)
    x32 = vr.preprocess(pix, meta['preprocess']['mode'])
    assert np.array_equal(x32, np.load(os.path.join(src, 'input_nchw.npy'))), case
    x = torch.from_numpy(x32).to(torch.float64)
    acts, logits = model.forward_record(x)
    convs = model.conv_names()
    out = os.path.join(HERE, case)
    os.makedirs(out, exist_ok=True)
    for L in convs:
        ref = np.load(os.path.join(src, 'act_%s.npy' % L))
        a = hwc(acts[L])
        assert np.abs(a.astype(np.float32) - ref).max() <= 1e-6 * np.abs(ref).max(), (case, L)
    worst = 0.0
    for c in meta['classes']:
        grads = torch.autograd.grad(logits[0, c], [acts[L] for L in convs], retain_graph=True)
        for L, g in zip(convs, grads):
            G = hwc(g)
            np.save(os.path.join(out, 'grad_%s_c%d.npy' % (L, c)), G.astype(np.float32))
            cam, _ = vr.gradcam_np(hwc(acts[L]), G)
            ref = np.load(os.path.join(src, 'gradcam_%s_c%d.npy' % (L, c)))
            worst = max(worst, np.abs(cam.astype(np.float32) - ref).max() / max(np.abs(ref).max(), 1e-30))
    assert worst < 1e-6, (case, worst)
    with open(os.path.join(out, 'manifest.txt'), 'w') as f:
        f.write('# written by make_fixtures.py from ../oracle/%s/meta.json\n' % case)
        f.write('head %s\n' % meta['head'])
        f.write('classes %s\n' % ' '.join(str(c) for c in meta['classes']))
        f.write('convs %s\n' % ' '.join(convs))
        f.write('last_conv %s\n' % meta['last_conv'])
        for k, v in meta['prerelu_norm'].items():
            f.write('prerelu_norm %s %.17g\n' % (k, v))
    print('%s: %d conv layers x %d classes, gradcam re-run max rel diff %.2g' % (case, len(convs), len(meta['classes']), worst))


def make_upsample():
    out = os.path.join(HERE, 'upsample')
    os.makedirs(out, exist_ok=True)
    rs = np.random.RandomState(20261129)
    for i, (h, w, H, W) in enumerate([(5, 7, 17, 23), (4, 4, 32, 32), (9, 9, 4, 6), (3, 8, 3, 8)]):
        m = rs.rand(h, w).astype(np.float32)
        up = F.interpolate(torch.from_numpy(m).to(torch.float64)[None, None], size=(H, W), mode='bilinear',
                           align_corners=False)[0, 0].numpy()
        np.save(os.path.join(out, 'in_%d.npy' % i), m)
        np.save(os.path.join(out, 'out_%d.npy' % i), up.astype(np.float32))
    print('upsample: 4 cases')


if __name__ == '__main__':
    for case in CASES:
        make_case(case)
    make_upsample()
