"""D of QuRD: how to decide. One orientation everywhere: a higher score means more likely stolen."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import ClassVar, Self

import torch

from modelprint.registry import Registry
from modelprint.representations.kinds import RepKind
from modelprint.types import SettingsRepr


class Detector(SettingsRepr, ABC):
    """Scores a suspect's representation against the victim's reference."""

    accepts: ClassVar[frozenset[RepKind]] = frozenset()
    """The representation kinds it compares (none declared: it takes part in no combination)."""
    perfect: ClassVar[float | None] = None
    """The score of an exact copy, when the detector has a fixed one."""

    def fit(self, reference: torch.Tensor, independent: Sequence[torch.Tensor] = ()) -> Self:
        """Optional calibration on representations of known-independent models; default: nothing to fit."""
        return self

    def bind(self, key_tensors: Mapping[str, torch.Tensor]) -> Detector:
        """The detector for one key: a detector learned at generation (MetaV's verifier) is rebuilt from
        the tensors the key carries; a fixed one ignores them."""
        return self

    @abstractmethod
    def score(self, reference: torch.Tensor, suspect: torch.Tensor) -> float: ...


DETECTORS: Registry[Detector] = Registry("detector", group="modelprint.detectors")
"""Detectors that QuRD combinations are made of (:mod:`modelprint.fingerprints.combos`)."""
