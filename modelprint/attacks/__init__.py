"""Attacks that produce suspects (zoo lineage steps). Importing this package registers them all."""

from modelprint.attacks import finetune, prune, train
from modelprint.attacks.base import ATTACKS, AttackContext, Built, Modification, make_step

__all__ = ["ATTACKS", "AttackContext", "Built", "Modification", "finetune", "make_step", "prune", "train"]
