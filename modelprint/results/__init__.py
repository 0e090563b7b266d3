"""Benchmark results: the SQLite database of scores, keys, threat accuracies and detection rates
(:class:`ResultsDB`), the records it holds, and their export as CSV, JSON or Parquet. Below the benchmark
(which writes them) and the report (which reads them)."""

from modelprint.results.db import (
    SCHEMA,
    AccuracyRecord,
    DetectionRecord,
    KeyRecord,
    ResultsDB,
    ScoreRecord,
    complete_cells,
)

__all__ = [
    "SCHEMA",
    "AccuracyRecord",
    "DetectionRecord",
    "KeyRecord",
    "ResultsDB",
    "ScoreRecord",
    "complete_cells",
]
