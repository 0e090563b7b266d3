"""Test helpers shipped with the package: the tiny zoo (scikit-learn digits, 8×8), built on first use."""

from modelprint.testing.tiny import TINY_PRESET, TinyZoo, tiny_zoo

__all__ = ["TINY_PRESET", "TinyZoo", "tiny_zoo"]
