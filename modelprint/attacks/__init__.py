"""Attacks that produce suspects (zoo lineage steps). Importing this package registers them all."""

from modelprint.attacks import (
    adversarial,
    datafree,
    extraction,
    finetune,
    noise,
    prune,
    quantize,
    train,
    transfer,
)
from modelprint.attacks.base import ATTACKS, AttackContext, Built, Modification, make_step

__all__ = [
    "ATTACKS",
    "AttackContext",
    "Built",
    "Modification",
    "adversarial",
    "datafree",
    "extraction",
    "finetune",
    "make_step",
    "noise",
    "prune",
    "quantize",
    "train",
    "transfer",
]
