"""End-to-end glue used by the CLI and the tests: preset → zoo → scores → report rows."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from tqdm.auto import tqdm

import modelprint.attacks
import modelprint.fingerprints  # noqa: F401  (registers the fingerprints)
from modelprint.attacks import AttackContext
from modelprint.bench.results import ResultsDB, ScoreRecord
from modelprint.bench.runner import RunStats, run_benchmark
from modelprint.data import DATASETS
from modelprint.fingerprints.base import Fingerprint, parse_fingerprint
from modelprint.models.io import ModelFileError
from modelprint.report import ScoreRow
from modelprint.threats import Threat
from modelprint.types import Output
from modelprint.workspace import Workspace
from modelprint.zoo.builder import BuildReport, build_zoo, closure
from modelprint.zoo.executors import Executor, make_executor
from modelprint.zoo.preset_files import is_preset_file, load_preset_file
from modelprint.zoo.presets import PRESETS, Preset
from modelprint.zoo.store import ModelStore

log = logging.getLogger(__name__)


def resolve_preset(name: str, dataset: str | None = None, recipe: str | None = None) -> Preset:
    """The registered preset ``name`` on ``dataset`` (default: the preset's) under ``recipe`` (default:
    ``paper`` on CIFAR, ``cpu`` elsewhere; see :mod:`modelprint.zoo.recipes`), or the preset of a TOML
    file (:mod:`modelprint.zoo.preset_files`)."""
    if is_preset_file(name):
        if dataset or recipe:
            raise ValueError(f"{name}: a preset file states its dataset and recipe (no --dataset/--recipe)")
        return load_preset_file(name)
    factory = PRESETS.get(name)
    if dataset:
        DATASETS.get(dataset)  # an unknown name is one line listing the known ones, before anything runs
    kwargs: dict[str, str] = {"dataset": dataset} if dataset else {}
    if recipe is not None:
        kwargs["recipe"] = recipe
    return factory(**kwargs)


def resolve_fingerprints(specs: Sequence[str], *, budget: int | None = None) -> list[Fingerprint]:
    """Each ``name`` or ``name:key=value,...`` spec (:func:`parse_fingerprint`), with ``budget`` if given."""
    return [parse_fingerprint(spec, budget=budget) for spec in specs]


def build_preset(
    preset: Preset,
    ws: Workspace,
    *,
    data_root: str | None = None,
    progress: bool = True,
    executor: Executor | None = None,
) -> BuildReport:
    """Build (or resume) ``preset``'s zoo in ``ws`` with a progress bar; default executor: local processes."""
    ctx = AttackContext(preset.dataset, data_root=data_root)
    todo = closure(preset.lineages())
    bar = tqdm(total=len(todo), desc=f"zoo {preset.name}", unit="model", disable=not progress)
    done = sum((ws.store.path(lin) / "card.json").is_file() for lin in todo) if progress else 0
    if done:  # resuming: say so before the bar starts (the builder checks every artifact's hash itself)
        left = len(todo) - done
        bar.write(f"zoo {preset.name}: {done} of {len(todo)} models already built, {left} to build")

    def tick(lineage: str, built: bool) -> None:
        bar.set_postfix_str(("built " if built else "cached ") + lineage[-40:])
        bar.update()

    try:
        return build_zoo(todo, ws.store, ctx, on_model=tick, executor=executor or make_executor("local"))
    finally:
        bar.close()


@dataclass
class PresetRun:
    build: BuildReport
    stats: RunStats


def run_preset(
    preset: Preset,
    fingerprints: Sequence[Fingerprint],
    seeds: Sequence[int],
    ws: Workspace,
    *,
    access: Output | None = None,
    data_root: str | None = None,
    progress: bool = True,
    executor: Executor | None = None,
    budgets: Sequence[int] | None = None,
    threats: Sequence[Threat] = (),
) -> PresetRun:
    """Build (or reuse) the zoo, then score every pair, clean and behind each of ``threats``
    (docs/threats.md); both steps resume where they stopped."""
    build = build_preset(preset, ws, data_root=data_root, progress=progress, executor=executor)
    ctx = AttackContext(preset.dataset, data_root=data_root)
    conditions = 1 + len({t.spec for t in threats})
    total = len(fingerprints) * max(1, len(budgets or ())) * len(seeds) * len(preset.pairs()) * conditions
    with (
        ResultsDB(ws.results_path) as db,
        tqdm(total=total, desc="bench", unit="pair", disable=not progress) as bar,
    ):
        stats = run_benchmark(
            preset,
            fingerprints,
            seeds,
            store=ws.store,
            results=db,
            keys_root=ws.keys,
            ctx=ctx,
            access=access,
            budgets=budgets,
            on_pair=bar.update,
            executor=executor,
            threats=threats,
        )
    return PresetRun(build, stats)


def _accuracy(store: ModelStore, lineage: str, cache: dict[str, float | None]) -> float | None:
    if lineage not in cache:
        try:
            cache[lineage] = store.card(lineage).accuracy
        except ModelFileError:
            cache[lineage] = None
    return cache[lineage]


def report_rows(records: Sequence[ScoreRecord], store: ModelStore) -> list[ScoreRow]:
    """Stored scores joined with each suspect's accuracy from its card (the clean one, also for rows scored
    behind a threat)."""
    acc: dict[str, float | None] = {}
    return [
        ScoreRow(
            r.fingerprint,
            r.seed,
            r.victim,
            r.suspect,
            r.positive,
            r.task,
            r.score,
            r.queries,
            r.seconds,
            _accuracy(store, r.suspect, acc),
            r.threat,
        )
        for r in records
    ]
