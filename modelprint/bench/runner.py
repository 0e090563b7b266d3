"""The benchmark runner: fingerprints × seeds × (victim, suspect) pairs → scores in SQLite, resumable.

The grid runs as tasks (:mod:`modelprint.bench.tasks`) on any executor. Each suspect answers each distinct
query batch once per scoring task (all of a suspect's rows are in one task); every scheme is still charged,
in its stored row, for the queries it read, so query counts stay per-scheme and honest.

Deployment threats (input processing and output defences, docs/threats.md; :mod:`modelprint.threats`) are an
evaluation axis: every (scheme, seed) is scored clean and behind each threat, with one key per (scheme,
seed, victim), and each threat's accuracy cost is measured on the victims (MFUE §6, QuRD)."""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TypeVar

import torch

from modelprint.attacks import AttackContext
from modelprint.bench.tasks import (
    GridContext,
    KeyResult,
    KeyTask,
    ModelCache,
    ScoreCell,
    ScoreResult,
    key_groups,
    run_key_task,
    run_score_task,
    score_chunks,
    serves,
)
from modelprint.data import Dataset
from modelprint.fingerprints.base import Fingerprint
from modelprint.keys import KeyStore
from modelprint.models.access import to_labels
from modelprint.models.base import Classifier, TorchClassifier
from modelprint.pools import build_pool, check_disjoint
from modelprint.results import AccuracyRecord, ResultsDB
from modelprint.threats import Threat, derive_seed
from modelprint.types import Output
from modelprint.zoo.executors import BUILD_THREADS, Executor, InlineExecutor
from modelprint.zoo.presets import Preset
from modelprint.zoo.store import ModelStore

T = TypeVar("T")
R = TypeVar("R")

__all__ = [
    "QURD_BUDGETS",
    "RunStats",
    "accuracy_subset",
    "run_benchmark",
    "serves",
    "threat_accuracy",
    "with_budgets",
]

log = logging.getLogger(__name__)

#: The query budgets of QuRD's budget curves (Figure 4).
QURD_BUDGETS = (10, 20, 50, 100, 200, 400)


@dataclass
class RunStats:
    scored: int = 0
    skipped: int = 0
    keys_generated: int = 0
    images_charged: int = 0
    images_sent: int = 0
    seconds: float = 0.0
    #: pairs not scored because a threat leaves less access than the scheme needs (not stored)
    unsupported: int = 0


def with_budgets(
    fingerprints: Sequence[Fingerprint], budgets: Sequence[int] | None
) -> list[tuple[str, Fingerprint]]:
    """(label, fingerprint) pairs: each scheme as given, or once per budget labelled ``name@budget``."""
    if not budgets:
        return [(fp.name, fp) for fp in fingerprints]
    return [(f"{fp.name}@{b}", dataclasses.replace(fp, budget=b)) for fp in fingerprints for b in budgets]


def accuracy_subset(test: Dataset, n: int) -> Dataset:
    """``n`` test images drawn without replacement under a fixed seed, in their original order: splits may be
    sorted by class (mnist5k's is), so the first ``n`` would measure only the first few classes."""
    if n >= len(test):
        return test
    pick = torch.randperm(len(test), generator=torch.Generator().manual_seed(derive_seed("accuracy")))[:n]
    return test.subset(pick.sort().values)


def threat_accuracy(
    model: Classifier, threat: Threat | None, data: Dataset, *, seed: int = 0, batch: int = 256
) -> float:
    """Accuracy of ``model`` behind ``threat`` (``None``: clean) on ``data``: the threat's accuracy cost
    is the drop from the clean value on the same images."""
    served = threat.wrap(model, seed) if threat is not None else model
    if len(data) == 0:
        return float("nan")
    correct = 0
    for i in range(0, len(data), batch):
        out = served(data.images[i : i + batch])
        correct += int((to_labels(out, served.output) == data.labels[i : i + batch]).sum())
    return correct / len(data)


def _threat_specs(threats: Sequence[Threat]) -> list[tuple[str, Threat | None]]:
    out: dict[str, Threat | None] = {"": None}
    for t in threats:
        out.setdefault(t.spec, t)
    return list(out.items())


def _submit_all(
    executor: Executor, fn: Callable[[T], R], tasks: Sequence[T], on_done: Callable[[R], None]
) -> None:
    """Run ``tasks`` on ``executor`` (at most its capacity in flight), calling ``on_done`` in this process
    as each finishes; a task's error is raised here after the others in flight are cancelled."""
    waiting = list(tasks)
    pending: set[Future[R]] = set()
    try:
        while waiting or pending:
            while waiting and len(pending) < max(1, executor.capacity):
                pending.add(executor.submit(fn, waiting.pop(0)))
            for fut in executor.wait_any(pending):
                pending.discard(fut)
                on_done(fut.result())
    finally:
        for fut in pending:
            fut.cancel()


def run_benchmark(
    preset: Preset,
    fingerprints: Sequence[Fingerprint],
    seeds: Sequence[int],
    *,
    store: ModelStore,
    results: ResultsDB,
    keys: KeyStore,
    ctx: AttackContext,
    access: Output | None = None,
    budgets: Sequence[int] | None = None,
    seed_split: str = "test",
    on_pair: Callable[[], None] | None = None,
    executor: Executor | None = None,
    allow_overlap: bool = False,
    threats: Sequence[Threat] = (),
    accuracy_images: int = 256,
    threads: int = BUILD_THREADS,
    chunk: int | None = None,
) -> RunStats:
    """Score every pair of ``preset`` with every fingerprint (at every budget of ``budgets``) and seed; rows
    already in ``results`` are skipped (resume). Each suspect is wrapped at the scheme's least access level
    (or ``access``) with a fresh query counter, so a row's query count is what that scheme read.

    The grid runs as tasks on ``executor`` (default: in this process; :mod:`modelprint.bench.tasks`): first
    the missing keys (one task per victim, seed and group of schemes sharing a pool or a sampler), then the
    missing rows (``chunk`` suspects per task; default: about eight tasks), each with ``threads`` torch
    threads, so rows are bit-identical on every executor. Keys are cached in ``keys`` and rows are
    written here as each task returns, so a killed run resumes without recomputing either.

    With ``threats`` every (scheme, seed) is scored clean and again behind each threat (stored under the
    threat's spec in the ``threat`` column); the threat wraps the suspect's model *below* the access wrapper,
    so the scheme is still charged per image it sends, and draws its randomness from a seed derived from
    (seed, suspect, threat), so scores do not depend on run order. A scheme needing more access than a
    threat leaves (a probs scheme behind ``labels``) is not scored there: counted in
    ``RunStats.unsupported`` and logged. Each threat's accuracy cost (and the clean accuracy) is measured
    once per victim on ``accuracy_images`` test images drawn at random under a fixed seed (0: not measured;
    :func:`accuracy_subset`).

    Pool-based schemes get their owner-side pool built (``executor``) in ``store`` before their keys; a
    pool member that is also a suspect or victim of the preset is refused (:class:`PoolOverlapError`)
    unless ``allow_overlap``."""
    stats = RunStats()
    start = time.perf_counter()
    executor = executor or InlineExecutor()
    context = GridContext.of(store, keys.root, ctx, seed_split=seed_split, threads=threads)
    pairs = preset.pairs()
    conditions = _threat_specs(threats)
    evaluated = [*preset.victims, *preset.suspects]
    for spec in {fp.pool_spec for fp in fingerprints if fp.pool_spec is not None}:
        for victim in preset.victims:
            if not allow_overlap:
                check_disjoint([lin for side in spec.lineages(victim) for lin in side], evaluated)

    if threats and accuracy_images > 0:
        models = ModelCache(store)
        test = accuracy_subset(ctx.split("test"), accuracy_images)
        known = {(a.threat, a.model) for a in results.accuracies(preset=preset.name)}
        for tspec, threat in conditions:
            for victim in preset.victims:
                if (tspec, victim) not in known:
                    acc = threat_accuracy(models.get(victim), threat, test)
                    results.add_accuracy(AccuracyRecord(preset.name, tspec, victim, acc, len(test)))

    warned: set[tuple[str, str]] = set()

    def unsupported(label: str, tspec: str, level: Output, n: int) -> None:
        stats.unsupported += n
        if (label, tspec) not in warned:
            warned.add((label, tspec))
            log.warning(
                "%s needs %r access, which threat %s does not leave: not scored under it", label, level, tspec
            )

    def tick(n: int) -> None:
        if on_pair:
            for _ in range(n):
                on_pair()

    # ---- plan: the missing rows, and the keys they need
    cells: list[ScoreCell] = []
    needs_key: dict[tuple[int, str], dict[str, tuple[str, Fingerprint]]] = {}
    for label, fp in with_budgets(fingerprints, budgets):
        config = repr(fp)
        level: Output = access or fp.needs
        for seed in seeds:
            for victim in dict.fromkeys(p.victim for p in pairs):
                todo = [p for p in pairs if p.victim == victim]
                done = {tspec: results.done(config, seed, victim, tspec) for tspec, _ in conditions}
                active = {t for t, threat in conditions if serves(threat, TorchClassifier.output, level)}
                if all(p.suspect in done[tspec] for tspec in active for p in todo):
                    stats.skipped += len(todo) * len(active)
                    for tspec in (t for t, _ in conditions if t not in active):
                        unsupported(label, tspec, level, len(todo))
                    tick(len(todo) * len(conditions))
                    continue
                if not keys.has(fp, victim, seed):
                    needs_key.setdefault((seed, victim), {}).setdefault(config, (label, fp))
                for tspec, threat in conditions:
                    for pair in todo:
                        if pair.suspect in done[tspec]:
                            stats.skipped += 1
                            tick(1)
                        else:
                            cells.append(ScoreCell(label, fp, seed, pair, tspec, threat, level))

    # ---- keys: pools first (their members are zoo builds on the executor), then one task per group
    key_tasks: list[KeyTask] = []
    built_pools: set[tuple[str, str]] = set()
    for (seed, victim), schemes in needs_key.items():
        for _, fp in schemes.values():
            if fp.pool_spec is not None and (repr(fp.pool_spec), victim) not in built_pools:
                build_pool(fp.pool_spec, victim, store, ctx, executor=executor)
                built_pools.add((repr(fp.pool_spec), victim))
        key_tasks += key_groups(list(schemes.values()), victim, seed, context)

    def keys_done(made: list[KeyResult]) -> None:
        for k in made:
            results.add_key(k.label, k.config, k.seed, k.victim, k.queries, k.seconds)
            stats.keys_generated += 1

    _submit_all(executor, run_key_task, key_tasks, keys_done)

    # ---- rows, stored as each task returns
    def rows_done(res: ScoreResult) -> None:
        results.add_many(res.rows)
        stats.scored += len(res.rows)
        stats.images_charged += res.charged
        stats.images_sent += res.sent
        for cell in res.unsupported:
            unsupported(cell.label, cell.threat_spec, cell.level, 1)
        tick(len(res.rows) + len(res.unsupported))

    n_suspects = len({c.pair.suspect for c in cells})
    size = chunk or max(1, math.ceil(n_suspects / 8))
    _submit_all(executor, run_score_task, score_chunks(cells, preset.name, context, chunk=size), rows_done)
    stats.seconds = time.perf_counter() - start
    return stats
