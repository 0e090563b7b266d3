"""Transfer learning with a new head (SACBench; docs/attacks.md#modification-attacks): the thief
re-initialises the classifier and fine-tunes all layers on a shifted task: corrupted images (like CIFAR-10C)
or a related task with a new label space (like CIFAR-100's first 10 classes, here Animal-MNIST)."""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from modelprint.attacks.base import ATTACKS, AttackContext, Built, Modification
from modelprint.attacks.common import DEFAULT_QUERYSET, at_least, match_shape, positive
from modelprint.attacks.finetune import reinit_head
from modelprint.attacks.training import fit, schedule, schedule_config, to_float, to_int
from modelprint.data import BUNDLED_DATASETS, load_dataset
from modelprint.models.base import TorchClassifier
from modelprint.types import JSONValue

TASKS = ("corrupt", "animal", "cifar100")
RELATED_SETS = {"animal": DEFAULT_QUERYSET, "cifar100": "cifar100"}
"""The new-label-space tasks: Animal-MNIST (bundled) and CIFAR-100 (local files beside a CIFAR victim's)."""
NOISE_SIGMA = (0.04, 0.06, 0.08, 0.09, 0.10)  # CIFAR-10-C gaussian_noise severities 1..5 (Hendrycks 2019)
BLUR_SIGMA = (0.4, 0.6, 0.7, 0.8, 1.0)  # [D] gaussian_blur sigmas, scaled to small images


def gaussian_blur(images: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Per-image separable Gaussian blur (kernel radius 2, reflect padding) with per-image ``sigma`` (N,)."""
    offsets = torch.arange(-2, 3, dtype=images.dtype)
    kernel = torch.exp(-(offsets[None] ** 2) / (2 * sigma[:, None] ** 2))
    kernel = kernel / kernel.sum(1, keepdim=True)  # (N, 5)
    n, c, h, w = images.shape
    x = F.pad(images.reshape(1, n * c, h, w), (2, 2, 2, 2), mode="reflect" if min(h, w) > 2 else "replicate")
    k = kernel.repeat_interleave(c, dim=0)  # one kernel per (image, channel)
    x = F.conv2d(x, k.view(n * c, 1, 1, 5), groups=n * c)
    x = F.conv2d(x, k.view(n * c, 1, 5, 1), groups=n * c)
    return x.view(n, c, h, w)


def corrupt(images: torch.Tensor, *, seed: int) -> torch.Tensor:
    """A fixed corrupted copy, like CIFAR-10-C: each image gets Gaussian noise, Gaussian blur or both, at a
    random severity 1..5 (all seeded); values are clipped to [0,1]; labels are unchanged."""
    gen = torch.Generator().manual_seed(seed)
    n = len(images)
    kind = torch.randint(3, (n,), generator=gen)  # 0 noise, 1 blur, 2 blur then noise
    severity = torch.randint(5, (n,), generator=gen)
    out = images.clone()
    blur = kind >= 1
    if blur.any():
        out[blur] = gaussian_blur(out[blur], torch.tensor(BLUR_SIGMA)[severity[blur]])
    sigma = torch.tensor(NOISE_SIGMA)[severity].view(-1, 1, 1, 1) * (kind != 1).view(-1, 1, 1, 1)
    out = out + sigma * torch.randn(out.shape, generator=gen)
    return out.clamp(0, 1)


@ATTACKS.register("transfer")
class Transfer(Modification):
    """``transfer(task, epochs=5, lr=0.01, size=2000)``: re-initialise the head, then fine-tune all layers.

    * ``task=corrupt`` — the attacker split under random corruptions (see :func:`corrupt`), labels kept
      (SACBench's CIFAR-10C transfer [P][C]). Expected: clean accuracy within 0.1 of the source on digits.
    * ``task=animal`` — ``size`` images of Animal-MNIST's train split (its 10 classes; a victim with K < 10
      classes keeps classes < K; resized to the victim's input), a related task with a new label space
      (SACBench's CIFAR-100-first-10 transfer [P][C]). The model no longer solves the victim's task.
    * ``task=cifar100`` — the same with CIFAR-100's first K classes, read from the zoo's ``data_root``
      (SACBench's own setting, for CIFAR victims).

    ``config["task_acc"]`` is the accuracy on the new task's held-out data (the corrupted test split, or
    Animal-MNIST's test split). Recipe [D]: the zoo's fine-tune recipe (5 epochs, lr 0.01, batch 64)."""

    example: ClassVar[str] = "transfer(corrupt,epochs=2)"

    positional = ("task",)

    def __init__(
        self,
        task: str,
        *,
        epochs: str | int = 5,
        lr: str | float = 0.01,
        size: str | int = 2000,
        until: str = "epochs",
    ) -> None:
        self.until, self.rule = until, schedule(until, "transfer")
        if task not in TASKS:
            raise ValueError(f"transfer: task must be one of {TASKS}, got {task!r}")
        self.task = task
        self.epochs = at_least(to_int(epochs, "epochs"), 1, "epochs", "transfer")
        self.lr = positive(to_float(lr, "lr"), "lr", "transfer")
        self.size = at_least(to_int(size, "size"), 2, "size", "transfer")

    def _related(
        self, split: str, model: TorchClassifier, n: int | None, seed: int, root: str | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        name = RELATED_SETS[self.task]
        data = load_dataset(name, split, root=None if name in BUNDLED_DATASETS else root)
        keep = torch.nonzero(data.labels < model.num_classes).squeeze(1)
        if n is not None:
            keep = keep[torch.randperm(len(keep), generator=torch.Generator().manual_seed(seed))[:n]]
        return match_shape(data.images[keep], model.input_shape), data.labels[keep]

    def apply(
        self, parent: TorchClassifier | None, parent_arch: str | None, ctx: AttackContext, *, seed: int
    ) -> Built:
        assert parent is not None and parent_arch is not None
        if self.task == "corrupt":
            train = ctx.split("attacker")
            images, labels = corrupt(train.images, seed=seed), train.labels
            test = ctx.split("test")
            held_out = (corrupt(test.images, seed=seed + 1), test.labels)
        else:
            images, labels = self._related("train", parent, self.size, seed, ctx.data_root)
            held_out = self._related("test", parent, None, seed, ctx.data_root)
        reinit_head(parent.module, seed)
        record = fit(parent, images, labels, epochs=self.epochs, lr=self.lr, seed=seed, until=self.rule)
        config: dict[str, JSONValue] = {
            **schedule_config(self.until, record),
            "task": self.task,
            "epochs": self.epochs,
            "lr": self.lr,
            "train_size": len(labels),
            "task_acc": round(parent.accuracy(*held_out), 4),
        }
        return Built(parent.module, parent_arch, config)
