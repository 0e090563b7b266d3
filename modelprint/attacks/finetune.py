"""Fine-tuning attacks FTLL / FTAL / RTLL / RTAL (Adi et al. 2018), on the attacker's data
(docs/attacks.md#modification-attacks)."""

from __future__ import annotations

from typing import ClassVar

from torch import nn

from modelprint.attacks.base import ATTACKS, AttackContext, Built, Modification, seeded
from modelprint.attacks.training import fit, schedule, schedule_config, to_float, to_int
from modelprint.models.base import TorchClassifier
from modelprint.types import JSONValue

MODES = ("ftll", "ftal", "rtll", "rtal")


def head_of(module: nn.Module) -> nn.Linear:
    head = getattr(module, "classifier", None)
    if not isinstance(head, nn.Linear):
        raise TypeError(f"{type(module).__name__} has no final nn.Linear named 'classifier'")
    return head


def reinit_head(module: nn.Module, seed: int) -> None:
    with seeded(seed):
        head_of(module).reset_parameters()


@ATTACKS.register("finetune")
class FineTune(Modification):
    """``finetune(mode=ftal, epochs=5, lr=0.01, data=attacker, batch=64)``. FTLL: train the last layer;
    FTAL: train all layers; RTLL / RTAL: re-initialise the last layer first."""

    example: ClassVar[str] = "finetune(ftal,epochs=2)"

    positional = ("mode",)

    def __init__(
        self,
        mode: str = "ftal",
        *,
        epochs: str | int = 5,
        lr: str | float = 0.01,
        data: str = "attacker",
        batch: str | int = 64,
        until: str = "epochs",
    ) -> None:
        self.until, self.rule = until, schedule(until, "finetune")
        if mode not in MODES:
            raise ValueError(f"finetune mode must be one of {MODES}, got {mode!r}")
        self.mode, self.epochs, self.lr, self.data = mode, to_int(epochs, "epochs"), to_float(lr, "lr"), data
        self.batch = to_int(batch, "batch")
        if self.batch < 1:
            raise ValueError(f"finetune: batch must be >= 1, got {self.batch}")

    def apply(
        self, parent: TorchClassifier | None, parent_arch: str | None, ctx: AttackContext, *, seed: int
    ) -> Built:
        assert parent is not None and parent_arch is not None
        data = ctx.split(self.data)
        if self.mode.startswith("rt"):
            reinit_head(parent.module, seed)
        only = head_of(parent.module) if self.mode.endswith("ll") else None
        record = fit(
            parent,
            data.images,
            data.labels,
            epochs=self.epochs,
            lr=self.lr,
            seed=seed,
            only=only,
            batch_size=self.batch,
            until=self.rule,
        )
        config: dict[str, JSONValue] = {
            "mode": self.mode,
            "epochs": self.epochs,
            "lr": self.lr,
            "batch": self.batch,
        }
        config |= schedule_config(self.until, record)
        return Built(parent.module, parent_arch, config | {"data": self.data})
