"""The benchmark's unit of output: one fingerprint's score for one (victim, suspect) pair."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ScoreRow"]


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
