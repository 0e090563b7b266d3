"""LIME super-pixel subsampling and local linear fits as ZestOfLIME uses them (Jia et al. ICLR'22,
docs/zest.md).

Segmentation is a fixed ``grid × grid`` partition instead of quickshift: on 8×8 and 28×28 inputs quickshift
returns a handful of irregular segments whose count varies per image, while a grid gives every image the
same S = grid² super-pixels, so signatures stack into one (n_seeds, S, K) tensor (documented deviation)."""

from __future__ import annotations

import torch


def grid_segments(height: int, width: int, grid: int) -> torch.Tensor:
    """Segment id (H,W) of every pixel for a ``grid × grid`` partition (ids row-major, 0..grid²−1)."""
    if not 1 <= grid <= min(height, width):
        raise ValueError(f"grid must be in [1, {min(height, width)}], got {grid}")
    rows = torch.arange(height) * grid // height
    cols = torch.arange(width) * grid // width
    return rows[:, None] * grid + cols[None, :]


def lime_masks(num_samples: int, num_segments: int, *, generator: torch.Generator) -> torch.Tensor:
    """(num_samples, S) uint8 keep-masks: row 0 keeps everything (the original image), the others keep each
    super-pixel with probability ½ (LIME's Bernoulli(0.5) draws)."""
    if num_samples < 1 or num_segments < 1:
        raise ValueError("lime_masks needs at least one sample and one segment")
    masks = (torch.rand(num_samples, num_segments, generator=generator) < 0.5).to(torch.uint8)
    masks[0] = 1
    return masks


def apply_masks(
    image: torch.Tensor, segments: torch.Tensor, masks: torch.Tensor, fill: torch.Tensor
) -> torch.Tensor:
    """Images (M,C,H,W): ``image`` (C,H,W) with every super-pixel a mask drops replaced by ``fill`` (C,)."""
    keep = masks.bool()[:, segments].unsqueeze(1)  # (M,1,H,W)
    background = fill.view(1, -1, 1, 1).to(image.dtype)
    return torch.where(keep, image.unsqueeze(0), background)


def fit_local_linear(masks: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
    """Least squares without intercept, W = pinv(AᵀA)·Aᵀ·Y (the Zest code's form): (S,K) from masks A (M,S)
    and outputs Y (M,K). Computed in float64 so the victim and a bit-identical suspect agree exactly."""
    a = masks.double()
    return (torch.linalg.pinv(a.T @ a) @ a.T @ outputs.double()).float()
