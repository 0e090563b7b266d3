"""SAC-m's one-pass CutMix (Guan, Liang, He, NeurIPS'22; docs/sac.md#queries, from the official code).

A fixed box of side ⌈ratio·H⌉ × ⌈ratio·W⌉ (the Beta draw of ordinary CutMix is unused) whose centre is
resampled until it lies in the outer sixth of both axes, i.e. near a corner, pasted from a random
permutation of the batch. Deviation: the box is shifted to lie inside the image instead of being clipped at
the border, and its side is rounded up, so it is never empty on 8×8 inputs (where the code's
int(0.2·8)//2 = 0 would paste nothing)."""

from __future__ import annotations

import math

import torch


def _corner_coordinate(size: int, generator: torch.Generator) -> int:
    """A uniform integer centre in [0, size) that lies in the outer sixth: c < size/6 or c ≥ 5·size/6."""
    allowed = [c for c in range(size) if c < size / 6 or c >= 5 * size / 6]
    return allowed[int(torch.randint(len(allowed), (1,), generator=generator))]


def corner_cutmix(
    images: torch.Tensor,
    *,
    ratio: float = 0.2,
    generator: torch.Generator,
    region: tuple[int, int, int, int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return the mixed images, the boxes (N,4: y0,y1,x0,x1) and the partner permutation (N,).

    ``region`` (y0, y1, x0, x1): the frame the box geometry refers to (default the whole image); on centred
    digits the content's bounding box (:func:`~modelprint.ops.scaling.content_box`), so that the box lands
    near a corner of the strokes instead of on the blank border. Drawing among the allowed centres directly
    is the same distribution as the code's rejection loop."""
    if not 0 < ratio <= 1:
        raise ValueError(f"ratio must be in (0, 1], got {ratio}")
    n, _, full_h, full_w = images.shape
    ry0, ry1, rx0, rx1 = region if region is not None else (0, full_h, 0, full_w)
    if not (0 <= ry0 < ry1 <= full_h and 0 <= rx0 < rx1 <= full_w):
        raise ValueError(f"region {region} does not lie inside the {full_h}×{full_w} image")
    h, w = ry1 - ry0, rx1 - rx0
    bh, bw = max(1, math.ceil(ratio * h)), max(1, math.ceil(ratio * w))
    perm = torch.randperm(n, generator=generator)
    out = images.clone()
    boxes = torch.zeros(n, 4, dtype=torch.long)
    for i in range(n):
        cy, cx = _corner_coordinate(h, generator), _corner_coordinate(w, generator)
        y0 = ry0 + min(max(cy - bh // 2, 0), h - bh)
        x0 = rx0 + min(max(cx - bw // 2, 0), w - bw)
        out[i, :, y0 : y0 + bh, x0 : x0 + bw] = images[perm[i], :, y0 : y0 + bh, x0 : x0 + bw]
        boxes[i] = torch.tensor([y0, y0 + bh, x0, x0 + bw])
    return out, boxes, perm
