"""Seed sets: where any sampler starts from (QuRD Figure 2 / Table 1 rows).

``SplitSeeds`` is the given split as is; ``NegativeSeeds`` the victim's mistakes h(x) ≠ c(x) (AKH, with
CutMix when too few, QuRD Prop. 1); ``NoiseSeeds`` uniform random pixels (IPGuard's input-space seeds).
:class:`Seeded` turns (sampler, seed set) into one :class:`QuerySampler`, so every sampler can start from
every seed set — QuRD found negative seeds give adversarial samplers about +10 TPR points."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch

from modelprint.data import Dataset
from modelprint.models.base import TorchClassifier
from modelprint.pools import Pool, PoolSpec
from modelprint.queries.base import QuerySampler
from modelprint.queries.common import QueryStructure
from modelprint.queries.sampling import NegativeQueries
from modelprint.registry import Registry
from modelprint.types import Queries, SettingsRepr


class SeedSet(SettingsRepr, ABC):
    """Chooses the pool a sampler draws from; ``n`` is how many seeds the sampler may want (a hint)."""

    name: ClassVar[str]

    @abstractmethod
    def select(
        self, victim: TorchClassifier, data: Dataset, n: int, *, generator: torch.Generator
    ) -> Dataset:
        """The seed pool (a :class:`Dataset`; labels are ground truth where there is one)."""


class SplitSeeds(SeedSet):
    """The given split, unchanged (QuRD's train/test seed rows)."""

    name = "split"

    def select(
        self, victim: TorchClassifier, data: Dataset, n: int, *, generator: torch.Generator
    ) -> Dataset:
        return data


class NegativeSeeds(SeedSet):
    """Points of the split the victim misclassifies; when fewer than ``n`` exist they are completed with
    AKH's CutMix + flips (docs/akh.md#sampler), so labels stay the ground truth of the base image."""

    name = "negatives"

    def __init__(self, *, augment: bool = True) -> None:
        self.augment = augment

    def select(
        self, victim: TorchClassifier, data: Dataset, n: int, *, generator: torch.Generator
    ) -> Dataset:
        q = NegativeQueries(augment=self.augment).sample(victim, data, n, generator=generator)
        if len(q) == 0:
            raise ValueError(f"the victim makes no mistakes on {data.name}: no negative seeds")
        assert q.labels is not None
        return Dataset(f"{data.name}:negatives", q.inputs, q.labels, data.num_classes, data.mean, data.std)


class NoiseSeeds(SeedSet):
    """``n`` images of i.i.d. U(0,1) pixels; with no ground truth, their labels are the victim's predictions
    (so a true-label representation on them measures agreement with the victim's top label)."""

    name = "noise"

    def select(
        self, victim: TorchClassifier, data: Dataset, n: int, *, generator: torch.Generator
    ) -> Dataset:
        images = torch.rand((max(n, 1), *data.input_shape), generator=generator)
        return Dataset(
            f"{data.name}:noise", images, victim.predict(images), data.num_classes, data.mean, data.std
        )


SEED_SETS: Registry[SeedSet] = Registry("seed set", group="modelprint.seedsets")
"""Where a combination's sampler draws its seeds from."""
for _cls in (SplitSeeds, NegativeSeeds, NoiseSeeds):
    SEED_SETS.register(_cls.name)(_cls)


class Seeded(QuerySampler):
    """``sampler`` run on the pool chosen by ``seeds``; it inherits the sampler's query structure."""

    def __init__(self, sampler: QuerySampler, seeds: SeedSet) -> None:
        self.sampler = sampler
        self.seeds = seeds

    @property
    def structure(self) -> QueryStructure:
        return structure_of(self.sampler)

    @property
    def pool_spec(self) -> PoolSpec | None:  # type: ignore[override]
        return self.sampler.pool_spec

    def sample(
        self,
        victim: TorchClassifier,
        data: Dataset,
        budget: int,
        *,
        generator: torch.Generator,
        pool: Pool | None = None,
    ) -> Queries:
        chosen = self.seeds.select(victim, data, budget, generator=generator)
        return self.sampler.sample(victim, chosen, budget, generator=generator, pool=pool)


def structure_of(sampler: QuerySampler) -> QueryStructure:
    """A sampler's declared query structure (:attr:`QuerySampler.structure`; a clear error when a sampler
    written elsewhere forgot it)."""
    try:
        return sampler.structure
    except AttributeError:
        raise TypeError(f"{type(sampler).__name__} declares no query structure") from None
