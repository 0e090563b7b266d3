"""Zoos as data: lineage ids, the model store, the resumable builder and the presets."""

from modelprint.zoo import paper_presets  # noqa: F401  (registers fingerbench, mfue, qurd)
from modelprint.zoo.builder import BuildReport, build_zoo, closure
from modelprint.zoo.lineage import canonical, is_derived, model_id, parse_lineage, task_of
from modelprint.zoo.presets import PRESETS, Preset
from modelprint.zoo.store import ModelStore

__all__ = [
    "PRESETS",
    "BuildReport",
    "ModelStore",
    "Preset",
    "build_zoo",
    "canonical",
    "closure",
    "is_derived",
    "model_id",
    "parse_lineage",
    "task_of",
]
