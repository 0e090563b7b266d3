"""Global magnitude pruning (Han et al. 2015), optionally with a masked recovery fine-tune
(docs/attacks.md#modification-attacks)."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from modelprint.attacks.base import ATTACKS, AttackContext, Built, Modification
from modelprint.attacks.common import check_split
from modelprint.attacks.training import fit, schedule, schedule_config, to_float, to_int
from modelprint.models.base import TorchClassifier
from modelprint.types import JSONValue


def prunable_weights(module: nn.Module) -> list[torch.Tensor]:
    """Weights of every conv and linear layer (our default [D]: global unstructured over both)."""
    return [m.weight for m in module.modules() if isinstance(m, nn.Conv2d | nn.Linear)]


@torch.no_grad()
def magnitude_masks(weights: list[torch.Tensor], rate: float) -> list[torch.Tensor]:
    """Masks zeroing the fraction ``rate`` of weights with the smallest |w| over all tensors together."""
    flat = torch.cat([w.detach().abs().flatten() for w in weights])
    k = round(rate * flat.numel())
    if k == 0:
        return [torch.ones_like(w, dtype=torch.bool) for w in weights]
    threshold = flat.kthvalue(k).values
    masks = [w.detach().abs() > threshold for w in weights]
    # ties at the threshold may leave a few too many; that is within one weight per tie and harmless
    return masks


@ATTACKS.register("prune")
class Prune(Modification):
    """Zero the fraction ``rate`` of conv+linear weights with the smallest magnitude; ``ft`` > 0 then
    fine-tunes all layers for that many epochs on the attacker's data with the masks held (FingerBench)."""

    example: ClassVar[str] = "prune(0.5)"

    positional = ("rate",)

    def __init__(
        self,
        rate: str | float,
        *,
        ft: str | int = 0,
        lr: str | float = 0.01,
        data: str = "attacker",
        until: str = "epochs",
    ) -> None:
        self.until, self.rule = until, schedule(until, "prune")
        self.data = check_split(data, "prune")
        self.rate = to_float(rate, "rate")
        if not 0.0 <= self.rate < 1.0:
            raise ValueError(f"prune rate must be in [0,1), got {self.rate}")
        self.ft, self.lr = to_int(ft, "ft"), to_float(lr, "lr")

    def apply(
        self, parent: TorchClassifier | None, parent_arch: str | None, ctx: AttackContext, *, seed: int
    ) -> Built:
        assert parent is not None and parent_arch is not None
        weights = prunable_weights(parent.module)
        masks = magnitude_masks(weights, self.rate)

        @torch.no_grad()
        def hold() -> None:
            for w, m in zip(weights, masks, strict=True):
                w.mul_(m)

        hold()
        trained: dict[str, JSONValue] = {}
        if self.ft > 0:
            data = ctx.split(self.data)
            record = fit(
                parent, data.images, data.labels, epochs=self.ft, lr=self.lr, seed=seed, after_step=hold,
                until=self.rule,
            )  # fmt: skip
            trained = {"data": self.data, **schedule_config(self.until, record)}
        sparsity = float(sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights))
        return Built(
            parent.module,
            parent_arch,
            {"rate": self.rate, "ft": self.ft, "lr": self.lr, "sparsity": round(sparsity, 4)} | trained,
        )
