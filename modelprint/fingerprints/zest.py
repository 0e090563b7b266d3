"""ZestOfLIME (Jia, Chen, Guan, Shamsabadi, Papernot, ICLR'22; docs/zest.md) as QuRD reimplements it."""

from __future__ import annotations

from typing import Literal

from modelprint.detectors.distances import Cosine
from modelprint.fingerprints.base import FINGERPRINTS, Fingerprint
from modelprint.queries.lime import LimeQueries
from modelprint.representations.lime import LimeWeights


@FINGERPRINTS.register("zest")
def zest(
    *, budget: int = 1000, subsample: int = 100, grid: int = 4, fill: Literal["mean", "zero"] = "mean"
) -> Fingerprint:
    """LIME-masked seeds, per-seed local linear weights, mean cosine; probability access.

    Q = :class:`LimeQueries`: budget/subsample seeds × ``subsample`` Bernoulli(½) masks over a fixed
    grid × grid super-pixel partition (grid instead of quickshift on 8×8/28×28 images). R = per-seed
    least-squares weights (n_seeds, S, K). D = QuRD's form, mean over (seed, class) of the cosine along
    the super-pixel axis (= 1 − Zest distance; dividing by the reference distance of independent pairs
    does not change rankings, use :class:`CalibratedThreshold` for a decision).

    Budget scaled for CPU: **1,000 queries** by default (10 seeds × 100 masks), QuRD's smallest setting;
    the paper uses 128 × 1000 = 128,000. The query count is 10× that of the 100-query schemes."""
    sampler = LimeQueries(subsample=subsample, grid=grid, fill=fill)
    return Fingerprint("zest", sampler, LimeWeights(), Cosine(dim=1), budget)
