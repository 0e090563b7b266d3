"""Owner-side pools: lineages from a spec, building through the zoo builder, splits, overlap refusal."""

from pathlib import Path

import pytest

from modelprint.attacks import AttackContext
from modelprint.keys import KeyStore
from modelprint.pools import Pool, PoolOverlapError, PoolSpec, build_pool, check_disjoint
from modelprint.testing import TinyZoo
from modelprint.zoo.lineage import parse_lineage
from modelprint.zoo.store import ModelStore

SPEC = PoolSpec(
    positives=("finetune(ftal,data=owner,epochs=2)", "prune(0.3,ft=1,data=owner)"),
    negatives=("same", "mlp"),
)


def test_spec_lineages_use_owner_data_and_fresh_seeds(tiny: TinyZoo) -> None:
    positives, negatives = SPEC.lineages(tiny.source)
    assert all(p.startswith(tiny.source + "->") and "data=owner" in p for p in positives)
    roots = [parse_lineage(n)[0] for n in negatives]
    assert [r.args[0] for r in roots] == ["cnn-s", "mlp"]
    assert all(int(r.args[2]) >= 1000 and dict(r.kwargs)["data"] == "owner" for r in roots)
    assert all(dict(r.kwargs)["epochs"] == "15" for r in roots)  # the victim's recipe carries over
    with pytest.raises(ValueError, match="starts with train"):
        SPEC.lineages("finetune(ftal)")


def test_build_pool_builds_loads_and_splits(tiny: TinyZoo, tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    pool = build_pool(SPEC, tiny.source, store, AttackContext(tiny.ctx.dataset))
    assert len(pool.positives) == 2 and len(pool.negatives) == 2
    images, labels = tiny.data("test").images, tiny.data("test").labels
    assert all(m.accuracy(images, labels) > 0.8 for m in (*pool.positives, *pool.negatives))
    again = build_pool(SPEC, tiny.source, store, AttackContext(tiny.ctx.dataset))  # reused, not retrained
    assert again.positive_lineages == pool.positive_lineages
    train, val = pool.split(0.5, seed=0)
    assert len(train.positives) == len(val.positives) == 1
    assert set(train.negative_lineages) | set(val.negative_lineages) == set(pool.negative_lineages)
    with pytest.raises(ValueError, match="at least one model"):
        Pool((), ())
    with pytest.raises(ValueError, match="CAE needs a pool with at least one positive"):
        Pool((), pool.negatives).require_both("CAE")


def test_overlap_with_the_benchmark_is_refused(tiny: TinyZoo) -> None:
    positives, negatives = SPEC.lineages(tiny.source)
    check_disjoint([*positives, *negatives], tiny.preset.suspects)
    with pytest.raises(PoolOverlapError, match="also benchmark suspects"):
        check_disjoint(positives, [*tiny.preset.suspects, positives[0]])


def test_runner_refuses_a_pool_that_overlaps_the_suspects(tiny: TinyZoo, tmp_path: Path) -> None:
    import dataclasses

    from modelprint.bench.runner import run_benchmark
    from modelprint.fingerprints import FINGERPRINTS
    from modelprint.results import ResultsDB

    fp = FINGERPRINTS.make("metav", budget=5, iterations=2, pool=SPEC)
    leaked = SPEC.lineages(tiny.source)[0][0]
    preset = dataclasses.replace(tiny.preset, suspects=(*tiny.preset.suspects, leaked))
    with ResultsDB(tmp_path / "r.sqlite") as db, pytest.raises(PoolOverlapError):
        run_benchmark(preset, [fp], [0], store=tiny.store, results=db, keys=KeyStore(tmp_path), ctx=tiny.ctx)
    with ResultsDB(tmp_path / "r.sqlite") as db:
        stats = run_benchmark(
            tiny.preset, [fp], [0], store=tiny.store, results=db, keys=KeyStore(tmp_path), ctx=tiny.ctx
        )
    assert stats.scored == len(tiny.preset.pairs()) and stats.keys_generated == 1
