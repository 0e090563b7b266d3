"""DAEIT, detecting adversarial examples through image transformation (Tian, Yang, Cai, AAAI'18;
docs/query-detectors.md#daeit): points near a decision boundary change prediction under small rotations and
shifts."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from modelprint.data import Dataset
from modelprint.models.base import TorchClassifier
from modelprint.ops import fgsm, pgd
from modelprint.threats.detection.base import (
    NativeRule,
    QueryDetector,
    QueryDetectorSpecError,
    Rule,
    batched,
    register_query_detector,
    train_binary,
)

__all__ = ["DAEIT", "DAEITVote", "rotate", "shift", "transform_features", "transformed_copies"]

#: [D] rotation angles in degrees (0 is the query itself).
ANGLES = (-30.0, -20.0, -10.0, 0.0, 10.0, 20.0, 30.0)


def rotate(x: torch.Tensor, degrees: float) -> torch.Tensor:
    """Rotation about the centre by ``degrees``, bilinear, zero padding."""
    if degrees == 0:
        return x
    n, _, h, w = x.shape
    a = math.radians(degrees)
    theta = torch.tensor([[math.cos(a), -math.sin(a) * h / w, 0.0], [math.sin(a) * w / h, math.cos(a), 0.0]])
    grid = F.affine_grid(theta.expand(n, 2, 3).to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def shift(x: torch.Tensor, dy: int, dx: int) -> torch.Tensor:
    """Translation by whole pixels (``dy`` down, ``dx`` right), zero fill."""
    h, w = x.shape[-2:]
    out = torch.zeros_like(x)
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[..., yd, xd] = x[..., ys, xs]
    return out


def shift_pixels(size: int, shift_px: int) -> int:
    """The shift in pixels: ``shift_px`` if positive, else 2 px scaled from 32 px images (at least 1)."""
    return shift_px if shift_px > 0 else max(1, round(2 * size / 32))


def transformed_copies(x: torch.Tensor, angles: tuple[float, ...], px: int) -> list[torch.Tensor]:
    """The DAEIT copies of a batch: each rotation of ``angles``, then shifts by ±``px`` on each axis."""
    copies = [rotate(x, a) for a in angles]
    copies += [shift(x, d, 0) for d in (px, -px)] + [shift(x, 0, d) for d in (px, -px)]
    return copies


def transform_features(model: TorchClassifier, x: torch.Tensor, px: int) -> torch.Tensor:
    """(N, T·K): the model's softmax on each transformed copy, concatenated (T = 11 copies)."""
    if len(x) == 0:
        return torch.empty(0, (len(ANGLES) + 4) * model.num_classes)
    return torch.cat([model(c).softmax(1) for c in transformed_copies(x, ANGLES, px)], dim=1)


class _MLP(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


@register_query_detector
@dataclass(eq=False)
class DAEIT(NativeRule, QueryDetector):
    """DAEIT: a 2-layer MLP (hidden 256) on the concatenated softmax of the model on rotated (±10/20/30°)
    and shifted (±2 px) copies, trained on clean vs FGSM and 10-step PGD (ε = 8/255) examples crafted on
    the deployed model; the score is the MLP's logit, flagged above 0 (p > ½) or by the MFUE threshold.

    Half the training images are attacked with FGSM and half with PGD (step 2.5·ε/10, random start);
    with ``successful`` (default) only the examples that fool the model are kept (all when none does),
    the loss weighting both classes equally. ``shift=0`` scales the 2 px of 32×32 images to the image
    size (1 px on 8×8, 2 on 28×28). Adam ``lr`` for ``epochs`` over the features."""

    name: ClassVar[str] = "daeit"
    eps: float = 8 / 255
    steps: int = 10
    hidden: int = 256
    epochs: int = 30
    lr: float = 1e-3
    batch: int = 64
    shift: int = 0
    successful: bool = True
    rule: Rule = "native"
    model_: TorchClassifier | None = field(default=None, init=False, repr=False)
    net_: nn.Module | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.eps <= 0 or self.steps < 1 or self.hidden < 1 or self.epochs < 0 or self.shift < 0:
            raise QueryDetectorSpecError("daeit: eps, steps, hidden need to be positive; epochs, shift >= 0")

    def _px(self, model: TorchClassifier) -> int:
        return shift_pixels(model.input_shape[1], self.shift)

    def _fit(self, model: TorchClassifier, train: Dataset, gen: torch.Generator) -> None:
        half = len(train) // 2
        x, y = train.images, train.labels
        adv = torch.cat(
            [
                fgsm(model, x[:half], y[:half], eps=self.eps),
                pgd(model, x[half:], y[half:], eps=self.eps, steps=self.steps, generator=gen),
            ]
        )
        if self.successful:
            fooled = model.predict(adv) != y
            adv = adv[fooled] if fooled.any() else adv
        px = self._px(model)
        feats = torch.cat([transform_features(model, x, px), transform_features(model, adv, px)])
        target = torch.cat([torch.zeros(len(x)), torch.ones(len(adv))])
        net = _MLP(feats.shape[1], self.hidden)
        train_binary(net, feats, target, epochs=self.epochs, lr=self.lr, batch=self.batch, gen=gen)
        self.model_, self.net_ = model, net

    def score(self, x: torch.Tensor) -> torch.Tensor:
        if self.model_ is None or self.net_ is None:
            raise RuntimeError("daeit: fit the detector first")
        model, net, px = self.model_, self.net_, self._px(self.model_)
        return batched(lambda b: net(transform_features(model, b, px)), x)


@register_query_detector
@dataclass(eq=False)
class DAEITVote(NativeRule, QueryDetector):
    """DAEIT's simple ablation [D]: the score is the fraction of the 10 transformed copies (rotations,
    shifts) whose predicted label differs from the query's; flagged when more than half do (training-free;
    ``rule=mfue`` uses the MFUE threshold instead)."""

    name: ClassVar[str] = "daeit-vote"
    native_threshold: ClassVar[float] = 0.5
    shift: int = 0
    rule: Rule = "native"
    model_: TorchClassifier | None = field(default=None, init=False, repr=False)

    def _fit(self, model: TorchClassifier, train: Dataset, gen: torch.Generator) -> None:
        self.model_ = model

    def score(self, x: torch.Tensor) -> torch.Tensor:
        if self.model_ is None:
            raise RuntimeError("daeit-vote: fit the detector first")
        model, px = self.model_, shift_pixels(self.model_.input_shape[1], self.shift)
        angles = tuple(a for a in ANGLES if a != 0)

        def votes(b: torch.Tensor) -> torch.Tensor:
            label = model(b).argmax(1)
            copies = transformed_copies(b, angles, px)
            return torch.stack([model(c).argmax(1) != label for c in copies], 1).float().mean(1)

        return batched(votes, x)
