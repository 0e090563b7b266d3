"""Where zoo models are trained: in this process, in local worker processes (joblib's loky), or on a Dask
cluster. Every build runs with the same fixed number of torch threads, because the thread count changes
float reduction order and so the trained weights: the same lineage gives the same weights on any executor."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future
from concurrent.futures import wait as futures_wait
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch

log = logging.getLogger(__name__)

#: torch threads used by every model build (recorded in each card); parallelism comes from executors.
BUILD_THREADS = 1
_THREADS_LOCK = threading.Lock()


@dataclass(frozen=True)
class BuildTask:
    """Everything a worker needs to build one model whose parent is already in the store."""

    lineage: str
    store_root: str
    dataset: str
    split_seed: int = 0
    data_root: str | None = None
    threads: int = BUILD_THREADS


@contextmanager
def reproducible_build(threads: int) -> Iterator[None]:
    """Run with exactly ``threads`` intra-op threads, restoring the setting afterwards. Measured here: one
    epoch of cnn-m on mnist5k ends with weight sum 413.22 on 1 thread and 412.93 on 2 threads."""
    with _THREADS_LOCK:
        before = torch.get_num_threads()
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        with _THREADS_LOCK:
            torch.set_num_threads(before)


def run_build_task(task: BuildTask) -> tuple[str, float]:
    """Build one model in whatever process this runs in; returns (lineage, seconds)."""
    from modelprint.attacks import AttackContext
    from modelprint.zoo.builder import build_one
    from modelprint.zoo.store import ModelStore

    if os.environ.get("MALLOC_TRIM_THRESHOLD_"):
        log.warning("MALLOC_TRIM_THRESHOLD_ is set in this worker; torch training runs much slower with it")
    start = time.perf_counter()
    ctx = AttackContext(task.dataset, split_seed=task.split_seed, data_root=task.data_root)
    with reproducible_build(task.threads):
        build_one(task.lineage, ModelStore(Path(task.store_root)), ctx, threads=task.threads)
    return task.lineage, time.perf_counter() - start


class Executor(Protocol):
    """Submits build tasks and waits for any of them to finish; ``capacity`` bounds tasks in flight."""

    capacity: int

    def submit(self, task: BuildTask) -> Future[tuple[str, float]]: ...

    def wait_any(self, futures: Iterable[Future[tuple[str, float]]]) -> set[Future[tuple[str, float]]]: ...

    def close(self) -> None: ...


class InlineExecutor:
    """Builds in this process, one model at a time (debugging, tests)."""

    capacity = 1

    def submit(self, task: BuildTask) -> Future[tuple[str, float]]:
        fut: Future[tuple[str, float]] = Future()
        try:
            fut.set_result(run_build_task(task))
        except BaseException as exc:
            if not isinstance(exc, Exception):
                raise
            fut.set_exception(exc)
        return fut

    def wait_any(self, futures: Iterable[Future[tuple[str, float]]]) -> set[Future[tuple[str, float]]]:
        return {f for f in futures if f.done()}

    def close(self) -> None:
        return None


class LocalExecutor:
    """``n_jobs`` worker processes (joblib's loky executor), one model per process at a time."""

    def __init__(self, n_jobs: int | None = None) -> None:
        from joblib.externals.loky import get_reusable_executor

        self.n_jobs = n_jobs or max(1, os.cpu_count() or 1)
        self.capacity = 2 * self.n_jobs
        self._pool = get_reusable_executor(max_workers=self.n_jobs, timeout=60)

    def submit(self, task: BuildTask) -> Future[tuple[str, float]]:
        return self._pool.submit(run_build_task, task)

    def wait_any(self, futures: Iterable[Future[tuple[str, float]]]) -> set[Future[tuple[str, float]]]:
        done, _ = futures_wait(list(futures), return_when=FIRST_COMPLETED)
        return set(done)

    def close(self) -> None:
        return None  # the reusable pool stays warm for the next build in this process


def dask_worker_config() -> dict[str, object]:
    """Dask settings for zoo workers: no MALLOC_TRIM_THRESHOLD_ (it slows torch training ~2.4×)."""
    return {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


class DaskExecutor:
    """Builds on a Dask cluster: ``scheduler`` address, an existing ``client``, or a new local cluster.

    The store root must be a directory every worker can read and write (a shared file system)."""

    def __init__(
        self, scheduler: str | None = None, *, client: object | None = None, n_workers: int | None = None
    ) -> None:
        try:
            import dask
            from distributed import Client, LocalCluster
        except ImportError as exc:  # pragma: no cover - depends on the optional extra
            raise RuntimeError("the Dask executor needs `pip install -e '.[dask]'`") from exc
        self._owned: list[object] = []
        self.capacity = 10**6
        if client is not None:
            self.client = client
        else:
            with dask.config.set(dask_worker_config()):
                if scheduler:
                    self.client = Client(scheduler)
                else:
                    cluster = LocalCluster(
                        n_workers=n_workers or max(1, os.cpu_count() or 1),
                        threads_per_worker=1,
                        processes=True,
                    )
                    self._owned.append(cluster)
                    self.client = Client(cluster)
            self._owned.insert(0, self.client)

    def submit(self, task: BuildTask) -> Future[tuple[str, float]]:
        return self.client.submit(run_build_task, task, pure=False, key=f"build-{task.lineage}")  # type: ignore[attr-defined,no-any-return]

    def wait_any(self, futures: Iterable[Future[tuple[str, float]]]) -> set[Future[tuple[str, float]]]:
        from distributed import wait

        done, _ = wait(list(futures), return_when="FIRST_COMPLETED")
        return set(done)

    def close(self) -> None:
        for obj in self._owned:
            obj.close()  # type: ignore[attr-defined]


def make_executor(kind: str, *, n_jobs: int | None = None, scheduler: str | None = None) -> Executor:
    """``inline`` | ``local`` (loky processes) | ``dask`` (``scheduler`` address or a new local cluster)."""
    if kind == "inline":
        return InlineExecutor()
    if kind == "local":
        return LocalExecutor(n_jobs)
    if kind == "dask":
        return DaskExecutor(scheduler, n_workers=n_jobs)
    raise ValueError(f"unknown executor {kind!r}; choose inline, local or dask")


ProgressFn = Callable[[str, bool], None]
