"""ARUC, the Area under the Robustness-Uniqueness Curves of IPGuard (Cao et al., "IPGuard: Protecting
Intellectual Property of Deep Neural Networks via Fingerprinting the Classification Boundary", AsiaCCS'21).

For a threshold beta on a score in [0, 1] (IPGuard: the matching rate), robustness
R(beta) = P(s_pos >= beta) and uniqueness U(beta) = P(s_neg < beta); ARUC = integral_0^1 min(R, U) dbeta.
It is 1 only when positives all score 1 and negatives all score 0, and rewards a wide separating interval
(positives at 0.6 vs negatives at 0.4 give 0.2).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from modelprint.metrics._common import labels_and_scores, warn_undefined

__all__ = ["aruc", "robustness_uniqueness"]


def _split(y_true: ArrayLike, y_score: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    y, s = labels_and_scores(y_true, y_score)
    if s.size and (s.min() < 0.0 or s.max() > 1.0):
        raise ValueError(f"ARUC needs scores in [0, 1], got range [{s.min():g}, {s.max():g}]")
    return np.sort(s[y]), np.sort(s[~y])


def robustness_uniqueness(
    y_true: ArrayLike, y_score: ArrayLike, beta: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """IPGuard's curves at thresholds ``beta``: R = fraction of positives with score >= beta and
    U = fraction of negatives with score < beta. A curve is NaN when its class is empty."""
    pos, neg = _split(y_true, y_score)
    b = np.asarray(beta, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (pos.size - np.searchsorted(pos, b, side="left")) / np.float64(pos.size)
        u = np.searchsorted(neg, b, side="left") / np.float64(neg.size)
    return r, u


def aruc(y_true: ArrayLike, y_score: ArrayLike, *, grid: int | None = None) -> float:
    """ARUC = integral over beta in [0, 1] of min(R(beta), U(beta)) (IPGuard, Cao et al. AsiaCCS'21).

    By default it is exact: both curves are constant between consecutive distinct scores, so the integral
    is a finite sum. With ``grid=n`` it is the trapezoidal rule on ``n`` evenly spaced thresholds (as in
    IPGuard's plots); that differs from the exact value by at most 1/(n-1). Scores must lie in [0, 1].
    Returns NaN and warns (:class:`UndefinedMetricWarning`) when there are no positives or no negatives.
    """
    pos, neg = _split(y_true, y_score)
    if pos.size == 0 or neg.size == 0:
        warn_undefined(f"ARUC is undefined with {pos.size} positives and {neg.size} negatives; returning NaN")
        return float("nan")
    if grid is not None:
        if grid < 2:
            raise ValueError(f"grid needs at least 2 points, got {grid}")
        betas = np.linspace(0.0, 1.0, grid)
        r, u = robustness_uniqueness(np.r_[np.ones(pos.size), np.zeros(neg.size)], np.r_[pos, neg], betas)
        return float(np.trapezoid(np.minimum(r, u), betas))
    breaks = np.unique(np.concatenate(([0.0, 1.0], pos, neg)))
    left, right = breaks[:-1], breaks[1:]
    # On (left, right] no score lies strictly inside, so pos >= beta <=> pos >= right and
    # neg < beta <=> neg <= left.
    r = (pos.size - np.searchsorted(pos, right, side="left")) / pos.size
    u = np.searchsorted(neg, left, side="right") / neg.size
    return float(np.sum(np.minimum(r, u) * (right - left)))
