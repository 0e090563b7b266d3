"""Benchmark reports: :class:`ScoreRow` records in; a :class:`Summary` (AUC and TPR@5%FPR, mean ± std over
seeds, per-attack tables in the style of QuRD, Godinot et al. AAAI'25), a plain-text table and a
self-contained HTML page out."""

from modelprint.report.html import ExtraSection, render_html
from modelprint.report.rows import ScoreRow, report_rows
from modelprint.report.summary import FingerprintSummary, SeedMetrics, Summary, format_table, summarise

__all__ = [
    "ExtraSection",
    "FingerprintSummary",
    "ScoreRow",
    "SeedMetrics",
    "Summary",
    "format_table",
    "render_html",
    "report_rows",
    "summarise",
]
