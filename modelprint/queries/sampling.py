"""Uniform and negative (misclassified) seed sampling — QuRD's Random and AKH samplers (docs/akh.md,
docs/random.md)."""

from __future__ import annotations

import math
from typing import ClassVar

import torch

from modelprint.data import Dataset
from modelprint.models.base import TorchClassifier
from modelprint.ops.cutmix import cutmix
from modelprint.pools import Pool
from modelprint.queries.base import QuerySampler
from modelprint.queries.common import QueryStructure
from modelprint.types import Queries


class UniformQueries(QuerySampler):
    """``budget`` seed images drawn uniformly without replacement (QuRD ``RandomQueries``)."""

    structure: ClassVar[QueryStructure] = "points"

    def sample(
        self,
        victim: TorchClassifier,
        data: Dataset,
        budget: int,
        *,
        generator: torch.Generator,
        pool: Pool | None = None,
    ) -> Queries:
        idx = torch.randperm(len(data), generator=generator)[:budget]
        return Queries(data.images[idx].clone(), data.labels[idx].clone(), {"index": idx})


class NegativeQueries(QuerySampler):
    """Seeds the victim misclassifies, h(x) ≠ c(x) (the Anna Karenina heuristic, QuRD Prop. 1).

    If fewer than ``budget`` exist and ``augment`` is on, each round adds CutMix of the negatives plus its
    horizontal and vertical flips (3·n_neg images per round) until the budget is reached [Q]."""

    structure: ClassVar[QueryStructure] = "points"

    def __init__(self, *, augment: bool = True) -> None:
        self.augment = augment

    def sample(
        self,
        victim: TorchClassifier,
        data: Dataset,
        budget: int,
        *,
        generator: torch.Generator,
        pool: Pool | None = None,
    ) -> Queries:
        order = torch.randperm(len(data), generator=generator)
        wrong = order[victim.predict(data.images[order]) != data.labels[order]][:budget]
        inputs, labels = data.images[wrong].clone(), data.labels[wrong].clone()
        n_neg = len(wrong)
        augmented = torch.zeros(0, dtype=torch.long)
        if n_neg < budget and self.augment and n_neg >= 2:
            rounds = math.ceil((budget - n_neg) / (3 * n_neg))
            extra_x, extra_y, boxes = [], [], []
            for _ in range(rounds):
                mixed, box = cutmix(inputs[:n_neg], generator=generator)
                extra_x += [mixed, mixed.flip(3), mixed.flip(2)]
                extra_y += [labels[:n_neg]] * 3
                boxes.append(box)
            inputs = torch.cat([inputs, *extra_x])[:budget]
            labels = torch.cat([labels, *extra_y])[:budget]
            augmented = torch.cat(boxes)
        return Queries(
            inputs,
            labels,
            {"index": wrong, "cutmix_boxes": augmented, "num_negatives": torch.tensor([n_neg])},
        )
