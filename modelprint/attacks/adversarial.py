"""Adversarial fine-tuning from the parent: Madry PGD training (MFUE) and FingerBench's adversarial
fine-tune on a fraction of the attacker's set (docs/attacks.md#modification-attacks). Budgets are given in
1/255 pixel units."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from modelprint.attacks.base import ATTACKS, AttackContext, Built, Modification
from modelprint.attacks.common import at_least, check_split, positive
from modelprint.attacks.training import Batch, fit, schedule, schedule_config, to_float, to_int, train_loop
from modelprint.models.base import TorchClassifier
from modelprint.ops.adversarial import pgd
from modelprint.types import JSONValue


def _budget(eps: str | float, attack: str) -> float:
    value = positive(to_float(eps, "eps"), "eps (in 1/255 units)", attack)
    if value > 255:
        raise ValueError(f"{attack}: eps is in 1/255 units and must be <= 255, got {value}")
    return value


@ATTACKS.register("advtrain")
class AdvTrain(Modification):
    """``advtrain(eps, epochs=3, lr=0.01, steps=10)``: Madry et al. (2018) ℓ∞ PGD adversarial fine-tuning of
    the parent on the attacker split, ε = ``eps``/255 (MFUE sweeps {0.1,0.2,0.5,1,2,4,8}/255 [P]).

    Per batch: PGD with ``steps`` steps of 2.5·ε/steps and a random start against the current model (eval
    mode), then loss ½CE(clean) + ½CE(adv); SGD lr 0.01, momentum 0.9, wd 5e-4, cosine [D]. MFUE
    trains 30 epochs per ε [P]; the default is scaled to 3 (each epoch costs ≈ steps + 1 plain epochs).
    Expected: for ε ≤ 8/255 accuracy stays within 0.05 of the source on digits."""

    example: ClassVar[str] = "advtrain(8,epochs=1)"

    positional = ("eps",)

    def __init__(
        self,
        eps: str | float,
        *,
        epochs: str | int = 3,
        lr: str | float = 0.01,
        steps: str | int = 10,
        data: str = "attacker",
        until: str = "epochs",
    ) -> None:
        self.until, self.rule = until, schedule(until, "advtrain")
        self.data = check_split(data, "advtrain")
        self.eps = _budget(eps, "advtrain")
        self.epochs = at_least(to_int(epochs, "epochs"), 1, "epochs", "advtrain")
        self.lr = positive(to_float(lr, "lr"), "lr", "advtrain")
        self.steps = at_least(to_int(steps, "steps"), 1, "steps", "advtrain")

    def apply(
        self, parent: TorchClassifier | None, parent_arch: str | None, ctx: AttackContext, *, seed: int
    ) -> Built:
        assert parent is not None and parent_arch is not None
        data = ctx.split(self.data)
        eps = self.eps / 255
        gen = torch.Generator().manual_seed(seed + 1)

        def madry(model: TorchClassifier, batch: Batch) -> torch.Tensor:
            x, y = batch
            adv = pgd(model, x, y, eps=eps, steps=self.steps, step_size=2.5 * eps / self.steps, generator=gen)
            y = y.to(model.device)
            return 0.5 * F.cross_entropy(model.forward(x), y) + 0.5 * F.cross_entropy(model.forward(adv), y)

        record = train_loop(
            parent,
            (data.images, data.labels),
            madry,
            epochs=self.epochs,
            lr=self.lr,
            seed=seed,
            until=self.rule,
        )
        config: dict[str, JSONValue] = {
            **schedule_config(self.until, record),
            "data": self.data,
            "eps": self.eps,
            "eps_pixels": eps,
            "steps": self.steps,
            "step": 2.5 * eps / self.steps,
            "epochs": self.epochs,
            "lr": self.lr,
            "loss": "0.5*ce(clean)+0.5*ce(adv)",
        }
        return Built(parent.module, parent_arch, config)


@ATTACKS.register("advft")
class AdvFineTune(Modification):
    """``advft(r, eps=8, epochs=2, lr=0.01)``: FingerBench adversarial fine-tune [P]: PGD (ε = ``eps``/255,
    10 steps of ε/4 = 2/255 at the default, random start [D]) against the parent on a seeded random
    fraction ``r`` ∈ (0,1] of the attacker split, then all-layer fine-tuning on clean ∪ adversarial images
    with their true labels. Scaled recipe [D]: 2 epochs at lr 0.01 (FingerBench: 10 epochs, lr 0.005).
    Expected: accuracy within 0.05 of the source on digits."""

    example: ClassVar[str] = "advft(0.5,epochs=1)"

    positional = ("r",)

    def __init__(
        self,
        r: str | float,
        *,
        eps: str | float = 8,
        epochs: str | int = 2,
        lr: str | float = 0.01,
        data: str = "attacker",
        until: str = "epochs",
    ) -> None:
        self.until, self.rule = until, schedule(until, "advft")
        self.data = check_split(data, "advft")
        self.r = to_float(r, "r")
        if not 0 < self.r <= 1:
            raise ValueError(f"advft: r must be a fraction in (0, 1], got {self.r}")
        self.eps = _budget(eps, "advft")
        self.epochs = at_least(to_int(epochs, "epochs"), 1, "epochs", "advft")
        self.lr = positive(to_float(lr, "lr"), "lr", "advft")

    def apply(
        self, parent: TorchClassifier | None, parent_arch: str | None, ctx: AttackContext, *, seed: int
    ) -> Built:
        assert parent is not None and parent_arch is not None
        data = ctx.split(self.data)
        gen = torch.Generator().manual_seed(seed)
        n_adv = max(1, round(self.r * len(data)))
        pick = torch.randperm(len(data), generator=gen)[:n_adv]
        eps, steps = self.eps / 255, 10
        chunks = [
            pgd(
                parent, data.images[i], data.labels[i], eps=eps, steps=steps, step_size=eps / 4, generator=gen
            )
            for i in pick.split(256)
        ]
        images = torch.cat([data.images, *chunks])
        labels = torch.cat([data.labels, data.labels[pick]])
        record = fit(parent, images, labels, epochs=self.epochs, lr=self.lr, seed=seed, until=self.rule)
        config: dict[str, JSONValue] = {
            **schedule_config(self.until, record),
            "data": self.data,
            "r": self.r,
            "n_adv": n_adv,
            "eps": self.eps,
            "steps": steps,
            "step": eps / 4,
            "epochs": self.epochs,
            "lr": self.lr,
        }
        return Built(parent.module, parent_arch, config)
