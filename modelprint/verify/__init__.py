"""Verifying one real suspect, in four rooms: the saved keys (:mod:`~modelprint.verify.keys`), what the
command line names (:mod:`~modelprint.verify.inputs`), the calibration set and whether it can support a
verdict (:mod:`~modelprint.verify.calibration_sets`, :mod:`~modelprint.verify.matched` for sets built to
match the victim), and the verdict itself (:mod:`~modelprint.verify.verdict`)."""

from modelprint.verify.calibration_sets import (
    CalibrationModel,
    CalibrationRefused,
    CalibrationSet,
    Support,
    VictimFacts,
    find_calibration,
    folder_models,
    independent_models,
    minimum_models,
    preset_holding,
    preset_models,
    support,
    victim_facts,
)
from modelprint.verify.inputs import is_model_file, lineage_or_none, pool_victim, resolve_model, seed_data
from modelprint.verify.keys import LoadedKey, check_keys, load_key
from modelprint.verify.matched import (
    MatchedSet,
    load_set,
    matched_set,
    matched_set_for_file,
    matched_set_of_file,
    save_set,
)
from modelprint.verify.verdict import (
    KeyResult,
    Verdict,
    calibration_scores,
    format_verdict,
    score_suspect,
    verify_suspect,
)

__all__ = [
    "CalibrationModel",
    "CalibrationRefused",
    "CalibrationSet",
    "KeyResult",
    "LoadedKey",
    "MatchedSet",
    "Support",
    "Verdict",
    "VictimFacts",
    "calibration_scores",
    "check_keys",
    "find_calibration",
    "folder_models",
    "format_verdict",
    "independent_models",
    "is_model_file",
    "lineage_or_none",
    "load_key",
    "load_set",
    "matched_set",
    "matched_set_for_file",
    "matched_set_of_file",
    "minimum_models",
    "pool_victim",
    "preset_holding",
    "preset_models",
    "resolve_model",
    "save_set",
    "score_suspect",
    "seed_data",
    "support",
    "verify_suspect",
    "victim_facts",
]
