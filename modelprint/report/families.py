"""Per negative family: how close each family's innocent models come to being accused.

A scheme's threshold at 5 % FPR is set on all negatives of a seed; the family table then says, per family
(:mod:`modelprint.zoo.families`), the highest score, the share flagged at that threshold, and the AUC and
TPR@5%FPR of all positives against that family alone. The headline (``all``) is against every negative."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from markupsafe import Markup

from modelprint.calibration import empirical_fpr, fpr_threshold
from modelprint.metrics import roc_auc, tpr_at_fpr
from modelprint.report.rows import ScoreRow
from modelprint.report.summary import fmt_value, tpr_label
from modelprint.report.tables import html_table
from modelprint.zoo.families import DERIVED, NEGATIVE_FAMILIES, family_of
from modelprint.zoo.lineage import LineageError

__all__ = ["ALL", "FamilyStats", "family_sections", "family_stats", "format_family_table"]

ALL = "all"


@dataclass(frozen=True)
class FamilyStats:
    """One scheme against one family, mean over seeds: ``models`` per seed, the highest score, the FPR at the
    scheme's all-negative threshold, and AUC / TPR@``fpr`` of all positives against the family."""

    fingerprint: str
    family: str
    models: int
    max_score: float
    fpr_at_threshold: float
    auc: float
    tpr: float


def _family(row: ScoreRow) -> str:
    try:
        return family_of(row.victim, row.suspect)
    except LineageError:  # a suspect named by file, not lineage
        return DERIVED if row.positive else "other"


def _mean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else float("nan")


def family_stats(rows: Sequence[ScoreRow], fpr: float = 0.05) -> list[FamilyStats]:
    """Per scheme, the ``all`` row then one row per negative family present, hardest family first."""
    groups: dict[tuple[str, int], list[ScoreRow]] = {}
    for r in rows:
        if not r.threat:
            groups.setdefault((r.fingerprint, r.seed), []).append(r)
    per: dict[tuple[str, str], dict[str, list[float]]] = {}
    for (fp, _), seed_rows in groups.items():
        pos = [r.score for r in seed_rows if r.positive]
        negs = [r for r in seed_rows if not r.positive]
        if not pos or not negs:
            continue
        threshold = fpr_threshold([r.score for r in negs], fpr)
        by_family: dict[str, list[float]] = {ALL: [r.score for r in negs]}
        for r in negs:
            by_family.setdefault(_family(r), []).append(r.score)
        for family, scores in by_family.items():
            y = np.r_[np.ones(len(pos), bool), np.zeros(len(scores), bool)]
            s = np.asarray(pos + scores, dtype=np.float64)
            acc = per.setdefault((fp, family), {"n": [], "max": [], "fpr": [], "auc": [], "tpr": []})
            acc["n"].append(len(scores))
            acc["max"].append(float(np.nanmax(scores)) if not np.all(np.isnan(scores)) else float("nan"))
            acc["fpr"].append(empirical_fpr(threshold, scores))
            acc["auc"].append(roc_auc(y, s))
            acc["tpr"].append(tpr_at_fpr(y, s, fpr))
    order = {f: i for i, f in enumerate((ALL, *NEGATIVE_FAMILIES))}
    fps = list(dict.fromkeys(fp for fp, _ in groups))
    out = []
    for fp in fps:
        for family in sorted((f for g, f in per if g == fp), key=lambda f: order.get(f, len(order))):
            a = per[(fp, family)]
            out.append(
                FamilyStats(
                    fp, family, round(_mean([float(n) for n in a["n"]])), _mean(a["max"]), _mean(a["fpr"]),
                    _mean(a["auc"]), _mean(a["tpr"]),
                )
            )  # fmt: skip
    return out


def format_family_table(stats: Sequence[FamilyStats], fpr: float = 0.05) -> str:
    """Plain-text table: one line per scheme and family."""
    head = (
        f"{'scheme':16} {'negative family':28} {'models':>6} {'max score':>9} "
        f"{'FPR@thr':>8} {'AUC':>6} {tpr_label(fpr):>11}"
    )
    lines = [head]
    for s in stats:
        lines.append(
            f"{s.fingerprint:16} {s.family:28} {s.models:6d} {fmt_value(s.max_score):>9} "
            f"{fmt_value(s.fpr_at_threshold):>8} {fmt_value(s.auc):>6} {fmt_value(s.tpr):>11}"
        )
    return "\n".join(lines)


def family_sections(rows: Sequence[ScoreRow], fpr: float = 0.05) -> dict[str, Markup]:
    """``extra_sections``: the per-family table (none when no row has a negative)."""
    stats = family_stats(rows, fpr)
    if not stats:
        return {}
    note = Markup(
        '<p class="note">Per scheme and negative family (from lineage: same data and architecture as the '
        "source, same data and another architecture, disjoint data, attacked copies of an independent model, "
        "students distilled from one). Max score: the family's highest score; FPR@thr: the share of the "
        f"family flagged at the scheme's {fpr:.0%}-FPR threshold over all negatives; AUC and "
        f"{tpr_label(fpr)}: all positives against that family alone. The row <em>all</em> is the "
        "headline. Mean over seeds.</p>"
    )
    cells = [
        [s.fingerprint, s.family, str(s.models), fmt_value(s.max_score), fmt_value(s.fpr_at_threshold),
         fmt_value(s.auc), fmt_value(s.tpr)]
        for s in stats
    ]  # fmt: skip
    headers = ["scheme", "negative family", "models", "max score", "FPR@thr", "AUC", tpr_label(fpr)]
    return {"Negatives by family": note + html_table(headers, cells)}
