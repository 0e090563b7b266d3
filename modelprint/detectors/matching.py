"""Match rate: the fraction of queries where the suspect agrees with the reference (1 − Hamming)."""

from __future__ import annotations

from typing import ClassVar

import torch

from modelprint.detectors.base import Detector
from modelprint.representations.kinds import DISCRETE, RepKind


class MatchRate(Detector):
    """score = (1/n) Σ 1[z_sus,i = z_ref,i] ∈ [0,1]; QuRD's −Hamming shifted by one (same ranking)."""

    accepts: ClassVar[frozenset[RepKind]] = DISCRETE
    perfect: ClassVar[float | None] = 1.0

    def score(self, reference: torch.Tensor, suspect: torch.Tensor) -> float:
        if reference.shape != suspect.shape:
            raise ValueError(
                f"representation shapes differ: {tuple(reference.shape)} vs {tuple(suspect.shape)}"
            )
        if reference.numel() == 0:
            raise ValueError("empty representation: the fingerprint has no queries")
        return float((reference == suspect).float().mean())
