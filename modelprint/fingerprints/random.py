"""Random — uniform seed sampling baseline (QuRD; docs/random.md)."""

from __future__ import annotations

from modelprint.detectors.matching import MatchRate
from modelprint.fingerprints.base import FINGERPRINTS, Fingerprint
from modelprint.queries.sampling import UniformQueries
from modelprint.representations.outputs import HardLabels


@FINGERPRINTS.register("random")
def random(*, budget: int = 100) -> Fingerprint:
    """Uniformly drawn seeds, hard labels, match rate; label-only suspects."""
    return Fingerprint("random", UniformQueries(), HardLabels(), MatchRate(), budget)
