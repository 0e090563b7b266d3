"""Owner-side model pools for the schemes that learn from surrogates (CAE, MetaFinger, MetaV, ADV-TRA
baselines; MFUE's mimic models; NaturalFinger): which models a pool holds (:class:`PoolSpec`), the built
pool (:class:`Pool`) and one batched forward/backward over its members (:class:`PoolEnsemble`)."""

from modelprint.pools.base import Pool, PoolSpec
from modelprint.pools.builder import PoolOverlapError, build_pool, check_disjoint
from modelprint.pools.ensemble import PoolEnsemble

__all__ = ["Pool", "PoolEnsemble", "PoolOverlapError", "PoolSpec", "build_pool", "check_disjoint"]
