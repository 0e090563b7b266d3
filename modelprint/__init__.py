"""modelprint: is this suspect image classifier derived from mine? Fingerprinting schemes as QuRD
compositions (query sampler → representation → detector), zoos built for real, honest benchmarks."""

from modelprint.data import Dataset, load_dataset
from modelprint.fingerprints import FINGERPRINTS, Fingerprint
from modelprint.models import AccessError, BudgetExhausted, Classifier, QueryBudget, Suspect, TorchClassifier
from modelprint.types import Key, Output, Pair, Queries
from modelprint.zoo import PRESETS, ModelStore, Preset, build_zoo

__version__ = "0.1.0"

__all__ = [
    "FINGERPRINTS",
    "PRESETS",
    "AccessError",
    "BudgetExhausted",
    "Classifier",
    "Dataset",
    "Fingerprint",
    "Key",
    "ModelStore",
    "Output",
    "Pair",
    "Preset",
    "Queries",
    "QueryBudget",
    "Suspect",
    "TorchClassifier",
    "build_zoo",
    "load_dataset",
]
