"""Per-query loss representations of MFUE (Xu et al., KDD'26; docs/mfue.md): the cross-entropy of every
trigger's ground-truth label (MFUE-w) and its label-only Monte Carlo estimate (MFUE-b)."""

from __future__ import annotations

from typing import ClassVar

import torch

from modelprint.models.access import to_labels, to_probs
from modelprint.models.base import Classifier
from modelprint.queries.common import QueryStructure
from modelprint.representations.base import Representation
from modelprint.representations.kinds import POINTWISE, RepKind
from modelprint.types import Queries


def true_label_loss(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """−log p_y (N,) in float64, as log1p(Σ_{k≠y} p_k / p_y): exact to rounding even when p_y rounds to 1
    (MFUE's source losses are ≈ 1e-3 and below, docs/mfue.md#mfue-w-verification), and the CE of the
    renormalised vector when the probabilities do not sum to one; +inf when p_y = 0."""
    p = probs.double()
    y = labels.long().view(-1, 1)
    p_y = p.gather(1, y).squeeze(1)
    rest = p.scatter(1, y, 0.0).sum(1)
    return torch.log1p(rest / p_y)


class TrueLabelLoss(Representation):
    """MFUE-w's R (Eq. 2 with one-hot y [P]): L = −log p(y | x_UF) per query, (N,) float64. Needs the
    queries' ground-truth labels and probability access (only p_y and the rest's mass are used)."""

    needs = "probs"
    kind: ClassVar[RepKind] = "vector"
    accepts: ClassVar[frozenset[QueryStructure]] = POINTWISE

    def represent(self, model: Classifier, queries: Queries) -> torch.Tensor:
        if queries.labels is None:
            raise ValueError("TrueLabelLoss needs the queries' ground-truth labels")
        return true_label_loss(to_probs(model(queries.inputs), model.output), queries.labels)


class ProbeLoss(Representation):
    """MFUE-b's R (Eq. 8–9 [P], docs/mfue.md#mfue-b-verification): per trigger, p̂(y) = the fraction of its M
    probes labelled y and L = −log p̂(y) (+inf when no probe is), (T,) float64. Label-only access. Reads the
    trigger of every probe from ``extras[prefix + "trigger"]`` and the trigger count from
    ``extras[prefix + "alpha"]``."""

    needs = "labels"
    kind: ClassVar[RepKind] = "vector"
    accepts: ClassVar[frozenset[QueryStructure]] = POINTWISE

    def __init__(self, prefix: str = "mfue.") -> None:
        self.prefix = prefix

    def represent(self, model: Classifier, queries: Queries) -> torch.Tensor:
        trigger = queries.extras.get(self.prefix + "trigger")
        alpha = queries.extras.get(self.prefix + "alpha")
        if queries.labels is None or trigger is None or alpha is None:
            raise ValueError(f"ProbeLoss needs labels and {self.prefix}trigger/alpha extras (MFUE-b queries)")
        hit = (to_labels(model(queries.inputs), model.output) == queries.labels.long()).double()
        trigger = trigger.long()
        counts = torch.bincount(trigger, minlength=len(alpha)).double()
        p_hat = torch.bincount(trigger, weights=hit, minlength=len(alpha)) / counts
        return -torch.log(p_hat)
