"""Named fingerprinting schemes. Importing this package registers them all; :mod:`.combos` enumerates
the QuRD combinations of their parts."""

from modelprint.fingerprints import akh, combos, fbi, ipguard, modeldiff, random, sac, uap, zest
from modelprint.fingerprints.base import FINGERPRINTS, Fingerprint
from modelprint.fingerprints.combos import Combo, compatible_combos, generate_shared, make_combo

__all__ = [
    "FINGERPRINTS",
    "Combo",
    "Fingerprint",
    "akh",
    "combos",
    "compatible_combos",
    "fbi",
    "generate_shared",
    "ipguard",
    "make_combo",
    "modeldiff",
    "random",
    "sac",
    "uap",
    "zest",
]
