"""Input validation shared by the metrics and the warning they emit when a metric is undefined."""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import ArrayLike, NDArray


class UndefinedMetricWarning(RuntimeWarning):
    """A metric was asked for on data where it is undefined (no positives, no negatives, ...); it is NaN."""


def warn_undefined(message: str) -> None:
    """Emit :class:`UndefinedMetricWarning` pointing at the caller of the public metric."""
    warnings.warn(message, UndefinedMetricWarning, stacklevel=3)


def as_labels(y_true: ArrayLike, name: str = "y_true") -> NDArray[np.bool_]:
    """1-D boolean array from 0/1 or bool labels."""
    y = np.asarray(y_true)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {y.shape}")
    if y.dtype == np.bool_:
        return y
    if y.size and not np.isin(y, (0, 1)).all():
        raise ValueError(f"{name} must hold 0/1 or bool labels, got values {np.unique(y)[:10]!r}")
    return y.astype(np.bool_)


def as_scores(y_score: ArrayLike, name: str = "y_score") -> NDArray[np.float64]:
    """1-D float64 array of scores without NaN (infinities are allowed)."""
    s = np.asarray(y_score, dtype=np.float64)
    if s.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {s.shape}")
    if np.isnan(s).any():
        raise ValueError(f"{name} contains NaN")
    return s


def labels_and_scores(y_true: ArrayLike, y_score: ArrayLike) -> tuple[NDArray[np.bool_], NDArray[np.float64]]:
    """Validated (labels, scores) pair of equal length."""
    y = as_labels(y_true)
    s = as_scores(y_score)
    if y.shape != s.shape:
        raise ValueError(f"y_true and y_score differ in length: {y.shape[0]} vs {s.shape[0]}")
    return y, s
