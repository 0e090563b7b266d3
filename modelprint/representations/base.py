"""R of QuRD: what to keep from a model's answers. Applied identically to victim and suspect."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch

from modelprint.models.access import require
from modelprint.models.base import Classifier
from modelprint.queries.common import QueryStructure
from modelprint.registry import Registry
from modelprint.representations.kinds import RepKind
from modelprint.types import Output, Queries, SettingsRepr


class Representation(SettingsRepr, ABC):
    """Maps (model, queries) to a tensor; ``needs`` is the least access level it works with."""

    needs: ClassVar[Output]
    """The least access level a suspect must give."""
    kind: ClassVar[RepKind]
    """What the representation is (labels, ranking, vector, matrix): which detectors can compare it."""
    accepts: ClassVar[frozenset[QueryStructure]]
    """The query structures it can read."""

    def __call__(self, model: Classifier, queries: Queries) -> torch.Tensor:
        require(model.output, self.needs, who=f"{type(self).__name__}")
        return self.represent(model, queries)

    @abstractmethod
    def represent(self, model: Classifier, queries: Queries) -> torch.Tensor: ...


REPRESENTATIONS: Registry[Representation] = Registry("representation", group="modelprint.representations")
"""Representations that QuRD combinations are made of (:mod:`modelprint.fingerprints.combos`)."""
