"""Named fingerprinting schemes. Importing this package registers them all; :mod:`.combos` enumerates
the QuRD combinations of their parts."""

from modelprint.fingerprints import (
    advtra,
    akh,
    anafp,
    cae,
    combos,
    fbi,
    ipguard,
    metafinger,
    metav,
    mfue,
    modeldiff,
    naturalfinger,
    random,
    sac,
    uap,
    zest,
)
from modelprint.fingerprints.base import FINGERPRINTS, Fingerprint, parse_fingerprint
from modelprint.fingerprints.combos import Combo, compatible_combos, make_combo

__all__ = [
    "FINGERPRINTS",
    "Combo",
    "Fingerprint",
    "advtra",
    "akh",
    "anafp",
    "cae",
    "combos",
    "compatible_combos",
    "fbi",
    "ipguard",
    "make_combo",
    "metafinger",
    "metav",
    "mfue",
    "modeldiff",
    "naturalfinger",
    "parse_fingerprint",
    "random",
    "sac",
    "uap",
    "zest",
]
