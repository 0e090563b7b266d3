"""The report's built-in sections, registered in the order the page shows them: negatives by family, the
confidence table, budget curves, deployment threats, AnaFP's intervals, the query images, the NaturalFinger
ablation, per-architecture tables, score ranges and sweeps, and query detection rates. Each is a
:data:`~modelprint.report.section.SectionBuilder` over :class:`~modelprint.report.section.ReportInputs`."""

from __future__ import annotations

from collections.abc import Iterable

from modelprint.attacks import AttackContext
from modelprint.report.ablation import ablation_sections, format_ablation
from modelprint.report.anafp import anafp_sections
from modelprint.report.architectures import architecture_sections
from modelprint.report.budget import budget_curves
from modelprint.report.detection import detection_matrix, detection_sections, format_detection_matrix
from modelprint.report.families import family_sections, family_stats, format_family_table
from modelprint.report.html import ExtraSection
from modelprint.report.queries import query_sections
from modelprint.report.section import ReportInputs, Section, register_section
from modelprint.report.sweeps import sweep_sections
from modelprint.report.threats import format_threat_costs, format_threat_matrix, threat_sections

__all__: list[str] = []


def _sections(found: Iterable[tuple[str, ExtraSection]], text: str = "") -> list[Section]:
    """Sections from (title, body) pairs; ``text`` goes with the first (printed once), or alone (an untitled
    section, printed only) when there is no HTML part."""
    out = [Section(title, body) for title, body in found]
    if text:
        out[:1] = [Section(out[0].title, out[0].body, text) if out else Section("", "", text)]
    return out


@register_section
def families(r: ReportInputs) -> list[Section]:
    stats = family_stats(r.rows, r.summary.fpr)
    text = "\n" + format_family_table(stats, r.summary.fpr) if stats else ""
    return _sections(family_sections(r.rows, r.summary.fpr).items(), text)


@register_section
def confidence(r: ReportInputs) -> list[Section]:
    if r.preset is None:
        return []
    from modelprint.report.confidence import confidence_sections, format_loss_ratios, loss_ratios

    ratios = loss_ratios(r.preset, r.workspace.store, AttackContext(r.preset.dataset).split("test"))
    return _sections(confidence_sections(ratios).items(), "\n" + format_loss_ratios(ratios) if ratios else "")


@register_section
def budgets(r: ReportInputs) -> list[Section]:
    curves = budget_curves(r.summary)
    return [] if curves is None else [Section("Query-budget curves", curves)]


@register_section
def threats(r: ReportInputs) -> list[Section]:
    matrix, costs = r.threat_matrix, r.threat_costs
    printed = [format_threat_matrix(matrix)] if matrix is not None else []
    printed += [format_threat_costs(costs)] if costs else []
    return _sections(threat_sections(matrix, costs), "\n".join(printed))


@register_section
def anafp(r: ReportInputs) -> list[Section]:
    return _sections(anafp_sections(r.summary, r.rows, r.workspace.keys))


@register_section
def query_images(r: ReportInputs) -> list[Section]:
    return _sections(query_sections(r.rows, r.workspace.keys).items())


@register_section
def ablation(r: ReportInputs) -> list[Section]:
    return _sections(ablation_sections(r.summary).items(), format_ablation(r.summary))


@register_section
def architectures(r: ReportInputs) -> list[Section]:
    return _sections(architecture_sections(r.rows, r.drawn).items())


@register_section
def sweeps(r: ReportInputs) -> list[Section]:
    return _sections(sweep_sections(r.rows, r.summary, r.drawn, r.threat_matrix, r.threat_costs))


@register_section
def detection(r: ReportInputs) -> list[Section]:
    detected = detection_matrix(r.detections)
    text = format_detection_matrix(detected) if detected is not None else ""
    return _sections(detection_sections(detected), text)
