"""The benchmark: build a preset's zoo, run fingerprints over its pairs, and turn scores into a report."""

from modelprint.bench.pipeline import report_rows, resolve_fingerprints, resolve_preset, run_preset
from modelprint.bench.results import ResultsDB, ScoreRecord
from modelprint.bench.runner import RunStats, run_benchmark

__all__ = [
    "ResultsDB",
    "RunStats",
    "ScoreRecord",
    "report_rows",
    "resolve_fingerprints",
    "resolve_preset",
    "run_benchmark",
    "run_preset",
]
