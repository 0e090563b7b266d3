"""The query detector of NaturalFinger's stealthiness study (Yang et al.;
docs/query-detectors.md#naturalfinger-detector): a small CNN that tells the deployer's normal images from
Gaussian-noise and FGSM images."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
from torch import nn

from modelprint.data import Dataset
from modelprint.models.base import TorchClassifier
from modelprint.ops import fgsm
from modelprint.threats.detection.base import (
    NativeRule,
    QueryDetector,
    QueryDetectorSpecError,
    Rule,
    batched,
    register_query_detector,
    train_binary,
)

__all__ = ["NaturalFingerDetector"]


class _NineLayerCNN(nn.Module):
    """Six 3×3 conv layers (batch norm, ReLU; 2×2 max-pool after every second while the map allows),
    global average pooling, then three linear layers: nine weight layers, one logit out."""

    def __init__(self, channels: int, size: int, width: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in = channels
        for i, c_out in enumerate((width, width, 2 * width, 2 * width, 4 * width, 4 * width)):
            layers += [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU()]
            if i % 2 == 1 and size >= 2:
                layers.append(nn.MaxPool2d(2))
                size //= 2
            c_in = c_out
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        layers += [nn.Linear(c_in, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 1)]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).squeeze(1)


@register_query_detector
@dataclass(eq=False)
class NaturalFingerDetector(NativeRule, QueryDetector):
    """NaturalFinger's detector: a 9-layer CNN trained on the deployer's clean images (normal) vs the
    same images with Gaussian noise σ = 0.1 and FGSM ε = 8/255 on the deployed model (abnormal), Adam lr
    1e-3, 20 epochs, class-balanced loss; the score is its logit, flagged above 0 or by the MFUE threshold.

    The paper uses 5k images of each kind and averages 3 runs; here one seeded run on the deployer's data
    (``images``), each image once clean, once noised and once attacked."""

    name: ClassVar[str] = "naturalfinger"
    sigma: float = 0.1
    eps: float = 8 / 255
    width: int = 16
    epochs: int = 20
    lr: float = 1e-3
    batch: int = 64
    rule: Rule = "native"
    net_: nn.Module | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.sigma <= 0 or self.eps <= 0 or self.width < 1 or self.epochs < 0 or self.batch < 2:
            raise QueryDetectorSpecError("naturalfinger: sigma, eps, width need to be positive, batch >= 2")

    def _fit(self, model: TorchClassifier, train: Dataset, gen: torch.Generator) -> None:
        x, y = train.images, train.labels
        noisy = (x + self.sigma * torch.randn(x.shape, generator=gen)).clamp(0, 1)
        adv = fgsm(model, x, y, eps=self.eps)
        inputs = torch.cat([x, noisy, adv])
        target = torch.cat([torch.zeros(len(x)), torch.ones(2 * len(x))])
        c, h, _ = train.input_shape
        net = _NineLayerCNN(c, h, self.width)
        train_binary(net, inputs, target, epochs=self.epochs, lr=self.lr, batch=self.batch, gen=gen)
        self.net_ = net

    def score(self, x: torch.Tensor) -> torch.Tensor:
        if self.net_ is None:
            raise RuntimeError("naturalfinger: fit the detector first")
        net = self.net_
        return batched(net, x)
