#!/usr/bin/python3
"""Fixtures the oracle does not write: a batch-norm VGG (torchvision's vgg*_bn layout) with its
float64 reference activations, and half / bfloat16 safetensors.

    /usr/bin/python3 tests/data/extra/make_fixtures.py

Deterministic (fixed seeds); needs Debian's python3-torch, python3-torchvision, python3-numpy,
python3-pil. Reads tests/data/oracle/tiny_fc/{input.png,w.safetensors}.

tiny_fc_f16.safetensors and tiny_fc_int8fc.safetensors (fuzz seeds for packed files) are
written by our own CLI, not here:
    build/native/cnnlens pack --weights tests/data/oracle/tiny_fc/w.safetensors --out tests/data/extra/tiny_fc_f16.safetensors
    build/native/cnnlens pack --weights tests/data/oracle/tiny_fc/w.safetensors --out tests/data/extra/tiny_fc_int8fc.safetensors --kind int8-fc
"""
import collections, json, os, struct
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from torchvision.models.vgg import make_layers

HERE = os.path.dirname(os.path.abspath(__file__))
ORACLE_CASE = os.path.join(HERE, '..', 'oracle', 'tiny_fc')
ST_DTYPE = {torch.float32: 'F32', torch.float16: 'F16', torch.bfloat16: 'BF16', torch.int64: 'I64'}


def save_safetensors(path, tensors, metadata=None):
    header, blobs, off = collections.OrderedDict(), [], 0
    if metadata:
        header['__metadata__'] = metadata
    for name, t in tensors.items():
        t = t.contiguous()
        raw = t.view(torch.int16).numpy().tobytes() if t.dtype in (torch.float16, torch.bfloat16) else t.numpy().tobytes()
        header[name] = {'dtype': ST_DTYPE[t.dtype], 'shape': list(t.shape), 'data_offsets': [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    hb = json.dumps(header, separators=(',', ':')).encode()
    hb += b' ' * ((-len(hb)) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(hb)) + hb + b''.join(blobs))


def load_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n), object_pairs_hook=collections.OrderedDict)
        buf = f.read()
    header.pop('__metadata__', None)
    return collections.OrderedDict(
        (k, torch.from_numpy(np.frombuffer(buf, '<f4', (v['data_offsets'][1] - v['data_offsets'][0]) // 4,
                                           v['data_offsets'][0]).reshape(v['shape']).copy())) for k, v in header.items())


def batch_norm_case():
    out = os.path.join(HERE, 'bn')
    os.makedirs(out, exist_ok=True)
    cfg = [8, 'M', 16, 16, 'M', 12, 'M']
    g = torch.Generator().manual_seed(21)
    features = make_layers(cfg, batch_norm=True)
    c, s = 12, 4
    classifier = nn.Sequential(nn.Linear(c * s * s, 24), nn.ReLU(), nn.Dropout(), nn.Linear(24, 24), nn.ReLU(),
                               nn.Dropout(), nn.Linear(24, 6))
    model = nn.Module()
    model.features, model.classifier = features, classifier
    with torch.no_grad():
        for m in list(features) + list(classifier):
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.normal_(0, (2.0 / fan_in) ** 0.5, generator=g)
                m.bias.uniform_(-0.1, 0.1, generator=g)
            elif isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5, generator=g)
                m.bias.uniform_(-0.2, 0.2, generator=g)
                m.running_mean.normal_(0, 0.3, generator=g)
                m.running_var.uniform_(0.5, 2.0, generator=g)
                m.num_batches_tracked.fill_(100)
    model.eval()
    pix = np.asarray(Image.open(os.path.join(ORACLE_CASE, 'input.png')).convert('RGB'), dtype=np.float64)
    x = ((pix / 255.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])).astype(np.float32)
    h = torch.from_numpy(x.transpose(2, 0, 1)[None].copy()).double()
    model.double()
    names, block, conv_i = [], 1, 0
    with torch.no_grad():
        for m in features:
            h = m(h)
            if isinstance(m, nn.ReLU):
                conv_i += 1
                names.append(('block%d_conv%d' % (block, conv_i), h))
            elif isinstance(m, nn.MaxPool2d):
                names.append(('block%d_pool' % block, h))
                block, conv_i = block + 1, 0
        h = torch.flatten(h, 1)
        for i, nm in ((0, 'fc1'), (3, 'fc2')):
            h = F.relu(classifier[i](h))
            names.append((nm, h))
        logits = classifier[6](h)
    for nm, t in names:
        a = t[0].permute(1, 2, 0) if t.dim() == 4 else t[0]
        np.save(os.path.join(out, 'act_%s.npy' % nm), a.float().numpy())
    np.save(os.path.join(out, 'logits.npy'), logits[0].float().numpy())
    model.float()
    sd = collections.OrderedDict((k, v.clone()) for k, v in model.state_dict().items())
    torch.save(sd, os.path.join(out, 'w_bn.pth'))
    save_safetensors(os.path.join(out, 'w_bn.safetensors'), sd)


def half_cases():
    sd = load_safetensors(os.path.join(ORACLE_CASE, 'w.safetensors'))
    for dt, tag in ((torch.float16, 'f16'), (torch.bfloat16, 'bf16')):
        conv = collections.OrderedDict((k, v.to(dt)) for k, v in sd.items())
        save_safetensors(os.path.join(HERE, 'w_%s.safetensors' % tag), conv, {'format': 'pt'})
        flat = torch.cat([v.float().reshape(-1) for v in conv.values()])   # what a reader must produce
        np.save(os.path.join(HERE, 'w_%s_values.npy' % tag), flat.numpy())


if __name__ == '__main__':
    batch_norm_case()
    half_cases()
