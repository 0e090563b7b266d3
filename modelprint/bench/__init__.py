"""The benchmark: build a preset's zoo, run fingerprints over its pairs, and turn scores into a report."""

from modelprint.bench.pipeline import resolve_fingerprints, run_preset
from modelprint.bench.runner import RunStats, run_benchmark

__all__ = [
    "RunStats",
    "resolve_fingerprints",
    "run_benchmark",
    "run_preset",
]
