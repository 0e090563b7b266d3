"""The one training loop every attack uses: SGD with momentum, cosine schedule, seeded shuffling."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from modelprint.models.base import TorchClassifier


def to_float(value: str | float | int, name: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None


def to_int(value: str | float | int, name: str) -> int:
    f = to_float(value, name)
    if f != int(f):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    return int(f)


def fit(
    model: TorchClassifier,
    images: torch.Tensor,
    targets: torch.Tensor,
    *,
    epochs: int,
    lr: float,
    seed: int,
    batch_size: int = 64,
    momentum: float = 0.9,
    weight_decay: float = 5e-4,
    only: nn.Module | None = None,
    after_step: Callable[[], None] | None = None,
) -> TorchClassifier:
    """Train ``model`` in place on ``images`` (N,C,H,W in [0,1]) and ``targets``: class indices (N,) for
    hard labels, or (N,K) probabilities for soft-label distillation (cross-entropy with soft targets).

    ``only``: train just this sub-module (e.g. the classifier for FTLL/RTLL); the rest is frozen *and* kept
    in eval mode so batch-norm statistics do not drift. ``after_step`` runs after every optimiser step
    (pruning uses it to hold its masks)."""
    module = model.module
    params = list((only or module).parameters())
    frozen = {id(p) for p in module.parameters()} - {id(p) for p in params}
    for p in module.parameters():
        p.requires_grad_(id(p) not in frozen)
    opt = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    steps_per_epoch = max(1, math.ceil(len(images) / batch_size))
    total = max(1, epochs * steps_per_epoch)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda t: 0.5 * (1 + math.cos(math.pi * min(t, total) / total))
    )
    gen = torch.Generator().manual_seed(seed)
    soft = targets.ndim == 2
    for _ in range(epochs):
        module.eval() if only is not None else module.train()
        if only is not None:
            only.train()
        order = torch.randperm(len(images), generator=gen)
        for i in range(0, len(order), batch_size):
            idx = order[i : i + batch_size]
            if len(idx) < 2:  # batch norm needs two samples
                continue
            x, y = images[idx].to(model.device), targets[idx].to(model.device)
            logits = model.forward(x)
            loss = -(y * F.log_softmax(logits, dim=1)).sum(1).mean() if soft else F.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if after_step is not None:
                after_step()
    for p in module.parameters():
        p.requires_grad_(True)
    module.eval()
    return model
