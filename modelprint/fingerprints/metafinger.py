"""MetaFinger (Yang, Wang, Wang, IJCAI'22; docs/metafinger.md, from the official code
kangyangWHU/MetaFinger)."""

from __future__ import annotations

from modelprint.fingerprints.pooled import register_label_scheme
from modelprint.queries.metafinger import MetaFingerQueries

metafinger = register_label_scheme(
    "metafinger",
    MetaFingerQueries,
    doc="""Meta-trained natural images screened on a validation pool, hard labels, match rate; label-only.

    Q = :class:`MetaFingerQueries`: batches of 70 seeds optimised in pixel space (Adam lr 0.01, 10 epochs,
    every training positive as anchor, random transformation per step, triplet KL loss with k = 3 and
    α = 1) against 20 positives (fine-tuning, pruning, noising of the victim on the owner's data) + 20
    independent negatives (the MFUE config), split 2/3 train, 1/3 validation; per round the epoch (> 4)
    with the lowest validation-negative match is kept and screened to TPR = 1 / FPR = 0; rounds repeat
    (≤ 100) until ``budget`` points pass. R = labels, D = match rate ("query accuracy"). 100 label
    queries.""",
)
