"""CutMix (Yun et al. 2019) as AKH's augmentation of too-few negatives (QuRD; docs/akh.md#sampler)."""

from __future__ import annotations

import math

import torch


def cutmix(images: torch.Tensor, *, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Paste into each image a box cut from a permuted partner; the box area ratio is drawn from
    Beta(1,1) = U(0,1). Returns the mixed images (N,C,H,W) and the boxes (N,4: y0,y1,x0,x1) so a key can
    record the draws."""
    n, _, h, w = images.shape
    perm = torch.randperm(n, generator=generator)
    lam = torch.rand(n, generator=generator)
    out = images.clone()
    boxes = torch.zeros(n, 4, dtype=torch.long)
    for i in range(n):
        cut = math.sqrt(1.0 - float(lam[i]))
        ch, cw = int(h * cut), int(w * cut)
        cy = int(torch.randint(h, (1,), generator=generator))
        cx = int(torch.randint(w, (1,), generator=generator))
        y0, y1 = max(cy - ch // 2, 0), min(cy + ch // 2, h)
        x0, x1 = max(cx - cw // 2, 0), min(cx + cw // 2, w)
        out[i, :, y0:y1, x0:x1] = images[perm[i], :, y0:y1, x0:x1]
        boxes[i] = torch.tensor([y0, y1, x0, x1])
    return out, boxes
