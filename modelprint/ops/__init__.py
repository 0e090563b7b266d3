"""Stateless tensor functions shared by samplers, attacks and threats."""

from modelprint.ops.adversarial import fgsm, pgd
from modelprint.ops.boundary import BoundaryResult, boundary_search, ipguard_loss
from modelprint.ops.corner_cutmix import corner_cutmix
from modelprint.ops.cutmix import cutmix
from modelprint.ops.deepfool import DeepFoolResult, deepfool
from modelprint.ops.lime import apply_masks, fit_local_linear, grid_segments, lime_masks
from modelprint.ops.uap import UAPResult, fooling_rate, universal_perturbation

__all__ = [
    "BoundaryResult",
    "DeepFoolResult",
    "UAPResult",
    "apply_masks",
    "boundary_search",
    "corner_cutmix",
    "cutmix",
    "deepfool",
    "fgsm",
    "fit_local_linear",
    "fooling_rate",
    "grid_segments",
    "ipguard_loss",
    "lime_masks",
    "pgd",
    "universal_perturbation",
]
