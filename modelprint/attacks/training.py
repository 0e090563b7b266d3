"""The one training loop every attack uses: SGD with momentum, cosine schedule, seeded shuffling."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

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


class Trainer:
    """SGD (momentum, weight decay) with a cosine schedule over ``total`` steps; ``step(loss)`` does one
    update. Used by :func:`train_loop` and by attacks that interleave their own steps (data-free HL)."""

    def __init__(
        self,
        params: Sequence[nn.Parameter],
        *,
        lr: float,
        total: int,
        momentum: float = 0.9,
        weight_decay: float = 5e-4,
    ) -> None:
        self.opt = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
        total = max(1, total)
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda t: 0.5 * (1 + math.cos(math.pi * min(t, total) / total))
        )

    def step(self, loss: torch.Tensor) -> None:
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        self.sched.step()


Batch = tuple[torch.Tensor, ...]
LossFn = Callable[[TorchClassifier, Batch], torch.Tensor]


def train_loop(
    model: TorchClassifier,
    tensors: Sequence[torch.Tensor],
    loss_fn: LossFn,
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
    """The one training loop: SGD (momentum, weight decay), cosine schedule over all steps, seeded
    shuffling, batches of fewer than 2 skipped (batch norm). ``loss_fn(model, batch)`` gets the CPU
    mini-batch (one slice per aligned tensor) and returns a scalar; it may run its own forward passes.

    ``only``: train just this sub-module (e.g. the classifier for FTLL/RTLL); the rest is frozen *and* kept
    in eval mode so batch-norm statistics do not drift. ``after_step`` runs after every optimiser step
    (pruning uses it to hold its masks)."""
    n = len(tensors[0])
    if any(len(t) != n for t in tensors):
        raise ValueError("train_loop: all tensors need the same length")
    module = model.module
    params = list((only or module).parameters())
    trainable = {id(p) for p in params}
    for p in module.parameters():
        p.requires_grad_(id(p) in trainable)
    total = epochs * max(1, math.ceil(n / batch_size))
    trainer = Trainer(params, lr=lr, total=total, momentum=momentum, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    try:
        for _ in range(epochs):
            module.eval() if only is not None else module.train()
            if only is not None:
                only.train()
            order = torch.randperm(n, generator=gen)
            for i in range(0, n, batch_size):
                idx = order[i : i + batch_size]
                if len(idx) < 2:  # batch norm needs two samples
                    continue
                trainer.step(loss_fn(model, tuple(t[idx] for t in tensors)))
                if after_step is not None:
                    after_step()
    finally:
        for p in module.parameters():
            p.requires_grad_(True)
        module.eval()
    return model


def classification_loss(model: TorchClassifier, batch: Batch) -> torch.Tensor:
    """Cross-entropy on class indices (N,), or on soft targets (N,K) for soft-label distillation."""
    x, y = batch[0].to(model.device), batch[1].to(model.device)
    logits = model.forward(x)
    return -(y * F.log_softmax(logits, dim=1)).sum(1).mean() if y.ndim == 2 else F.cross_entropy(logits, y)


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
    hard labels, or (N,K) probabilities for soft-label distillation; see :func:`train_loop`."""
    return train_loop(
        model, (images, targets), classification_loss, epochs=epochs, lr=lr, seed=seed, batch_size=batch_size,
        momentum=momentum, weight_decay=weight_decay, only=only, after_step=after_step,
    )  # fmt: skip
