"""The tiny zoo: ten small models on scikit-learn digits, built in seconds by the real zoo builder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from modelprint.attacks import AttackContext
from modelprint.data import Dataset
from modelprint.models.base import TorchClassifier
from modelprint.zoo.builder import build_zoo
from modelprint.zoo.presets import PRESETS, Preset
from modelprint.zoo.store import ModelStore

TINY_PRESET = "tiny"


@dataclass
class TinyZoo:
    """The built tiny zoo: its preset, store and data context, with handy accessors."""

    preset: Preset
    store: ModelStore
    ctx: AttackContext

    @property
    def source(self) -> str:
        return self.preset.victims[0]

    def positives(self) -> list[str]:
        return [p.suspect for p in self.preset.pairs() if p.positive and p.task != "same"]

    def negatives(self) -> list[str]:
        return [p.suspect for p in self.preset.pairs() if not p.positive]

    def load(self, lineage: str) -> TorchClassifier:
        return self.store.load(lineage)

    def data(self, split: str = "test") -> Dataset:
        return self.ctx.split(split)


def tiny_zoo(root: str | Path) -> TinyZoo:
    """Build (or reuse) the tiny zoo under ``root``."""
    preset = PRESETS.make(TINY_PRESET)
    store = ModelStore(Path(root))
    ctx = AttackContext(preset.dataset)
    build_zoo(preset.lineages(), store, ctx)
    return TinyZoo(preset, store, ctx)
