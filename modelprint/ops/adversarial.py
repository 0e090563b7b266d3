"""Gradient attacks in [0,1] pixel space: FGSM (Goodfellow et al. 2015) and ℓ∞ PGD (Madry et al. 2018).

Both take a white-box :class:`TorchClassifier` (its ``forward`` normalises and keeps the graph), work on
CPU tensors in [0,1], clip after every step, and leave the model's train/eval mode as they found it."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from modelprint.models.base import TorchClassifier


def _input_grad(model: TorchClassifier, x: torch.Tensor, y: torch.Tensor, targeted: bool) -> torch.Tensor:
    x = x.detach().clone().requires_grad_(True)
    loss = F.cross_entropy(model.forward(x), y.to(model.device))
    (grad,) = torch.autograd.grad(-loss if targeted else loss, x)
    return grad.detach().cpu()


def fgsm(
    model: TorchClassifier, x: torch.Tensor, y: torch.Tensor, *, eps: float, targeted: bool = False
) -> torch.Tensor:
    """One signed-gradient step of size ``eps``: away from ``y`` (untargeted) or toward it (targeted)."""
    was_training = model.module.training
    model.module.eval()
    try:
        return (x + eps * _input_grad(model, x, y, targeted).sign()).clamp(0, 1)
    finally:
        model.module.train(was_training)


def pgd(
    model: TorchClassifier,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float,
    steps: int = 10,
    step_size: float | None = None,
    targeted: bool = False,
    random_start: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """ℓ∞ projected gradient descent within ``eps`` of ``x``; ``step_size`` defaults to 2.5·eps/steps."""
    if eps < 0 or steps < 1:
        raise ValueError("pgd needs eps >= 0 and steps >= 1")
    alpha = step_size if step_size is not None else 2.5 * eps / steps
    was_training = model.module.training
    model.module.eval()
    try:
        adv = x.clone()
        if random_start and eps > 0:
            noise = torch.rand(x.shape, generator=generator) * 2 - 1
            adv = (x + eps * noise).clamp(0, 1)
        for _ in range(steps):
            adv = adv + alpha * _input_grad(model, adv, y, targeted).sign()
            adv = torch.min(torch.max(adv, x - eps), x + eps).clamp(0, 1)
        return adv.detach()
    finally:
        model.module.train(was_training)
