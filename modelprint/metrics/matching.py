"""Label-agreement metrics: matching rate (IPGuard, Cao et al. AsiaCCS'21), matching-rate margin
(NaturalFinger, Yang et al.) and the conditioned Hamming distance of QuRD (Godinot et al. AAAI'25)."""

from __future__ import annotations

from typing import TypedDict

import numpy as np
from numpy.typing import ArrayLike, NDArray

from modelprint.metrics._common import warn_undefined

__all__ = ["ConditionedHamming", "conditioned_hamming", "matching_rate", "matching_rate_margin"]


def _same_shape(*arrays: ArrayLike, names: tuple[str, ...]) -> list[NDArray[np.generic]]:
    out = [np.asarray(a) for a in arrays]
    for name, a in zip(names[1:], out[1:], strict=True):
        if a.shape != out[0].shape:
            raise ValueError(f"{names[0]} and {name} differ in shape: {out[0].shape} vs {a.shape}")
    if out[0].size == 0:
        raise ValueError("empty label arrays")
    return out


def matching_rate(suspect_labels: ArrayLike, reference_labels: ArrayLike) -> float:
    """Fraction of queries on which the suspect's labels equal the reference labels (IPGuard)."""
    s, r = _same_shape(suspect_labels, reference_labels, names=("suspect_labels", "reference_labels"))
    return float(np.mean(s == r))


def matching_rate_margin(
    mr_positive: ArrayLike, mr_mirror_negative: ArrayLike
) -> float | NDArray[np.float64]:
    """NaturalFinger's margin: matching rate on the fingerprint minus the matching rate on its mirror
    (negative) set, elementwise for arrays; a float for scalars."""
    diff = np.asarray(mr_positive, dtype=np.float64) - np.asarray(mr_mirror_negative, dtype=np.float64)
    return float(diff) if diff.ndim == 0 else diff


class ConditionedHamming(TypedDict):
    """Result of :func:`conditioned_hamming`."""

    delta_c: float
    delta: float
    bound: float
    acc_source: float
    acc_suspect: float


def conditioned_hamming(
    source_pred: ArrayLike, suspect_pred: ArrayLike, true_labels: ArrayLike
) -> ConditionedHamming:
    """QuRD's conditioned Hamming distance (Godinot et al. AAAI'25).

    ``delta_c`` = P(h'(x) != h(x) | h(x) != c(x)) (disagreement where the source h errs),
    ``delta`` = P(h'(x) != h(x)), and ``bound`` = (delta - (1 - acc_suspect)) / (1 - acc_source), the lower
    bound on ``delta_c`` of QuRD Prop. 1. ``delta_c`` and ``bound`` are NaN (with an
    :class:`UndefinedMetricWarning`) when the source makes no mistakes.
    """
    h, hp, c = _same_shape(
        source_pred, suspect_pred, true_labels, names=("source_pred", "suspect_pred", "true_labels")
    )
    source_wrong = h != c
    acc_source = 1.0 - float(np.mean(source_wrong))
    acc_suspect = float(np.mean(hp == c))
    delta = float(np.mean(h != hp))
    if not source_wrong.any():
        warn_undefined("the source model makes no mistakes: conditioned Hamming distance is NaN")
        delta_c = bound = float("nan")
    else:
        delta_c = float(np.mean(hp[source_wrong] != h[source_wrong]))
        bound = (delta - (1.0 - acc_suspect)) / (1.0 - acc_source)
    return ConditionedHamming(
        delta_c=delta_c, delta=delta, bound=bound, acc_source=acc_source, acc_suspect=acc_suspect
    )
