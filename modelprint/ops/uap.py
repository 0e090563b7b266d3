"""Universal adversarial perturbation (Moosavi-Dezfooli, Fawzi, Fawzi, Frossard, CVPR'17), ℓ∞ ball.

Passes over the data; for each point that x + v does not fool yet, add DeepFool's minimal extra perturbation
and project v back onto ‖v‖∞ ≤ ξ. Stops at the target fooling rate or after ``max_passes``, or (with a
:class:`~modelprint.ops.convergence.StopRule`) once the fooling rate has stopped improving. Mini-batched:
the DeepFool steps of a chunk are computed at the same v and added together before one projection;
``batch_size=1`` is the paper's sequential algorithm (documented speed/faithfulness trade-off)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from modelprint.models.base import TorchClassifier
from modelprint.ops.convergence import NEVER, StopRule
from modelprint.ops.deepfool import deepfool
from modelprint.ops.threads import intra_op_threads


@dataclass(frozen=True)
class UAPResult:
    """The perturbation ``v`` (C,H,W), its fooling rate on the fitting images and the passes it took."""

    perturbation: torch.Tensor
    fooling_rate: float
    passes: int


def fooling_rate(model: TorchClassifier, images: torch.Tensor, v: torch.Tensor) -> float:
    """Fraction of images whose label changes under x + v (clipped to [0,1])."""
    if len(images) == 0:
        return 0.0
    return float((model.predict((images + v).clamp(0, 1)) != model.predict(images)).float().mean())


@intra_op_threads()
def universal_perturbation(
    model: TorchClassifier,
    images: torch.Tensor,
    *,
    eps: float,
    target_fooling: float = 0.8,
    max_passes: int = 10,
    overshoot: float = 0.02,
    max_iter: int = 10,
    batch_size: int = 16,
    generator: torch.Generator,
    stop: StopRule = NEVER,
) -> UAPResult:
    """UAP of ``model`` fitted on ``images`` (N,C,H,W) in [0,1]; the defaults ξ = 10/255, rate 0.8 are [D]
    (docs/uap.md#parameters). ``stop`` is checked on the fooling rate after every pass (it draws no random
    numbers)."""
    if eps < 0 or max_passes < 1 or batch_size < 1:
        raise ValueError("universal_perturbation needs eps >= 0, max_passes >= 1 and batch_size >= 1")
    images = images.detach().float().cpu()
    clean = model.predict(images)
    v = torch.zeros(images.shape[1:])
    rate, passes = 0.0, 0
    plateau = stop.plateau(maximise=True)
    for passes in range(1, max_passes + 1):  # noqa: B007 (reported)
        order = torch.randperm(len(images), generator=generator)
        for chunk in order.split(batch_size):
            shifted = (images[chunk] + v).clamp(0, 1)
            todo = model.predict(shifted) == clean[chunk]
            if not todo.any():
                continue
            result = deepfool(model, shifted[todo], overshoot=overshoot, max_iter=max_iter)
            step = (result.adversarial - shifted[todo]).sum(dim=0)
            v = (v + step).clamp(-eps, eps)
        rate = fooling_rate(model, images, v)
        if rate >= target_fooling or plateau.update(rate):
            break
    return UAPResult(v, rate, passes)
