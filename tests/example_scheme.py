"""A new scheme in one file, as a user or contributor writes it: a pool-based sampler and its fingerprint.

Queries are the seed images on which the owner's derived pool models answer like the victim and its
independent pool models do not (ties broken at random), read as hard labels and compared by match rate.
Importing this file registers ``example-agree``; ``tests/test_contracts.py`` imports it, and from then on
it is enumerated, contract-tested like every registered scheme and run by ``modelprint bench run``."""

from __future__ import annotations

import torch

from modelprint.data import Dataset
from modelprint.detectors.matching import MatchRate
from modelprint.fingerprints.base import FINGERPRINTS, Fingerprint
from modelprint.models.base import TorchClassifier
from modelprint.pools import Pool, PoolSpec
from modelprint.queries.base import PoolSampler
from modelprint.queries.common import QueryStructure
from modelprint.representations.outputs import HardLabels
from modelprint.types import Queries

EXAMPLE_POOL = PoolSpec(("finetune(ftal,data=owner,epochs=2)",), ("same",))
"""One fine-tuned copy and one independent model of the victim's architecture, on the owner's data."""


class PoolAgreementQueries(PoolSampler):
    """Seeds ranked by (share of pool positives agreeing with the victim) + (share of negatives not)."""

    structure: QueryStructure = "points"

    def __init__(self, *, pool_spec: PoolSpec = EXAMPLE_POOL) -> None:
        self.pool_spec = pool_spec

    def sample(
        self,
        victim: TorchClassifier,
        data: Dataset,
        budget: int,
        *,
        generator: torch.Generator,
        pool: Pool | None = None,
    ) -> Queries:
        pool = self.require_pool(pool)
        with torch.no_grad():
            labels = victim(data.images).argmax(1)
            agree = torch.stack([m(data.images).argmax(1) == labels for m in pool.positives]).float().mean(0)
            differ = torch.stack([m(data.images).argmax(1) != labels for m in pool.negatives]).float().mean(0)
        order = torch.randperm(len(data), generator=generator)
        ranked = order[torch.argsort((agree + differ)[order], descending=True, stable=True)]
        idx = ranked[:budget]
        return Queries(data.images[idx].clone(), labels[idx].clone(), {"index": idx})


@FINGERPRINTS.register("example-agree")
def example_agree(*, budget: int = 50) -> Fingerprint:
    """Seeds where derived pool models agree with the victim and independent ones do not, hard labels,
    match rate; label-only (an example scheme written in one file)."""
    return Fingerprint("example-agree", PoolAgreementQueries(), HardLabels(), MatchRate(), budget)
