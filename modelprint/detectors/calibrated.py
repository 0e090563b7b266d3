"""A decision threshold calibrated on known-independent models at a target FPR
(docs/conventions.md#score-convention-and-calibration, QuRD's calibration fingerprints {Z_i}: "the victim
needs its own pool of fingerprints from unrelated models")."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Self

import torch

from modelprint.calibration import allowed_false_positives
from modelprint.detectors.base import Detector
from modelprint.representations.kinds import RepKind

log = logging.getLogger(__name__)


class NotFittedError(RuntimeError):
    """``decide`` was called before ``fit``."""


class CalibratedThreshold(Detector):
    """Wraps ``detector``: ``score`` is the wrapped score; ``fit(reference, independent=[...])`` scores the
    representations of known-independent models and sets the threshold t so that at most ⌊fpr·n⌋ of them
    reach it (t is just above the (⌊fpr·n⌋+1)-th highest independent score, so ties are never flagged).
    ``decide(score)`` is score ≥ t. The empirical FPR on the calibration set and the number of models
    behind it are exposed: with n models the FPR is only resolved to 1/n (below 1/fpr models the
    threshold simply sits above every independent score, which the empirical FPR of 0 reflects)."""

    def __init__(self, detector: Detector, *, fpr: float = 0.05) -> None:
        if not 0 <= fpr <= 1:
            raise ValueError(f"fpr must be in [0, 1], got {fpr}")
        self.detector = detector
        self.fpr = fpr
        self.threshold: float | None = None
        self.independent_scores: tuple[float, ...] = ()

    @property
    def accepts(self) -> frozenset[RepKind]:
        return self.detector.accepts

    @property
    def perfect(self) -> float | None:
        return self.detector.perfect

    def fit(self, reference: torch.Tensor, independent: Sequence[torch.Tensor] = ()) -> Self:
        if len(independent) == 0:
            raise ValueError("calibration needs the representations of at least one independent model")
        self.detector.fit(reference, independent)
        scores = sorted((self.detector.score(reference, z) for z in independent), reverse=True)
        allowed = allowed_false_positives(len(scores), self.fpr)
        if allowed >= len(scores):
            self.threshold = -math.inf
        else:
            self.threshold = math.nextafter(scores[allowed], math.inf)
        self.independent_scores = tuple(scores)
        if self.fpr > 0 and len(scores) < math.ceil(1 / self.fpr):
            log.info("calibrated on %d independent models: FPR resolution 1/%d", len(scores), len(scores))
        return self

    def score(self, reference: torch.Tensor, suspect: torch.Tensor) -> float:
        return self.detector.score(reference, suspect)

    def _checked(self) -> float:
        if self.threshold is None:
            raise NotFittedError("CalibratedThreshold.fit must run before decide")
        return self.threshold

    def decide(self, score: float) -> bool:
        """True (flag as stolen) when ``score`` reaches the calibrated threshold."""
        return score >= self._checked()

    @property
    def num_independent(self) -> int:
        return len(self.independent_scores)

    @property
    def false_positive_rate(self) -> float:
        """Fraction of the calibration models that the threshold flags (≤ the target ``fpr``)."""
        t = self._checked()
        return sum(s >= t for s in self.independent_scores) / len(self.independent_scores)

    def empirical_fpr(self) -> tuple[float, int]:
        """(empirical false-positive rate, number of independent models it is measured on)."""
        return self.false_positive_rate, self.num_independent

    def __repr__(self) -> str:
        return f"CalibratedThreshold(detector={self.detector!r}, fpr={self.fpr!r})"
