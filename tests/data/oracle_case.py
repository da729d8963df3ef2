"""oracle_case.py: one committed oracle case (tests/data/oracle/<case>) as a float64 PyTorch
model and its preprocessed input, for the fixture generators of tests/data/explain and
tests/data/tools. Needs the oracle's vgg_reference.py (ORACLE, default ../shared/oracle)."""
import json
import os
import sys

import numpy as np
import torch
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ORACLE = os.environ.get('ORACLE', os.path.join(HERE, '../../../shared/oracle'))
sys.path.insert(0, os.path.abspath(ORACLE))
import vgg_reference as vr  # noqa: E402


def load(case):
    """(meta, model, x): the case's meta.json, its network in float64 (eval), its input [1,C,H,W]."""
    src = os.path.join(HERE, 'oracle', case)
    meta = json.load(open(os.path.join(src, 'meta.json')))
    model = vr.VGGRef(meta['cfg_effective'], num_classes=meta['num_classes'], head=meta['head'],
                      hidden=meta['hidden'] or 4096, input_size=meta['input_size'])
    vr.load_weights_into(model, os.path.join(src, 'w.safetensors'))
    model = model.to(torch.float64).eval()
    pix = np.asarray(Image.open(os.path.join(src, 'input.png')).convert('RGB'), dtype=np.uint8)
    x = torch.from_numpy(vr.preprocess(pix, meta['preprocess']['mode'])).to(torch.float64)
    return meta, model, x
