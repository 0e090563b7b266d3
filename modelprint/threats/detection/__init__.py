"""Query detectors for stealthiness (docs/query-detectors.md): SHE, SCADN, DAEIT (and its vote ablation) and
NaturalFinger's CNN screen a deployed model's incoming queries; ``detection_rates`` measures how many
fingerprint queries they flag under the MFUE protocol, and the ``guard`` threat answers flagged queries
with a refusal or at random. ``QUERY_DETECTORS`` maps names to detectors; ``parse_query_detector`` builds
one from ``name:key=value,...``."""

from modelprint.threats.detection import daeit, naturalfinger, scadn, she  # noqa: F401  (registers them)
from modelprint.threats.detection.base import (
    QUERY_DETECTORS,
    QueryDetector,
    QueryDetectorSpecError,
    fit_cached,
    mfue_threshold,
    parse_query_detector,
)
from modelprint.threats.detection.daeit import DAEIT, DAEITVote
from modelprint.threats.detection.guard import Guard, Guarded
from modelprint.threats.detection.naturalfinger import NaturalFingerDetector
from modelprint.threats.detection.rates import DetectionRate, detection_rates
from modelprint.threats.detection.scadn import SCADN
from modelprint.threats.detection.she import SHE, penultimate

__all__ = [
    "DAEIT",
    "QUERY_DETECTORS",
    "SCADN",
    "SHE",
    "DAEITVote",
    "DetectionRate",
    "Guard",
    "Guarded",
    "NaturalFingerDetector",
    "QueryDetector",
    "QueryDetectorSpecError",
    "detection_rates",
    "fit_cached",
    "mfue_threshold",
    "parse_query_detector",
    "penultimate",
]
