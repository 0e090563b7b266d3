"""Constants the papers chose for CIFAR, scaled to other data by stated rules (never by results).

* **ℓ∞ budgets** (ModelDiff's PGD): a budget is meant to reach the victim's decision boundary
  from a typical test point, which the papers' ε does on CIFAR models. Rule: on the papers' data (CIFAR,
  :mod:`modelprint.data.traits`) the paper's ε as stated; elsewhere ε = max(ε_paper, d½), where d½ is the
  victim's median minimal ℓ∞ adversarial distance over :data:`ROBUSTNESS_POINTS` evenly spaced points of
  the split the key is drawn from (PGD bisection, :func:`~modelprint.ops.adversarial.minimal_linf_distance`).
  On the bundled digits d½ is several times the CIFAR ε (digit models are far more robust in ℓ∞), so the
  paper's 0.03 leaves most seeds unflipped. (CAE's ball must also transfer to surrogates, which d½ is too
  small for: CAE takes the top of its paper's sweep off CIFAR, :data:`~modelprint.queries.cae.SWEEP_TOP_EPS`.)
* **Frame geometry** (SAC-m's corner CutMix): on data whose content is centred in a blank frame, the frame
  is replaced by the content's bounding box (:func:`content_box`), so a "corner" box lands on strokes, not on
  the black border; on CIFAR the box is the whole frame and the paper's geometry is unchanged.
* **Label-preserving transformations** (NaturalFinger's list): flips only where the dataset declares that
  flips keep labels."""

from __future__ import annotations

import torch

from modelprint.data import Dataset
from modelprint.data.traits import traits_of
from modelprint.memo import Memo, model_digest, tensor_digest
from modelprint.models.base import TorchClassifier
from modelprint.ops.adversarial import minimal_linf_distance

__all__ = ["ROBUSTNESS_POINTS", "content_box", "median_linf_distance", "scaled_linf"]

ROBUSTNESS_POINTS = 64
"""Test points over which the victim's median minimal ℓ∞ distance is measured (evenly spaced, no random
draw, so the key's generator is untouched)."""
CONTENT_THRESHOLD = 0.1
"""A pixel belongs to the content box when the split's mean image there exceeds this share of its maximum."""

_DISTANCES: Memo[float] = Memo(16)


def median_linf_distance(victim: TorchClassifier, data: Dataset, points: int = ROBUSTNESS_POINTS) -> float:
    """Median over ``points`` evenly spaced images of ``data`` of the victim's minimal ℓ∞ adversarial
    distance (inf counts as larger than every radius); memoised per (model, images)."""
    idx = torch.linspace(0, len(data) - 1, min(points, len(data))).round().long()
    x = data.images[idx]
    token = ("median-linf", model_digest(victim), tensor_digest([x]))
    return _DISTANCES.recall(token, lambda: float(minimal_linf_distance(victim, x).median()))


def scaled_linf(paper_eps: float, victim: TorchClassifier, data: Dataset) -> float:
    """The ℓ∞ budget of the module's rule: ``paper_eps`` on the papers' data, else max(paper_eps, d½)."""
    if traits_of(data.name).papers_data:
        return float(paper_eps)
    d = median_linf_distance(victim, data)
    return float(paper_eps) if d == float("inf") else max(float(paper_eps), d)


def content_box(data: Dataset) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) of the content: the bounding box of the pixels where the mean image (over images and
    channels) exceeds :data:`CONTENT_THRESHOLD` of its maximum, for data declared ``centred``; the whole frame
    otherwise (and when the mean image is blank)."""
    _, _, h, w = data.images.shape
    if not traits_of(data.name).centred or len(data) == 0:
        return 0, h, 0, w
    mean = data.images.mean(dim=(0, 1))
    top = float(mean.max())
    if top <= 0:
        return 0, h, 0, w
    rows = (mean > CONTENT_THRESHOLD * top).any(dim=1).nonzero().flatten()
    cols = (mean > CONTENT_THRESHOLD * top).any(dim=0).nonzero().flatten()
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
