"""AKH — the Anna Karenina heuristic baseline (QuRD, Godinot et al. AAAI'25; docs/akh.md)."""

from __future__ import annotations

from modelprint.detectors.matching import MatchRate
from modelprint.fingerprints.base import FINGERPRINTS, Fingerprint
from modelprint.queries.sampling import NegativeQueries
from modelprint.representations.outputs import HardLabels


@FINGERPRINTS.register("akh")
def akh(*, budget: int = 100, augment: bool = True) -> Fingerprint:
    """Misclassified seeds (+CutMix when too few), hard labels, match rate; label-only suspects."""
    return Fingerprint("akh", NegativeQueries(augment=augment), HardLabels(), MatchRate(), budget)
