"""The benchmark runner: fingerprints × seeds × (victim, suspect) pairs → scores in SQLite, resumable.

Each suspect answers each distinct query batch once per run (:class:`SharedAnswers`); every scheme is still
charged, in its stored row, for the queries it read, so query counts stay per-scheme and honest.

Deployment threats (spec §17 input processing, §18 output defences; :mod:`modelprint.threats`) are an
evaluation axis: every (scheme, seed) is scored clean and behind each threat, with one key per (scheme,
seed, victim), and each threat's accuracy cost is measured on the victims (MFUE §6, QuRD)."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from modelprint.attacks import AttackContext
from modelprint.bench.answers import SharedAnswers
from modelprint.bench.results import AccuracyRecord, ResultsDB, ScoreRecord
from modelprint.data import Dataset
from modelprint.fingerprints.base import Fingerprint
from modelprint.models.access import AccessError, Suspect, to_labels
from modelprint.models.base import Classifier, TorchClassifier
from modelprint.pools import Pool, build_pool, check_disjoint
from modelprint.threats import Threat, derive_seed
from modelprint.types import Key, Output, Pair, Queries, gives_at_least
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
    #: pairs not scored because a threat leaves less access than the scheme needs (not stored)
    unsupported: int = 0


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


def serves(threat: Threat | None, model_output: Output, level: Output) -> bool:
    """Whether a model answering at ``model_output`` still serves ``level`` access behind ``threat``."""
    if threat is None:
        return gives_at_least(model_output, level)
    try:
        return gives_at_least(threat.output_for(model_output), level)
    except AccessError:
        return False


def _threat_specs(threats: Sequence[Threat]) -> list[tuple[str, Threat | None]]:
    out: dict[str, Threat | None] = {"": None}
    for t in threats:
        out.setdefault(t.spec, t)
    return list(out.items())


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
    threats: Sequence[Threat] = (),
    accuracy_images: int = 256,
) -> RunStats:
    """Score every pair of ``preset`` with every fingerprint (at every budget of ``budgets``) and seed; rows
    already in ``results`` are skipped (resume). Each suspect is wrapped at the scheme's least access level
    (or ``access``) with a fresh query counter, so a row's query count is what that scheme read.

    With ``threats`` every (scheme, seed) is scored clean and again behind each threat (stored under the
    threat's spec in the ``threat`` column); the threat wraps the suspect's model *below* the access wrapper,
    so the scheme is still charged per image it sends, and draws its randomness from a seed derived from
    (seed, suspect, threat), so scores do not depend on run order. Keys are made once per (scheme, seed,
    victim). A scheme needing more access than a threat leaves (a probs scheme behind ``labels``) is not
    scored there: counted in ``RunStats.unsupported`` and logged. Each threat's accuracy cost (and the clean
    accuracy) is measured once per victim on ``accuracy_images`` test images drawn at random under a fixed
    seed (0: not measured; :func:`accuracy_subset`).

    Pool-based schemes get their owner-side pool built (``executor``) in ``store``; a pool member that is
    also a suspect or victim of the preset is refused (:class:`PoolOverlapError`) unless ``allow_overlap``."""
    stats = RunStats()
    start = time.perf_counter()
    models = ModelCache(store)
    seed_data = ctx.split(seed_split)
    pairs = preset.pairs()
    conditions = _threat_specs(threats)
    pools: dict[tuple[str, str], Pool] = {}
    evaluated = [*preset.victims, *preset.suspects]
    for spec in {fp.pool_spec for fp in fingerprints if fp.pool_spec is not None}:
        for victim in preset.victims:
            if not allow_overlap:
                check_disjoint([lin for side in spec.lineages(victim) for lin in side], evaluated)

    if threats and accuracy_images > 0:
        test = accuracy_subset(ctx.split("test"), accuracy_images)
        known = {(a.threat, a.model) for a in results.accuracies(preset=preset.name)}
        for tspec, threat in conditions:
            for victim in preset.victims:
                if (tspec, victim) not in known:
                    acc = threat_accuracy(models.get(victim), threat, test)
                    results.add_accuracy(AccuracyRecord(preset.name, tspec, victim, acc, len(test)))

    def pool_for(fp: Fingerprint, victim: str) -> Pool | None:
        if fp.pool_spec is None:
            return None
        token = (repr(fp.pool_spec), victim)
        if token not in pools:
            pools[token] = build_pool(fp.pool_spec, victim, store, ctx, executor=executor)
        return pools[token]

    warned: set[tuple[str, str]] = set()

    def unsupported(label: str, tspec: str, level: Output, n: int) -> None:
        stats.unsupported += n
        if (label, tspec) not in warned:
            warned.add((label, tspec))
            log.warning(
                "%s needs %r access, which threat %s does not leave: not scored under it", label, level, tspec
            )

    def score_pair(
        label: str,
        fp: Fingerprint,
        key: Key,
        seed: int,
        pair: Pair,
        tspec: str,
        threat: Threat | None,
        level: Output,
    ) -> None:
        model: Classifier = models.answers(pair.suspect)
        if not serves(threat, model.output, level):
            unsupported(label, tspec, level, 1)
            return
        if threat is not None:
            model = threat.wrap(model, derive_seed("threat", seed, pair.suspect, tspec))
        suspect = Suspect(model, access=level)
        t0 = time.perf_counter()
        score = fp.verify(key, suspect)
        seconds = time.perf_counter() - t0
        row = (label, repr(fp), seed, pair.victim, pair.suspect, tspec, preset.name, pair.positive)
        results.add(ScoreRecord(*row, pair.task, score, suspect.queries_spent, seconds, level))
        stats.scored += 1
        stats.images_charged += suspect.queries_spent

    sampled: dict[tuple[str, int, int, str], Queries] = {}  # schemes sharing a sampler share its queries
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
                    for _ in range(len(todo) * len(conditions)):
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
                for tspec, threat in conditions:
                    for pair in todo:
                        if pair.suspect in done[tspec]:
                            stats.skipped += 1
                        else:
                            score_pair(label, fp, key, seed, pair, tspec, threat, level)
                        if on_pair:
                            on_pair()
    stats.images_sent = models.images_sent
    stats.seconds = time.perf_counter() - start
    return stats
