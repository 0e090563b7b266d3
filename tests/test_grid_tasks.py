"""The benchmark grid as tasks: the same rows and keys on every executor, and a killed run resumes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TypeVar

import pytest

from modelprint.bench.pipeline import resolve_fingerprints
from modelprint.bench.runner import RunStats, run_benchmark
from modelprint.keys import KeyStore
from modelprint.results import ResultsDB
from modelprint.testing import TinyZoo
from modelprint.zoo.executors import DaskExecutor, Executor, InlineExecutor, LocalExecutor

T = TypeVar("T")
R = TypeVar("R")

#: cheap schemes with different samplers, representations and access levels
SCHEMES = ["akh", "random", "sac-m", "zest:subsample=20", "ipguard:max_iter=50", "fbi"]


def _run(tiny: TinyZoo, root: Path, executor: Executor | None, **kw: object) -> RunStats:
    fps = resolve_fingerprints(SCHEMES)
    with ResultsDB(root / "results.sqlite") as db:
        return run_benchmark(
            tiny.preset, fps, [0, 1], store=tiny.store, results=db, keys=KeyStore(root / "keys"),
            ctx=tiny.ctx, executor=executor, **kw,  # type: ignore[arg-type]
        )  # fmt: skip


def _rows(root: Path) -> dict[tuple[object, ...], tuple[float, int]]:
    with ResultsDB(root / "results.sqlite") as db:
        return {(r.config, r.seed, r.victim, r.suspect, r.threat): (r.score, r.queries) for r in db.records()}


def _key_digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((root / "keys").rglob("key.safetensors"))
    }


def test_every_executor_gives_the_same_rows_and_keys(tiny: TinyZoo, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    inline = _run(tiny, tmp_path / "inline", InlineExecutor(), chunk=2)
    n_rows = len(SCHEMES) * 2 * len(tiny.preset.pairs())
    assert inline.scored == n_rows and inline.keys_generated == len(SCHEMES) * 2
    local = _run(tiny, tmp_path / "local", LocalExecutor(n_jobs=2), chunk=3)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster, distributed.Client(cluster) as client:
        dask = _run(tiny, tmp_path / "dask", DaskExecutor(client=client))
    assert local.scored == dask.scored == n_rows
    rows = _rows(tmp_path / "inline")
    assert len(rows) == n_rows
    assert _rows(tmp_path / "local") == rows and _rows(tmp_path / "dask") == rows
    keys = _key_digests(tmp_path / "inline")
    assert len(keys) == len(SCHEMES) * 2
    assert _key_digests(tmp_path / "local") == keys and _key_digests(tmp_path / "dask") == keys
    derived = [v[0] for k, v in rows.items() if "ipguard" in str(k[0]) and k[3] != k[2]]
    assert len(set(derived)) > 1  # real scores, not a constant


class Killed(Exception):
    """Stands for the process being killed."""


class DyingExecutor(InlineExecutor):
    """Runs ``lives`` tasks, then dies as a killed process would (nothing after that is stored)."""

    def __init__(self, lives: int) -> None:
        self.lives = lives

    def submit(self, fn: Callable[[T], R], task: T) -> Future[R]:
        if self.lives == 0:
            raise Killed
        self.lives -= 1
        return super().submit(fn, task)


@pytest.mark.parametrize("lives", [2, 14])  # killed among the (≤ 12) key tasks, or among the scoring tasks
def test_a_killed_run_resumes_without_recomputing(tiny: TinyZoo, tmp_path: Path, lives: int) -> None:
    n_keys = len(SCHEMES) * 2
    fps = resolve_fingerprints(SCHEMES)
    n_key_tasks = 2 * len({(repr(fp.sampler), fp.budget) for fp in fps})  # one per shared sampler
    with pytest.raises(Killed):
        _run(tiny, tmp_path, DyingExecutor(lives), chunk=2)
    keys_before = _key_digests(tmp_path)
    rows_before = _rows(tmp_path)
    assert (len(keys_before) < n_keys) == (lives < n_key_tasks)
    assert (len(rows_before) > 0) == (lives > n_key_tasks)
    resumed = _run(tiny, tmp_path, InlineExecutor(), chunk=2)
    n_rows = len(SCHEMES) * 2 * len(tiny.preset.pairs())
    assert resumed.keys_generated == n_keys - len(keys_before)
    assert resumed.scored == n_rows - len(rows_before) and resumed.skipped == len(rows_before)
    assert {k: v for k, v in _key_digests(tmp_path).items() if k in keys_before} == keys_before
    after = _rows(tmp_path)
    assert len(after) == n_rows and all(after[k] == v for k, v in rows_before.items())
    clean = tmp_path / "clean"
    _run(tiny, clean, InlineExecutor(), chunk=5)
    assert _rows(clean) == after
