"""The benchmark grid as tasks: keys (scheme × victim × seed) and scoring (keys × a chunk of suspects).

Both kinds run on any executor of :mod:`modelprint.zoo.executors` (in this process, local worker processes,
a Dask cluster), with a fixed torch thread count, so a row's score is bit-identical whichever executor ran
it. A task reads the zoo store and the keys folder (a shared file system on a cluster), writes keys
atomically (``key.json`` last, so a key exists only once complete), and returns its score rows to the
submitting process, which alone writes the results database: a killed run resumes from the keys and rows
already stored, recomputing neither."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from modelprint.attacks import AttackContext
from modelprint.bench.answers import SharedAnswers
from modelprint.fingerprints.base import Fingerprint
from modelprint.keys import KeyMaker, KeyStore
from modelprint.models.access import AccessError, Suspect
from modelprint.models.base import Classifier, TorchClassifier
from modelprint.results import ScoreRecord
from modelprint.threats import Threat, derive_seed
from modelprint.types import Key, Output, Pair, gives_at_least
from modelprint.zoo.executors import BUILD_THREADS, reproducible_build
from modelprint.zoo.store import ModelStore


def serves(threat: Threat | None, model_output: Output, level: Output) -> bool:
    """Whether a model answering at ``model_output`` still serves ``level`` access behind ``threat``."""
    if threat is None:
        return gives_at_least(model_output, level)
    try:
        return gives_at_least(threat.output_for(model_output), level)
    except AccessError:
        return False


@dataclass(frozen=True)
class GridContext:
    """What every task needs to rebuild its world in any process: the workspace folders, the dataset (and
    the split the samplers draw seeds from), and the torch thread count."""

    store_root: str
    keys_root: str
    dataset: str
    split_seed: int = 0
    data_root: str | None = None
    seed_split: str = "test"
    threads: int = BUILD_THREADS

    @classmethod
    def of(
        cls, store: ModelStore, keys_root: Path, ctx: AttackContext, *, seed_split: str, threads: int
    ) -> GridContext:
        store_root, keys = str(Path(store.root).resolve()), str(Path(keys_root).resolve())
        return cls(store_root, keys, ctx.dataset, ctx.split_seed, ctx.data_root, seed_split, threads)

    def attack_context(self) -> AttackContext:
        return AttackContext(self.dataset, split_seed=self.split_seed, data_root=self.data_root)

    @property
    def store(self) -> ModelStore:
        return ModelStore(Path(self.store_root))

    @property
    def keys(self) -> KeyStore:
        return KeyStore(Path(self.keys_root))


class ModelCache:
    """Loads each stored model once per task (or run) and wraps it so its answers are shared by schemes."""

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


# --------------------------------------------------------------------------- keys


@dataclass(frozen=True)
class KeyTask:
    """Keys of one victim and seed for ``schemes`` ((label, fingerprint) pairs): schemes with the same
    sampler and budget share one sampling, and schemes whose steps are memoised (MFUE-w and MFUE-b share
    their triggers) share them because they run in one process."""

    context: GridContext
    victim: str
    seed: int
    schemes: tuple[tuple[str, Fingerprint], ...]

    @property
    def name(self) -> str:
        return f"keys-{'+'.join(label for label, _ in self.schemes)}-seed{self.seed}"


@dataclass(frozen=True)
class KeyResult:
    """One key made by a task: where it is, its query count and the seconds it took."""

    label: str
    config: str
    seed: int
    victim: str
    queries: int
    seconds: float


def run_key_task(task: KeyTask) -> list[KeyResult]:
    """Make (and save) every missing key of ``task``; keys already on disk are left as they are."""
    keys = task.context.keys
    out: list[KeyResult] = []
    with reproducible_build(task.context.threads):
        maker: KeyMaker | None = None

        def lazy() -> KeyMaker:
            nonlocal maker
            if maker is None:
                context = task.context
                maker = keys.maker(
                    task.victim, task.seed, models=context.store, ctx=context.attack_context(),
                    seed_split=context.seed_split,
                )  # fmt: skip
            return maker

        for label, fp in task.schemes:
            key, seconds = keys.key_for(fp, task.victim, task.seed, lazy)
            if seconds is not None:
                out.append(KeyResult(label, repr(fp), task.seed, task.victim, key.num_queries, seconds))
    return out


def key_groups(
    schemes: Sequence[tuple[str, Fingerprint]], victim: str, seed: int, context: GridContext
) -> list[KeyTask]:
    """One task per group of schemes that share work: the same pool (pool-based schemes) or the same
    sampler and budget."""
    groups: dict[tuple[str, ...], list[tuple[str, Fingerprint]]] = {}
    for label, fp in schemes:
        pool = fp.pool_spec
        token = ("pool", repr(pool)) if pool is not None else (repr(fp.sampler), str(fp.budget))
        groups.setdefault(token, []).append((label, fp))
    return [KeyTask(context, victim, seed, tuple(g)) for g in groups.values()]


# --------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class ScoreCell:
    """One row to compute: a scheme's key (by victim and seed) against one suspect under one condition."""

    label: str
    fingerprint: Fingerprint
    seed: int
    pair: Pair
    threat_spec: str
    threat: Threat | None
    level: Output


@dataclass(frozen=True)
class ScoreTask:
    """Rows of ``preset`` over a chunk of suspects; every suspect answers each distinct query batch once
    (:class:`SharedAnswers`), whichever schemes send it."""

    context: GridContext
    preset: str
    cells: tuple[ScoreCell, ...]

    @property
    def name(self) -> str:
        suspects = dict.fromkeys(c.pair.suspect for c in self.cells)
        return f"score-{len(self.cells)}rows-{len(suspects)}suspects"


@dataclass
class ScoreResult:
    """A task's rows, the cells that could not be scored (access), and images charged and really sent."""

    rows: list[ScoreRecord] = field(default_factory=list)
    unsupported: list[ScoreCell] = field(default_factory=list)
    charged: int = 0
    sent: int = 0


def run_score_task(task: ScoreTask) -> ScoreResult:
    """Score every cell of ``task`` in order; keys are read from the keys folder."""
    result = ScoreResult()
    models = ModelCache(task.context.store)
    keys: dict[Path, Key] = {}
    store = task.context.keys
    with reproducible_build(task.context.threads):
        for cell in task.cells:
            fp, pair = cell.fingerprint, cell.pair
            kdir = store.path(fp, pair.victim, cell.seed)
            if kdir not in keys:
                keys[kdir] = Key.load(kdir)
            model: Classifier = models.answers(pair.suspect)
            if not serves(cell.threat, model.output, cell.level):
                result.unsupported.append(cell)
                continue
            if cell.threat is not None:
                threat_seed = derive_seed("threat", cell.seed, pair.suspect, cell.threat_spec)
                model = cell.threat.wrap(model, threat_seed)
            suspect = Suspect(model, access=cell.level)
            t0 = time.perf_counter()
            score = fp.verify(keys[kdir], suspect)
            seconds = time.perf_counter() - t0
            row = (cell.label, repr(fp), cell.seed, pair.victim, pair.suspect, cell.threat_spec, task.preset)
            rest = (pair.positive, pair.task, score, suspect.queries_spent, seconds, cell.level)
            result.rows.append(ScoreRecord(*row, *rest))
            result.charged += suspect.queries_spent
    result.sent = models.images_sent
    return result


def score_chunks(
    cells: Sequence[ScoreCell], preset: str, context: GridContext, *, chunk: int
) -> list[ScoreTask]:
    """Cells grouped by suspect, ``chunk`` suspects per task (all of a suspect's cells in one task, so its
    answers are shared by every scheme)."""
    by_suspect: dict[str, list[ScoreCell]] = {}
    for cell in cells:
        by_suspect.setdefault(cell.pair.suspect, []).append(cell)
    suspects = list(by_suspect)
    return [
        ScoreTask(context, preset, tuple(c for s in suspects[i : i + chunk] for c in by_suspect[s]))
        for i in range(0, len(suspects), chunk)
    ]


__all__ = [
    "GridContext",
    "KeyResult",
    "KeyTask",
    "ModelCache",
    "ScoreCell",
    "ScoreResult",
    "ScoreTask",
    "key_groups",
    "run_key_task",
    "run_score_task",
    "score_chunks",
    "serves",
]
