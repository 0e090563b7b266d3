"""SCADN, semantic-context anomaly detection by inpainting (Yan et al., AAAI'21;
docs/query-detectors.md#scadn): a generator trained on normal images only fills in striped holes; anomalous
inputs are inpainted badly."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from modelprint.data import Dataset
from modelprint.models.base import TorchClassifier
from modelprint.threats.detection.base import QueryDetector, QueryDetectorSpecError, register_query_detector

__all__ = ["SCADN", "stripe_masks", "stripe_widths"]


def stripe_widths(size: int, min_width: int = 2, scales: int = 3, reference: int = 32) -> tuple[int, ...]:
    """Stripe widths ``min_width``·2^i (i < ``scales``; [D] 2, 4, 8 px on 32×32) scaled to ``size`` px,
    at least 1 px, duplicates dropped: 8×8 images get (1, 2), 28×28 images (2, 4, 7)."""
    widths = (max(1, round(min_width * 2**i * size / reference)) for i in range(scales))
    return tuple(dict.fromkeys(widths))


def stripe_masks(height: int, width: int, widths: tuple[int, ...]) -> torch.Tensor:
    """(M,1,H,W) masks, 1 = removed: for each stripe width, horizontal and vertical alternating stripes in
    both phases (each pixel is removed once per width and direction; about half of it per mask)."""
    masks = []
    rows, cols = torch.arange(height).view(-1, 1), torch.arange(width).view(1, -1)
    for w in widths:
        for index in (rows, cols):
            masks += [((index // w) % 2 == phase).expand(height, width) for phase in (0, 1)]
    return torch.stack(masks).unsqueeze(1).float()


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(c_out, c_out, 3, padding=1)
    )


class _Inpainter(nn.Module):
    """A small U-Net: two resolutions, a skip connection; input the holed image and its mask."""

    def __init__(self, channels: int, width: int) -> None:
        super().__init__()
        self.enc = _block(channels + 1, width)
        self.down = nn.Conv2d(width, 2 * width, 3, stride=2, padding=1)
        self.mid = _block(2 * width, 2 * width)
        self.dec = _block(3 * width, width)
        self.out = nn.Conv2d(width, channels, 1)

    def forward(self, holed: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        e = F.leaky_relu(self.enc(torch.cat([holed, mask], 1)), 0.2)
        m = F.leaky_relu(self.mid(F.leaky_relu(self.down(e), 0.2)), 0.2)
        up = F.interpolate(m, size=e.shape[-2:], mode="nearest")
        d = F.leaky_relu(self.dec(torch.cat([e, up], 1)), 0.2)
        return torch.sigmoid(self.out(d))


class _PatchCritic(nn.Module):
    """A light patch-GAN discriminator: a map of real/fake logits over image patches."""

    def __init__(self, channels: int, width: int) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(channels, width, 3, stride=2, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 1, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


@register_query_detector
@dataclass(eq=False)
class SCADN(QueryDetector):
    """SCADN: a U-Net-style generator inpaints multi-scale striped holes; trained on clean images with L1
    on the holes plus a light patch-GAN loss; the score is the mean inpainting error over all masks.

    Per training step each image gets a random mask of :func:`stripe_masks`; the generator loss is
    L1(holes) + ``gan_weight``·BCE(critic(completed), real) (pix2pix's 100:1 balance at 0.01; 0 turns the
    critic off). Adam ``lr`` 2e-4, β = (0.5, 0.999). The score of a query is the mean absolute error on
    the removed pixels, averaged over the masks. [D] trains 100 epochs; the default here is 20 to keep
    CPU fits short. Flagged with the MFUE clean-score threshold (docs/query-detectors.md#protocol)."""

    name: ClassVar[str] = "scadn"
    min_width: int = 2
    scales: int = 3
    width: int = 32
    epochs: int = 20
    lr: float = 2e-4
    batch: int = 64
    gan_weight: float = 0.01
    generator_: nn.Module | None = field(default=None, init=False, repr=False)
    masks_: torch.Tensor = field(default_factory=lambda: torch.empty(0), init=False, repr=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if min(self.min_width, self.scales, self.width, self.batch) < 1 or self.epochs < 0:
            raise QueryDetectorSpecError("scadn: min_width, scales, width, batch must be positive")
        if self.gan_weight < 0:
            raise QueryDetectorSpecError(f"scadn: gan_weight must be non-negative, got {self.gan_weight}")

    def _fit(self, model: TorchClassifier, train: Dataset, gen: torch.Generator) -> None:
        c, h, w = train.input_shape
        masks = stripe_masks(h, w, stripe_widths(h, self.min_width, self.scales))
        generator, critic = _Inpainter(c, self.width), _PatchCritic(c, self.width)
        opt_g = torch.optim.Adam(generator.parameters(), lr=self.lr, betas=(0.5, 0.999))
        opt_d = torch.optim.Adam(critic.parameters(), lr=self.lr, betas=(0.5, 0.999))
        x = train.images
        for _ in range(self.epochs):
            order = torch.randperm(len(x), generator=gen)
            for i in range(0, len(x), self.batch):
                real = x[order[i : i + self.batch]]
                mask = masks[torch.randint(len(masks), (len(real),), generator=gen)]
                filled = generator(real * (1 - mask), mask)
                completed = mask * filled + (1 - mask) * real
                loss = (mask * (filled - real).abs()).sum() / (mask.sum() * c).clamp_min(1.0)
                if self.gan_weight > 0:
                    fake_logits = critic(completed)
                    loss = loss + self.gan_weight * F.binary_cross_entropy_with_logits(
                        fake_logits, torch.ones_like(fake_logits)
                    )
                opt_g.zero_grad()
                loss.backward()
                opt_g.step()
                if self.gan_weight > 0:
                    real_logits, fake_logits = critic(real), critic(completed.detach())
                    loss_d = F.binary_cross_entropy_with_logits(
                        real_logits, torch.ones_like(real_logits)
                    ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
                    opt_d.zero_grad()
                    loss_d.backward()
                    opt_d.step()
        generator.eval()
        self.generator_, self.masks_ = generator, masks

    @torch.no_grad()
    def score(self, x: torch.Tensor) -> torch.Tensor:
        if self.generator_ is None:
            raise RuntimeError("scadn: fit the detector first")
        errors = torch.zeros(len(x))
        c = x.shape[1]
        for mask in self.masks_:
            m = mask.expand(len(x), 1, *mask.shape[-2:])
            for i in range(0, len(x), 512):
                real, mi = x[i : i + 512], m[i : i + 512]
                filled = self.generator_(real * (1 - mi), mi)
                errors[i : i + 512] += (mi * (filled - real).abs()).sum((1, 2, 3)) / (mi.sum((1, 2, 3)) * c)
        return errors / len(self.masks_)
