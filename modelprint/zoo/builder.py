"""Builds a zoo: every lineage in dependency order, cached on disk, resumable, written atomically.

Models are scheduled as soon as their parent is stored, on any executor (inline, local processes, Dask);
a model whose card and hash check out is never rebuilt, a corrupt one is."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

import torch.nn.functional as F

from modelprint.attacks import AttackContext, make_step
from modelprint.models.base import TorchClassifier
from modelprint.models.io import ModelCard, save_model
from modelprint.types import JSONValue
from modelprint.zoo.executors import BUILD_THREADS, Executor, InlineExecutor, reproducible_build
from modelprint.zoo.lineage import canonical, parent_of, parse_lineage, root_of, step_seed
from modelprint.zoo.store import ModelStore

log = logging.getLogger(__name__)


@dataclass
class BuildReport:
    built: list[str]
    reused: list[str]
    seconds: float


def closure(lineages: Iterable[str]) -> list[str]:
    """All lineages plus their ancestors, parents before children, each once."""
    ordered: list[str] = []
    seen: set[str] = set()

    def visit(lin: str) -> None:
        lin = canonical(lin)
        if lin in seen:
            return
        parent = parent_of(lin)
        if parent is not None:
            visit(parent)
        seen.add(lin)
        ordered.append(lin)

    for lin in lineages:
        visit(lin)
    return ordered


def build_one(
    lineage: str, store: ModelStore, ctx: AttackContext, *, threads: int = BUILD_THREADS
) -> ModelCard:
    """Build a single model whose parent is already stored; evaluate it; store it with its card."""
    steps = parse_lineage(lineage)
    attack = make_step(steps[-1])
    parent_lin = parent_of(lineage)
    parent = store.load(parent_lin, device=ctx.device) if parent_lin else None
    parent_card = store.card(parent_lin) if parent_lin else None
    seed = step_seed(lineage)
    start = time.perf_counter()
    built = attack.apply(parent, parent_card.arch if parent_card else None, ctx, seed=seed)
    seconds = time.perf_counter() - start
    test = ctx.split("test")
    model = TorchClassifier(
        built.module,
        num_classes=test.num_classes,
        input_shape=test.input_shape,
        mean=test.mean,
        std=test.std,
        device=ctx.device,
    )
    logits = model(test.images)
    preds = logits.argmax(dim=1)
    logloss = float(F.cross_entropy(logits, test.labels, reduction="none").median())
    fidelity = None
    root = root_of(lineage)
    if root != lineage and store.is_valid(root):
        fidelity = float((store.load(root).predict(test.images) == preds).float().mean())
    c, h, _ = test.input_shape
    inherited = _inherited_arch_kwargs(built.arch, built.config, parent_card)
    card = ModelCard(
        lineage=lineage,
        arch=built.arch,
        dataset=ctx.dataset,
        in_channels=c,
        image_size=h,
        num_classes=test.num_classes,
        mean=list(test.mean),
        std=list(test.std),
        seed=seed,
        accuracy=float((preds == test.labels).float().mean()),
        parent=parent_lin,
        fidelity=fidelity,
        config={**inherited, **built.config, "threads": threads},
        seconds=round(seconds, 3),
        logloss=round(logloss, 6),
    )
    return save_model(built.module, card, store.path(lineage))


def _inherited_arch_kwargs(
    arch: str, config: dict[str, JSONValue], parent_card: ModelCard | None
) -> dict[str, JSONValue]:
    """A user class's constructor arguments carried from the parent's card to a model of the same class
    (a fine-tune, a prune, a same-architecture student), so the card rebuilds it at its real size."""
    if parent_card is None or "arch_kwargs" in config or arch != parent_card.arch:
        return {}
    inherited = parent_card.config.get("arch_kwargs")
    return {"arch_kwargs": inherited} if isinstance(inherited, dict) else {}


@dataclass(frozen=True)
class BuildTask:
    """Everything a worker needs to build one model whose parent is already in the store."""

    lineage: str
    store_root: str
    dataset: str
    split_seed: int = 0
    data_root: str | None = None
    threads: int = BUILD_THREADS


def run_build_task(task: BuildTask) -> tuple[str, float]:
    """Build one model in whatever process this runs in; returns (lineage, seconds)."""
    if os.environ.get("MALLOC_TRIM_THRESHOLD_"):
        log.warning("MALLOC_TRIM_THRESHOLD_ is set in this worker; torch training runs much slower with it")
    start = time.perf_counter()
    ctx = AttackContext(task.dataset, split_seed=task.split_seed, data_root=task.data_root)
    with reproducible_build(task.threads):
        build_one(task.lineage, ModelStore(Path(task.store_root)), ctx, threads=task.threads)
    return task.lineage, time.perf_counter() - start


def build_zoo(
    lineages: Iterable[str],
    store: ModelStore,
    ctx: AttackContext,
    *,
    executor: Executor | None = None,
    threads: int = BUILD_THREADS,
    on_model: Callable[[str, bool], None] | None = None,
) -> BuildReport:
    """Build every missing model (and missing ancestors). Existing valid models are reused, not retrained;
    an interrupted build resumes where it stopped; a corrupt artifact (hash mismatch) is rebuilt.
    ``on_model(lineage, built)`` is called for every model, reused ones first."""
    start = time.perf_counter()
    todo = closure(lineages)
    reused = [lin for lin in todo if store.is_valid(lin)]
    for lin in reused:
        if on_model:
            on_model(lin, False)
    missing = [lin for lin in todo if lin not in set(reused)]
    built: list[str] = []
    if not missing:
        return BuildReport(built, reused, time.perf_counter() - start)
    if executor is None:
        executor = InlineExecutor()
    pending: dict[Future[tuple[str, float]], str] = {}
    waiting = list(missing)
    try:
        while waiting or pending:
            in_flight = set(pending.values())
            ready = [
                lin
                for lin in waiting
                if (p := parent_of(lin)) is None or (p not in waiting and p not in in_flight)
            ]
            for lin in ready[: max(0, executor.capacity - len(pending))]:
                waiting.remove(lin)
                task = BuildTask(lin, str(store.root), ctx.dataset, ctx.split_seed, ctx.data_root, threads)
                pending[executor.submit(run_build_task, task)] = lin
            if not pending:
                raise RuntimeError(f"zoo build stalled: cannot schedule {waiting}")
            for fut in executor.wait_any(pending):
                lin = pending.pop(fut)
                fut.result()  # re-raises a worker's error
                log.info("built %s", lin)
                built.append(lin)
                if on_model:
                    on_model(lin, True)
    finally:
        for fut in pending:
            fut.cancel()
    return BuildReport(built, reused, time.perf_counter() - start)
