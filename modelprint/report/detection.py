"""Stealthiness in the report (docs/query-detectors.md): a scheme × query-detector table of detection rates
(the fraction of fingerprint queries flagged under the MFUE protocol, as in MFUE's Table 2), with each
detector's false-positive rate on the clean samples mixed in, as text and as an HTML section."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from markupsafe import Markup

from modelprint.report.summary import fmt_value
from modelprint.report.tables import html_table, text_table
from modelprint.report.threats import MISSING

__all__ = [
    "DetectionLike",
    "DetectionMatrix",
    "detection_matrix",
    "detection_sections",
    "format_detection_matrix",
]

#: Row of the clean samples' false-positive rates.
CLEAN_ROW = "clean (false positives)"


class DetectionLike(Protocol):
    """What :func:`detection_matrix` reads (``modelprint.results.db.DetectionRecord`` has it)."""

    @property
    def fingerprint(self) -> str: ...
    @property
    def detector(self) -> str: ...
    @property
    def rate(self) -> float: ...
    @property
    def false_positive(self) -> float: ...
    @property
    def queries(self) -> int: ...


@dataclass(frozen=True)
class DetectionMatrix:
    """``rate[scheme][detector]``: mean detection rate over seeds and victims; ``false_positive[detector]``
    the mean clean false-positive rate over every cell of that detector; ``queries[scheme]`` the fewest
    queries mixed in one of the scheme's cells (as many clean images were mixed with them)."""

    fingerprints: tuple[str, ...]
    detectors: tuple[str, ...]
    rate: Mapping[str, Mapping[str, float]]
    false_positive: Mapping[str, float]
    queries: Mapping[str, int]


def detection_matrix(records: Iterable[DetectionLike]) -> DetectionMatrix | None:
    """The matrix of ``records`` (schemes and detectors in order of first appearance); None without any."""
    rates: dict[str, dict[str, list[float]]] = {}
    fprs: dict[str, list[float]] = {}
    queries: dict[str, int] = {}
    for r in records:
        queries[r.fingerprint] = min(int(r.queries), queries.get(r.fingerprint, int(r.queries)))
        rates.setdefault(r.fingerprint, {}).setdefault(r.detector, []).append(float(r.rate))
        fprs.setdefault(r.detector, []).append(float(r.false_positive))
    if not rates:
        return None
    mean = {fp: {d: sum(v) / len(v) for d, v in by.items()} for fp, by in rates.items()}
    return DetectionMatrix(
        tuple(rates), tuple(fprs), mean, {d: sum(v) / len(v) for d, v in fprs.items()}, queries
    )


def _records(matrix: DetectionMatrix) -> tuple[list[str], list[list[str]]]:
    headers = ["fingerprint", "queries", *matrix.detectors]
    cells = [
        [
            fp,
            str(matrix.queries[fp]),
            *(fmt_value(matrix.rate[fp][d]) if d in matrix.rate[fp] else MISSING for d in matrix.detectors),
        ]
        for fp in matrix.fingerprints
    ]
    cells.append([CLEAN_ROW, "", *(fmt_value(matrix.false_positive[d]) for d in matrix.detectors)])
    return headers, cells


def format_detection_matrix(matrix: DetectionMatrix) -> str:
    """Plain-text table: rows schemes (then the clean false-positive row), columns query detectors."""
    title = "Detection rate of fingerprint queries (MFUE protocol; higher = less stealthy)"
    return title + "\n" + text_table(*_records(matrix)) + "\n"


def detection_sections(matrix: DetectionMatrix | None) -> list[tuple[str, Markup]]:
    """``extra_sections`` for :func:`~modelprint.report.render_html`: the detection-rate table."""
    if matrix is None:
        return []
    note = Markup(
        '<p class="note">Fraction of each scheme\'s queries flagged by each query detector '
        "(docs/query-detectors.md), mixed with as many clean test images, the detectors fitted on the "
        "victim as deployed and the "
        "attacker's clean data; mean over seeds and victims. The last row is the fraction of the clean "
        f"images flagged. {MISSING}: not measured.</p>\n"
    )
    return [("Stealthiness: query detection rates", note + html_table(*_records(matrix)))]
