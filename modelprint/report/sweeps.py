"""Sweeps and ranges in the report.

- Parameter sweeps: fingerprints run as ``name:key=value`` specs (e.g. ``mfue-b:probes=10,budget=1000``,
  ``anafp:fixed_lambda=1.5``) drawn as AUC and TPR@5%FPR against the swept value, the default setting
  (the bare ``name``) as a dashed line, the queries per verification printed at each point — MFUE's probe
  count curve (Xu et al., KDD'26, §4.3) and AnaFP's λ ablation.
- Threat sweeps: one threat run at several values of one parameter (``dp-logits:sigma=0.5``, ``=1``, ...):
  AUC per scheme and the victims' accuracy behind the threat against the value — MFUE's Figure 9.
- Per-attack score ranges: each scheme's scores on each attack's positives and on the negatives, min–max
  with the median — MFUE's Figure 4c/d (matching-rate ranges per attack).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from markupsafe import Markup
from matplotlib.figure import Figure

from modelprint.report.rows import ScoreRow
from modelprint.report.summary import FingerprintSummary, Summary, fmt_value
from modelprint.report.tables import html_table
from modelprint.report.threats import ThreatCost, ThreatMatrix
from modelprint.specs import SpecError, split_spec

__all__ = [
    "Sweep",
    "parameter_sweeps",
    "sweep_sections",
    "task_range_records",
    "task_ranges_figure",
    "threat_sweeps",
]


@dataclass(frozen=True)
class Sweep:
    """``base`` evaluated at several values of ``key``: ``points`` (value, label), sorted by value;
    ``default`` is the label of the bare ``base`` when it was run too."""

    base: str
    key: str
    points: tuple[tuple[float, str], ...]
    default: str | None = None


def _numeric(text: str) -> float | None:
    num, slash, den = text.partition("/")
    try:
        value = float(num) / float(den) if slash else float(text)
    except (ValueError, ZeroDivisionError):
        return None
    return value if math.isfinite(value) else None


def find_sweeps(labels: Iterable[str]) -> list[Sweep]:
    """Sweeps hidden in a list of spec labels: for each base name and each parameter taking two or more
    numeric values across that base's labels, one sweep (a label swept jointly in two keys, such as
    ``probes`` and ``budget``, appears in both)."""
    by_base: dict[str, list[tuple[str, dict[str, str]]]] = {}
    bare: set[str] = set()
    for label in labels:
        try:
            base, items = split_spec(label, "label")
        except SpecError:
            continue
        if "@" in base:  # budget-curve labels (akh@50) have their own plot
            continue
        if not items:
            bare.add(base)
            continue
        by_base.setdefault(base, []).append((label, dict(items)))
    sweeps = []
    for base, entries in by_base.items():
        keys = sorted({k for _, params in entries for k in params})
        for key in keys:
            points: dict[float, str] = {}
            for label, params in entries:
                value = _numeric(params.get(key, ""))
                if value is not None:
                    points.setdefault(value, label)
            if len(points) >= 2:
                sweeps.append(Sweep(base, key, tuple(sorted(points.items())), base if base in bare else None))
    return sweeps


def parameter_sweeps(summary: Summary) -> list[tuple[str, Figure]]:
    """One figure per :func:`find_sweeps` sweep of the summary's fingerprints (mean ± std over seeds)."""
    by_label: dict[str, FingerprintSummary] = {f.fingerprint: f for f in summary.fingerprints}
    out = []
    for sweep in find_sweeps(by_label):
        fig = Figure(figsize=(6.4, 4.0))
        ax = fig.add_subplot()
        xs = [x for x, _ in sweep.points]
        for metric, name, colour in (("auc", "ROC AUC", "C0"), ("tpr", f"TPR@{summary.fpr:.0%}FPR", "C1")):
            ys = [getattr(by_label[lab], f"{metric}_mean") for _, lab in sweep.points]
            es = [getattr(by_label[lab], f"{metric}_std") for _, lab in sweep.points]
            ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, color=colour, label=name)
            if sweep.default is not None:
                ref = getattr(by_label[sweep.default], f"{metric}_mean")
                ax.axhline(ref, color=colour, linestyle="--", alpha=0.7, label=f"{name}, {sweep.default}")
        for x, lab in sweep.points:
            ax.annotate(
                f"{by_label[lab].queries_mean:,.0f} q",
                (x, by_label[lab].auc_mean),
                textcoords="offset points",
                xytext=(0, 7),
                ha="center",
                fontsize=7,
            )
        ax.set_xlabel(f"{sweep.base}: {sweep.key}")
        ax.set_ylim(-0.02, 1.08)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        out.append((f"Sweep: {sweep.base} over {sweep.key}", fig))
    return out


def threat_sweeps(matrix: ThreatMatrix | None, costs: Sequence[ThreatCost] = ()) -> list[tuple[str, Figure]]:
    """One figure per threat swept over one parameter: AUC per scheme (left) and the victims' accuracy
    behind the threat (right) against the value."""
    if matrix is None:
        return []
    accuracy = {c.threat: c.threatened for c in costs}
    out = []
    for sweep in find_sweeps(t for t in matrix.threats if t):
        fig = Figure(figsize=(9.6, 3.8))
        ax_auc, ax_acc = fig.subplots(1, 2)
        xs = [x for x, _ in sweep.points]
        for fp in matrix.fingerprints:
            pts = [(x, matrix.auc[fp][t]) for x, t in sweep.points if t in matrix.auc.get(fp, {})]
            if pts:
                ax_auc.plot(*zip(*pts, strict=True), marker="o", label=fp)
        ax_auc.set_xlabel(f"{sweep.base}: {sweep.key}")
        ax_auc.set_ylabel("ROC AUC")
        ax_auc.set_ylim(-0.02, 1.02)
        ax_auc.grid(alpha=0.3)
        ax_auc.legend(fontsize=7)
        accs = [(x, accuracy[t]) for x, t in sweep.points if t in accuracy]
        if accs:
            ax_acc.plot(*zip(*accs, strict=True), marker="s", color="k")
        ax_acc.set_xlabel(f"{sweep.base}: {sweep.key}")
        ax_acc.set_ylabel("victims' test accuracy behind the threat")
        ax_acc.set_ylim(-0.02, 1.02)
        ax_acc.set_xticks(xs)
        ax_acc.grid(alpha=0.3)
        fig.tight_layout()
        out.append((f"Threat sweep: {sweep.base} over {sweep.key}", fig))
    return out


def _ranges(rows: Sequence[ScoreRow], fingerprints: Sequence[str]) -> tuple[list[str], dict]:
    """tasks (positives first, then negatives), ranges[fp][task] = (min, median, max)."""
    tasks: dict[tuple[bool, str], None] = {}
    scores: dict[str, dict[str, list[float]]] = {}
    for r in rows:
        if r.fingerprint in fingerprints and math.isfinite(r.score):
            tasks.setdefault((not r.positive, r.task))
            scores.setdefault(r.fingerprint, {}).setdefault(r.task, []).append(r.score)
    order = [t for _, t in sorted(tasks, key=lambda k: k[0])]
    ranges = {
        fp: {t: (min(v), statistics.median(v), max(v)) for t, v in by_task.items()}
        for fp, by_task in scores.items()
    }
    return order, ranges


def task_range_records(
    rows: Sequence[ScoreRow], fingerprints: Sequence[str]
) -> tuple[list[str], list[list[str]]]:
    """Headers and cells: one row per task, one column per scheme, ``min–max (median)`` of the scores."""
    tasks, ranges = _ranges(rows, fingerprints)
    cells = []
    for task in tasks:
        row = [task]
        for fp in fingerprints:
            span = ranges.get(fp, {}).get(task)
            row.append(
                "—"
                if span is None
                else f"{fmt_value(span[0], 2)}–{fmt_value(span[2], 2)} ({fmt_value(span[1], 2)})"
            )
        cells.append(row)
    return ["task", *fingerprints], cells


def task_ranges_figure(rows: Sequence[ScoreRow], fingerprints: Sequence[str]) -> Figure | None:
    """One panel per scheme: a vertical min–max bar with the median per task (negatives in grey)."""
    tasks, ranges = _ranges(rows, fingerprints)
    drawn = [fp for fp in fingerprints if fp in ranges]
    if not drawn or not tasks:
        return None
    negatives = {r.task for r in rows if not r.positive}
    cols = min(3, len(drawn))
    nrows = math.ceil(len(drawn) / cols)
    fig = Figure(figsize=(4.2 * cols, 3.2 * nrows))
    axes = fig.subplots(nrows, cols, squeeze=False).ravel()
    for ax, fp in zip(axes, drawn, strict=False):
        for i, task in enumerate(tasks):
            if task not in ranges[fp]:
                continue
            lo, mid, hi = ranges[fp][task]
            colour = "0.55" if task in negatives else "C0"
            ax.vlines(i, lo, hi, color=colour, linewidth=4, alpha=0.8)
            ax.plot(i, mid, marker="_", color="k", markersize=10)
        ax.set_xticks(range(len(tasks)))
        ax.set_xticklabels(tasks, rotation=60, ha="right", fontsize=7)
        ax.set_title(fp, fontsize=9)
        ax.grid(alpha=0.3, axis="y")
    for ax in axes[len(drawn) :]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def sweep_sections(
    rows: Sequence[ScoreRow],
    summary: Summary,
    drawn: Sequence[str],
    matrix: ThreatMatrix | None = None,
    costs: Sequence[ThreatCost] = (),
) -> list[tuple[str, Figure | Markup]]:
    """``extra_sections`` for the report: the per-attack score ranges of the ``drawn`` schemes (table and
    figure), then every parameter sweep and threat sweep found."""
    sections: list[tuple[str, Figure | Markup]] = []
    note = Markup(
        '<p class="note">Scores of each scheme on each attack\'s positives (blue) and on each kind of '
        "negative (grey) over all seeds: min–max (median). Where the positive ranges sit above the negative "
        "ones, one threshold separates them.</p>\n"
    )
    sections.append(("Per-attack score ranges", note + html_table(*task_range_records(rows, drawn))))
    figure = task_ranges_figure(rows, drawn)
    if figure is not None:
        sections.append(("Per-attack score ranges (plot)", figure))
    sections += parameter_sweeps(summary)
    sections += threat_sweeps(matrix, costs)
    return sections
