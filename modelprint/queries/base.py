"""Q of QuRD: which inputs to ask. Samplers see the victim white-box
(docs/conventions.md#qurd-decomposition)."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from modelprint.data import Dataset
from modelprint.models.base import TorchClassifier
from modelprint.pools import Pool, PoolSpec
from modelprint.queries.common import QueryStructure
from modelprint.registry import Registry
from modelprint.types import Queries, SettingsRepr


class QuerySampler(SettingsRepr, ABC):
    """Chooses ``budget`` queries from a seed set ``data`` for a white-box ``victim``. A sampler that learns
    from owner-side models declares them as :attr:`pool_spec`; whoever runs it builds that pool (zoo
    lineages, :func:`~modelprint.pools.build_pool`) and passes it as ``pool``."""

    structure: QueryStructure
    """What the queries are (points, pairs, LIME groups): which representations can read them."""

    pool_spec: PoolSpec | None = None
    """The owner-side pool the sampler learns from, or None: it needs no models besides the victim."""

    @abstractmethod
    def sample(
        self,
        victim: TorchClassifier,
        data: Dataset,
        budget: int,
        *,
        generator: torch.Generator,
        pool: Pool | None = None,
    ) -> Queries:
        """Return exactly ``budget`` queries (N,C,H,W) in [0,1] (fewer only if the seed set is smaller);
        ``pool`` is the built :attr:`pool_spec` (ignored by samplers that declare none)."""

    def require_pool(self, pool: Pool | None) -> Pool:
        """``pool``, or a clear error naming the sampler when its declared pool was not passed."""
        if pool is None:
            raise ValueError(
                f"{type(self).__name__} learns from an owner-side model pool: build its pool_spec "
                "(modelprint.pools.build_pool) and pass pool="
            )
        return pool


class PoolSampler(QuerySampler):
    """A sampler whose queries are learned against an owner-side model pool (docs/cae.md, docs/metafinger.md,
    docs/metav.md, ...), telling derived models from independent ones: its :attr:`pool_spec` is always set
    and its pool must hold both."""

    pool_spec: PoolSpec

    def require_pool(self, pool: Pool | None) -> Pool:
        return super().require_pool(pool).require_both(type(self).__name__)


SAMPLERS: Registry[QuerySampler] = Registry("sampler", group="modelprint.samplers")
"""Samplers that QuRD combinations are made of (:mod:`modelprint.fingerprints.combos`): factories taking
``fast`` (capped settings for combination sweeps) and returning a sampler."""
