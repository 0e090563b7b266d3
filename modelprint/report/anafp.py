"""AnaFP diagnostics for the report (docs/anafp.md): the admissible interval, the chosen stretch factor λ and
the share of empty intervals, read from the keys the benchmark stored, and the ablation plot "AUC against a
fixed λ" built from the results of ``anafp:fixed_lambda=...`` next to the analytic ``anafp``."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from markupsafe import Markup
from matplotlib.figure import Figure

from modelprint.keys import KeyStore
from modelprint.queries.anafp import PREFIX
from modelprint.report.rows import ScoreRow
from modelprint.report.summary import Summary, fmt_value
from modelprint.report.tables import html_table
from modelprint.specs import SpecError, convert, split_spec
from modelprint.types import Key

__all__ = ["AnaFPRun", "anafp_runs", "anafp_sections", "lambda_curve", "run_of"]

log = logging.getLogger(__name__)

SCHEME = "anafp"


@dataclass(frozen=True)
class AnaFPRun:
    """One stored AnaFP key (fingerprint label, victim, seed): its ``n`` fingerprints' chosen λ (median,
    min, max), the median admissible interval [``lower``, ``upper``) over the fingerprints whose interval
    was non-empty (NaN when none), the fraction ``empty`` of fingerprints whose interval was empty, and
    how many analysed seeds were ``admissible`` out of those ``examined``; ``inside``: the fraction of
    fingerprints whose λ is feasible (NaN for keys written before it was stored)."""

    fingerprint: str
    victim: str
    seed: int
    n: int
    lam_median: float
    lam_min: float
    lam_max: float
    lower: float
    upper: float
    empty: float
    admissible: int
    examined: int
    inside: float = math.nan


def _split(label: str) -> tuple[str, dict[str, str]] | None:
    """(scheme, raw parameters) of a fingerprint label, or None when it is not a parseable spec."""
    if "@" in label:  # budget curves (``name@budget``) are not part of these diagnostics
        return None
    try:
        name, items = split_spec(label, "fingerprint")
    except SpecError:
        return None
    return name, dict(items)


def run_of(key: Key) -> AnaFPRun:
    """The diagnostics of one AnaFP key (its extras, see :data:`modelprint.queries.anafp.PREFIX`)."""
    e = key.queries.extras
    lam = e[PREFIX + "lambda"].double()
    empty = e[PREFIX + "empty"].bool()
    lower, upper = e[PREFIX + "lower"].double()[~empty], e[PREFIX + "upper"].double()[~empty]
    return AnaFPRun(
        key.scheme,
        str(key.config.get("victim", "")),
        int(key.config.get("seed", 0)),  # type: ignore[arg-type]
        len(lam),
        float(lam.median()),
        float(lam.min()),
        float(lam.max()),
        float(lower.median()) if len(lower) else math.nan,
        float(upper.median()) if len(upper) else math.nan,
        float(empty.double().mean()),
        int(e[PREFIX + "admissible"]),
        int(e[PREFIX + "examined"]),
        float(e[PREFIX + "inside"].double().mean()) if PREFIX + "inside" in e else math.nan,
    )


def anafp_runs(
    keys: KeyStore, *, victims: Iterable[str] | None = None, seeds: Iterable[int] | None = None
) -> list[AnaFPRun]:
    """Diagnostics of every stored AnaFP key (any of its settings), optionally only those of ``victims`` and
    ``seeds``."""
    wanted_victims = set(victims) if victims is not None else None
    wanted_seeds = set(seeds) if seeds is not None else None
    runs = []
    labels = [label for label in keys.labels() if (part := _split(label)) is not None and part[0] == SCHEME]
    for stored in keys.stored(labels):
        key = stored.load()
        if PREFIX + "lambda" not in key.queries.extras:
            continue
        run = run_of(key)
        if wanted_victims is not None and run.victim not in wanted_victims:
            continue
        if wanted_seeds is not None and run.seed not in wanted_seeds:
            continue
        runs.append(run)
    return runs


def _table(runs: Sequence[AnaFPRun]) -> Markup:
    headers = ["fingerprint", "victim", "seed", "queries", "λ median", "λ range", "interval (median)",
               "empty intervals", "λ feasible", "admissible seeds"]  # fmt: skip
    cells = [
        [
            r.fingerprint,
            r.victim,
            str(r.seed),
            str(r.n),
            fmt_value(r.lam_median, 3),
            f"{fmt_value(r.lam_min, 3)}–{fmt_value(r.lam_max, 3)}",
            "empty" if math.isnan(r.upper) else f"[{fmt_value(r.lower, 3)}, {fmt_value(r.upper, 3)})",
            fmt_value(r.empty, 3),
            fmt_value(r.inside, 3),
            f"{r.admissible}/{r.examined}",
        ]
        for r in runs
    ]
    note = Markup(
        '<p class="note">AnaFP (docs/anafp.md, reconstructed): per stored key, the chosen stretch factor λ '
        "over its fingerprints, the median admissible interval [smallest robust λ, λ_upper) over the "
        "fingerprints "
        "whose interval was non-empty, the fraction of fingerprints whose interval was empty (least-"
        "infeasible fillers), the fraction whose chosen λ is feasible (for a fixed λ: how often that λ "
        "would have been admissible), and the analysed seeds with a non-empty interval.</p>\n"
    )
    return note + html_table(headers, cells)


def lambda_curve(summary: Summary, runs: Sequence[AnaFPRun] = ()) -> Figure | None:
    """AUC (mean ± std over seeds) against the fixed λ of ``anafp:fixed_lambda=...`` (one line per setting
    of the other parameters), with the analytic ``anafp`` of the same setting marked: its AUC as a
    horizontal line and, from ``runs``, the median chosen λ (range of the per-key medians) as a point.
    None without a fixed-λ result."""
    curves: dict[str, list[tuple[float, float, float]]] = {}
    analytic: dict[str, tuple[str, float, float]] = {}
    for fp in summary.fingerprints:
        parsed = _split(fp.fingerprint)
        if parsed is None or parsed[0] != SCHEME:
            continue
        params = parsed[1]
        raw = params.pop("fixed_lambda", "none")
        base = ",".join(f"{k}={v}" for k, v in sorted(params.items()))
        lam = convert(fp.fingerprint, "fixed_lambda", raw, float | None)
        if lam is None:
            analytic[base] = (fp.fingerprint, fp.auc_mean, fp.auc_std)
        else:
            curves.setdefault(base, []).append((float(lam), fp.auc_mean, fp.auc_std))  # type: ignore[arg-type]
    if not curves:
        return None
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.add_subplot()
    for i, (base, pts) in enumerate(sorted(curves.items())):
        xs, ys, es = zip(*sorted(pts), strict=True)
        colour = f"C{i % 10}"
        label = f"fixed λ{' (' + base + ')' if base else ''}"
        ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, color=colour, label=label)
        if base not in analytic:
            continue
        name, auc, std = analytic[base]
        ax.axhline(auc, color=colour, linestyle="--", linewidth=1, label=f"analytic {name}: AUC {auc:.3f}")
        medians = [r.lam_median for r in runs if r.fingerprint == name]
        if medians:
            mid = float(np.median(medians))
            err = [[mid - min(medians)], [max(medians) - mid]]
            ax.errorbar([mid], [auc], xerr=err, yerr=[std], marker="*", markersize=14, color=colour,
                        linestyle="none", label=f"analytic λ (median {mid:.3f})")  # fmt: skip
    ax.set_xlabel("stretch factor λ (fixed for every fingerprint)")
    ax.set_ylabel("ROC AUC")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("AnaFP: AUC against a fixed stretch factor")
    fig.tight_layout()
    return fig


def anafp_sections(
    summary: Summary, rows: Sequence[ScoreRow], keys: KeyStore
) -> list[tuple[str, Markup | Figure]]:
    """``extra_sections`` for :func:`~modelprint.report.render_html`: the AnaFP interval table (keys of
    the victims and seeds in ``rows``) and the AUC-against-λ plot; empty when no AnaFP result exists."""
    if not any((p := _split(f.fingerprint)) is not None and p[0] == SCHEME for f in summary.fingerprints):
        return []
    runs = anafp_runs(keys, victims={r.victim for r in rows}, seeds={r.seed for r in rows})
    runs = [r for r in runs if r.fingerprint in {f.fingerprint for f in summary.fingerprints}]
    sections: list[tuple[str, Markup | Figure]] = []
    if runs:
        sections.append(("AnaFP: admissible intervals and chosen λ", _table(runs)))
    curve = lambda_curve(summary, runs)
    if curve is not None:
        sections.append(("AnaFP: AUC against a fixed stretch factor", curve))
    log.info("AnaFP report: %d keys, %s", len(runs), "with" if curve is not None else "no fixed-λ curve")
    return sections
