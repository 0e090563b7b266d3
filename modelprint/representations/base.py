"""R of QuRD: what to keep from a model's answers. Applied identically to victim and suspect."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch

from modelprint.models.access import require
from modelprint.models.base import Classifier
from modelprint.types import Output, Queries


class Representation(ABC):
    """Maps (model, queries) to a tensor; ``needs`` is the least access level it works with."""

    needs: ClassVar[Output]

    def __call__(self, model: Classifier, queries: Queries) -> torch.Tensor:
        require(model.output, self.needs, who=f"{type(self).__name__}")
        return self.represent(model, queries)

    @abstractmethod
    def represent(self, model: Classifier, queries: Queries) -> torch.Tensor: ...

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in sorted(vars(self).items()))
        return f"{type(self).__name__}({fields})"
