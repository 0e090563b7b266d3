"""The benchmark report of a workspace in one call: :func:`build_report` reads a preset's results,
builds every registered section from one :class:`ReportInputs`, prints nothing, and returns the terminal
tables and the HTML page's path. A section (a scheme's diagnostics, a new table) is one function
registered with :func:`register_section`; nothing else changes."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import platform
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

import modelprint.report.sections  # noqa: F401  (registers the built-in sections)
from modelprint.report.html import ExtraSection, render_html
from modelprint.report.rows import report_rows
from modelprint.report.section import SECTIONS, ReportInputs, Section, register_section
from modelprint.report.summary import format_table, summarise
from modelprint.results import ResultsDB, ScoreRecord, complete_cells
from modelprint.workspace import Workspace
from modelprint.zoo.preset_files import resolve_preset
from modelprint.zoo.presets import PRESETS, Preset

__all__ = [
    "BuiltReport",
    "NoResultsError",
    "ReportInputs",
    "Section",
    "build_report",
    "register_section",
    "summary_json",
]


class NoResultsError(ValueError):
    """The workspace holds no clean results for what the report was asked about."""


@dataclass(frozen=True)
class BuiltReport:
    """The HTML page written and the terminal tables, in the order the sections come."""

    path: Path
    text: list[str]


def _records(
    db: ResultsDB, preset: str | None, resolved: Preset | None, fingerprints: Sequence[str] | None
) -> list[ScoreRecord]:
    pairs = None if resolved is None else resolved.pair_ids()
    records = db.records(preset=preset, fingerprints=fingerprints, pairs=pairs)
    return complete_cells(records, pairs) if pairs is not None else records


def summary_json(ws: Workspace, preset: Preset, fingerprints: Sequence[str]) -> str:
    """The summary table of ``preset``'s clean rows (its pairs, cells covering every pair) as JSON: one
    object per scheme, NaN as null (``bench run --json``)."""
    with ResultsDB(ws.results_path) as db:
        records = _records(db, None, preset, fingerprints)
    summary = summarise([r for r in report_rows(records, ws.store) if not r.threat], rank=True)

    def clean(value: object) -> object:
        if isinstance(value, float) and not math.isfinite(value):
            return None
        if isinstance(value, dict):
            return {str(k): clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [clean(v) for v in value]
        return value

    body = {
        "preset": preset.name, "fpr": summary.fpr,
        "schemes": [clean(dataclasses.asdict(f)) for f in summary.fingerprints],
    }  # fmt: skip
    return json.dumps(body)


def _preset_notes(preset: Preset | str | None) -> dict[str, str]:
    """A preset's description and what it scaled, for the report's header."""
    if isinstance(preset, Preset):
        p = preset
    elif preset is None or preset not in PRESETS:
        return {}
    else:
        p = PRESETS.make(preset)
    notes = {"zoo": " ".join(p.description.split()).replace("``", "")}
    notes.update({f"scaled: {k}": v for k, v in p.scaled.items()})
    return notes


def _resolvable(name: str | None) -> Preset | None:
    """The preset ``name`` names (a registered one or a TOML file), or None: its rows are then read by tag."""
    if name is None:
        return None
    try:
        return resolve_preset(name)
    except (ValueError, KeyError, OSError):
        return None


def build_report(
    ws: Workspace,
    preset: str | Preset | None,
    fingerprints: Sequence[str] | None = None,
    out: Path | None = None,
) -> BuiltReport:
    """Write the HTML report of ``preset``'s rows — the rows of its (victim, suspect) pairs, whoever scored
    them, keeping the (scheme, seed, threat) cells that cover every pair; a name no preset answers to reads
    the rows tagged with it — to ``out`` (default: the workspace's ``report.html``)."""
    resolved = preset if isinstance(preset, Preset) else _resolvable(preset)
    name = preset.name if isinstance(preset, Preset) else preset
    with ResultsDB(ws.results_path) as db:
        records = _records(db, name, resolved, fingerprints)
        accuracies = db.accuracies(preset=name)
        detections = db.detections(preset=name)
    detections = [d for d in detections if not fingerprints or d.fingerprint in fingerprints]
    all_rows = report_rows(records, ws.store)
    if not any(not r.threat for r in all_rows):
        raise NoResultsError(
            f"no results in {ws.results_path}; run `modelprint bench run PRESET -f NAME` first"
        )
    inputs = ReportInputs(ws, all_rows, resolved, accuracies, detections)
    text = [format_table(inputs.summary)]
    extra: list[tuple[str, ExtraSection]] = []
    for builder in SECTIONS:
        for section in builder(inputs):
            if section.title:
                extra.append((section.title, section.body))
            if section.text:
                text.append(section.text)
    matrix = inputs.threat_matrix
    meta = {
        "preset": name or ", ".join(sorted({r.preset for r in records})),
        **_preset_notes(resolved or name),
        "seeds": ", ".join(str(s) for s in sorted({r.seed for r in records})),
        "pairs scored": str(len(records)),
        **({"threats": ", ".join(t for t in matrix.threats if t)} if matrix is not None else {}),
        "date": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
    }
    path = render_html(
        inputs.rows,
        out or ws.report_path,
        title="modelprint benchmark report",
        meta=meta,
        extra_sections=extra or None,
    )
    return BuiltReport(path, text)
