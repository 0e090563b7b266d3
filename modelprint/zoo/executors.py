"""Where work runs: in this process, in local worker processes (joblib's loky), or on a Dask cluster.

An executor runs a module-level work function on a picklable task (``submit(fn, task)``): zoo builds
(:func:`modelprint.zoo.builder.run_build_task`), fingerprint keys and scoring (:mod:`modelprint.bench.tasks`).
Every task runs with a fixed number of torch threads (:func:`reproducible_build`), because the thread
count changes float reduction order: the same task gives the same weights, keys and scores on any
executor."""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future
from concurrent.futures import wait as futures_wait
from contextlib import contextmanager
from typing import Protocol, TypeVar

import torch

log = logging.getLogger(__name__)

#: torch threads used by every model build (recorded in each card); parallelism comes from executors.
BUILD_THREADS = 1
_THREADS_LOCK = threading.Lock()


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


T = TypeVar("T")
R = TypeVar("R")


def task_name(fn: Callable[..., object], task: object) -> str:
    """A readable, unique name for a task on a cluster dashboard: the function, the task's ``name`` if it
    has one, and a random suffix (a task may be resubmitted after a failure)."""
    label = getattr(task, "name", "") or type(task).__name__
    return f"{fn.__name__}-{label}-{uuid.uuid4().hex[:8]}"


class Executor(Protocol):
    """Runs ``fn(task)`` somewhere and waits for any of them to finish; ``capacity`` bounds tasks in
    flight. ``fn`` must be a module-level function and ``task`` picklable (worker processes, Dask)."""

    capacity: int

    def submit(self, fn: Callable[[T], R], task: T) -> Future[R]: ...

    def wait_any(self, futures: Iterable[Future[R]]) -> set[Future[R]]: ...

    def close(self) -> None: ...


class InlineExecutor:
    """Runs each task in this process when it is submitted (debugging, tests)."""

    capacity = 1

    def submit(self, fn: Callable[[T], R], task: T) -> Future[R]:
        fut: Future[R] = Future()
        try:
            fut.set_result(fn(task))
        except BaseException as exc:
            if not isinstance(exc, Exception):
                raise
            fut.set_exception(exc)
        return fut

    def wait_any(self, futures: Iterable[Future[R]]) -> set[Future[R]]:
        return {f for f in futures if f.done()}

    def close(self) -> None:
        return None


class LocalExecutor:
    """``n_jobs`` worker processes (joblib's loky executor), one task per process at a time."""

    def __init__(self, n_jobs: int | None = None) -> None:
        from joblib.externals.loky import get_reusable_executor

        self.n_jobs = n_jobs or max(1, os.cpu_count() or 1)
        self.capacity = 2 * self.n_jobs
        self._pool = get_reusable_executor(max_workers=self.n_jobs, timeout=60)

    def submit(self, fn: Callable[[T], R], task: T) -> Future[R]:
        return self._pool.submit(fn, task)

    def wait_any(self, futures: Iterable[Future[R]]) -> set[Future[R]]:
        done, _ = futures_wait(list(futures), return_when=FIRST_COMPLETED)
        return set(done)

    def close(self) -> None:
        return None  # the reusable pool stays warm for the next build in this process


def dask_worker_config() -> dict[str, object]:
    """Dask settings for zoo workers: no MALLOC_TRIM_THRESHOLD_ (it slows torch training ~2.4×)."""
    return {"distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": None}


class DaskExecutor:
    """Runs on a Dask cluster: ``scheduler`` address, an existing ``client``, or a new local cluster.

    The workspace (zoo store, keys) must be a directory every worker can read and write (a shared file
    system); results come back to the submitting process, which alone writes the results database."""

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

    def submit(self, fn: Callable[[T], R], task: T) -> Future[R]:
        return self.client.submit(fn, task, pure=False, key=task_name(fn, task))  # type: ignore[attr-defined,no-any-return]

    def wait_any(self, futures: Iterable[Future[R]]) -> set[Future[R]]:
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
