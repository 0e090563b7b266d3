"""Pairwise representations (QuRD Eq. 8): ModelDiff's decision distance vector and UAP's output pairs."""

from __future__ import annotations

from typing import ClassVar, Literal

import torch
import torch.nn.functional as F

from modelprint.models.access import to_labels, to_logits, to_probs
from modelprint.models.base import Classifier
from modelprint.queries.common import QueryStructure, pairs_of
from modelprint.representations.base import Representation
from modelprint.representations.kinds import RepKind
from modelprint.types import Output, Queries

PAIRS: frozenset[QueryStructure] = frozenset({"pairs"})


def _outputs(model: Classifier, queries: Queries, output: Literal["probs", "logits"]) -> torch.Tensor:
    out = model(queries.inputs)
    return to_probs(out, model.output) if output == "probs" else to_logits(out, model.output)


def cosine_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Row-wise 1 − cos(a_i, b_i) (m,), in float64 (zero rows count as orthogonal to anything)."""
    return 1.0 - F.cosine_similarity(a.double(), b.double(), dim=1, eps=1e-12)


class DecisionDistanceVector(Representation):
    """ModelDiff's DDV (Li et al., ISSTA'21; docs/modeldiff.md): DDV_i = 1 − cos(f(x_i), f(x'_i)) over the
    query pairs.

    QuRD computes it on logits; the default here is probabilities so that probability-only suspects can be
    verified (``output="logits"`` restores QuRD's form and then needs logit access)."""

    kind: ClassVar[RepKind] = "vector"
    accepts: ClassVar[frozenset[QueryStructure]] = PAIRS

    def __init__(self, output: Literal["probs", "logits"] = "probs") -> None:
        if output not in ("probs", "logits"):
            raise ValueError(f"output must be 'probs' or 'logits', got {output!r}")
        self.output = output

    @property
    def needs(self) -> Output:  # type: ignore[override]
        return self.output

    def represent(self, model: Classifier, queries: Queries) -> torch.Tensor:
        out = _outputs(model, queries, self.output)
        idx = pairs_of(queries.extras, len(queries))
        return cosine_distances(out[idx[:, 0]], out[idx[:, 1]]).float()


class HardDecisionVector(Representation):
    """QuRD's hard-label DDV variant: (label(x'_i) − label(x_i)) mod K per pair; label-only access."""

    needs = "labels"
    kind: ClassVar[RepKind] = "labels"
    accepts: ClassVar[frozenset[QueryStructure]] = PAIRS

    def represent(self, model: Classifier, queries: Queries) -> torch.Tensor:
        labels = to_labels(model(queries.inputs), model.output)
        idx = pairs_of(queries.extras, len(queries))
        return (labels[idx[:, 1]] - labels[idx[:, 0]]) % model.num_classes


class PairedOutputs(Representation):
    """UAP's per-point fingerprint (Peng et al., CVPR'22; docs/uap.md) on probabilities, per pair (x_i, x'_i).

    ``combine="concat"`` is the paper's fp = [softmax M(x_i) ‖ softmax M(x_i + v)] (m, 2K), meant to be fed
    to a learned encoder. ``combine="difference"`` (the default) is softmax M(x_i + v) − softmax M(x_i)
    (m, K): a fixed linear encoder ([−I, I]) that drops the clean-prediction component every accurate
    model shares, which is what the contrastive encoder would otherwise have to learn from model pools.
    On the tiny zoo the concatenation puts independent models at cosine ≈ 0.99, the difference at ≤ 0.5."""

    needs = "probs"
    kind: ClassVar[RepKind] = "vector"
    accepts: ClassVar[frozenset[QueryStructure]] = PAIRS

    def __init__(self, combine: Literal["difference", "concat"] = "difference") -> None:
        if combine not in ("difference", "concat"):
            raise ValueError(f"combine must be 'difference' or 'concat', got {combine!r}")
        self.combine = combine

    def represent(self, model: Classifier, queries: Queries) -> torch.Tensor:
        out = _outputs(model, queries, "probs")
        idx = pairs_of(queries.extras, len(queries))
        clean, shifted = out[idx[:, 0]], out[idx[:, 1]]
        return shifted - clean if self.combine == "difference" else torch.cat([clean, shifted], dim=1)
