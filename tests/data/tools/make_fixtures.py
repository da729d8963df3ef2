#!/usr/bin/python3
"""PyTorch references for tests/test_tools.cpp: faithfulness curves and the cascading-randomisation
sanity check, from the definitions in src/explain/tools.h, computed independently (float64,
autograd) on the oracle case tiny_gap (model from meta.json, weights from w.safetensors, input.png):

    ORACLE=../shared/oracle /usr/bin/python3 tests/data/tools/make_fixtures.py

faithfulness/: for Grad-CAM at the last conv of class 2: map.npy (the map, float32), ranking.npy
  (its pixels upsampled bilinearly to the input, align_corners=False, rounded to float32, highest
  first, ties by lower index; as float32, exact), curves.csv (deletion/insertion probabilities with 10 steps,
  the blank value 0 of torch preprocessing, AUCs by the trapezoid rule, as faithfulness_csv), and
  random.npy: a random ranking made with the project's RNG (splitmix64, Fisher-Yates, seed 7) and
  random.csv, its curves.
sanity/: sanity.csv (step,randomised_to,method,spearman) for class 2 at block3_conv2, seed 3:
  weights re-initialised from the output down with the project's RNG (splitmix64, Box-Muller) in
  the engine's layouts (conv OHWI, linear [out][in] with in in HWC order), mapped back to
  torch's; each method's map compared with step 0's by Spearman's rho (scipy's definition,
  average ranks for ties; input maps: per pixel the sum over channels of |value|).
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..'))
from oracle_case import load, vr  # noqa: E402  (vgg_reference from ORACLE, default ../shared/oracle)

CASE, CLS = 'tiny_gap', 2
MASK64 = (1 << 64) - 1


class Rng:
    """src/core/rng.h, bit for bit: splitmix64; uniform = (next >> 11) * 2^-53; Box-Muller."""

    def __init__(self, seed):
        self.s = seed & MASK64

    def next(self):
        self.s = (self.s + 0x9E3779B97F4A7C15) & MASK64
        z = self.s
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def below(self, n):
        return ((self.next() >> 32) * n) >> 32

    def uniform(self):
        return (self.next() >> 11) * (1.0 / 9007199254740992.0)

    def normal(self):
        u1, u2 = self.uniform(), self.uniform()
        u1 = max(u1, 1e-300)
        return math.sqrt(-2.0 * math.log(u1)) * math.cos(6.283185307179586 * u2)


def prob(model, x, c):
    with torch.no_grad():
        return float(torch.softmax(model(x), dim=1)[0, c])


def curves(model, x, c, ranking, steps):
    S = x.shape[-1]
    P = S * S
    flat = x.reshape(3, P)
    rows, done = [], 0
    dele, ins = flat.clone(), torch.zeros_like(flat)
    for i in range(steps + 1):
        k = i * P // steps
        idx = torch.as_tensor(ranking[done:k], dtype=torch.long)
        dele[:, idx] = 0
        ins[:, idx] = flat[:, idx]
        done = k
        rows.append((i, i / steps, prob(model, dele.reshape(x.shape), c), prob(model, ins.reshape(x.shape), c)))
    auc_d = sum((rows[i + 1][1] - rows[i][1]) * (rows[i][2] + rows[i + 1][2]) / 2 for i in range(steps))
    auc_i = sum((rows[i + 1][1] - rows[i][1]) * (rows[i][3] + rows[i + 1][3]) / 2 for i in range(steps))
    text = 'step,fraction,deletion_prob,insertion_prob\n'
    text += ''.join('%d,%.9g,%.9g,%.9g\n' % r for r in rows)
    return text + 'auc,,%.9g,%.9g\n' % (auc_d, auc_i)


def grads_at(model, x, c, layer, guided=False):
    """activations, d logit_c / d activations (NCHW) and d logit_c / d input."""
    vr.SwitchableReLU.mode = 'guided' if guided else 'normal'
    xi = x.clone().requires_grad_(True)
    acts, logits = model.forward_record(xi, relu=vr.SwitchableReLU.apply)
    ga, gx = torch.autograd.grad(logits[0, c], [acts[layer], xi])
    vr.SwitchableReLU.mode = 'normal'
    return acts[layer][0].detach(), ga[0], gx[0]


def projection(M):
    K, H, W = M.shape
    R = M.reshape(K, -1).T
    Rc = R - R.mean(dim=0)
    _, _, VT = torch.linalg.svd(Rc, full_matrices=False)
    p = Rc @ VT[0]
    return -p if (p * R.mean(dim=1)).sum() < 0 else p


def normalize01(m):
    lo, hi = m.min(), m.max()
    return (m - lo) / (hi - lo) if hi - lo > 1e-12 * max(1.0, abs(float(hi))) else torch.zeros_like(m)


def method_maps(model, x, c, layer):
    """Every cheap method of src/explain/methods.cpp at `layer`, as the values Spearman ranks."""
    A, G, gx = grads_at(model, x, c, layer)
    _, _, gb = grads_at(model, x, c, layer, guided=True)
    relu = lambda t: torch.clamp(t, min=0)  # noqa: E731
    K, H, W = A.shape
    S = x.shape[-1]
    alpha = G.mean(dim=(1, 2))
    gradcam = relu((alpha[:, None, None] * A).sum(0))
    Ah, Gh = A.permute(1, 2, 0).numpy(), G.permute(1, 2, 0).numpy()
    gpp, _ = vr.gradcampp_np(Ah, Gh)
    maps = {'gradcam': gradcam, 'gradcampp': torch.from_numpy(gpp),
            'layercam': relu((relu(G) * A).sum(0))}
    if model.head == 'gap':
        maps['cam'] = (model.linears()[0].weight[c].detach()[:, None, None] * A).sum(0)
    maps['counterfactual'] = relu((-alpha[:, None, None] * A).sum(0))
    maps['hirescam'] = relu((G * A).sum(0))
    w = (G * A).sum(dim=(1, 2)) / (A.sum(dim=(1, 2)) + 1e-7)
    maps['xgradcam'] = relu((w[:, None, None] * A).sum(0))
    maps['eigencam'] = relu(projection(A).reshape(H, W))
    maps['eigengradcam'] = relu(projection(G * A).reshape(H, W))
    maps['saliency'] = gx.abs().sum(0)
    maps['guided_backprop'] = gb.abs().sum(0)
    up = F.interpolate(normalize01(gradcam)[None, None], size=(S, S), mode='bilinear', align_corners=False)[0, 0]
    maps['guided_gradcam'] = (up[None] * gb).abs().sum(0)
    return maps


def spearman(a, b):
    def ranks(v):
        order = np.argsort(v, kind='stable')
        r = np.empty(len(v))
        i = 0
        while i < len(v):
            j = i
            while j + 1 < len(v) and v[order[j + 1]] == v[order[i]]:
                j += 1
            r[order[i:j + 1]] = (i + j) / 2 + 1
            i = j + 1
        return r
    ra, rb = ranks(a), ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    den = math.sqrt((ra * ra).sum() * (rb * rb).sum())
    return float((ra * rb).sum() / den) if den > 0 else 0.0


def reinit(model, count, seed):
    """tools.h / vgg_file.h reinit_top_layers on the torch model: the same numbers, engine order."""
    rng = Rng(seed)
    lin = model.linears()
    convs = [model.features[idx] for kind, _, idx, _ in model.plan if kind == 'conv']
    C, Hf, Wf = model.feat_shape
    names = (['predictions', 'fc2', 'fc1'] if model.head == 'fc' else ['predictions']) + model.conv_names()[::-1]
    for i in range(count):
        if i < len(lin):
            m = lin[len(lin) - 1 - i]
            out, inn = m.weight.shape
            w = np.array([np.float32(0.01 * rng.normal()) for _ in range(out * inn)], dtype=np.float64).reshape(out, inn)
            if model.head == 'fc' and m is lin[0] and Hf * Wf > 1:   # engine: HWC flatten -> torch: CHW
                w = w.reshape(out, Hf, Wf, C).transpose(0, 3, 1, 2).reshape(out, inn)
            m.weight.data = torch.from_numpy(w)
            m.bias.data.zero_()
        else:
            m = convs[len(convs) - 1 - (i - len(lin))]
            co, ci = m.weight.shape[:2]
            sd = math.sqrt(2.0 / (9.0 * ci))
            w = np.array([np.float32(sd * rng.normal()) for _ in range(co * 9 * ci)], dtype=np.float64)
            m.weight.data = torch.from_numpy(w.reshape(co, 3, 3, ci).transpose(0, 3, 1, 2).copy())
            m.bias.data.zero_()
    return names[count - 1] if count else 'none'


def main():
    meta, model, x = load(CASE)
    S = x.shape[-1]
    last = model.conv_names()[-1]
    out = os.path.join(HERE, 'faithfulness')
    os.makedirs(out, exist_ok=True)
    A, G, _ = grads_at(model, x, CLS, last)
    cam = torch.clamp((G.mean(dim=(1, 2))[:, None, None] * A).sum(0), min=0)
    cam32 = cam.numpy().astype(np.float32)
    up = F.interpolate(torch.from_numpy(cam32).to(torch.float64)[None, None], size=(S, S), mode='bilinear',
                       align_corners=False)[0, 0].numpy().astype(np.float32).ravel()
    ranking = np.argsort(-up, kind='stable').astype(np.int32)
    np.save(os.path.join(out, 'map.npy'), cam32)
    np.save(os.path.join(out, 'ranking.npy'), ranking.astype(np.float32))   # exact: fewer than 2^24 pixels
    open(os.path.join(out, 'curves.csv'), 'w').write(curves(model, x, CLS, ranking, 10))
    rng, rnd = Rng(7), list(range(S * S))
    for i in range(S * S - 1, 0, -1):
        j = rng.below(i + 1)
        rnd[i], rnd[j] = rnd[j], rnd[i]
    np.save(os.path.join(out, 'random.npy'), np.array(rnd, dtype=np.float32))
    open(os.path.join(out, 'random.csv'), 'w').write(curves(model, x, CLS, rnd, 10))

    out = os.path.join(HERE, 'sanity')
    os.makedirs(out, exist_ok=True)
    layer, seed = last, 3
    nlayers = len(model.linears()) + len(model.conv_names())
    ref = method_maps(model, x, CLS, layer)
    rows = []
    for step in range(nlayers + 1):
        _, m, _ = load(CASE)
        to = reinit(m, step, seed)
        maps = method_maps(m, x, CLS, layer)
        for name, v in maps.items():
            rows.append('%d,%s,%s,%.9g' % (step, to, name, spearman(v.detach().numpy().astype(np.float32).ravel(),
                                                                     ref[name].detach().numpy().astype(np.float32).ravel())))
    open(os.path.join(out, 'sanity.csv'), 'w').write('step,randomised_to,method,spearman\n' + '\n'.join(rows) + '\n')
    print('faithfulness: %d pixels, 10 steps; sanity: %d steps x %d methods' % (S * S, nlayers + 1, len(ref)))


if __name__ == '__main__':
    main()
