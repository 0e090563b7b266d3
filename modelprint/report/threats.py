"""Deployment threats in the report (docs/threats.md): a scheme × threat matrix of AUC and TPR@5%FPR (clean
first, then each threat), and each threat's accuracy cost, as text and as HTML sections. MFUE (Xu et al.,
KDD'26, §6) reports AUC under DP-Logits this way; QuRD (Godinot et al., AAAI'25) lists such obfuscations."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from markupsafe import Markup, escape

from modelprint.report.rows import ScoreRow
from modelprint.report.summary import fmt_value, summarise, tpr_label
from modelprint.report.tables import html_table, text_table

__all__ = [
    "CLEAN",
    "AccuracyLike",
    "ThreatCost",
    "ThreatMatrix",
    "format_threat_costs",
    "format_threat_matrix",
    "threat_costs",
    "threat_matrix",
    "threat_sections",
]

#: Column name of the unthreatened API.
CLEAN = "clean"
#: Cell of a scheme that was not scored behind a threat (not run behind it, or it needs more access than
#: the threat leaves).
MISSING = "—"
#: What :data:`MISSING` means, in the tables' captions.
MISSING_NOTE = (
    f"{MISSING}: not scored behind this threat (not run, or the scheme needs more access than it leaves)"
)

_NUMBER = re.compile(r"(\d+(?:\.\d+)?(?:/\d+)?)")


def threat_order(threat: str) -> tuple[tuple[str, float], ...]:
    """Sort key that orders parameters by value: ``dp-logits:sigma=2`` before ``dp-logits:sigma=10``, and
    ``16/255`` by its quotient."""
    parts = _NUMBER.split(threat)
    key = []
    for text, number in zip(parts[::2], [*parts[1::2], ""], strict=True):
        value = 0.0
        if number:
            num, _, den = number.partition("/")
            value = float(num) / float(den or 1)
        key.append((text, value))
    return tuple(key)


@dataclass(frozen=True)
class ThreatMatrix:
    """``auc[fingerprint][threat]`` / ``tpr[...]``: the metric over each seed's pairs, mean over seeds, with
    ``""`` the clean API; a scheme not scored behind a threat has no entry there."""

    fingerprints: tuple[str, ...]
    threats: tuple[str, ...]
    auc: Mapping[str, Mapping[str, float]]
    tpr: Mapping[str, Mapping[str, float]]
    fpr: float = 0.05
    seeds: Mapping[str, Mapping[str, tuple[int, ...]]] = dataclasses.field(default_factory=dict)
    """``seeds[fingerprint][threat]``: the seeds behind each cell."""

    def cell_seeds(self, fingerprint: str, threat: str) -> tuple[int, ...] | None:
        """The seeds of a cell when they differ from its row's clean cell (None when they do not, or when
        there is no clean cell): such a cell is not comparable with the clean column as it stands."""
        row = self.seeds.get(fingerprint, {})
        if threat == "" or "" not in row or threat not in row or row[threat] == row[""]:
            return None
        return row[threat]


def threat_matrix(rows: Iterable[ScoreRow], *, fpr: float = 0.05) -> ThreatMatrix | None:
    """The matrix of ``rows`` (fingerprints in order of first appearance, clean column first, then threats
    by name with parameters in numeric order, :func:`threat_order`); None when no row was scored behind a
    threat."""
    by_threat: dict[str, list[ScoreRow]] = {}
    for r in rows:
        by_threat.setdefault(r.threat, []).append(r)
    if not any(by_threat):
        return None
    named = sorted((t for t in by_threat if t), key=threat_order)
    threats = ("", *named) if "" in by_threat else tuple(named)
    fingerprints: dict[str, None] = {}
    auc: dict[str, dict[str, float]] = {}
    tpr: dict[str, dict[str, float]] = {}
    seeds: dict[str, dict[str, tuple[int, ...]]] = {}
    for threat in threats:
        for fp in summarise(by_threat[threat], fpr=fpr).fingerprints:
            fingerprints.setdefault(fp.fingerprint)
            auc.setdefault(fp.fingerprint, {})[threat] = fp.auc_mean
            tpr.setdefault(fp.fingerprint, {})[threat] = fp.tpr_mean
            seeds.setdefault(fp.fingerprint, {})[threat] = tuple(sorted(s.seed for s in fp.per_seed))
    return ThreatMatrix(tuple(fingerprints), threats, auc, tpr, fpr, seeds)


def _cell(matrix: ThreatMatrix, table: Mapping[str, Mapping[str, float]], fp: str, threat: str) -> str:
    if threat not in table[fp]:
        return MISSING
    own = matrix.cell_seeds(fp, threat)
    value = fmt_value(table[fp][threat])
    return value if own is None else f"{value} (seed{'s' if len(own) > 1 else ''} {','.join(map(str, own))})"


def _records(matrix: ThreatMatrix, metric: str) -> tuple[list[str], list[list[str]]]:
    table = matrix.auc if metric == "auc" else matrix.tpr
    headers = ["fingerprint", *(t or CLEAN for t in matrix.threats)]
    cells = [[fp, *(_cell(matrix, table, fp, t) for t in matrix.threats)] for fp in matrix.fingerprints]
    return headers, cells


def format_threat_matrix(matrix: ThreatMatrix) -> str:
    """Two plain-text tables (AUC, then TPR@FPR): rows schemes, columns clean and each threat."""
    out = []
    for metric, name in (("auc", "AUC"), ("tpr", tpr_label(matrix.fpr))):
        out += [f"{name} under deployment threats ({MISSING_NOTE})"]
        out += [text_table(*_records(matrix, metric)), ""]
    return "\n".join(out)


@dataclass(frozen=True)
class ThreatCost:
    """Mean test accuracy of ``models`` clean and behind ``threat``, on the same ``images`` test images."""

    threat: str
    clean: float
    threatened: float
    models: int
    images: int

    @property
    def drop(self) -> float:
        return self.clean - self.threatened


class AccuracyLike(Protocol):
    """What :func:`threat_costs` reads (``modelprint.results.db.AccuracyRecord`` has it)."""

    @property
    def threat(self) -> str: ...
    @property
    def model(self) -> str: ...
    @property
    def accuracy(self) -> float: ...
    @property
    def images(self) -> int: ...


def threat_costs(records: Iterable[AccuracyLike]) -> list[ThreatCost]:
    """Per threat, the mean accuracy over the models measured both clean (threat ``""``) and behind it."""
    by: dict[str, dict[str, tuple[float, int]]] = {}
    for r in records:
        by.setdefault(r.threat, {})[r.model] = (float(r.accuracy), int(r.images))
    clean = by.get("", {})
    costs = []
    for threat, accs in by.items():
        common = [m for m in accs if m in clean]
        if not threat or not common:
            continue
        costs.append(
            ThreatCost(
                threat,
                sum(clean[m][0] for m in common) / len(common),
                sum(accs[m][0] for m in common) / len(common),
                len(common),
                min(accs[m][1] for m in common),
            )
        )
    return costs


def _cost_records(costs: Sequence[ThreatCost]) -> tuple[list[str], list[list[str]]]:
    headers = ["threat", "clean acc", "threat acc", "drop", "models", "images"]
    cells = [
        [
            c.threat,
            fmt_value(c.clean),
            fmt_value(c.threatened),
            fmt_value(c.drop),
            str(c.models),
            str(c.images),
        ]
        for c in costs
    ]
    return headers, cells


def format_threat_costs(costs: Sequence[ThreatCost]) -> str:
    """Plain-text table of the accuracy cost of each threat (victims' test accuracy, clean vs threat)."""
    return "Accuracy cost of each threat (victims, test images)\n" + text_table(*_cost_records(costs)) + "\n"


def threat_sections(
    matrix: ThreatMatrix | None, costs: Sequence[ThreatCost] = ()
) -> list[tuple[str, Markup]]:
    """``extra_sections`` for :func:`~modelprint.report.render_html`: the AUC and TPR matrices and the
    accuracy costs, as trusted HTML tables (every cell escaped here)."""
    sections: list[tuple[str, Markup]] = []
    if matrix is not None:
        note = Markup(
            '<p class="note">Rows: schemes; columns: the clean API, then each deployment threat (input '
            "processing and output defences, docs/threats.md), metric over each seed's pairs, mean over "
            "seeds. "
            f"{escape(MISSING_NOTE)}.</p>\n"
        )
        sections.append(("Deployment threats: ROC AUC", note + html_table(*_records(matrix, "auc"))))
        label = tpr_label(matrix.fpr)
        sections.append((f"Deployment threats: {label}", note + html_table(*_records(matrix, "tpr"))))
    if costs:
        note = Markup(
            '<p class="note">Mean test accuracy of the victims behind each threat against the clean API, '
            "on the same test images.</p>\n"
        )
        sections.append(("Deployment threats: accuracy cost", note + html_table(*_cost_records(costs))))
    return sections
