"""The benchmark runner: fingerprints × seeds × (victim, suspect) pairs → scores in SQLite, resumable.

Each suspect answers each distinct query batch once per run (:class:`SharedAnswers`); every scheme is still
charged, in its stored row, for the queries it read, so query counts stay per-scheme and honest."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from modelprint.attacks import AttackContext
from modelprint.bench.answers import SharedAnswers
from modelprint.bench.results import ResultsDB, ScoreRecord
from modelprint.fingerprints.base import Fingerprint
from modelprint.models.access import Suspect
from modelprint.models.base import TorchClassifier
from modelprint.pools import Pool, build_pool, check_disjoint
from modelprint.types import Key, Output, Queries
from modelprint.zoo.executors import Executor
from modelprint.zoo.lineage import model_id
from modelprint.zoo.presets import Preset
from modelprint.zoo.store import ModelStore

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


class ModelCache:
    """Loads each stored model once per run and wraps it so its answers are shared across schemes."""

    def __init__(self, store: ModelStore) -> None:
        self.store = store
        self._models: dict[str, TorchClassifier] = {}
        self._answers: dict[str, SharedAnswers] = {}

    def get(self, lineage: str) -> TorchClassifier:
        if lineage not in self._models:
            self._models[lineage] = self.store.load(lineage)
        return self._models[lineage]

    def answers(self, lineage: str) -> SharedAnswers:
        if lineage not in self._answers:
            self._answers[lineage] = SharedAnswers(self.get(lineage))
        return self._answers[lineage]

    @property
    def images_sent(self) -> int:
        return sum(a.sent for a in self._answers.values())


def key_dir(root: Path, fp: Fingerprint, victim: str, seed: int) -> Path:
    """Where the key of (fingerprint config, victim, seed) is cached."""
    digest = hashlib.sha256(repr(fp).encode()).hexdigest()[:10]
    return root / fp.name / model_id(victim) / f"seed{seed}-{digest}"


def with_budgets(
    fingerprints: Sequence[Fingerprint], budgets: Sequence[int] | None
) -> list[tuple[str, Fingerprint]]:
    """(label, fingerprint) pairs: each scheme as given, or once per budget labelled ``name@budget``."""
    if not budgets:
        return [(fp.name, fp) for fp in fingerprints]
    return [(f"{fp.name}@{b}", dataclasses.replace(fp, budget=b)) for fp in fingerprints for b in budgets]


def run_benchmark(
    preset: Preset,
    fingerprints: Sequence[Fingerprint],
    seeds: Sequence[int],
    *,
    store: ModelStore,
    results: ResultsDB,
    keys_root: Path,
    ctx: AttackContext,
    access: Output | None = None,
    budgets: Sequence[int] | None = None,
    seed_split: str = "test",
    on_pair: Callable[[], None] | None = None,
    executor: Executor | None = None,
    allow_overlap: bool = False,
) -> RunStats:
    """Score every pair of ``preset`` with every fingerprint (at every budget of ``budgets``) and seed; rows
    already in ``results`` are skipped (resume). Each suspect is wrapped at the scheme's least access level
    (or ``access``) with a fresh query counter, so a row's query count is what that scheme read.

    Pool-based schemes get their owner-side pool built (``executor``) in ``store``; a pool member that is
    also a suspect or victim of the preset is refused (:class:`PoolOverlapError`) unless ``allow_overlap``."""
    stats = RunStats()
    start = time.perf_counter()
    models = ModelCache(store)
    seed_data = ctx.split(seed_split)
    pairs = preset.pairs()
    pools: dict[tuple[str, str], Pool] = {}
    evaluated = [*preset.victims, *preset.suspects]
    for spec in {fp.pool_spec for fp in fingerprints if fp.pool_spec is not None}:
        for victim in preset.victims:
            if not allow_overlap:
                check_disjoint([lin for side in spec.lineages(victim) for lin in side], evaluated)

    def pool_for(fp: Fingerprint, victim: str) -> Pool | None:
        if fp.pool_spec is None:
            return None
        token = (repr(fp.pool_spec), victim)
        if token not in pools:
            pools[token] = build_pool(fp.pool_spec, victim, store, ctx, executor=executor)
        return pools[token]

    sampled: dict[tuple[str, int, int, str], Queries] = {}  # schemes sharing a sampler share its queries
    for label, fp in with_budgets(fingerprints, budgets):
        config = repr(fp)
        level: Output = access or fp.needs
        for seed in seeds:
            for victim in dict.fromkeys(p.victim for p in pairs):
                todo = [p for p in pairs if p.victim == victim]
                done = results.done(config, seed, victim)
                if all(p.suspect in done for p in todo):
                    stats.skipped += len(todo)
                    for _ in todo:
                        if on_pair:
                            on_pair()
                    continue
                kdir = key_dir(keys_root, fp, victim, seed)
                if (kdir / "key.json").is_file():
                    key = Key.load(kdir)
                else:
                    t0 = time.perf_counter()
                    token = (repr(fp.sampler), fp.budget, seed, victim)
                    if token not in sampled:
                        pool = pool_for(fp, victim)
                        sampled[token] = fp.sample(models.get(victim), seed_data, seed=seed, pool=pool)
                    key = fp.key_for(models.get(victim), seed_data, sampled[token], seed=seed)
                    key.save(kdir)
                    results.add_key(label, config, seed, victim, key.num_queries, time.perf_counter() - t0)
                    stats.keys_generated += 1
                for pair in todo:
                    if pair.suspect in done:
                        stats.skipped += 1
                    else:
                        suspect = Suspect(models.answers(pair.suspect), access=level)
                        t0 = time.perf_counter()
                        score = fp.verify(key, suspect)
                        seconds = time.perf_counter() - t0
                        spent = suspect.queries_spent
                        row = (label, config, seed, victim, pair.suspect, "", preset.name, pair.positive)
                        results.add(ScoreRecord(*row, pair.task, score, spent, seconds, level))
                        stats.scored += 1
                        stats.images_charged += suspect.queries_spent
                    if on_pair:
                        on_pair()
    stats.images_sent = models.images_sent
    stats.seconds = time.perf_counter() - start
    return stats
