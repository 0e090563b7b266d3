"""Keys of one victim and seed for many fingerprints, each owner-side pool built once and each distinct
(sampler, budget) sampled once: combos that differ only in representation or detector ask the same
queries, and sampling is the expensive part (docs/conventions.md#qurd-decomposition)."""

from __future__ import annotations

from collections.abc import Callable

from modelprint.data import Dataset
from modelprint.fingerprints.base import Fingerprint, refuse_nan_victim
from modelprint.models.base import TorchClassifier
from modelprint.pools import Pool, PoolSpec
from modelprint.types import Key, Queries

__all__ = ["KeyMaker"]


class KeyMaker:
    """Makes keys of ``victim`` from the seed set ``data`` with sampler seed ``seed``; ``pool_for`` builds the
    pool of a :class:`PoolSpec` (needed only by pool-based schemes). Each key equals
    ``fp.generate(victim, data, seed=seed, pool=...)``."""

    def __init__(
        self,
        victim: TorchClassifier,
        data: Dataset,
        seed: int,
        *,
        pool_for: Callable[[PoolSpec], Pool] | None = None,
    ) -> None:
        self.victim, self.data, self.seed = victim, data, seed
        self._pool_for = pool_for
        self._pools: dict[str, Pool] = {}
        self._sampled: dict[tuple[str, int], Queries] = {}
        self._probed = False

    def pool(self, spec: PoolSpec) -> Pool:
        """The built pool of ``spec`` (built on first use)."""
        token = repr(spec)
        if token not in self._pools:
            if self._pool_for is None:
                raise ValueError("this scheme learns from an owner-side pool; no pool builder was given")
            self._pools[token] = self._pool_for(spec)
        return self._pools[token]

    def queries(self, fp: Fingerprint) -> Queries:
        """``fp``'s sampled queries, shared with every fingerprint of the same sampler and budget."""
        token = (repr(fp.sampler), fp.budget)
        if token not in self._sampled:
            self._refuse_nan_victim()
            pool = self.pool(fp.pool_spec) if fp.pool_spec is not None else None
            self._sampled[token] = fp.sample(self.victim, self.data, seed=self.seed, pool=pool)
        return self._sampled[token]

    def make(self, fp: Fingerprint) -> Key:
        """The key of ``fp``: its (shared) queries and the victim's reference representation."""
        return fp.key_for(self.victim, self.data, self.queries(fp), seed=self.seed)

    def _refuse_nan_victim(self) -> None:
        if not self._probed:
            refuse_nan_victim(self.victim, self.data)
            self._probed = True
