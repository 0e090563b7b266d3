"""modelprint: is this suspect image classifier derived from mine? Fingerprinting schemes as QuRD
compositions (query sampler → representation → detector), zoos built for real, honest benchmarks.

In a notebook: wrap any ``nn.Module`` in :class:`TorchClassifier`, make a key with a registered
fingerprint (``FINGERPRINTS.make("akh").generate(model, data, seed=0)``), score a suspect with
``fingerprint.verify(key, suspect)``, or give saved keys to :func:`verify_suspect` for a calibrated
verdict. The verdict, the loaders, the server, the parts and the metrics are imported on first use."""

from importlib import import_module

from modelprint.data import Dataset, load_dataset
from modelprint.fingerprints import FINGERPRINTS, Fingerprint
from modelprint.models import AccessError, BudgetExhausted, Classifier, QueryBudget, Suspect, TorchClassifier
from modelprint.types import Key, Output, Pair, Queries
from modelprint.zoo import PRESETS, ModelStore, Preset, build_zoo

__version__ = "0.1.0"

_LAZY = {
    # the verdict on one suspect
    "verify_suspect": "modelprint.verify", "Verdict": "modelprint.verify", "load_key": "modelprint.verify",
    "find_calibration": "modelprint.verify", "folder_models": "modelprint.verify",
    "independent_models": "modelprint.verify", "format_verdict": "modelprint.verify",
    "CalibrationRefused": "modelprint.verify", "resolve_model": "modelprint.verify",
    # loaders and the server
    "load_classifier": "modelprint.models.formats", "load_model": "modelprint.models.io",
    "serve": "modelprint.serving", "RemoteClassifier": "modelprint.serving",
    "AccessSpec": "modelprint.serving",
    # the parts of a scheme
    "QuerySampler": "modelprint.queries.base", "Representation": "modelprint.representations.base",
    "Detector": "modelprint.detectors.base", "ATTACKS": "modelprint.attacks", "THREATS": "modelprint.threats",
    "ARCHS": "modelprint.models.archs",
    # metrics and calibration
    "roc_auc": "modelprint.metrics", "tpr_at_fpr": "modelprint.metrics", "aruc": "modelprint.metrics",
    "matching_rate": "modelprint.metrics", "conformal_p_value": "modelprint.calibration",
}  # fmt: skip


def __getattr__(name: str) -> object:
    """The names of :data:`_LAZY`, imported when first asked for (``import modelprint`` stays light)."""
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'modelprint' has no attribute {name!r}")


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
    *_LAZY,
]
