"""IPGuard (Cao, Jia, Gong, AsiaCCS'21; docs/ipguard.md) as QuRD decomposes it (Godinot et al. AAAI'25), with
our stopping (margin k reached) and QuRD's (first label change) under their own names."""

from __future__ import annotations

from typing import Literal

from modelprint.detectors.matching import MatchRate
from modelprint.fingerprints.base import FINGERPRINTS, Fingerprint
from modelprint.queries.boundary import STOP_TOL, STOP_WINDOW, BoundaryQueries
from modelprint.representations.outputs import HardLabels


@FINGERPRINTS.register("ipguard")
def ipguard(
    *,
    budget: int = 100,
    k: float = 10.0,
    lr: float = 0.01,
    max_iter: int = 1000,
    init: Literal["data", "uniform_noise"] = "data",
    stop_tol: float = STOP_TOL,
    stop_window: int = STOP_WINDOW,
) -> Fingerprint:
    """Boundary points labelled j with the source label i as runner-up, hard labels, match rate; label-only.

    Q = :class:`BoundaryQueries` (k = 10 as for CIFAR-10 in the MFUE seed; Adam lr 0.01, each point until
    its loss is 0, ≤ 1000 steps, or its loss stopped improving; j ≠ i and −∞ masking fixed from QuRD),
    R = labels, D = match rate (1 − Hamming). 100 label queries."""
    sampler = BoundaryQueries(
        k=k, lr=lr, max_iter=max_iter, init=init, stop_tol=stop_tol, stop_window=stop_window
    )
    return Fingerprint("ipguard", sampler, HardLabels(), MatchRate(), budget)


@FINGERPRINTS.register(
    "ipguard-qurd",
    doc=(
        "IPGuard as QuRD runs it: each boundary point stops at its first label change; label-only."
    ),
)
def ipguard_qurd(
    *,
    budget: int = 100,
    k: float = 10.0,
    lr: float = 0.01,
    max_iter: int = 1000,
    init: Literal["data", "uniform_noise"] = "data",
) -> Fingerprint:
    """IPGuard as QuRD runs it: the same boundary loss, but each point stops at the first step the source
    labels it j (the margin k only shapes the loss), hard labels, match rate; label-only.

    Q = :class:`BoundaryQueries` with ``until="label"`` (Adam lr 0.01, ≤ 1000 steps; j ≠ i and −∞ masking
    as in ``ipguard``), R = labels, D = match rate. 100 label queries."""
    sampler = BoundaryQueries(k=k, lr=lr, max_iter=max_iter, init=init, until="label", stop_window=0)
    return Fingerprint("ipguard-qurd", sampler, HardLabels(), MatchRate(), budget)
