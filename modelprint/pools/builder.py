"""Build an owner-side pool with the zoo builder and check it is disjoint from a benchmark's suspects."""

from __future__ import annotations

from collections.abc import Iterable

from tqdm.auto import tqdm

from modelprint.attacks.base import AttackContext
from modelprint.gan import GanStore
from modelprint.pools.base import Pool, PoolSpec
from modelprint.zoo.builder import build_zoo
from modelprint.zoo.executors import Executor
from modelprint.zoo.lineage import canonical
from modelprint.zoo.store import ModelStore


class PoolOverlapError(ValueError):
    """A pool member is also a suspect of the benchmark: its scores would be optimistic."""


def check_disjoint(pool_lineages: Iterable[str], suspects: Iterable[str]) -> None:
    """Raise :class:`PoolOverlapError` naming the models that are both pool members and suspects."""
    shared = sorted({canonical(x) for x in pool_lineages} & {canonical(x) for x in suspects})
    if shared:
        raise PoolOverlapError(
            f"{len(shared)} pool model(s) are also benchmark suspects (e.g. {shared[0]}); pools used for "
            "generation must be disjoint from the evaluated models (pass allow_overlap to accept this)"
        )


def build_pool(
    spec: PoolSpec,
    victim: str,
    store: ModelStore,
    ctx: AttackContext,
    *,
    executor: Executor | None = None,
    device: str = "cpu",
) -> Pool:
    """Build (or reuse) the pool ``spec`` of the victim lineage ``victim`` in ``store`` and load it; a GAN
    named by ``spec.gan`` is trained on ``ctx``'s owner split (or reused) under ``<store>/gans``."""
    positives, negatives = spec.lineages(victim)
    members = [*positives, *negatives]
    with tqdm(total=len(members), desc="pool", unit="model", disable=None, leave=False) as bar:
        build_zoo(members, store, ctx, executor=executor, on_model=lambda _lin, _built: bar.update())
    gan = GanStore(store.root).get(spec.gan, ctx) if spec.gan is not None else None
    return Pool(
        tuple(store.load(lin, device=device) for lin in positives),
        tuple(store.load(lin, device=device) for lin in negatives),
        tuple(positives),
        tuple(negatives),
        gan,
    )
