"""Verification metrics: ROC AUC, TPR at a fixed FPR (QuRD, Godinot et al. AAAI'25), ARUC and matching
rate (IPGuard, Cao et al. AsiaCCS'21), matching-rate margin (NaturalFinger, Yang et al.) and QuRD's
conditioned Hamming distance. Pure numpy; inputs are array-likes of scores and 0/1 or bool labels."""

from modelprint.metrics._common import UndefinedMetricWarning
from modelprint.metrics.aruc import aruc, robustness_uniqueness
from modelprint.metrics.matching import (
    ConditionedHamming,
    conditioned_hamming,
    matching_rate,
    matching_rate_margin,
)
from modelprint.metrics.roc import roc_auc, roc_curve, tpr_at_fpr

__all__ = [
    "ConditionedHamming",
    "UndefinedMetricWarning",
    "aruc",
    "conditioned_hamming",
    "matching_rate",
    "matching_rate_margin",
    "robustness_uniqueness",
    "roc_auc",
    "roc_curve",
    "tpr_at_fpr",
]
