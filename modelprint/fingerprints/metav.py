"""MetaV (Pan, Yan, Zhang, Yang, KDD'22; docs/metav.md) as QuRD decomposes it: Q = inputs trained jointly with
the detector on a model pool, R = concatenated probability vectors, D = the learned meta-verifier."""

from __future__ import annotations

from modelprint.detectors.verifier import MetaVerifier
from modelprint.fingerprints.base import FINGERPRINTS, Fingerprint
from modelprint.pools import PoolSpec
from modelprint.queries.metav import (
    METAV_POOL,
    STOP_BLOCK,
    STOP_TOL,
    STOP_WINDOW,
    VERIFIER_PREFIX,
    MetaVQueries,
)
from modelprint.representations.scores import Probabilities


@FINGERPRINTS.register(
    "metav",
    doc=(
        "Probability queries and a verifier network trained jointly on a pool of derived and "
        "independent models; probability access."
    ),
)
def metav(
    *,
    budget: int = 100,
    iterations: int = 1000,
    per_side: int = 4,
    pool: PoolSpec = METAV_POOL,
    stop_tol: float = STOP_TOL,
    stop_window: int = STOP_WINDOW,
    stop_block: int = STOP_BLOCK,
) -> Fingerprint:
    """N = 100 probability queries [P]; 1,000 joint iterations of 4 + 4 pool models (the proposed
    2,000 [D] of docs/metav.md#parameters, halved for two CPU cores); the pool
    of :data:`~modelprint.queries.metav.METAV_POOL` (8 pirated + 8 independent, owner data). ``iterations``
    is the cap of the stop rule on the block-mean BCE (``stop_window=0``: every iteration)."""
    sampler = MetaVQueries(
        iterations=iterations, per_side=per_side, pool_spec=pool,
        stop_tol=stop_tol, stop_window=stop_window, stop_block=stop_block,
    )  # fmt: skip
    return Fingerprint("metav", sampler, Probabilities(), MetaVerifier(VERIFIER_PREFIX), budget)
