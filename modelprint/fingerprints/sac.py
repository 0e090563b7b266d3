"""SAC — sample correlation (Guan, Liang, He, NeurIPS'22; docs/sac.md): SAC-w and SAC-m."""

from __future__ import annotations

from typing import Literal

from modelprint.detectors.distances import NegativeL1
from modelprint.fingerprints.base import FINGERPRINTS, Fingerprint
from modelprint.queries.natural import SURROGATE_STEPS, CommonNegativeQueries, CornerCutMixQueries
from modelprint.representations.listwise import CorrelationMatrix

Output = Literal["probs", "logits", "labels"]


@FINGERPRINTS.register("sac-w")
def sac_w(
    *,
    budget: int = 100,
    output: Output = "logits",
    surrogates: int = 0,
    agreement: float = 0.5,
) -> Fingerprint:
    """SAC-w: wrongly classified samples, correlation matrix of logits, −mean ℓ1; logit access.

    Q = :class:`CommonNegativeQueries`: the victim's misclassified seeds (and, when the owner passes
    ``surrogates`` surrogate models, misclassified by ≥ 50 % of them too, the code's ``dataset_common``: the
    first ``surrogates`` of :data:`~modelprint.queries.natural.SURROGATE_STEPS`, an owner-side pool; with none
    it is QuRD's approximation), completed with AKH's CutMix + flips when too few. R = C = (1 − ÔÔᵀ)/2 over
    the 100 outputs: raw logits as in the official code (``output="probs"`` for probability-only
    suspects, ``"labels"`` for SAC's label-only variant). D = −(1/n²)Σ|C_sus − C_src| (0 for an exact
    copy). Logits, not probabilities, by default because near one-hot probabilities of accurate models
    make the matrix almost a label-agreement matrix: on the tiny digits zoo SAC-m on probabilities
    ranks an independent model above the pruned copy, on logits it separates by a factor of two."""
    if not 0 <= surrogates <= len(SURROGATE_STEPS):
        raise ValueError(f"surrogates must be 0 to {len(SURROGATE_STEPS)}, got {surrogates}")
    sampler = CommonNegativeQueries(surrogates=SURROGATE_STEPS[:surrogates], agreement=agreement)
    return Fingerprint("sac-w", sampler, CorrelationMatrix(output), NegativeL1(), budget)


@FINGERPRINTS.register("sac-m")
def sac_m(*, budget: int = 100, output: Output = "logits", ratio: float = 0.2) -> Fingerprint:
    """SAC-m: CutMix-augmented seeds, correlation matrix of logits, −mean ℓ1; logit access.

    Q = :class:`CornerCutMixQueries` (100 seeds, one CutMix pass with a fixed 0.2·H × 0.2·W box centred in
    the outer sixth of both axes, from a permutation of the batch); R and D as SAC-w. No surrogate
    models are needed ("m" for mixed)."""
    sampler = CornerCutMixQueries(ratio=ratio)
    return Fingerprint("sac-m", sampler, CorrelationMatrix(output), NegativeL1(), budget)
