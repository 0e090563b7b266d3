"""MFUE's detector (Xu et al., KDD'26; docs/mfue.md#mfue-w-verification): per-query interval match of losses,
then the match rate."""

from __future__ import annotations

import torch

from modelprint.detectors.base import Detector


class IntervalMatch(Detector):
    """r_mch = mean over queries of 1[(1−τ)·L_src ≤ L_spc ≤ (1+τ)·L_src] (Eq. 5–6 [P]); the interval is per
    query, τ = 0.5 [P] (code: 0.2 [C]). ``one_sided``: match ⇔ L_spc ≤ (1+τ)·L_src ([D],
    docs/mfue.md#mfue-w-verification: MFUE's source losses are tiny, so a suspect with a *lower* loss also
    fails the two-sided test).

    The interval is closed, unlike Eq. 5's strict bounds: this differs only on a null set, and keeps the
    source matching itself when a loss underflows to 0. NaN or +inf suspect losses never match."""

    def __init__(self, tau: float = 0.5, one_sided: bool = False) -> None:
        if tau < 0:
            raise ValueError(f"tau must be non-negative, got {tau}")
        self.tau = float(tau)
        self.one_sided = bool(one_sided)

    def matches(self, reference: torch.Tensor, suspect: torch.Tensor) -> torch.Tensor:
        """(N,) bool: which queries fall inside their interval."""
        if reference.shape != suspect.shape:
            raise ValueError(f"reference {tuple(reference.shape)} and suspect {tuple(suspect.shape)} differ")
        ref, sus = reference.double(), suspect.double()
        inside = sus <= (1 + self.tau) * ref
        return inside if self.one_sided else inside & (sus >= (1 - self.tau) * ref)

    def score(self, reference: torch.Tensor, suspect: torch.Tensor) -> float:
        if reference.numel() == 0:
            raise ValueError("IntervalMatch: no queries to match")
        return float(self.matches(reference, suspect).double().mean())
