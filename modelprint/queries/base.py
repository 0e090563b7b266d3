"""Q of QuRD: which inputs to ask. Samplers see the victim white-box
(docs/conventions.md#qurd-decomposition)."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch

from modelprint.data import Dataset
from modelprint.models.base import TorchClassifier
from modelprint.pools import Pool, PoolSpec
from modelprint.types import Queries


class QuerySampler(ABC):
    """Chooses ``budget`` queries from a seed set ``data`` for a white-box ``victim``."""

    @abstractmethod
    def sample(
        self, victim: TorchClassifier, data: Dataset, budget: int, *, generator: torch.Generator
    ) -> Queries:
        """Return exactly ``budget`` queries (N,C,H,W) in [0,1] (fewer only if the seed set is smaller)."""

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in sorted(vars(self).items()))
        return f"{type(self).__name__}({fields})"


class PoolSampler(QuerySampler):
    """A sampler that learns its queries against an owner-side model pool (docs/cae.md, docs/metafinger.md,
    docs/metav.md, ...): the runner builds :attr:`pool_spec` for the victim and calls
    :meth:`sample_with_pool`."""

    pool_spec: PoolSpec

    def sample(
        self, victim: TorchClassifier, data: Dataset, budget: int, *, generator: torch.Generator
    ) -> Queries:
        raise ValueError(f"{type(self).__name__} needs a model pool: call sample_with_pool")

    @abstractmethod
    def sample_with_pool(
        self, victim: TorchClassifier, data: Dataset, budget: int, pool: Pool, *, generator: torch.Generator
    ) -> Queries:
        """Return ``budget`` queries learned against ``pool`` (positives derived from ``victim``)."""
