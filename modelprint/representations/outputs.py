"""Representations read straight off the model's outputs."""

from __future__ import annotations

from typing import ClassVar

import torch

from modelprint.models.access import to_labels
from modelprint.models.base import Classifier
from modelprint.queries.common import QueryStructure
from modelprint.representations.base import Representation
from modelprint.representations.kinds import POINTWISE, RepKind
from modelprint.types import Queries


class HardLabels(Representation):
    """The predicted label of every query, (N,) int64 — label-only access suffices."""

    needs = "labels"
    kind: ClassVar[RepKind] = "labels"
    accepts: ClassVar[frozenset[QueryStructure]] = POINTWISE

    def represent(self, model: Classifier, queries: Queries) -> torch.Tensor:
        return to_labels(model(queries.inputs), model.output)
