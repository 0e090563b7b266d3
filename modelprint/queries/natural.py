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
from modelprint.pools import Pool, PoolSpec
from modelprint.queries.base import QuerySampler
from modelprint.queries.cae import CAE_ARCHS
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
        self,
        victim: TorchClassifier,
        data: Dataset,
        budget: int,
        *,
        generator: torch.Generator,
        pool: Pool | None = None,
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


SURROGATE_STEPS: tuple[str, ...] = tuple(f"labelextract({a},data=owner)" for a in CAE_ARCHS) + tuple(
    f"distill({a},data=owner)" for a in CAE_ARCHS
)
"""SAC-w's surrogate models, in the order taken: the owner extracts (top-1 labels) and distils (probabilities)
its victim on its own data into the victim's architecture and four others, CAE's surrogates [D]."""

REFERENCE_ARCHS: tuple[str, ...] = CAE_ARCHS + CAE_ARCHS
"""FBI's reference pool for ``entropy`` selection: independent models of the victim's architecture and four
others, two seeds each, trained on the owner's data (CAE's references) [D]."""


class CommonNegativeQueries(QuerySampler):
    """SAC-w (docs/sac.md#queries): seeds misclassified by the victim *and* by at least ``agreement`` of the
    owner's ``surrogates`` (steps applied to the victim, e.g. :data:`SURROGATE_STEPS`, built as an owner-side
    pool; the code's ``dataset_common``), completed with AKH's CutMix + flips when too few. With none (the
    default) it is QuRD's approximation, plain victim negatives (= :class:`NegativeQueries`). Surrogates are
    generation-only pools: the benchmark refuses one that overlaps its suspects
    (docs/conventions.md#pitfalls)."""

    structure: QueryStructure = "points"

    def __init__(
        self, *, surrogates: Sequence[str] = (), agreement: float = 0.5, augment: bool = True
    ) -> None:
        self.surrogates = tuple(surrogates)
        self.agreement = agreement
        self.augment = augment

    @property
    def pool_spec(self) -> PoolSpec | None:  # type: ignore[override]
        return PoolSpec(self.surrogates, ()) if self.surrogates else None

    def sample(
        self,
        victim: TorchClassifier,
        data: Dataset,
        budget: int,
        *,
        generator: torch.Generator,
        pool: Pool | None = None,
    ) -> Queries:
        seeds, kept = data, torch.arange(len(data))
        if self.surrogates:
            surrogates = self.require_pool(pool).positives
            wrong = torch.stack([_labels(s, data.images) != data.labels for s in surrogates])
            kept = (wrong.float().mean(0) >= self.agreement).nonzero().flatten()
            seeds = data.subset(kept)
        q = NegativeQueries(augment=self.augment).sample(victim, seeds, budget, generator=generator)
        extras = dict(q.extras)
        extras["index"] = kept[extras["index"]]
        return Queries(q.inputs, q.labels, extras)


class EntropyQueries(QuerySampler):
    """FBI's ``entropy_label`` selection (docs/fbi.md#algorithm [C]): for each seed, the entropy of the labels
    predicted by a reference pool of independent models (``references``: their architectures, default
    :data:`REFERENCE_ARCHS`, built as an owner-side pool, kept disjoint from suspects); keep the ``top``
    fraction with the highest entropy (ties broken by a random order) and draw ``budget`` among them."""

    structure: QueryStructure = "points"

    def __init__(self, *, references: Sequence[str] = REFERENCE_ARCHS, top: float = 0.2) -> None:
        if not references:
            raise ValueError("entropy selection needs a reference pool of models")
        if not 0 < top <= 1:
            raise ValueError(f"top must be in (0, 1], got {top}")
        self.references = tuple(references)
        self.top = top

    @property
    def pool_spec(self) -> PoolSpec:  # type: ignore[override]
        return PoolSpec((), self.references)

    def sample(
        self,
        victim: TorchClassifier,
        data: Dataset,
        budget: int,
        *,
        generator: torch.Generator,
        pool: Pool | None = None,
    ) -> Queries:
        members = self.require_pool(pool)
        models = [*members.positives, *members.negatives]
        preds = torch.stack([_labels(m, data.images) for m in models], dim=1)  # (N, P)
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
