"""IPGuard (Cao, Jia, Gong, AsiaCCS'21; spec §5) as QuRD decomposes it (Godinot et al. AAAI'25)."""

from __future__ import annotations

from typing import Literal

from modelprint.detectors.matching import MatchRate
from modelprint.fingerprints.base import FINGERPRINTS, Fingerprint
from modelprint.queries.boundary import BoundaryQueries
from modelprint.representations.outputs import HardLabels


@FINGERPRINTS.register("ipguard")
def ipguard(
    *,
    budget: int = 100,
    k: float = 10.0,
    lr: float = 0.01,
    max_iter: int = 1000,
    init: Literal["data", "uniform_noise"] = "data",
) -> Fingerprint:
    """Boundary points labelled j with the source label i as runner-up, hard labels, match rate; label-only.

    Q = :class:`BoundaryQueries` (k = 10 as for CIFAR-10 in the MFUE seed; Adam lr 0.01, ≤ 1000 steps,
    j ≠ i and −∞ masking fixed from QuRD), R = labels, D = match rate (1 − Hamming). 100 label queries."""
    sampler = BoundaryQueries(k=k, lr=lr, max_iter=max_iter, init=init)
    return Fingerprint("ipguard", sampler, HardLabels(), MatchRate(), budget)
