"""Self-contained HTML benchmark report: tables, ROC curves and score distributions in one file.

Plots are PNGs from matplotlib's Agg canvas embedded as base64 ``data:`` URIs; figures are built with
:class:`matplotlib.figure.Figure` (never registered with pyplot) and cleared after use. The page has no
external CSS, JS or images, and every string taken from the rows or the metadata is HTML-escaped.
"""

from __future__ import annotations

import base64
import io
import logging
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np
from jinja2 import Environment, StrictUndefined
from markupsafe import Markup
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from modelprint.metrics import roc_auc, roc_curve
from modelprint.report._template import COLLAPSE_ROWS, TABLE_MACRO, TEMPLATE
from modelprint.report.rows import ScoreRow
from modelprint.report.summary import (
    Summary,
    fmt_value,
    summarise,
    summary_records,
    task_records,
    tpr_label,
)
from modelprint.types import atomic_write_text

__all__ = ["ExtraSection", "render_html"]

logger = logging.getLogger(__name__)

# What an extra section may hold: text (escaped, shown preformatted), markupsafe.Markup (trusted HTML,
# inserted as is) or a matplotlib Figure (embedded as PNG; the caller keeps ownership of it).
ExtraSection = str | Markup | Figure

_NEG_COLOUR = "#7f7f7f"
_POS_COLOURS = ("#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
_NEG_MARKERS = ("x", "+", "1", "2")


@dataclass(frozen=True)
class _Plot:
    data: str
    alt: str
    caption: str


def _png(fig: Figure) -> str:
    """Base64 PNG of ``fig`` through the Agg canvas (no 'Software' tag, so no URL inside)."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _mpl_text(text: str) -> str:
    """Escape ``$`` so matplotlib never parses names as mathtext."""
    return text.replace("$", r"\$")


def _render_fig(fig: Figure) -> str:
    try:
        return _png(fig)
    finally:
        fig.clear()


_LINE_STYLES = ("-", "--", "-.", ":")


def curve_styles(n: int) -> list[tuple[tuple[float, ...], str]]:
    """``n`` distinct (colour, line style) pairs: matplotlib's ten default colours up to ten curves, its
    twenty paired ones beyond, and line styles in turn once those run out."""
    colours = matplotlib.colormaps["tab10" if n <= 10 else "tab20"].colors  # type: ignore[attr-defined]
    k = len(colours)
    return [(colours[i % k], _LINE_STYLES[(i // k) % len(_LINE_STYLES)]) for i in range(n)]


def _roc_plot(rows: Sequence[ScoreRow], fingerprints: Sequence[str], fpr: float) -> _Plot:
    fig = Figure(figsize=(6.4, 5.6), layout="constrained")
    ax = fig.add_subplot()
    ax.plot([0, 1], [0, 1], color="#999999", linestyle="--", linewidth=1, label="chance")
    ax.axvline(fpr, color="#cc0000", linestyle=":", linewidth=1, label=f"FPR = {fpr:g}")
    by_fp: dict[str, list[ScoreRow]] = {}
    for r in rows:
        by_fp.setdefault(r.fingerprint, []).append(r)
    for name, (colour, style) in zip(fingerprints, curve_styles(len(fingerprints)), strict=True):
        fp_rows = by_fp[name]
        y = np.array([bool(r.positive) for r in fp_rows])
        s = np.array([float(r.score) for r in fp_rows])
        if y.all() or not y.any():
            logger.info("ROC plot: %s has only one class of suspects, no curve drawn", name)
            continue
        fprs, tprs, _ = roc_curve(y, s)
        label = f"{_mpl_text(name)} (pooled AUC {roc_auc(y, s):.3f})"
        ax.plot(fprs, tprs, color=colour, linestyle=style, linewidth=1.6, label=label)
    ax.set(xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), xlabel="false positive rate", ylabel="true positive rate")
    ax.set_title("ROC curves (all seeds pooled)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize="small")
    return _Plot(_render_fig(fig), "ROC curves", "ROC curve of each fingerprint, pairs of all seeds pooled.")


def _distribution_plot(rows: Sequence[ScoreRow], summary: Summary, fingerprints: Sequence[str]) -> _Plot:
    categories = [(False, t) for t in summary.negative_tasks] + [(True, t) for t in summary.tasks]
    ncols = min(2, len(fingerprints))
    nrows = math.ceil(len(fingerprints) / ncols)
    height = max(2.4, 0.45 * len(categories) + 1.3)
    fig = Figure(figsize=(6.2 * ncols, height * nrows), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    groups: dict[tuple[str, bool, str], list[float]] = {}
    for r in rows:
        groups.setdefault((r.fingerprint, bool(r.positive), r.task), []).append(float(r.score))
    rng = np.random.default_rng(0)
    for ax, name in zip(axes, fingerprints, strict=False):
        for k, (positive, task) in enumerate(categories):
            s = np.asarray(groups.get((name, positive, task), []), dtype=np.float64)
            if positive:
                colour = _POS_COLOURS[summary.tasks.index(task) % len(_POS_COLOURS)]
                marker = "o"
            else:
                colour = _NEG_COLOUR
                marker = _NEG_MARKERS[summary.negative_tasks.index(task) % len(_NEG_MARKERS)]
            if s.size:
                jitter = rng.uniform(-0.18, 0.18, s.size)
                ax.scatter(s, k + jitter, s=18, color=colour, marker=marker, alpha=0.75, linewidths=1)
                ax.plot([np.median(s)] * 2, [k - 0.3, k + 0.3], color="black", linewidth=1.2)
        ax.set_yticks(range(len(categories)))
        ax.set_yticklabels(
            [_mpl_text(f"{t} ({'pos' if p else 'neg'})") for p, t in categories], fontsize="small"
        )
        if summary.negative_tasks and summary.tasks:
            ax.axhline(len(summary.negative_tasks) - 0.5, color="#cccccc", linewidth=0.8)
        ax.set_ylim(-0.6, len(categories) - 0.4)
        ax.set_xlabel("score (higher = more likely derived)")
        ax.set_title(_mpl_text(name))
        ax.grid(axis="x", alpha=0.3)
    for ax in axes[len(fingerprints) :]:
        ax.set_visible(False)
    return _Plot(
        _render_fig(fig),
        "score distributions",
        "Scores per fingerprint, all seeds: negatives in grey (crosses), positives coloured by attack; "
        "black bars are medians.",
    )


def _table(
    headers: Sequence[str],
    cells: Sequence[Sequence[str]],
    num: Sequence[bool] | None = None,
    classes: Sequence[str] | None = None,
) -> dict[str, Any]:
    num = list(num) if num is not None else [i > 0 for i in range(len(headers))]
    classes = list(classes) if classes is not None else [""] * len(cells)
    return {
        "headers": list(headers),
        "num": num,
        "rows": [{"cells": list(c), "cls": cls} for c, cls in zip(cells, classes, strict=True)],
    }


def _summary_table(summary: Summary) -> dict[str, Any]:
    headers, cells = summary_records(summary)
    headers = [*headers, "positives", "negatives"]
    cells = [
        [*c, str(f.n_positives), str(f.n_negatives)] for c, f in zip(cells, summary.fingerprints, strict=True)
    ]
    return _table(headers, cells)


def _per_seed_table(summary: Summary) -> dict[str, Any]:
    headers = ["fingerprint", "seed", "AUC", tpr_label(summary.fpr), "ARUC", "positives", "negatives"]
    cells = [
        [
            f.fingerprint,
            str(s.seed),
            fmt_value(s.auc),
            fmt_value(s.tpr),
            fmt_value(s.aruc),
            str(s.n_positives),
            str(s.n_negatives),
        ]
        for f in summary.fingerprints
        for s in f.per_seed
    ]
    return _table(headers, cells)


def _suspects_table(
    rows: Sequence[ScoreRow], summary: Summary, fingerprints: Sequence[str]
) -> dict[str, Any]:
    suspects: dict[tuple[int, str, str], dict[str, Any]] = {}
    for r in rows:
        entry = suspects.setdefault(
            (r.seed, r.victim, r.suspect),
            {"positive": bool(r.positive), "task": r.task, "acc": None, "scores": {}},
        )
        if entry["acc"] is None and r.suspect_accuracy is not None:
            entry["acc"] = r.suspect_accuracy
        entry["scores"][r.fingerprint] = r.score
    task_rank = {t: i for i, t in enumerate((*summary.tasks, *summary.negative_tasks))}

    def key(item: tuple[tuple[int, str, str], dict[str, Any]]) -> tuple[int, str, bool, int, str]:
        (seed, victim, suspect), e = item
        return seed, victim, not e["positive"], task_rank.get(e["task"], len(task_rank)), suspect

    headers = ["seed", "victim", "suspect", "class", "task", "accuracy", *fingerprints]
    cells, classes = [], []
    for (seed, victim, suspect), e in sorted(suspects.items(), key=key):
        acc = "" if e["acc"] is None else fmt_value(float(e["acc"]))
        scores = [fmt_value(float(e["scores"][f]), 4) if f in e["scores"] else "" for f in fingerprints]
        cells.append(
            [str(seed), victim, suspect, "positive" if e["positive"] else "negative", e["task"], acc, *scores]
        )
        classes.append("" if e["positive"] else "neg")
    num = [True, False, False, False, False, True, *([True] * len(fingerprints))]
    return _table(headers, cells, num, classes)


def _extra(sections: Mapping[str, ExtraSection] | Sequence[tuple[str, ExtraSection]] | None) -> list[dict]:
    if sections is None:
        return []
    items = sections.items() if isinstance(sections, Mapping) else sections
    out = []
    taken: set[str] = set(CORE_SECTIONS)
    for heading, body in items:
        ident = _slug(heading, taken)
        if isinstance(body, Figure):
            out.append({"heading": heading, "id": ident, "kind": "image", "body": _png(body)})
        elif isinstance(body, Markup):
            out.append({"heading": heading, "id": ident, "kind": "html", "body": body})
        else:
            out.append({"heading": heading, "id": ident, "kind": "text", "body": str(body)})
    return out


CORE_SECTIONS = {"summary": "Summary", "per-task": "Per attack", "per-seed": "Per seed", "plots": "Plots",
                 "suspects": "Suspects"}  # fmt: skip
"""The report's own sections (id → heading), before the extra ones."""


def _slug(heading: str, taken: set[str]) -> str:
    """A unique HTML id for ``heading``."""
    base = re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-") or "section"
    ident, k = base, 2
    while ident in taken:
        ident, k = f"{base}-{k}", k + 1
    taken.add(ident)
    return ident


PLOTTED = 12
"""At most this many fingerprints are drawn in the plots (all named schemes, then the best-ranked
combinations); the tables always hold every fingerprint."""


def plotted(fingerprints: Sequence[str]) -> list[str]:
    """The fingerprints drawn in the plots, in table order: every named scheme plus the best-ranked QuRD
    combinations (names ``q=...``) until :data:`PLOTTED` are chosen."""
    named = [f for f in fingerprints if not f.startswith("q=")]
    room = max(0, PLOTTED - len(named))
    chosen = set(named) | set([f for f in fingerprints if f.startswith("q=")][:room])
    return [f for f in fingerprints if f in chosen]


def render_html(
    rows: Iterable[ScoreRow],
    path: str | os.PathLike[str],
    *,
    title: str,
    meta: Mapping[str, str] | None = None,
    extra_sections: Mapping[str, ExtraSection] | Sequence[tuple[str, ExtraSection]] | None = None,
    task_order: Sequence[str] | None = None,
    fpr: float = 0.05,
    rank: bool = True,
) -> Path:
    """Write a self-contained HTML report of ``rows`` to ``path`` (atomically) and return the path.

    Contents: ``title``; ``meta`` (preset, seeds, machine, ...; a ``date`` entry is added when missing);
    the summary table and the per-attack TPR@``fpr`` and AUC tables of :func:`summarise` (QuRD, Godinot
    et al. AAAI'25, Table 3 style); per-seed metrics; ROC curves pooled over seeds with the diagonal;
    score distributions per fingerprint (negatives grey, positives coloured by attack); the suspects with
    their class, task, accuracy and scores; then ``extra_sections`` (heading -> text, which is escaped,
    ``markupsafe.Markup`` trusted HTML, or a matplotlib ``Figure``).
    """
    rows = list(rows)
    summary = summarise(rows, task_order=task_order, fpr=fpr, rank=rank)
    fingerprints = [f.fingerprint for f in summary.fingerprints]
    drawn = plotted(fingerprints)
    meta_items = [(str(k), str(v)) for k, v in (meta or {}).items()]
    if len(drawn) < len(fingerprints):
        note = f"{len(drawn)} of {len(fingerprints)} fingerprints (named + best-ranked)"
        meta_items.append(("plots", note))
    if not any(k == "date" for k, _ in meta_items):
        meta_items.append(("date", datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")))
    env = Environment(autoescape=True, undefined=StrictUndefined, keep_trailing_newline=True)
    env.globals["COLLAPSE_ROWS"] = COLLAPSE_ROWS
    template = env.from_string(TABLE_MACRO + TEMPLATE)
    extras = _extra(extra_sections)
    toc = [(k, v) for k, v in CORE_SECTIONS.items() if k != "per-task" or summary.tasks]
    toc += [(e["id"], e["heading"]) for e in extras]
    html = template.render(
        toc=toc,
        title=title,
        meta=meta_items,
        summary=_summary_table(summary),
        tasks=summary.tasks,
        tpr_label=tpr_label(fpr),
        per_task_tpr=_table(*task_records(summary, "tpr")),
        per_task_auc=_table(*task_records(summary, "auc")),
        per_task_aruc=_table(*task_records(summary, "aruc")),
        per_seed=_per_seed_table(summary),
        plots=[_roc_plot(rows, drawn, fpr), _distribution_plot(rows, summary, drawn)],
        suspects=_suspects_table(rows, summary, fingerprints),
        extra_sections=extras,
    )
    out = Path(path)
    atomic_write_text(out, html)
    logger.info("wrote HTML report %s (%d rows, %d fingerprints)", out, len(rows), len(fingerprints))
    return out
