"""ROC curve, ROC AUC and TPR at a fixed FPR, in plain numpy (no scikit-learn).

These are the verification metrics of QuRD (Godinot et al., "Queries, Representation & Detection:
The Next 100 Model Fingerprinting Schemes", AAAI'25): every (victim, suspect) pair gets a score, higher
meaning "more likely derived", and a scheme is judged by how well the scores separate derived suspects
(positives) from independent ones (negatives).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from modelprint.metrics._common import labels_and_scores, warn_undefined

__all__ = ["roc_auc", "roc_curve", "tpr_at_fpr"]

# ROC points whose FPR exceeds the target by less than this still count (k/n round-off).
_FPR_TOL = 1e-12


def _average_ranks(s: NDArray[np.float64]) -> NDArray[np.float64]:
    """1-based ranks of ``s`` in increasing order, ties sharing their average rank."""
    n = s.shape[0]
    order = np.argsort(s, kind="mergesort")
    ss = s[order]
    new_group = np.flatnonzero(ss[1:] != ss[:-1]) + 1
    starts = np.concatenate(([0], new_group))
    ends = np.concatenate((new_group, [n]))
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    return ranks


def roc_auc(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """Area under the ROC curve, P(s_pos > s_neg) + 0.5 P(s_pos = s_neg) over all (pos, neg) pairs.

    Computed from average ranks (Mann-Whitney U / (n_pos n_neg)), so ties count one half exactly.
    Returns NaN and warns (:class:`UndefinedMetricWarning`) when there are no positives or no negatives.
    """
    y, s = labels_and_scores(y_true, y_score)
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        warn_undefined(f"ROC AUC is undefined with {n_pos} positives and {n_neg} negatives; returning NaN")
        return float("nan")
    ranks = _average_ranks(s)
    u = float(ranks[y].sum()) - n_pos * (n_pos + 1) / 2.0
    return u / (n_pos * n_neg)


def roc_curve(
    y_true: ArrayLike, y_score: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """ROC curve as ``(fpr, tpr, thresholds)``, like ``sklearn.metrics.roc_curve(drop_intermediate=False)``.

    ``thresholds`` is strictly decreasing: ``+inf`` (nothing flagged, point (0, 0)) followed by every
    distinct score; point i flags the pairs with ``score >= thresholds[i]``. With no negatives (positives)
    ``fpr`` (``tpr``) is all NaN and an :class:`UndefinedMetricWarning` is emitted.
    """
    y, s = labels_and_scores(y_true, y_score)
    order = np.argsort(-s, kind="mergesort")
    ss = s[order]
    last_of_group = np.concatenate((np.flatnonzero(ss[1:] != ss[:-1]), [ss.size - 1])) if ss.size else []
    idx = np.asarray(last_of_group, dtype=np.int64)
    tps_cum = np.cumsum(y[order], dtype=np.float64)
    tps = np.concatenate(([0.0], tps_cum[idx]))
    fps = np.concatenate(([0.0], idx + 1.0 - tps_cum[idx]))
    thresholds = np.concatenate(([np.inf], ss[idx]))
    n_pos = tps[-1]
    n_neg = fps[-1]
    if n_neg == 0:
        warn_undefined("no negatives: false positive rate is undefined (NaN)")
        fpr = np.full_like(fps, np.nan)
    else:
        fpr = fps / n_neg
    if n_pos == 0:
        warn_undefined("no positives: true positive rate is undefined (NaN)")
        tpr = np.full_like(tps, np.nan)
    else:
        tpr = tps / n_pos
    return fpr, tpr, thresholds


def tpr_at_fpr(y_true: ArrayLike, y_score: ArrayLike, fpr: float = 0.05) -> float:
    """Largest TPR among ROC points whose FPR is <= ``fpr`` (QuRD's TPR@5%FPR for the default).

    Only thresholds at distinct scores are considered, so a group of tied scores straddling the FPR limit
    is flagged entirely or not at all (no interpolation, no randomised threshold). Returns NaN and warns
    (:class:`UndefinedMetricWarning`) when there are no positives or no negatives.
    """
    if not 0.0 <= fpr <= 1.0:
        raise ValueError(f"fpr must lie in [0, 1], got {fpr}")
    y, s = labels_and_scores(y_true, y_score)
    n_pos = int(y.sum())
    n_neg = int(y.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        warn_undefined(
            f"TPR@{fpr:g}FPR is undefined with {n_pos} positives and {n_neg} negatives; returning NaN"
        )
        return float("nan")
    fprs, tprs, _ = roc_curve(y, s)
    return float(tprs[fprs <= fpr + _FPR_TOL].max())
