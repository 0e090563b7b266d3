"""Representations (the R of QuRD)."""

from modelprint.representations.base import Representation
from modelprint.representations.outputs import HardLabels

__all__ = ["HardLabels", "Representation"]
