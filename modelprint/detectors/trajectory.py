"""ADV-TRA's two-level matching (Xu et al., NeurIPS'24; docs/adv-tra.md#verification): labels grouped per
trajectory (the R) and the detection rate over trajectories (the D). Both live here because the D reads the
R's layout.

Point level: a trajectory's mutation rate is the fraction of its points where the suspect's label differs
from the victim's recorded one. Trajectory level: it is *matched* when the mutation rate is below
``threshold`` (0.5 [C]); the score is the fraction of matched trajectories (the detection rate), compared
with a calibrated θ downstream (docs/adv-tra.md#verification). Label-only access."""

from __future__ import annotations

from typing import ClassVar

import torch

from modelprint.detectors.base import Detector
from modelprint.models.access import to_labels
from modelprint.models.base import Classifier
from modelprint.queries.common import QueryStructure
from modelprint.representations.base import Representation
from modelprint.representations.kinds import RepKind
from modelprint.types import Queries

PAD = -1
"""Label value filling a short trajectory's row; never a class."""


def group_rows(values: torch.Tensor, groups: torch.Tensor, *, fill: int = PAD) -> torch.Tensor:
    """Lay out per-query ``values`` (N,) as rows (T, P_max) by group id (ids 0 … T−1, queries of a group in
    their order), padding short rows with ``fill``."""
    groups = groups.long()
    if len(values) == 0:
        return values.new_full((0, 0), fill)
    if groups.shape != values.shape[:1] or int(groups.min()) < 0:
        raise ValueError("trajectory ids must be one non-negative id per query")
    order = torch.sort(groups, stable=True).indices
    counts = torch.bincount(groups)
    starts = torch.cumsum(counts, 0) - counts
    position = torch.empty_like(groups)
    position[order] = torch.arange(len(groups)) - starts[groups[order]]
    out = values.new_full((len(counts), int(counts.max())), fill)
    out[groups, position] = values
    return out


class TrajectoryLabels(Representation):
    """Hard labels laid out per trajectory, (T, P) int64 padded with −1, from ``extras["trajectory"]``.

    Queries without trajectory ids count as one-point trajectories (T = N, P = 1), so the two-level
    detector then reduces to the point-wise match rate."""

    needs = "labels"
    kind: ClassVar[RepKind] = "labels"
    accepts: ClassVar[frozenset[QueryStructure]] = frozenset({"points"})

    def represent(self, model: Classifier, queries: Queries) -> torch.Tensor:
        labels = to_labels(model(queries.inputs), model.output).long()
        groups = queries.extras.get("trajectory")
        if groups is None:
            return labels[:, None]
        return group_rows(labels, groups)


def mutation_rates(reference: torch.Tensor, suspect: torch.Tensor) -> torch.Tensor:
    """Per trajectory (T,): the fraction of its (non-padding) points where the suspect's label differs."""
    if reference.shape != suspect.shape:
        raise ValueError(f"representation shapes differ: {tuple(reference.shape)} vs {tuple(suspect.shape)}")
    ref = reference if reference.ndim == 2 else reference.reshape(len(reference), -1)
    sus = suspect.reshape(ref.shape)
    valid = ref != PAD
    sizes = valid.sum(dim=1)
    if ref.numel() == 0 or bool((sizes == 0).any()):
        raise ValueError("empty trajectory: the fingerprint has no queries")
    return ((sus != ref) & valid).sum(dim=1).float() / sizes.float()


class TrajectoryMatch(Detector):
    """score = (1/T) Σ_τ 1[mutation_τ < ``threshold``] ∈ [0,1], ADV-TRA's detection rate [C]."""

    accepts: ClassVar[frozenset[RepKind]] = frozenset({"labels"})
    perfect: ClassVar[float | None] = 1.0

    def __init__(self, threshold: float = 0.5) -> None:
        if not 0 < threshold <= 1:
            raise ValueError(f"threshold must lie in (0, 1], got {threshold}")
        self.threshold = threshold

    def score(self, reference: torch.Tensor, suspect: torch.Tensor) -> float:
        return float((mutation_rates(reference, suspect) < self.threshold).float().mean())
