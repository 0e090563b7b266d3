"""The benchmark's unit of output: one fingerprint's score for one (victim, suspect) pair."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from modelprint.models.io import ModelFileError
from modelprint.results import ScoreRecord
from modelprint.zoo.store import ModelStore

__all__ = ["ScoreRow", "report_rows"]


@dataclass(frozen=True)
class ScoreRow:
    """Score of ``fingerprint`` for the pair (``victim``, ``suspect``) in benchmark seed ``seed``.

    ``positive`` is the ground truth (the suspect is derived from the victim); ``task`` is the attack for
    positives (``"same"``, ``"finetune"``, ``"prune"``, ``"prune+ft"``, ...) and the kind of negative
    otherwise (``"independent"``, ...). ``score`` is higher for "more likely stolen"; ``queries`` and
    ``seconds`` are the cost of this one verification; ``suspect_accuracy`` is the suspect's test accuracy
    when known. ``threat`` is the deployment threat the suspect was scored behind (its spec, e.g.
    ``jpeg:q=50``; ``""`` for the clean API; docs/threats.md).
    """

    fingerprint: str
    seed: int
    victim: str
    suspect: str
    positive: bool
    task: str
    score: float
    queries: int
    seconds: float
    suspect_accuracy: float | None = None
    threat: str = ""


def _accuracy(store: ModelStore, lineage: str, cache: dict[str, float | None]) -> float | None:
    if lineage not in cache:
        try:
            cache[lineage] = store.card(lineage).accuracy
        except ModelFileError:
            cache[lineage] = None
    return cache[lineage]


def report_rows(records: Sequence[ScoreRecord], store: ModelStore) -> list[ScoreRow]:
    """Stored scores joined with each suspect's accuracy from its card (the clean one, also for rows scored
    behind a threat)."""
    acc: dict[str, float | None] = {}
    return [
        ScoreRow(
            r.fingerprint,
            r.seed,
            r.victim,
            r.suspect,
            r.positive,
            r.task,
            r.score,
            r.queries,
            r.seconds,
            _accuracy(store, r.suspect, acc),
            r.threat,
        )
        for r in records
    ]
