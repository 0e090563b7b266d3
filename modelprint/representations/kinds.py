"""What a representation outputs, so detectors can declare what they accept (QuRD's R → D typing).

- ``labels``: (N,) discrete symbols (predicted labels, true-label ranks, hard DDV);
- ``ranking``: (N,k) ordered label lists (top-k);
- ``vector``: real-valued per-query outputs (probabilities, logits, DDV);
- ``matrix``: real-valued listwise/structured outputs (correlation matrices, LIME weights)."""

from __future__ import annotations

from typing import Literal, get_args

from modelprint.queries.common import STRUCTURES, QueryStructure

RepKind = Literal["labels", "ranking", "vector", "matrix"]
KINDS: frozenset[RepKind] = frozenset(get_args(RepKind))
DISCRETE: frozenset[RepKind] = frozenset({"labels", "ranking"})
REAL: frozenset[RepKind] = frozenset({"vector", "matrix"})
POINTWISE: frozenset[QueryStructure] = STRUCTURES
