"""Named fingerprinting schemes. Importing this package registers them all."""

from modelprint.fingerprints import akh, random
from modelprint.fingerprints.base import FINGERPRINTS, Fingerprint

__all__ = ["FINGERPRINTS", "Fingerprint", "akh", "random"]
