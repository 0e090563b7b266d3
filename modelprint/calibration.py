"""Calibrating a verification score on models known to be independent of the victim.

A score alone does not say how unusual it is. Scoring the key against ``n`` independent models gives the
null distribution, and (docs/metrics.md#tpr-at-a-fixed-fpr, the FPR side of TPR@5%FPR; Vovk et al.'s conformal
p-value):

* the conformal p-value of a suspect's score ``s``: ``p = (1 + #{c_j >= s}) / (1 + n)``. If the suspect
  is independent and exchangeable with the calibration models, ``P(p <= a) <= a`` for every ``a``; it is
  never below ``1 / (1 + n)``, so ``n`` bounds the evidence a calibration set can give;
* the threshold at level ``alpha``: the smallest score ``t`` whose empirical false-positive rate
  ``#{c_j > t} / n`` is at most ``alpha``, i.e. the ``(k+1)``-th largest calibration score with
  ``k = floor(alpha * n)``; a suspect is flagged when ``s > t``, which is the same as
  ``#{c_j >= s} <= k``.

Several keys (schemes) are combined into one verdict with Fisher's statistic over per-scheme conformal
p-values, itself calibrated again on the same independent models (full conformal): every model, the
suspect included, gets per-scheme ranks among all ``n + 1`` models, ``F = -2 Σ log p_i``, and the combined
p-value is the suspect's rank of ``F`` among the ``n + 1`` values. The schemes' scores of one model are
dependent (same model), so Fisher's chi-square reference would be wrong; the rank of ``F`` is valid under
exchangeability whatever the dependence."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from modelprint.types import atomic_write_text

CACHE_FORMAT = "modelprint-calibration/1"


def _scores(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Scores as float64; NaN (a detector that could not score) counts as the least suspicious."""
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    return np.where(np.isnan(arr), -np.inf, arr)


def conformal_p_value(score: float, calibration: Sequence[float] | np.ndarray) -> float:
    """``(1 + #{c >= score}) / (1 + n)`` over the calibration scores ``c`` (higher = more suspicious)."""
    cal = _scores(calibration)
    s = -math.inf if math.isnan(score) else float(score)
    return float((1 + int(np.sum(cal >= s))) / (1 + len(cal)))


def allowed_false_positives(n: int, alpha: float) -> int:
    """``k = floor(alpha * n)``: how many of ``n`` independent models a threshold may flag."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    return math.floor(alpha * n + 1e-9)


def fpr_threshold(calibration: Sequence[float] | np.ndarray, alpha: float) -> float:
    """The smallest ``t`` with ``#{c > t} / n <= alpha``: the ``(k+1)``-th largest calibration score
    (``-inf`` when every model may be flagged). A score is flagged when it is strictly above ``t``."""
    cal = np.sort(_scores(calibration))[::-1]
    if len(cal) == 0:
        raise ValueError("no calibration scores: need at least one independent model")
    k = allowed_false_positives(len(cal), alpha)
    return -math.inf if k >= len(cal) else float(cal[k])


def p_value_threshold(calibration: Sequence[float] | np.ndarray, alpha: float) -> float:
    """The score a suspect must exceed for its conformal p-value to be at most ``alpha``: with
    ``m = floor(alpha (n + 1)) - 1``, the ``(m+1)``-th largest calibration score (``inf`` when no score
    can reach ``alpha``, ``-inf`` when every score does). ``score > t`` is exactly ``p <= alpha``."""
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must lie in [0, 1], got {alpha}")
    cal = np.sort(_scores(calibration))[::-1]
    m = math.floor(alpha * (len(cal) + 1) + 1e-9) - 1
    if m < 0:
        return math.inf
    return -math.inf if m >= len(cal) else float(cal[m])


def empirical_fpr(threshold: float, calibration: Sequence[float] | np.ndarray) -> float:
    """Share of the calibration models scoring strictly above ``threshold``."""
    cal = _scores(calibration)
    if len(cal) == 0:
        raise ValueError("no calibration scores")
    return float(np.mean(cal > threshold))


def flagged(score: float, calibration: Sequence[float] | np.ndarray, alpha: float) -> bool:
    """``score > fpr_threshold(calibration, alpha)``."""
    s = -math.inf if math.isnan(score) else float(score)
    return s > fpr_threshold(calibration, alpha)


def fisher_statistics(scores: np.ndarray) -> np.ndarray:
    """Fisher's ``-2 Σ_i log p_i`` for every row of ``scores`` (models × schemes), with ``p_i`` the row's
    conformal rank among all rows in column ``i``: ``#{rows r' : s[r', i] >= s[r, i]} / rows``."""
    z = np.where(np.isnan(scores), -np.inf, np.asarray(scores, dtype=np.float64))
    if z.ndim != 2 or z.shape[0] == 0:
        raise ValueError("scores must be a non-empty (models, schemes) matrix")
    ranks = (z[None, :, :] >= z[:, None, :]).sum(axis=1) / z.shape[0]  # (rows, schemes)
    return -2.0 * np.log(ranks).sum(axis=1)


def combined_statistics(
    suspect: Sequence[float] | np.ndarray, calibration: np.ndarray
) -> tuple[float, np.ndarray]:
    """Fisher statistic of the suspect and of each calibration model, ranks taken among all ``n + 1``."""
    s = _scores(suspect)
    cal = np.asarray(calibration, dtype=np.float64)
    if cal.ndim != 2 or cal.shape[1] != len(s):
        raise ValueError(f"calibration must be (models, {len(s)}), got {cal.shape}")
    stats = fisher_statistics(np.vstack([cal, s[None, :]]))
    return float(stats[-1]), stats[:-1]


def key_digest(directory: str | Path) -> str:
    """Content hash of a saved key (its JSON and its tensors): the calibration cache's name for it."""
    h = hashlib.sha256()
    for name in ("key.json", "key.safetensors"):
        h.update(name.encode())
        h.update((Path(directory) / name).read_bytes())
    return h.hexdigest()[:24]


class ScoreCache:
    """Calibration scores of one key, ``<root>/<key digest>.json``: ``{model id: score}``, written
    atomically, so repeated verifications against the same calibration set score nothing again."""

    def __init__(self, root: str | Path, digest: str, *, scheme: str = "") -> None:
        self.path = Path(root) / f"{digest}.json"
        self.scheme = scheme
        self.scores: dict[str, float] = {}
        if self.path.is_file():
            try:
                raw = json.loads(self.path.read_text())
                if raw.get("format") == CACHE_FORMAT and isinstance(raw.get("scores"), dict):
                    self.scores = {str(k): float(v) for k, v in raw["scores"].items()}
            except (OSError, ValueError, TypeError):
                self.scores = {}  # an unreadable cache is recomputed

    def get(self, model: str) -> float | None:
        return self.scores.get(model)

    def put(self, model: str, score: float) -> None:
        self.scores[model] = float(score)

    def save(self) -> None:
        body = {"format": CACHE_FORMAT, "scheme": self.scheme, "scores": self.scores}
        atomic_write_text(self.path, json.dumps(body, indent=1, sort_keys=True, allow_nan=True))


__all__ = [
    "ScoreCache",
    "allowed_false_positives",
    "combined_statistics",
    "conformal_p_value",
    "empirical_fpr",
    "fisher_statistics",
    "flagged",
    "fpr_threshold",
    "key_digest",
]
