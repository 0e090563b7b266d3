"""Detectors (the D of QuRD), typed by ``accepts`` (representation kinds) and ``perfect`` (the score of
identical representations when constant). Higher scores mean more likely stolen."""

from modelprint.detectors.base import Detector
from modelprint.detectors.calibrated import CalibratedThreshold, NotFittedError
from modelprint.detectors.distances import (
    Cosine,
    Hamming,
    NegativeL1,
    NegativeL2,
    RankCorrelation,
    SubsetCosine,
)
from modelprint.detectors.information import MutualInformation, entropy_bits, mutual_information_bits
from modelprint.detectors.learned import LearnedDetector, discrepancy
from modelprint.detectors.matching import MatchRate

__all__ = [
    "CalibratedThreshold",
    "Cosine",
    "Detector",
    "Hamming",
    "LearnedDetector",
    "MatchRate",
    "MutualInformation",
    "NegativeL1",
    "NegativeL2",
    "NotFittedError",
    "RankCorrelation",
    "SubsetCosine",
    "discrepancy",
    "entropy_bits",
    "mutual_information_bits",
]
