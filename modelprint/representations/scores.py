"""Raw-output representations (QuRD Eq. 7): top-k lists, probabilities, logits, and FBI's true-label rank."""

from __future__ import annotations

from typing import ClassVar

import torch

from modelprint.models.access import AccessError, to_logits, to_probs
from modelprint.models.base import Classifier
from modelprint.queries.common import QueryStructure
from modelprint.representations.base import Representation
from modelprint.representations.kinds import POINTWISE, RepKind
from modelprint.types import Output, Queries


def topk_labels(out: torch.Tensor, output: Output, k: int) -> torch.Tensor:
    """The k most likely labels (N,k), in order, from any output level that carries them."""
    if output == "labels":
        if k != 1:
            raise AccessError(f"a top-{k} list needs 'topk' access, the suspect gives only labels")
        return out.long()[:, None]
    if output == "topk":
        if out.shape[1] < k:
            raise AccessError(f"a top-{k} list needs k >= {k}, the suspect returns {out.shape[1]} labels")
        return out[:, :k].long()
    return out.topk(k, dim=1).indices


class _TopKAccess(Representation):
    """A representation read from the top-k labels: ``k`` ≥ 1, and top-k access (labels for k = 1)."""

    def __init__(self, k: int = 3) -> None:
        if k < 1:
            raise ValueError("k must be >= 1")
        self.k = k

    @property
    def needs(self) -> Output:  # type: ignore[override]
        return "topk" if self.k > 1 else "labels"


class TopK(_TopKAccess):
    """The ordered top-k labels of every query (N,k) — QuRD's top-k access level as a representation."""

    kind: ClassVar[RepKind] = "ranking"
    accepts: ClassVar[frozenset[QueryStructure]] = POINTWISE

    def represent(self, model: Classifier, queries: Queries) -> torch.Tensor:
        return topk_labels(model(queries.inputs), model.output, self.k)


class Probabilities(Representation):
    """Softmax outputs (N,K) (probability access; logits are converted)."""

    needs = "probs"
    kind: ClassVar[RepKind] = "vector"
    accepts: ClassVar[frozenset[QueryStructure]] = POINTWISE

    def represent(self, model: Classifier, queries: Queries) -> torch.Tensor:
        return to_probs(model(queries.inputs), model.output)


class Logits(Representation):
    """Raw logits (N,K); refuses anything below logit access."""

    needs = "logits"
    kind: ClassVar[RepKind] = "vector"
    accepts: ClassVar[frozenset[QueryStructure]] = POINTWISE

    def represent(self, model: Classifier, queries: Queries) -> torch.Tensor:
        return to_logits(model(queries.inputs), model.output)


class TrueLabelRank(_TopKAccess):
    """FBI (Maho, Furon, Le Merrer, TIFS'23; docs/fbi.md [C]): per query, the rank of the ground-truth label
    in the model's top-k list (0..k−1), or k when absent; k = 1 is a correct/incorrect bit, the code's
    default is k = 3. Needs ``queries.labels``. A suspect giving fewer than k labels is refused rather
    than compared on a truncated list."""

    kind: ClassVar[RepKind] = "labels"
    accepts: ClassVar[frozenset[QueryStructure]] = POINTWISE

    def represent(self, model: Classifier, queries: Queries) -> torch.Tensor:
        if queries.labels is None:
            raise ValueError("TrueLabelRank needs the queries' ground-truth labels")
        top = topk_labels(model(queries.inputs), model.output, self.k)
        hit = top == queries.labels.long()[:, None]
        return torch.where(
            hit.any(1), hit.float().argmax(1), torch.full_like(hit[:, 0], self.k, dtype=torch.long)
        )
