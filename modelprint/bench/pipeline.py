"""End-to-end glue used by the CLI and the tests: preset → zoo → scores → report rows."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from tqdm.auto import tqdm

import modelprint.attacks
import modelprint.fingerprints  # noqa: F401  (registers the fingerprints)
from modelprint.attacks import AttackContext
from modelprint.bench.detection import DetectionStats, run_detection
from modelprint.bench.runner import RunStats, run_benchmark
from modelprint.fingerprints.base import Fingerprint, parse_fingerprint
from modelprint.results import DetectionRecord, ResultsDB
from modelprint.threats import Threat
from modelprint.threats.detection import QueryDetector
from modelprint.types import Output
from modelprint.workspace import Workspace
from modelprint.zoo.builder import BuildReport, build_zoo, closure
from modelprint.zoo.executors import Executor, make_executor
from modelprint.zoo.presets import Preset

log = logging.getLogger(__name__)


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
            keys=ws.keys,
            ctx=ctx,
            access=access,
            budgets=budgets,
            on_pair=bar.update,
            executor=executor,
            threats=threats,
        )
    return PresetRun(build, stats)


@dataclass
class PresetDetection:
    """What ``bench detect`` did: the zoo build, the detection stats, the stored rates of this run's schemes
    and detectors, and whether the preset's pairs have scores (so a full report can be written)."""

    build: BuildReport
    stats: DetectionStats
    rates: list[DetectionRecord]
    scored: bool


def detect_preset(
    preset: Preset,
    fingerprints: Sequence[Fingerprint],
    seeds: Sequence[int],
    detectors: Sequence[QueryDetector],
    ws: Workspace,
    *,
    data_root: str | None = None,
    progress: bool = True,
    executor: Executor | None = None,
) -> PresetDetection:
    """Build (or reuse) the zoo, then store how many of each key's queries every detector flags
    (:func:`~modelprint.bench.detection.run_detection`, docs/query-detectors.md); resumes where it stopped."""
    build = build_preset(preset, ws, data_root=data_root, progress=progress, executor=executor)
    ctx = AttackContext(preset.dataset, data_root=data_root)
    total = len(fingerprints) * len(seeds) * len(preset.victims) * len(detectors)
    with (
        ResultsDB(ws.results_path) as db,
        tqdm(total=total, desc="detect", unit="cell", disable=not progress) as bar,
    ):
        stats = run_detection(
            preset, fingerprints, seeds, detectors, store=ws.store, results=db, keys=ws.keys, ctx=ctx,
            executor=executor, on_cell=bar.update,
        )  # fmt: skip
        labels, names = {fp.name for fp in fingerprints}, {d.label for d in detectors}
        stored = db.detections(preset=preset.name)
        rates = [r for r in stored if r.fingerprint in labels and r.detector in names]
        scored = bool(db.records(pairs=preset.pair_ids()))
    return PresetDetection(build, stats, rates, scored)
