"""Weight noising + recovery fine-tune (FingerBench, after MetaFinger;
docs/attacks.md#modification-attacks)."""

from __future__ import annotations

from typing import ClassVar

import torch

from modelprint.attacks.base import ATTACKS, AttackContext, Built, Modification
from modelprint.attacks.common import check_split, positive, weight_layers
from modelprint.attacks.training import fit, schedule, schedule_config, to_float, to_int
from modelprint.models.base import TorchClassifier
from modelprint.types import JSONValue


@ATTACKS.register("noise")
class Noise(Modification):
    """``noise(v, ft=2, lr=0.01)``: W ← W + N(0, (std(W)/v)²) on every conv / linear weight tensor (the
    formula is our default [D]; FingerBench uses v ∈ {1..9}, a smaller v is stronger [P]), then ``ft``
    epochs of all-layer fine-tuning on the attacker split to restore accuracy [P].

    Scaled recipe [D]: ``ft=2`` epochs at lr 0.01, as the zoo's pruning recovery (FingerBench: 10 epochs at
    lr 0.005). ``config["noised_acc"]`` is the attacker-split accuracy right after noising (before the
    recovery). Expected: with v ≥ 3 the recovered model stays within 0.05 of the source on digits."""

    example: ClassVar[str] = "noise(3,ft=1)"

    positional = ("v",)

    def __init__(
        self,
        v: str | float,
        *,
        ft: str | int = 2,
        lr: str | float = 0.01,
        data: str = "attacker",
        until: str = "epochs",
    ) -> None:
        self.until, self.rule = until, schedule(until, "noise")
        self.data = check_split(data, "noise")
        self.v = positive(to_float(v, "v"), "v", "noise")
        self.ft, self.lr = to_int(ft, "ft"), positive(to_float(lr, "lr"), "lr", "noise")
        if self.ft < 0:
            raise ValueError(f"noise: ft must be >= 0 epochs, got {self.ft}")

    def apply(
        self, parent: TorchClassifier | None, parent_arch: str | None, ctx: AttackContext, *, seed: int
    ) -> Built:
        assert parent is not None and parent_arch is not None
        gen = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for layer in weight_layers(parent.module):
                w = layer.weight
                std = float(w.detach().float().std()) if w.numel() > 1 else float(w.detach().abs().sum())
                noise = torch.randn(w.shape, generator=gen) * (std / self.v)
                w.add_(noise.to(w.device, w.dtype))
        data = ctx.split(self.data)
        noised_acc = parent.accuracy(data.images, data.labels)
        if self.ft > 0:
            record = fit(
                parent, data.images, data.labels, epochs=self.ft, lr=self.lr, seed=seed, until=self.rule
            )
            config: dict[str, JSONValue] = {
                "v": self.v, "ft": self.ft, "lr": self.lr, "data": self.data,
                "noised_acc": round(noised_acc, 4), **schedule_config(self.until, record),
            }  # fmt: skip
        else:
            config = {"v": self.v, "ft": 0, "noised_acc": round(noised_acc, 4)}
        return Built(parent.module, parent_arch, config)
