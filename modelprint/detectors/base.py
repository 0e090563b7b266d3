"""D of QuRD: how to decide. One orientation everywhere: a higher score means more likely stolen."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Self

import torch


class Detector(ABC):
    """Scores a suspect's representation against the victim's reference."""

    def fit(self, reference: torch.Tensor, independent: Sequence[torch.Tensor] = ()) -> Self:
        """Optional calibration on representations of known-independent models; default: nothing to fit."""
        return self

    def bind(self, key_tensors: Mapping[str, torch.Tensor]) -> Detector:
        """The detector for one key: a detector learned at generation (MetaV's verifier) is rebuilt from
        the tensors the key carries; a fixed one ignores them."""
        return self

    @abstractmethod
    def score(self, reference: torch.Tensor, suspect: torch.Tensor) -> float: ...

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in sorted(vars(self).items()))
        return f"{type(self).__name__}({fields})"
