"""LIME subsampling (QuRD Eq. 6; ZestOfLIME, Jia et al., ICLR'22, docs/zest.md)."""

from __future__ import annotations

from typing import Literal

import torch

from modelprint.data import Dataset
from modelprint.models.base import TorchClassifier
from modelprint.ops.lime import apply_masks, grid_segments, lime_masks
from modelprint.pools import Pool
from modelprint.queries.base import QuerySampler
from modelprint.queries.common import QueryStructure, draw_indices
from modelprint.types import Queries


class LimeQueries(QuerySampler):
    """budget/``subsample`` seeds, each with ``subsample`` super-pixel-masked copies (budget split as
    evenly as possible). Super-pixels are a fixed ``grid × grid`` partition (acceptable on 8×8/28×28
    inputs where quickshift degenerates; see :mod:`modelprint.ops.lime`); masks are Bernoulli(½) with the
    first copy unmasked; dropped super-pixels take the dataset mean colour (Zest code; ``fill="zero"`` is
    QuRD's choice). Masks (``lime_masks``), seed membership (``lime_group``) and the segmentation
    (``lime_segments``) are stored so verification replays them."""

    structure: QueryStructure = "lime"

    def __init__(
        self, *, subsample: int = 100, grid: int = 4, fill: Literal["mean", "zero"] = "mean"
    ) -> None:
        if subsample < 1:
            raise ValueError("subsample must be >= 1")
        if fill not in ("mean", "zero"):
            raise ValueError(f"fill must be 'mean' or 'zero', got {fill!r}")
        self.subsample = subsample
        self.grid = grid
        self.fill = fill

    def sample(
        self,
        victim: TorchClassifier,
        data: Dataset,
        budget: int,
        *,
        generator: torch.Generator,
        pool: Pool | None = None,
    ) -> Queries:
        n_seeds = max(1, budget // self.subsample)
        sizes = [budget // n_seeds + (1 if i < budget % n_seeds else 0) for i in range(n_seeds)]
        idx = draw_indices(len(data), n_seeds, generator=generator)
        _, h, w = data.input_shape
        segments = grid_segments(h, w, self.grid)
        num_segments = int(segments.max()) + 1
        fill = torch.tensor(data.mean) if self.fill == "mean" else torch.zeros(data.input_shape[0])
        inputs, labels, masks, groups = [], [], [], []
        for g, (i, size) in enumerate(zip(idx.tolist(), sizes, strict=True)):
            m = lime_masks(size, num_segments, generator=generator)
            inputs.append(apply_masks(data.images[i], segments, m, fill))
            labels.append(data.labels[i].repeat(size))
            masks.append(m)
            groups.append(torch.full((size,), g, dtype=torch.long))
        extras = {
            "index": idx,
            "lime_masks": torch.cat(masks),
            "lime_group": torch.cat(groups),
            "lime_segments": segments,
        }
        return Queries(torch.cat(inputs), torch.cat(labels), extras)
