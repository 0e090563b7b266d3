"""Detectors (the D of QuRD)."""

from modelprint.detectors.base import Detector
from modelprint.detectors.matching import MatchRate

__all__ = ["Detector", "MatchRate"]
