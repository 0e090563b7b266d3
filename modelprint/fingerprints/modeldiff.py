"""ModelDiff (Li, Zhang, Liu, Yang, Liu, ISSTA'21; docs/modeldiff.md) as QuRD reimplements it."""

from __future__ import annotations

from typing import Literal

from modelprint.detectors.distances import Cosine
from modelprint.fingerprints.base import FINGERPRINTS, Fingerprint
from modelprint.queries.adversarial import ModelDiffQueries
from modelprint.representations.pairwise import DecisionDistanceVector


@FINGERPRINTS.register("modeldiff")
def modeldiff(
    *,
    budget: int = 100,
    eps: float | None = None,
    steps: int = 40,
    output: Literal["probs", "logits"] = "logits",
) -> Fingerprint:
    """Seed/PGD pairs, decision distance vector, cosine similarity; probability access.

    Q = :class:`ModelDiffQueries` (budget/2 seeds + one untargeted ℓ∞ PGD example each, ε = 0.03 on CIFAR
    and scaled to the victim's robustness elsewhere (``eps=None``; a number fixes it), 40 steps of
    0.01/0.3·ε, random start), R = DDV_i = 1 − cos(f(x_i), f(x'_i)) on logits as QuRD computes it
    (``output="probs"``: on probabilities, as the ModelDiff paper; on confident digit models most
    probability entries are below 1e-3, so the cosine between two probability vectors is close to 0 or 1
    and the DDV carries little), D = cos(DDV_src, DDV_sus) (ModelDiff's similarity; an exact copy scores
    1.0). 100 queries = 50 pairs; the queries are logit queries, so the key needs logit access."""
    sampler = ModelDiffQueries(eps=eps, steps=steps)
    return Fingerprint("modeldiff", sampler, DecisionDistanceVector(output), Cosine(), budget)
