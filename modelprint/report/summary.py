"""Aggregate benchmark rows into per-fingerprint metrics (mean and std over seeds) and per-task tables
in the style of QuRD Table 3 (Godinot et al. AAAI'25), and print them as a plain-text table."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from modelprint.metrics import aruc, roc_auc, tpr_at_fpr
from modelprint.report.rows import ScoreRow
from modelprint.report.tables import text_table

__all__ = ["FingerprintSummary", "SeedMetrics", "Summary", "format_table", "summarise", "tpr_label"]


@dataclass(frozen=True)
class SeedMetrics:
    """One fingerprint's metrics over all the pairs of one seed; ``aruc`` (IPGuard's area under the
    robustness-uniqueness curves) is NaN unless every score lies in [0, 1], as match rates do."""

    seed: int
    auc: float
    tpr: float
    n_positives: int
    n_negatives: int
    aruc: float = float("nan")


@dataclass(frozen=True)
class FingerprintSummary:
    """Metrics of one fingerprint: AUC, TPR at the target FPR and ARUC per seed, then mean/std over seeds
    (seeds where a metric is undefined are left out); mean cost per verification; pair counts summed over
    seeds."""

    fingerprint: str
    auc_mean: float
    auc_std: float
    tpr_mean: float
    tpr_std: float
    queries_mean: float
    seconds_mean: float
    n_seeds: int
    n_positives: int
    n_negatives: int
    per_seed: tuple[SeedMetrics, ...]
    aruc_mean: float = float("nan")
    aruc_std: float = float("nan")


@dataclass(frozen=True)
class Summary:
    """Result of :func:`summarise`. ``per_task_tpr[fingerprint][task]``, ``per_task_auc[...]`` and
    ``per_task_aruc[...]`` are the metric on that task's positives against all negatives of the same seed,
    averaged over the seeds where the task occurs (NaN when it never does for that fingerprint)."""

    fingerprints: tuple[FingerprintSummary, ...]
    tasks: tuple[str, ...]
    negative_tasks: tuple[str, ...]
    per_task_tpr: Mapping[str, Mapping[str, float]]
    per_task_auc: Mapping[str, Mapping[str, float]]
    fpr: float = 0.05
    per_task_aruc: Mapping[str, Mapping[str, float]] = field(default_factory=dict)


def tpr_label(fpr: float) -> str:
    """Column name for TPR at ``fpr``, e.g. ``TPR@5%FPR``."""
    return f"TPR@{fpr * 100:g}%FPR"


def _mean_std(values: Sequence[float], ddof: int) -> tuple[float, float]:
    v = np.asarray([x for x in values if not math.isnan(x)], dtype=np.float64)
    if v.size == 0:
        return float("nan"), float("nan")
    std = float(np.std(v, ddof=ddof)) if v.size > ddof else float("nan")
    return float(v.mean()), std


def _nanmean(values: Sequence[float]) -> float:
    return _mean_std(values, 0)[0]


def _ordered(first_seen: Sequence[str], order: Sequence[str] | None) -> tuple[str, ...]:
    if order is None:
        return tuple(first_seen)
    present = set(first_seen)
    head = [t for t in dict.fromkeys(order) if t in present]
    named = set(head)
    return (*head, *(t for t in first_seen if t not in named))


def _metrics(rows: Sequence[ScoreRow], fpr: float) -> tuple[float, float, float]:
    """(AUC, TPR@fpr, ARUC); ARUC is NaN when a score falls outside [0, 1] (it integrates over
    thresholds in [0, 1], so it only fits match-rate-like scores)."""
    y = np.fromiter((bool(r.positive) for r in rows), dtype=np.bool_, count=len(rows))
    s = np.fromiter((float(r.score) for r in rows), dtype=np.float64, count=len(rows))
    return roc_auc(y, s), tpr_at_fpr(y, s, fpr), unit_aruc(y, s)


def unit_aruc(y: np.ndarray, s: np.ndarray) -> float:
    """ARUC of labels ``y`` and scores ``s``, or NaN when a score leaves [0, 1] (ARUC integrates over
    thresholds in [0, 1]) or when a class is empty."""
    in_unit = bool(np.all((s >= 0.0) & (s <= 1.0)))
    return aruc(y, s) if in_unit and y.any() and not y.all() else float("nan")


def _finite(x: float) -> float:
    return x if np.isfinite(x) else -np.inf


def summarise(
    rows: Iterable[ScoreRow],
    *,
    task_order: Sequence[str] | None = None,
    fpr: float = 0.05,
    ddof: int = 0,
    rank: bool = False,
) -> Summary:
    """Per fingerprint and seed: ROC AUC and TPR@``fpr`` over that seed's pairs, then mean and std over
    seeds (``np.std`` with ``ddof``); mean queries and seconds per verification; seed/positive/negative
    counts. Per fingerprint x positive task: the metrics on (that task's positives vs all negatives of the
    same seed), averaged over seeds (QuRD, Godinot et al. AAAI'25, Table 3).

    With ``rank`` fingerprints are ordered best first (TPR@``fpr``, then AUC), as the report ranks QuRD
    combinations against the named schemes. Otherwise fingerprints and tasks keep their order of first
    appearance; ``task_order`` puts the tasks it names
    first, in its order (names absent from the rows are dropped, unnamed tasks follow).
    """
    rows = list(rows)
    if not rows:
        raise ValueError("summarise: no rows")
    by_fp: dict[str, list[ScoreRow]] = {}
    for r in rows:
        by_fp.setdefault(r.fingerprint, []).append(r)
    tasks = _ordered(list(dict.fromkeys(r.task for r in rows if r.positive)), task_order)
    negative_tasks = tuple(dict.fromkeys(r.task for r in rows if not r.positive))

    summaries: list[FingerprintSummary] = []
    per_task_tpr: dict[str, dict[str, float]] = {}
    per_task_auc: dict[str, dict[str, float]] = {}
    per_task_aruc: dict[str, dict[str, float]] = {}
    for name, fp_rows in by_fp.items():
        by_seed: dict[int, list[ScoreRow]] = {}
        for r in fp_rows:
            by_seed.setdefault(r.seed, []).append(r)
        seeds: list[SeedMetrics] = []
        task_values: dict[str, tuple[list[float], list[float], list[float]]] = {
            t: ([], [], []) for t in tasks
        }
        for seed, seed_rows in by_seed.items():
            auc, tpr, area = _metrics(seed_rows, fpr)
            n_pos = sum(bool(r.positive) for r in seed_rows)
            seeds.append(SeedMetrics(seed, auc, tpr, n_pos, len(seed_rows) - n_pos, area))
            negatives = [r for r in seed_rows if not r.positive]
            for task in tasks:
                task_pos = [r for r in seed_rows if r.positive and r.task == task]
                if task_pos:
                    t_auc, t_tpr, t_aruc = _metrics(task_pos + negatives, fpr)
                    task_values[task][0].append(t_tpr)
                    task_values[task][1].append(t_auc)
                    task_values[task][2].append(t_aruc)
        per_task_tpr[name] = {t: _nanmean(v[0]) for t, v in task_values.items()}
        per_task_auc[name] = {t: _nanmean(v[1]) for t, v in task_values.items()}
        per_task_aruc[name] = {t: _nanmean(v[2]) for t, v in task_values.items()}
        auc_mean, auc_std = _mean_std([s.auc for s in seeds], ddof)
        tpr_mean, tpr_std = _mean_std([s.tpr for s in seeds], ddof)
        aruc_mean, aruc_std = _mean_std([s.aruc for s in seeds], ddof)
        summaries.append(
            FingerprintSummary(
                fingerprint=name,
                auc_mean=auc_mean,
                auc_std=auc_std,
                tpr_mean=tpr_mean,
                tpr_std=tpr_std,
                queries_mean=float(np.mean([r.queries for r in fp_rows])),
                seconds_mean=float(np.mean([r.seconds for r in fp_rows])),
                n_seeds=len(seeds),
                n_positives=sum(s.n_positives for s in seeds),
                n_negatives=sum(s.n_negatives for s in seeds),
                per_seed=tuple(seeds),
                aruc_mean=aruc_mean,
                aruc_std=aruc_std,
            )
        )
    if rank:  # best first: TPR@fpr, then AUC; undefined metrics last
        summaries.sort(key=lambda f: (-_finite(f.tpr_mean), -_finite(f.auc_mean), f.fingerprint))
    return Summary(
        fingerprints=tuple(summaries),
        tasks=tasks,
        negative_tasks=negative_tasks,
        per_task_tpr=per_task_tpr,
        per_task_auc=per_task_auc,
        fpr=fpr,
        per_task_aruc=per_task_aruc,
    )


def fmt_value(x: float, digits: int = 3) -> str:
    """``x`` with ``digits`` decimals, ``n/a`` for NaN."""
    return "n/a" if math.isnan(x) else f"{x:.{digits}f}"


def fmt_mean_std(mean: float, std: float, digits: int = 3) -> str:
    """``mean ± std``; just the mean when the std is undefined."""
    if math.isnan(mean):
        return "n/a"
    return fmt_value(mean, digits) if math.isnan(std) else f"{mean:.{digits}f} ± {std:.{digits}f}"


def fmt_queries(q: float) -> str:
    """Mean query count: integer when it is one."""
    return f"{q:.0f}" if float(q).is_integer() else f"{q:.1f}"


def fmt_ms(seconds: float) -> str:
    """Seconds as milliseconds, more decimals below 1 ms."""
    ms = seconds * 1000.0
    return f"{ms:.1f}" if ms >= 1.0 else f"{ms:.3f}"


def summary_records(summary: Summary) -> tuple[list[str], list[list[str]]]:
    """Headers and formatted cells of the main table (shared by the text and HTML reports)."""
    headers = ["fingerprint", "AUC", tpr_label(summary.fpr), "ARUC", "queries", "ms/verification", "seeds"]
    cells = [
        [
            f.fingerprint,
            fmt_mean_std(f.auc_mean, f.auc_std),
            fmt_mean_std(f.tpr_mean, f.tpr_std),
            fmt_mean_std(f.aruc_mean, f.aruc_std),
            fmt_queries(f.queries_mean),
            fmt_ms(f.seconds_mean),
            str(f.n_seeds),
        ]
        for f in summary.fingerprints
    ]
    return headers, cells


def task_records(summary: Summary, metric: str = "tpr") -> tuple[list[str], list[list[str]]]:
    """Headers and formatted cells of a per-task table (``metric`` is ``"tpr"``, ``"auc"`` or ``"aruc"``)."""
    table = {"tpr": summary.per_task_tpr, "auc": summary.per_task_auc, "aruc": summary.per_task_aruc}[metric]
    headers = ["fingerprint", *summary.tasks]
    cells = [
        [f.fingerprint, *(fmt_value(table[f.fingerprint][t]) for t in summary.tasks)]
        for f in summary.fingerprints
    ]
    return headers, cells


def format_table(summary: Summary) -> str:
    """Plain-text report: fingerprint | AUC mean±std | TPR mean±std | queries | ms/verification | seeds,
    then the per-task TPR table (rows: fingerprints, columns: positive tasks, mean over seeds)."""
    out = [text_table(*summary_records(summary))]
    if summary.tasks:
        out += ["", f"{tpr_label(summary.fpr)} per task (positives of the task vs all negatives)"]
        out.append(text_table(*task_records(summary, "tpr")))
    return "\n".join(out) + "\n"
