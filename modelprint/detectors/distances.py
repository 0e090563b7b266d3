"""Distance detectors (QuRD's D): score = −distance or a similarity, higher = more likely stolen.

Every detector declares ``accepts`` (the representation kinds it can compare) and ``perfect``: the score
of two identical representations when that is a constant (``None`` when it depends on the data)."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from modelprint.detectors.base import Detector
from modelprint.detectors.matching import MatchRate
from modelprint.representations.kinds import DISCRETE, REAL, RepKind


def check_pair(reference: torch.Tensor, suspect: torch.Tensor, *, real: bool = False) -> None:
    """Same shape, non-empty, and real-valued when ``real``."""
    if reference.shape != suspect.shape:
        raise ValueError(f"representation shapes differ: {tuple(reference.shape)} vs {tuple(suspect.shape)}")
    if reference.numel() == 0:
        raise ValueError("empty representation: the fingerprint has no queries")
    if real and not (reference.is_floating_point() and suspect.is_floating_point()):
        raise ValueError("this detector compares real-valued representations, not labels")


class Hamming(MatchRate):
    """QuRD's −Hamming (AFA/AKH/IPGuard): score = −(1/n)·Σ 1[z_ref,i ≠ z_sus,i] ∈ [−1,0]. It ranks suspects
    exactly like :class:`MatchRate` (score = match rate − 1); it exists for QuRD's sign convention."""

    accepts: ClassVar[frozenset[RepKind]] = DISCRETE
    perfect: ClassVar[float | None] = 0.0

    def score(self, reference: torch.Tensor, suspect: torch.Tensor) -> float:
        mismatch = 1.0 - super().score(reference, suspect)
        return -mismatch if mismatch else 0.0


class Cosine(Detector):
    """Cosine similarity of two representations (ModelDiff on DDVs, Li et al. ISSTA'21; ZestOfLIME, Jia et
    al. ICLR'22), = 1 − cosine distance. ``dim=None`` flattens both; an integer takes the cosine along that
    axis and averages the rest (QuRD's Zest: along the super-pixel axis, mean over image and class).
    Identical inputs score exactly 1.0."""

    accepts: ClassVar[frozenset[RepKind]] = REAL
    perfect: ClassVar[float | None] = 1.0

    def __init__(self, dim: int | None = None) -> None:
        self.dim = dim

    def score(self, reference: torch.Tensor, suspect: torch.Tensor) -> float:
        check_pair(reference, suspect, real=True)
        if torch.equal(reference, suspect):
            return 1.0
        a, b = reference.double(), suspect.double()
        if self.dim is None:
            a, b, dim = a.flatten(), b.flatten(), 0
        else:
            dim = self.dim
        return float(F.cosine_similarity(a, b, dim=dim, eps=1e-12).mean())


class NegativeL1(Detector):
    """−mean |z_ref − z_sus|: SAC's d = (1/n²)·Σ|C_sus − C_src| on correlation matrices (Guan et al. 2022)."""

    accepts: ClassVar[frozenset[RepKind]] = REAL
    perfect: ClassVar[float | None] = 0.0

    def score(self, reference: torch.Tensor, suspect: torch.Tensor) -> float:
        check_pair(reference, suspect, real=True)
        d = float((reference.double() - suspect.double()).abs().mean())
        return -d if d else 0.0


class NegativeL2(Detector):
    """−sqrt(mean (z_ref − z_sus)²): the RMS form QuRD uses for SAC (size-independent ℓ2)."""

    accepts: ClassVar[frozenset[RepKind]] = REAL
    perfect: ClassVar[float | None] = 0.0

    def score(self, reference: torch.Tensor, suspect: torch.Tensor) -> float:
        check_pair(reference, suspect, real=True)
        d = float((reference.double() - suspect.double()).pow(2).mean().sqrt())
        return -d if d else 0.0


class SubsetCosine(Detector):
    """UAP verification (Peng et al., CVPR'22; docs/uap.md#algorithm [R]): ``n_subsets`` fingerprints, each
    the rows of a random ``fraction`` of the query points (fixed draws from ``seed``, so verification replays
    them); s_k = cos(flatten(z_ref[subset_k]), flatten(z_sus[subset_k])); score = mean(s_k). The subsets reuse
    one set of m points, so the cost stays 2m queries. :meth:`similarities` gives the s_k for a t-test against
    the mean similarity μ₀ of independent models (needs a calibration pool, hence not the score)."""

    accepts: ClassVar[frozenset[RepKind]] = REAL
    perfect: ClassVar[float | None] = 1.0

    def __init__(self, *, n_subsets: int = 20, fraction: float = 0.5, seed: int = 0) -> None:
        if n_subsets < 1 or not 0 < fraction <= 1:
            raise ValueError("SubsetCosine needs n_subsets >= 1 and fraction in (0, 1]")
        self.n_subsets = n_subsets
        self.fraction = fraction
        self.seed = seed

    def similarities(self, reference: torch.Tensor, suspect: torch.Tensor) -> torch.Tensor:
        check_pair(reference, suspect, real=True)
        n = reference.shape[0]
        size = max(1, round(self.fraction * n))
        g = torch.Generator().manual_seed(self.seed)
        inner = Cosine()
        return torch.tensor(
            [
                inner.score(reference[s], suspect[s])
                for s in (torch.randperm(n, generator=g)[:size] for _ in range(self.n_subsets))
            ],
            dtype=torch.float64,
        )

    def score(self, reference: torch.Tensor, suspect: torch.Tensor) -> float:
        if torch.equal(reference, suspect):
            check_pair(reference, suspect, real=True)
            return 1.0
        return float(self.similarities(reference, suspect).mean())

    def t_statistic(self, reference: torch.Tensor, suspect: torch.Tensor, mu0: float) -> float:
        """One-sided t statistic of H0: mean(s) ≤ μ₀ over the subset similarities."""
        s = self.similarities(reference, suspect)
        sd = float(s.std(unbiased=True)) if len(s) > 1 else 0.0
        if sd == 0.0:
            return float("inf") if float(s.mean()) > mu0 else float("-inf")
        return (float(s.mean()) - mu0) / (sd / len(s) ** 0.5)


def _ranks(x: torch.Tensor) -> torch.Tensor:
    """Average ranks (ties share the mean rank) of a 1-D float64 tensor; NaN ranks last."""
    x = torch.where(torch.isnan(x), torch.full_like(x, float("inf")), x)
    order = torch.argsort(x, stable=True)
    ranks = torch.empty_like(x)
    ranks[order] = torch.arange(len(x), dtype=x.dtype)
    values, inverse = torch.unique(x, return_inverse=True)
    sums = torch.zeros(len(values), dtype=x.dtype).index_add_(0, inverse, ranks)
    counts = torch.zeros(len(values), dtype=x.dtype).index_add_(0, inverse, torch.ones_like(x))
    return (sums / counts)[inverse]


class RankCorrelation(Detector):
    """Spearman's ρ between two real representations (flattened): the Pearson correlation of their average
    ranks. Scale-free, so it compares the *order* of per-query values (ours, for MFUE's per-trigger losses:
    a suspect systematically more or less confident than the source keeps the order of which triggers are
    hard and which easy, though its losses leave MFUE's ±50 % interval). Identical inputs score 1.0; a
    constant representation has no order and scores 0."""

    accepts: ClassVar[frozenset[RepKind]] = REAL
    perfect: ClassVar[float | None] = 1.0

    def score(self, reference: torch.Tensor, suspect: torch.Tensor) -> float:
        check_pair(reference, suspect, real=True)
        if torch.equal(reference, suspect):
            return 1.0
        a, b = _ranks(reference.double().flatten()), _ranks(suspect.double().flatten())
        a, b = a - a.mean(), b - b.mean()
        norm = float(a.norm() * b.norm())
        return float((a * b).sum()) / norm if norm > 0 else 0.0
