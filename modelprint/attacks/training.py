"""The one training loop every attack uses: SGD with momentum, cosine schedule, seeded shuffling."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from modelprint.models.base import TorchClassifier
from modelprint.types import JSONValue


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

UNTIL = ("epochs", "plateau")
"""A training step's schedule: ``epochs`` (the step's epoch count, cosine learning rate) or ``plateau``
(until the held-out loss stops improving, :class:`Plateau`)."""


@dataclass(frozen=True)
class Plateau:
    """Train until the held-out loss stops improving (our rule for the scaled recipe; the papers train
    fixed, long GPU schedules, which short CPU ones do not reach).

    ``holdout`` of the examples (a seeded draw) are kept out of training and scored after every epoch
    with the classification loss on the step's (inputs, targets). The learning rate is constant; once the
    best held-out loss has not improved by more than ``tol`` (relative) for ``patience`` epochs it drops
    ``decay``-fold, at most ``drops`` times, and the plateau after the last drop ends training. Never more
    than ``cap`` × the step's epochs. The weights of the best held-out epoch are kept."""

    patience: int = 2
    tol: float = 1e-3
    holdout: float = 0.1
    decay: float = 10.0
    drops: int = 1
    cap: float = 3.0


PLATEAU = Plateau()


@dataclass(frozen=True)
class TrainRecord:
    """What a training loop did: ``epochs`` run, why it stopped (``epochs``: the fixed count; ``plateau``;
    ``cap``), the best held-out loss (None without a held-out split) and the epoch it was reached."""

    epochs: int
    stopped: str
    holdout_loss: float | None = None
    best_epoch: int | None = None

    def config(self) -> dict[str, JSONValue]:
        """The record as card settings."""
        out: dict[str, JSONValue] = {"epochs_run": self.epochs, "stopped": self.stopped}
        if self.holdout_loss is not None:
            out["holdout_loss"] = round(self.holdout_loss, 6)
            out["best_epoch"] = self.best_epoch
        return out


def schedule_config(until: str, record: TrainRecord) -> dict[str, JSONValue]:
    """Card settings of a step's schedule: nothing for ``epochs`` (cards as before), else the rule and the
    :class:`TrainRecord`."""
    return {} if until == "epochs" else {"until": until, **record.config()}


def schedule(until: str, step: str) -> Plateau | None:
    """The rule of a step's ``until`` argument (checked): None for ``epochs``, :data:`PLATEAU` for
    ``plateau``."""
    if until not in UNTIL:
        raise ValueError(f"{step}: until must be one of {', '.join(UNTIL)}, got {until!r}")
    return PLATEAU if until == "plateau" else None


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
    until: Plateau | None = None,
) -> TrainRecord:
    """The one training loop: SGD (momentum, weight decay), cosine schedule over all steps, seeded
    shuffling, batches of fewer than 2 skipped (batch norm). ``loss_fn(model, batch)`` gets the CPU
    mini-batch (one slice per aligned tensor) and returns a scalar; it may run its own forward passes.

    ``only``: train just this sub-module (e.g. the classifier for FTLL/RTLL); the rest is frozen *and* kept
    in eval mode so batch-norm statistics do not drift. ``after_step`` runs after every optimiser step
    (pruning uses it to hold its masks). ``until``: train by the :class:`Plateau` rule instead of for
    ``epochs`` (then the cap is ``until.cap × epochs``); its held-out loss is the classification loss on
    the first two tensors (inputs, hard labels or soft targets), so it never queries anything."""
    n = len(tensors[0])
    if any(len(t) != n for t in tensors):
        raise ValueError("train_loop: all tensors need the same length")
    module = model.module
    params = list((only or module).parameters())
    trainable = {id(p) for p in params}
    for p in module.parameters():
        p.requires_grad_(id(p) in trainable)
    gen = torch.Generator().manual_seed(seed)
    train_idx, held = torch.arange(n), None
    if until is not None:
        n_held = min(n - 2, max(1, round(until.holdout * n))) if n > 3 else 0
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed + 7919))
        train_idx, held = perm[n_held:].sort().values, perm[:n_held]
        held = held if len(held) else None
    n_train = len(train_idx)
    steps_per_epoch = max(1, math.ceil(n_train / batch_size))
    cap = epochs if until is None else max(1, math.ceil(until.cap * epochs))
    total = epochs * steps_per_epoch if until is None else 0
    trainer = Trainer(params, lr=lr, total=total, momentum=momentum, weight_decay=weight_decay)
    if until is not None:  # constant learning rate, dropped on plateaus
        trainer.sched = torch.optim.lr_scheduler.LambdaLR(trainer.opt, lambda t: 1.0)
    watch = _HeldOut(model, tuple(t[held] for t in tensors[:2]), until) if held is not None else None
    epoch = 0
    try:
        for epoch in range(1, cap + 1):
            module.eval() if only is not None else module.train()
            if only is not None:
                only.train()
            order = train_idx[torch.randperm(n_train, generator=gen)]
            for i in range(0, n_train, batch_size):
                idx = order[i : i + batch_size]
                if len(idx) < 2:  # batch norm needs two samples
                    continue
                trainer.step(loss_fn(model, tuple(t[idx] for t in tensors)))
                if after_step is not None:
                    after_step()
            if watch is not None and watch.after_epoch(epoch, trainer.opt):
                break
    finally:
        for p in module.parameters():
            p.requires_grad_(True)
        module.eval()
    if watch is None:
        return TrainRecord(epoch, "epochs" if until is None else "cap")
    return watch.finish(epoch, cap)


class _HeldOut:
    """The :class:`Plateau` rule's state: best held-out loss and weights, epochs since, drops left."""

    def __init__(self, model: TorchClassifier, held: Batch, rule: Plateau) -> None:
        self.model, self.held, self.rule = model, held, rule
        self.best, self.best_epoch, self.since, self.drops = math.inf, 0, 0, 0
        self.best_state: dict[str, torch.Tensor] | None = None
        self.plateaued = False

    def loss(self) -> float:
        module = self.model.module
        was = module.training
        module.eval()
        try:
            with torch.no_grad():
                return float(classification_loss(self.model, self.held))
        finally:
            module.train(was)

    def after_epoch(self, epoch: int, opt: torch.optim.Optimizer) -> bool:
        """Score the held-out split; True when training should end."""
        value = self.loss()
        if value < self.best * (1 - self.rule.tol) or self.best_state is None:
            self.since = 0
        else:
            self.since += 1
        if value < self.best:
            self.best, self.best_epoch = value, epoch
            self.best_state = {k: v.detach().clone() for k, v in self.model.module.state_dict().items()}
        if self.since < self.rule.patience:
            return False
        if self.drops >= self.rule.drops:
            self.plateaued = True
            return True
        self.drops += 1
        self.since = 0
        for group in opt.param_groups:
            group["lr"] /= self.rule.decay
        return False

    def finish(self, epoch: int, cap: int) -> TrainRecord:
        """Restore the best weights; the record of the run."""
        if self.best_state is not None:
            self.model.module.load_state_dict(self.best_state)
        return TrainRecord(epoch, "plateau" if self.plateaued else "cap", self.best, self.best_epoch)


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
    until: Plateau | None = None,
) -> TrainRecord:
    """Train ``model`` in place on ``images`` (N,C,H,W in [0,1]) and ``targets``: class indices (N,) for
    hard labels, or (N,K) probabilities for soft-label distillation; see :func:`train_loop`."""
    return train_loop(
        model, (images, targets), classification_loss, epochs=epochs, lr=lr, seed=seed, batch_size=batch_size,
        momentum=momentum, weight_decay=weight_decay, only=only, after_step=after_step, until=until,
    )  # fmt: skip
