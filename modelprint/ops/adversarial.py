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
    eps: float | torch.Tensor,
    steps: int = 10,
    step_size: float | None = None,
    targeted: bool = False,
    random_start: bool = True,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """ℓ∞ projected gradient descent within ``eps`` of ``x``; ``step_size`` defaults to 2.5·eps/steps.
    ``eps`` is one radius, or one per point (N,)."""
    if isinstance(eps, torch.Tensor):
        if eps.shape != (len(x),):
            raise ValueError(f"pgd: per-point eps must have shape ({len(x)},), got {tuple(eps.shape)}")
        radius: float | torch.Tensor = eps.to(x.dtype).view(-1, *([1] * (x.ndim - 1)))
        negative, moves = bool((eps < 0).any()), bool((eps > 0).any())
    else:
        radius, negative, moves = eps, eps < 0, eps > 0
    if negative or steps < 1:
        raise ValueError("pgd needs eps >= 0 and steps >= 1")
    alpha = step_size if step_size is not None else 2.5 * radius / steps
    was_training = model.module.training
    model.module.eval()
    try:
        adv = x.clone()
        if random_start and moves:
            noise = torch.rand(x.shape, generator=generator) * 2 - 1
            adv = (x + radius * noise).clamp(0, 1)
        for _ in range(steps):
            adv = adv + alpha * _input_grad(model, adv, y, targeted).sign()
            adv = torch.min(torch.max(adv, x - radius), x + radius).clamp(0, 1)
        return adv.detach()
    finally:
        model.module.train(was_training)


def minimal_linf_distance(
    model: TorchClassifier, x: torch.Tensor, *, hi: float = 0.5, rounds: int = 8, steps: int = 10
) -> torch.Tensor:
    """Per point, the smallest ℓ∞ radius at which untargeted PGD (``steps`` steps of 2.5·ε/steps from x,
    no random start) changes the model's label, by bisection over ``rounds`` halvings of [0, ``hi``]
    (resolution hi·2^-rounds); ``inf`` where PGD cannot change it even at ``hi``. An upper bound on the
    true minimal distance (PGD may miss closer points)."""
    was_training = model.module.training
    model.module.eval()
    try:
        y = model.predict(x)
        reach = model.predict(pgd(model, x, y, eps=hi, steps=steps, random_start=False)) != y
        lo, up = torch.zeros(len(x)), torch.full((len(x),), float(hi))
        for _ in range(rounds):
            mid = (lo + up) / 2
            flipped = model.predict(pgd(model, x, y, eps=mid, steps=steps, random_start=False)) != y
            up, lo = torch.where(flipped, mid, up), torch.where(flipped, lo, mid)
        return torch.where(reach, up, torch.full_like(up, float("inf")))
    finally:
        model.module.train(was_training)
