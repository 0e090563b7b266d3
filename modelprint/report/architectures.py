"""Per attack and architecture: AUC and ARUC of each scheme on the positives of one attack that end in one
architecture (distillation and knockoff into each architecture), against all negatives of the same seed,
as NaturalFinger's Figures 5–7 break FingerBench down (docs/attacks.md#fingerbench)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from markupsafe import Markup

from modelprint.metrics import roc_auc
from modelprint.models.archs import ARCHS
from modelprint.report.rows import ScoreRow
from modelprint.report.summary import fmt_value, unit_aruc
from modelprint.report.tables import html_table
from modelprint.zoo.lineage import LineageError, parse_lineage

__all__ = ["architecture_of", "architecture_records", "architecture_sections"]


def architecture_of(lineage: str) -> str | None:
    """The architecture a suspect's last step builds (``...->knockoff(vgg11-bn)`` → ``vgg11-bn``); None
    when the last step keeps its parent's architecture (fine-tuning, pruning, ...)."""
    try:
        last = parse_lineage(lineage)[-1]
    except LineageError:
        return None
    if last.name == "train" or not last.args or last.args[0] not in ARCHS:
        return None
    return last.args[0]


def architecture_records(
    rows: Sequence[ScoreRow], fingerprints: Sequence[str], metric: str = "auc"
) -> tuple[list[str], list[list[str]]] | None:
    """Rows ``attack / architecture``, columns ``fingerprints``: ``metric`` (``"auc"`` or ``"aruc"``) of
    that attack's positives built in that architecture against all negatives of their seed, mean over
    seeds. None when no positive's last step names an architecture."""
    if metric not in ("auc", "aruc"):
        raise ValueError(f"metric must be 'auc' or 'aruc', got {metric!r}")
    score_of = roc_auc if metric == "auc" else unit_aruc
    arch = {s: architecture_of(s) for s in {r.suspect for r in rows if r.positive}}
    groups = sorted({(r.task, a) for r in rows if r.positive and (a := arch[r.suspect]) is not None})
    if not groups:
        return None
    positives: dict[tuple[str, int, str, str], list[float]] = {}
    negatives: dict[tuple[str, int], list[float]] = {}
    for r in rows:
        if r.fingerprint not in fingerprints:
            continue
        if not r.positive:
            negatives.setdefault((r.fingerprint, r.seed), []).append(r.score)
        elif (a := arch[r.suspect]) is not None:
            positives.setdefault((r.fingerprint, r.seed, r.task, a), []).append(r.score)
    cells = []
    for task, a in groups:
        line = [f"{task} / {a}"]
        for fp in fingerprints:
            values = []
            for (name, seed), neg in negatives.items():
                pos = positives.get((fp, seed, task, a), [])
                if name == fp and pos:
                    y = np.r_[np.ones(len(pos), bool), np.zeros(len(neg), bool)]
                    values.append(score_of(y, np.asarray(pos + neg, dtype=np.float64)))
            finite = [v for v in values if not math.isnan(v)]
            line.append(fmt_value(float(np.mean(finite))) if finite else "n/a")
        cells.append(line)
    return ["attack / architecture", *fingerprints], cells


def architecture_sections(rows: Sequence[ScoreRow], fingerprints: Sequence[str]) -> dict[str, Markup]:
    """``extra_sections``: the AUC and ARUC tables per attack and architecture (none when not applicable)."""
    sections: dict[str, Markup] = {}
    note = Markup(
        '<p class="note">Positives of one attack that end in one architecture against all negatives of the '
        "same seed, mean over seeds (NaturalFinger's per-architecture figures). ARUC is n/a for schemes "
        "whose scores leave [0, 1].</p>"
    )
    for metric, title in (("auc", "ROC AUC"), ("aruc", "ARUC")):
        records = architecture_records(rows, fingerprints, metric)
        if records is not None:
            sections[f"{title} per attack and architecture"] = note + html_table(*records)
    return sections
