"""Every executor builds the same models: same lineage and seed -> byte-identical weights."""

from pathlib import Path

import pytest

from modelprint.testing import TinyZoo
from modelprint.zoo.builder import build_zoo
from modelprint.zoo.executors import DaskExecutor, LocalExecutor
from modelprint.zoo.store import ModelStore


def _hashes(store: ModelStore, lineages: list[str]) -> dict[str, str]:
    return {lin: store.card(lin).sha256 for lin in lineages}


def test_local_processes_build_the_same_weights_as_inline(tiny: TinyZoo, tmp_path: Path) -> None:
    lineages = tiny.preset.lineages()
    store = ModelStore(tmp_path)
    report = build_zoo(lineages, store, tiny.ctx, executor=LocalExecutor(n_jobs=2))
    assert sorted(report.built) == sorted(lineages)
    assert _hashes(store, lineages) == _hashes(tiny.store, lineages)


def test_dask_builds_the_same_weights_and_resumes(tiny: TinyZoo, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    lineages = tiny.preset.lineages()
    store = ModelStore(tmp_path)
    half = lineages[:4]
    with distributed.Client(
        processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None
    ) as client:
        first = build_zoo(half, store, tiny.ctx, executor=DaskExecutor(client=client))
        second = build_zoo(lineages, store, tiny.ctx, executor=DaskExecutor(client=client))
    assert sorted(first.built) == sorted(half)
    assert sorted(second.reused) == sorted(half) and sorted(second.built) == sorted(set(lineages) - set(half))
    assert _hashes(store, lineages) == _hashes(tiny.store, lineages)
