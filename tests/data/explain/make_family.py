#!/usr/bin/python3
"""PyTorch references for the rest of the CAM family and the input-side methods
(tests/test_explain_family.cpp), from their published formulas as pytorch-grad-cam and Captum
implement them, written here independently of the C++ (float64, autograd):

    ORACLE=../shared/oracle /usr/bin/python3 tests/data/explain/make_family.py

For the oracle cases tiny_gap, tiny_fc and a_gap (model from meta.json, weights from
w.safetensors, input.png with the case's preprocessing) and each class of the case, at every
conv layer L (ScoreCAM and AblationCAM: the last two), writes family/<case>/<method>_<L>_c<c>.npy
(H_L x W_L, float32) and <method>_weights_<L>_c<c>.npy where the method has channel weights:
  hirescam      max(0, sum_k G A)                                   (hirescam.py)
  xgradcam      w_k = sum(G A) / (sum A_k + 1e-7), max(0, sum w A)   (xgrad_cam.py)
  eigencam      max(0, M_c v1), M = A (H*W x K) centred per channel, v1 its first right singular
                vector, signed to correlate positively with mean_k M  (get_2d_projection)
  eigengradcam  the same with M = G A
  scorecam      each channel upsampled (bilinear, align_corners=True) to the input, scaled
                (x - min) / (max - min + 1e-8), times the input; softmax over channels of the
                class logit of each masked input; max(0, sum w A)    (score_cam.py)
  ablationcam   channel k of L set to 0, the rest run again: w_k = (y - y_k) / y (ablation_cam.py)
and at the input (S x S x C, HWC): integrated_gradients_c<c>.npy (baseline 0, the mean image after
preprocessing; right Riemann sum, 16 steps) and smoothgrad_c<c>.npy (the expected input gradient
under Gaussian noise of sd 0.15 x the input's range, estimated from 4096 samples; the test's
25-sample estimate is judged statistically). manifest.txt lists the layers, classes and the
pre-ReLU norms that floor the relative error of ReLU'd maps (as compare.py does).
"""
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..'))
from oracle_case import load, vr  # noqa: E402  (vgg_reference from ORACLE, default ../shared/oracle)

CASES = ['tiny_gap', 'tiny_fc', 'a_gap']
IG_STEPS = 16
SG_NOISE, SG_SAMPLES = 0.15, 4096
torch.set_num_threads(2)


def run_from(model, layer, h):
    """The network after `layer` (a conv's post-ReLU output), from h: the logits."""
    start = [n for _, n, _, _ in model.plan].index(layer) + 1
    for kind, _, idx, _ in model.plan[start:]:
        if kind == 'conv':
            conv = model.features[idx]
            h = F.relu(F.conv2d(h, conv.weight, conv.bias, padding=1))
        else:
            h = F.max_pool2d(h, 2, 2)
    lin = model.linears()
    if model.head == 'fc':
        h = torch.flatten(h, 1)
        h = F.relu(F.linear(h, lin[0].weight, lin[0].bias))
        h = F.relu(F.linear(h, lin[1].weight, lin[1].bias))
        return F.linear(h, lin[2].weight, lin[2].bias)
    return F.linear(h.mean(dim=(2, 3)), lin[0].weight, lin[0].bias)


def projection(M):
    """M: [K, H, W]. The first principal component, signed by its correlation with mean_k M."""
    K, H, W = M.shape
    R = M.reshape(K, -1).T                     # H*W x K
    Rc = R - R.mean(dim=0)
    _, _, VT = torch.linalg.svd(Rc, full_matrices=False)
    p = Rc @ VT[0]
    if (p * R.mean(dim=1)).sum() < 0:
        p = -p
    return p.reshape(H, W)


def weighted(A, w):
    """max(0, sum_k w_k A_k) and the pre-ReLU map; A [K, H, W]."""
    m = (w[:, None, None] * A).sum(0)
    return torch.clamp(m, min=0), m


def make_case(case):
    meta, model, x = load(case)
    out = os.path.join(HERE, 'family', case)
    os.makedirs(out, exist_ok=True)
    convs = model.conv_names()
    S = x.shape[-1]
    acts, logits = model.forward_record(x)
    norms = {}

    def save(name, m, pre=None):
        np.save(os.path.join(out, name + '.npy'), m.detach().numpy().astype(np.float32))
        if pre is not None:
            norms[name] = float(torch.linalg.norm(pre))

    for c in meta['classes']:
        grads = torch.autograd.grad(logits[0, c], [acts[L] for L in convs], retain_graph=True)
        for L, G in zip(convs, grads):
            A, G = acts[L][0].detach(), G[0]
            tag = '%s_c%d' % (L, c)
            pre = (G * A).sum(0)
            save('hirescam_' + tag, torch.clamp(pre, min=0), pre)
            w = (G * A).sum(dim=(1, 2)) / (A.sum(dim=(1, 2)) + 1e-7)
            m, pre = weighted(A, w)
            save('xgradcam_' + tag, m, pre)
            save('xgradcam_weights_' + tag, w)
            p = projection(A)
            save('eigencam_' + tag, torch.clamp(p, min=0), p)
            p = projection(G * A)
            save('eigengradcam_' + tag, torch.clamp(p, min=0), p)
        for L in convs[-2:]:
            A = acts[L].detach()
            tag = '%s_c%d' % (L, c)
            K = A.shape[1]
            with torch.no_grad():
                up = F.interpolate(A, size=(S, S), mode='bilinear', align_corners=True)[0]
                lo = up.reshape(K, -1).min(1)[0][:, None, None]
                hi = up.reshape(K, -1).max(1)[0][:, None, None]
                masks = (up - lo) / (hi - lo + 1e-8)
                scores = torch.stack([model(x * masks[k][None, None])[0, c] for k in range(K)])
                w = torch.softmax(scores, dim=0)
                m, pre = weighted(A[0], w)
                save('scorecam_' + tag, m, pre)
                save('scorecam_weights_' + tag, w)
                y = logits[0, c].detach()
                drops = []
                for k in range(K):
                    h = A.clone()
                    h[0, k] = 0
                    drops.append((y - run_from(model, L, h)[0, c]) / y)
                w = torch.stack(drops)
                m, pre = weighted(A[0], w)
                save('ablationcam_' + tag, m, pre)
                save('ablationcam_weights_' + tag, w)
        # input side: the gradient of the class logit with respect to the preprocessed input
        def input_grad(xs):
            xs = xs.clone().requires_grad_(True)
            return torch.autograd.grad(model(xs)[:, c].sum(), xs)[0]
        ts = torch.arange(1, IG_STEPS + 1, dtype=torch.float64) / IG_STEPS
        g = input_grad(ts[:, None, None, None] * x).mean(0, keepdim=True)
        save('integrated_gradients_c%d' % c, (x * g)[0].permute(1, 2, 0))
        sd = SG_NOISE * float(x.max() - x.min())
        gen = torch.Generator().manual_seed(20261201 + c)
        acc = torch.zeros_like(x)
        for i in range(0, SG_SAMPLES, 256):
            noisy = x + sd * torch.randn((256,) + x.shape[1:], generator=gen, dtype=torch.float64)
            acc += input_grad(noisy).sum(0, keepdim=True)
        save('smoothgrad_c%d' % c, (acc / SG_SAMPLES)[0].permute(1, 2, 0))
        save('saliency_c%d' % c, input_grad(x)[0].permute(1, 2, 0))
    with open(os.path.join(out, 'manifest.txt'), 'w') as f:
        f.write('# written by make_family.py from ../../oracle/%s\n' % case)
        f.write('classes %s\n' % ' '.join(str(c) for c in meta['classes']))
        f.write('convs %s\n' % ' '.join(convs))
        f.write('ig_steps %d\nsg_noise %g\n' % (IG_STEPS, SG_NOISE))
        for k, v in sorted(norms.items()):
            f.write('prerelu_norm %s %.17g\n' % (k, v))
    print('%s: %d conv layers x %d classes' % (case, len(convs), len(meta['classes'])))


if __name__ == '__main__':
    for case in CASES:
        make_case(case)
