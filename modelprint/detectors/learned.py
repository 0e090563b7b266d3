"""A learned detector (QuRD's second detection family, as in MetaV, Pan et al. KDD'22): a classifier on
pairs of fingerprints instead of a fixed distance."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal, Self

import torch

from modelprint.detectors.base import Detector
from modelprint.detectors.distances import check_pair
from modelprint.representations.kinds import KINDS, RepKind


def discrepancy(
    reference: torch.Tensor, suspect: torch.Tensor, pool: Literal["query", "all"]
) -> torch.Tensor:
    """Features of a (reference, suspect) pair: |z_ref − z_sus| for real representations, the mismatch
    indicator 1[z_ref ≠ z_sus] for discrete ones (a difference of label ids means nothing), averaged over
    everything but the first (query) axis (``pool="query"``) or over everything (``pool="all"``)."""
    check_pair(reference, suspect)
    if reference.is_floating_point():
        diff = (reference.double() - suspect.double()).abs()
    else:
        diff = (reference != suspect).double()
    per_query = diff.reshape(len(diff), -1).mean(dim=1) if diff.ndim > 1 else diff
    return per_query if pool == "query" else per_query.mean().reshape(1)


class LearnedDetector(Detector):
    """ℓ2-regularised logistic regression over :func:`discrepancy` features, z-scored on the training set.

    Trained on: the victim's reference against itself (label 1: an exact copy), the representations of
    ``positives`` — models the owner derives from its own victim (e.g. fine-tuned or pruned copies),
    label 1 — and of ``independent`` models (label 0). score = P(stolen) ∈ (0,1). These training models
    are a generation-side pool and must be disjoint from evaluation suspects (docs/conventions.md#pitfalls).
    Full-batch L-BFGS from zero weights, so fitting is deterministic."""

    accepts: ClassVar[frozenset[RepKind]] = KINDS
    perfect: ClassVar[float | None] = None

    def __init__(
        self, *, pool: Literal["query", "all"] = "query", weight_decay: float = 1e-2, steps: int = 100
    ) -> None:
        if pool not in ("query", "all"):
            raise ValueError(f"pool must be 'query' or 'all', got {pool!r}")
        self.pool = pool
        self.weight_decay = weight_decay
        self.steps = steps
        self._w: torch.Tensor | None = None
        self._b: torch.Tensor | None = None
        self._mu: torch.Tensor | None = None
        self._sd: torch.Tensor | None = None
        self.num_positives = 0
        self.num_negatives = 0

    def fit(
        self,
        reference: torch.Tensor,
        independent: Sequence[torch.Tensor] = (),
        *,
        positives: Sequence[torch.Tensor] = (),
    ) -> Self:
        if len(independent) == 0:
            raise ValueError("LearnedDetector needs the representations of at least one independent model")
        pos = [discrepancy(reference, z, self.pool) for z in (reference, *positives)]
        neg = [discrepancy(reference, z, self.pool) for z in independent]
        x = torch.stack(pos + neg)
        y = torch.cat([torch.ones(len(pos)), torch.zeros(len(neg))]).double()
        self._mu, self._sd = x.mean(0), x.std(0, unbiased=False).clamp_min(1e-6)
        xs = (x - self._mu) / self._sd
        w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
        b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
        opt = torch.optim.LBFGS([w, b], max_iter=self.steps, line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(xs @ w + b, y)
            loss = loss + self.weight_decay * w.pow(2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        self._w, self._b = w.detach(), b.detach()
        self.num_positives, self.num_negatives = len(pos), len(neg)
        return self

    def score(self, reference: torch.Tensor, suspect: torch.Tensor) -> float:
        if self._w is None or self._b is None or self._mu is None or self._sd is None:
            raise RuntimeError("LearnedDetector.fit must run before score")
        f = (discrepancy(reference, suspect, self.pool) - self._mu) / self._sd
        return float(torch.sigmoid(f @ self._w + self._b))

    def __repr__(self) -> str:
        return (
            f"LearnedDetector(pool={self.pool!r}, steps={self.steps!r}, weight_decay={self.weight_decay!r})"
        )
