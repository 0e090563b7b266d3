"""The one shape of a report section (:class:`Section`), what every section may read
(:class:`ReportInputs`), and the ordered list of section builders (:func:`register_section`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from modelprint.report.html import ExtraSection, plotted
from modelprint.report.rows import ScoreRow
from modelprint.report.summary import Summary, summarise
from modelprint.report.threats import ThreatCost, ThreatMatrix, threat_costs, threat_matrix
from modelprint.results import AccuracyRecord, DetectionRecord
from modelprint.workspace import Workspace
from modelprint.zoo.presets import Preset

__all__ = ["SECTIONS", "ReportInputs", "Section", "SectionBuilder", "register_section"]


@dataclass(frozen=True)
class Section:
    """One part of the report: its heading, what the HTML page shows (text, trusted markup or a figure) and,
    when it has one, the plain-text table printed in the terminal (an untitled section is printed only)."""

    title: str
    body: ExtraSection
    text: str = ""


@dataclass
class ReportInputs:
    """Everything a section may read: the rows (clean and behind threats), their summary, the workspace (its
    zoo and keys), the resolved preset when there is one, threat accuracies and detection rates."""

    workspace: Workspace
    all_rows: list[ScoreRow]
    preset: Preset | None
    accuracies: list[AccuracyRecord]
    detections: list[DetectionRecord]
    rows: list[ScoreRow] = field(init=False)

    def __post_init__(self) -> None:
        self.rows = [r for r in self.all_rows if not r.threat]  # the main tables: the clean API

    @cached_property
    def summary(self) -> Summary:
        return summarise(self.rows, rank=True)

    @cached_property
    def threat_matrix(self) -> ThreatMatrix | None:
        return threat_matrix(self.all_rows, fpr=self.summary.fpr)

    @cached_property
    def threat_costs(self) -> list[ThreatCost]:
        return threat_costs(self.accuracies) if self.threat_matrix is not None else []

    @cached_property
    def drawn(self) -> list[str]:
        """The schemes the per-scheme plots draw."""
        return plotted([f.fingerprint for f in self.summary.fingerprints])


SectionBuilder = Callable[[ReportInputs], Sequence[Section]]
SECTIONS: list[SectionBuilder] = []


def register_section(builder: SectionBuilder) -> SectionBuilder:
    """Add ``builder`` to every report, after the sections registered before it (usable as a decorator)."""
    SECTIONS.append(builder)
    return builder
