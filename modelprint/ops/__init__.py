"""Stateless tensor functions shared by samplers, attacks and threats."""

from modelprint.ops.adversarial import fgsm, pgd
from modelprint.ops.cutmix import cutmix

__all__ = ["cutmix", "fgsm", "pgd"]
