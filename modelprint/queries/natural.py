"""Natural-image samplers of SAC (Guan, Liang, He, NeurIPS'22) and FBI (Maho, Furon, Le Merrer, TIFS'23)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from modelprint.data import Dataset
from modelprint.models.access import to_labels
from modelprint.models.base import Classifier, TorchClassifier
from modelprint.ops.corner_cutmix import corner_cutmix
from modelprint.ops.scaling import content_box
from modelprint.queries.base import QuerySampler
from modelprint.queries.common import QueryStructure, draw_indices
from modelprint.queries.sampling import NegativeQueries
from modelprint.types import Queries


class CornerCutMixQueries(QuerySampler):
    """SAC-m (docs/sac.md#queries [C]): ``budget`` seeds drawn uniformly, then one CutMix pass with a fixed
    ``ratio`` box centred near a corner, pasted from a permutation of the batch (optionally followed by a
    horizontal flip). Boxes and partners are recorded in extras. The corners are those of the data's
    content box (:func:`~modelprint.ops.scaling.content_box`: the whole frame on CIFAR; on centred digits
    the strokes' bounding box, where the frame's corners are blank and the paste changed 15 % of digits
    and none of the source's labels)."""

    structure: QueryStructure = "points"

    def __init__(self, *, ratio: float = 0.2, flip: bool = False) -> None:
        self.ratio = ratio
        self.flip = flip

    def sample(
        self, victim: TorchClassifier, data: Dataset, budget: int, *, generator: torch.Generator
    ) -> Queries:
        idx = draw_indices(len(data), budget, generator=generator)
        region = content_box(data)
        mixed, boxes, partner = corner_cutmix(
            data.images[idx], ratio=self.ratio, generator=generator, region=region
        )
        if self.flip:
            mixed = mixed.flip(3)
        extras = {"index": idx, "cutmix_boxes": boxes, "cutmix_partner": partner}
        return Queries(mixed, data.labels[idx].clone(), extras)


def _labels(model: Classifier, images: torch.Tensor) -> torch.Tensor:
    return to_labels(model(images), model.output)


class CommonNegativeQueries(QuerySampler):
    """SAC-w (docs/sac.md#queries): seeds misclassified by the victim *and* by at least ``agreement`` of the
    owner's ``surrogates`` (the code's ``dataset_common``), completed with AKH's CutMix + flips when too few.
    With no surrogates it is QuRD's approximation, plain victim negatives (= :class:`NegativeQueries`).
    Surrogates are generation-only pools: keep them disjoint from evaluation suspects
    (docs/conventions.md#pitfalls)."""

    structure: QueryStructure = "points"

    def __init__(
        self, *, surrogates: Sequence[Classifier] = (), agreement: float = 0.5, augment: bool = True
    ) -> None:
        self.surrogates = tuple(surrogates)
        self.agreement = agreement
        self.augment = augment

    def sample(
        self, victim: TorchClassifier, data: Dataset, budget: int, *, generator: torch.Generator
    ) -> Queries:
        pool, kept = data, torch.arange(len(data))
        if self.surrogates:
            wrong = torch.stack([_labels(s, data.images) != data.labels for s in self.surrogates])
            kept = (wrong.float().mean(0) >= self.agreement).nonzero().flatten()
            pool = data.subset(kept)
        q = NegativeQueries(augment=self.augment).sample(victim, pool, budget, generator=generator)
        extras = dict(q.extras)
        extras["index"] = kept[extras["index"]]
        return Queries(q.inputs, q.labels, extras)


class EntropyQueries(QuerySampler):
    """FBI's ``entropy_label`` selection (docs/fbi.md#algorithm [C]): for each seed, the entropy of the labels
    predicted by a reference ``pool`` of models; keep the ``top`` fraction with the highest entropy (ties
    broken by a random order) and draw ``budget`` among them. Needs a non-empty pool (kept disjoint from
    suspects)."""

    structure: QueryStructure = "points"

    def __init__(self, *, pool: Sequence[Classifier], top: float = 0.2) -> None:
        if not pool:
            raise ValueError("entropy selection needs a reference pool of models")
        if not 0 < top <= 1:
            raise ValueError(f"top must be in (0, 1], got {top}")
        self.pool = tuple(pool)
        self.top = top

    def sample(
        self, victim: TorchClassifier, data: Dataset, budget: int, *, generator: torch.Generator
    ) -> Queries:
        preds = torch.stack([_labels(m, data.images) for m in self.pool], dim=1)  # (N, P)
        counts = torch.zeros(len(data), data.num_classes).scatter_add_(
            1, preds, torch.ones_like(preds, dtype=torch.float)
        )
        p = counts / counts.sum(1, keepdim=True)
        entropy = -(p * p.clamp_min(1e-12).log2()).sum(1)
        order = torch.randperm(len(data), generator=generator)
        ranked = order[torch.argsort(entropy[order], descending=True, stable=True)]
        top = ranked[: max(1, math.ceil(self.top * len(data)))]
        idx = top[draw_indices(len(top), budget, generator=generator)]
        extras = {"index": idx, "entropy": entropy[idx]}
        return Queries(data.images[idx].clone(), data.labels[idx].clone(), extras)
