"""Listwise representation (QuRD Eq. 9): SAC's sample-correlation matrix (Guan, Liang, He, NeurIPS'22)."""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
import torch.nn.functional as F

from modelprint.models.access import to_labels, to_logits, to_probs
from modelprint.models.base import Classifier
from modelprint.queries.common import QueryStructure
from modelprint.representations.base import Representation
from modelprint.representations.kinds import POINTWISE, RepKind
from modelprint.types import Output, Queries


def correlation_matrix(
    outputs: torch.Tensor, kernel: Literal["cosine", "gaussian"] = "cosine"
) -> torch.Tensor:
    """(n,n) from outputs (n,K) with rows ℓ2-normalised to ô: cosine C = (1 − ÔÔᵀ)/2 ∈ [0,1] (SAC code
    default: a cosine *distance*) or Gaussian C_ij = exp(−‖ô_i − ô_j‖²)."""
    o = F.normalize(outputs.double(), dim=1, eps=1e-12)
    if kernel == "cosine":
        return ((1.0 - o @ o.T) / 2).float()
    if kernel == "gaussian":
        return torch.exp(-torch.cdist(o, o).pow(2)).float()
    raise ValueError(f"unknown kernel {kernel!r}")


class CorrelationMatrix(Representation):
    """SAC's correlation of a model's outputs over the query list (docs/sac.md#representation-and-detector
    [C]); SAC-w and SAC-m share it and differ only in their queries. ``output``: the code correlates raw
    ``logits``; ``probs`` (the default here, QuRD's probit access) serves probability-only suspects;
    ``labels`` is SAC's label-only variant, softmax of a vector that is 1 at the argmax and 0.01 elsewhere."""

    kind: ClassVar[RepKind] = "matrix"
    accepts: ClassVar[frozenset[QueryStructure]] = POINTWISE

    def __init__(
        self,
        output: Literal["probs", "logits", "labels"] = "probs",
        kernel: Literal["cosine", "gaussian"] = "cosine",
    ) -> None:
        if output not in ("probs", "logits", "labels"):
            raise ValueError(f"output must be 'probs', 'logits' or 'labels', got {output!r}")
        if kernel not in ("cosine", "gaussian"):
            raise ValueError(f"kernel must be 'cosine' or 'gaussian', got {kernel!r}")
        self.output = output
        self.kernel = kernel

    @property
    def needs(self) -> Output:  # type: ignore[override]
        return self.output

    def represent(self, model: Classifier, queries: Queries) -> torch.Tensor:
        out = model(queries.inputs)
        if self.output == "labels":
            hard = torch.full((len(out), model.num_classes), 0.01)
            hard[torch.arange(len(out)), to_labels(out, model.output)] = 1.0
            values = hard.softmax(dim=1)
        elif self.output == "probs":
            values = to_probs(out, model.output)
        else:
            values = to_logits(out, model.output)
        return correlation_matrix(values, self.kernel)
