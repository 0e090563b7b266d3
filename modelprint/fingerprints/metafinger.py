"""MetaFinger (Yang, Wang, Wang, IJCAI'22; spec §7, from the official code kangyangWHU/MetaFinger)."""

from __future__ import annotations

from modelprint.detectors.matching import MatchRate
from modelprint.fingerprints.base import FINGERPRINTS, Fingerprint
from modelprint.pools import PoolSpec
from modelprint.queries.metafinger import METAFINGER_POOL, MetaFingerQueries
from modelprint.representations.outputs import HardLabels


@FINGERPRINTS.register("metafinger")
def metafinger(
    *,
    budget: int = 100,
    pool_spec: PoolSpec = METAFINGER_POOL,
    batch: int = 70,
    epochs: int = 10,
    lr: float = 0.01,
    n_sample: int = 3,
    alpha: float = 1.0,
    max_rounds: int = 100,
) -> Fingerprint:
    """Meta-trained natural images screened on a validation pool, hard labels, match rate; label-only.

    Q = :class:`MetaFingerQueries`: batches of 70 seeds optimised in pixel space (Adam lr 0.01, 10 epochs,
    every training positive as anchor, random transformation per step, triplet KL loss with k = 3 and
    α = 1) against 20 positives (fine-tuning, pruning, noising of the victim on the owner's data) + 20
    independent negatives (the MFUE config), split 2/3 train, 1/3 validation; per round the epoch (> 4)
    with the lowest validation-negative match is kept and screened to TPR = 1 / FPR = 0; rounds repeat
    (≤ 100) until ``budget`` points pass. R = labels, D = match rate ("query accuracy"). 100 label
    queries."""
    sampler = MetaFingerQueries(
        pool_spec=pool_spec, batch=batch, epochs=epochs, lr=lr, n_sample=n_sample, alpha=alpha,
        max_rounds=max_rounds,
    )  # fmt: skip
    return Fingerprint("metafinger", sampler, HardLabels(), MatchRate(), budget)
