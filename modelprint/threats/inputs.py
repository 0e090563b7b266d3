"""Input-processing threats (docs/threats.md#input-processing): the suspect's API transforms every incoming
query before its model.

MFUE suite [P] (Xu et al., KDD'26): ``crop``, ``flip``, ``rotate``, ``gaussian-noise``, ``blur``. FBI/QuRD
suite [C] (Maho et al. TIFS'23; Godinot et al. AAAI'25): ``jpeg``, ``equalize``, ``posterize``. All work on
[0,1] NCHW batches of any size and channel count; random ones draw per image from the wrapper's seeded
generator. JPEG, equalisation and posterisation are Pillow's, on 8-bit pixels, as in the reference code."""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from modelprint.threats.base import InputThreat, ThreatSpecError, register_threat

__all__ = [
    "Blur",
    "Crop",
    "Equalize",
    "Flip",
    "GaussianNoise",
    "Jpeg",
    "Posterize",
    "Rotate",
    "jpeg_compress",
]


def _to_u8(x: torch.Tensor) -> torch.Tensor:
    """[0,1] floats -> integer levels 0..255 (as int64)."""
    return (x.clamp(0.0, 1.0) * 255.0).round().long()


def _affine(x: torch.Tensor, theta: torch.Tensor, padding: str) -> torch.Tensor:
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode=padding, align_corners=False)


@register_threat
@dataclass(frozen=True)
class Crop(InputThreat):
    """Random crop of side ``scale``·H × ``scale``·W at a uniform position, bilinearly resized back
    (MFUE [P]: 24×24 of 32×32, scale 0.75)."""

    scale: float = 0.75
    name: ClassVar[str] = "crop"

    def __post_init__(self) -> None:
        if not 0.0 < self.scale <= 1.0:
            raise ThreatSpecError(f"crop: scale must lie in (0, 1], got {self.scale}")

    def transform(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        n, _, h, w = x.shape
        ch, cw = max(1, round(self.scale * h)), max(1, round(self.scale * w))
        top = torch.randint(0, h - ch + 1, (n,), generator=gen)
        left = torch.randint(0, w - cw + 1, (n,), generator=gen)

        def axis(size: int, crop: int, start: torch.Tensor) -> torch.Tensor:
            # bilinear source positions (half-pixel centres) inside the crop, clamped to it as resizing the
            # cut-out crop does, normalised for grid_sample on the whole image
            src = ((torch.arange(size, dtype=torch.float64) + 0.5) * crop / size - 0.5).clamp(0, crop - 1)
            return ((2 * (start.double().view(-1, 1) + src) + 1) / size - 1).to(x.dtype)

        gy, gx = axis(h, ch, top), axis(w, cw, left)
        grid = torch.stack([gx.view(n, 1, w).expand(n, h, w), gy.view(n, h, 1).expand(n, h, w)], dim=-1)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


@register_threat
@dataclass(frozen=True)
class Flip(InputThreat):
    """Each image flipped with probability ``p``: horizontally, vertically, or either at random (MFUE's
    "horizontal or vertical, chosen at random" [P] is ``direction=either``)."""

    p: float = 0.5
    direction: Literal["horizontal", "vertical", "either"] = "horizontal"
    name: ClassVar[str] = "flip"

    def __post_init__(self) -> None:
        if not 0.0 <= self.p <= 1.0:
            raise ThreatSpecError(f"flip: p must lie in [0, 1], got {self.p}")

    def transform(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        n = x.shape[0]
        flip = torch.rand(n, generator=gen) < self.p
        vertical = torch.rand(n, generator=gen) < 0.5
        if self.direction != "either":
            vertical.fill_(self.direction == "vertical")
        out = torch.where((flip & ~vertical).view(-1, 1, 1, 1), x.flip(-1), x)
        return torch.where((flip & vertical).view(-1, 1, 1, 1), x.flip(-2), out)


@register_threat
@dataclass(frozen=True)
class Rotate(InputThreat):
    """Rotation by an angle ~ U(−``degrees``, ``degrees``) per image about the centre, zero padding,
    bilinear (MFUE "arbitrary angles" [P]; the range, padding and interpolation are [D])."""

    degrees: float = 30.0
    name: ClassVar[str] = "rotate"

    def __post_init__(self) -> None:
        if not 0.0 <= self.degrees <= 180.0:
            raise ThreatSpecError(f"rotate: degrees must lie in [0, 180], got {self.degrees}")

    def transform(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        n, _, h, w = x.shape
        angle = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(self.degrees)
        cos, sin = angle.cos(), angle.sin()
        theta = torch.zeros(n, 2, 3)
        theta[:, 0, 0], theta[:, 0, 1] = cos, -sin * h / w
        theta[:, 1, 0], theta[:, 1, 1] = sin * w / h, cos
        return _affine(x, theta, "zeros")


@register_threat
@dataclass(frozen=True)
class GaussianNoise(InputThreat):
    """Additive N(0, ``sigma``²) noise per pixel, then clipped to [0,1] (MFUE [P]: σ = 16/255)."""

    sigma: float = 16 / 255
    name: ClassVar[str] = "gaussian-noise"

    def __post_init__(self) -> None:
        if self.sigma < 0:
            raise ThreatSpecError(f"gaussian-noise: sigma must be non-negative, got {self.sigma}")

    def transform(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        return x + self.sigma * torch.randn(x.shape, generator=gen).to(x)


@register_threat
@dataclass(frozen=True)
class Blur(InputThreat):
    """Gaussian blur with an odd ``kernel`` (MFUE [P]: 5) and ``sigma`` ([D]: 1.0), per channel,
    reflect-padded (replicate when the image is too small to reflect)."""

    kernel: int = 5
    sigma: float = 1.0
    name: ClassVar[str] = "blur"

    def __post_init__(self) -> None:
        if self.kernel < 1 or self.kernel % 2 == 0:
            raise ThreatSpecError(f"blur: kernel must be a positive odd integer, got {self.kernel}")
        if self.sigma <= 0:
            raise ThreatSpecError(f"blur: sigma must be positive, got {self.sigma}")

    def transform(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        c, h, w = x.shape[1:]
        r = self.kernel // 2
        t = torch.arange(-r, r + 1, dtype=x.dtype)
        g = torch.exp(-(t**2) / (2 * self.sigma**2))
        g = g / g.sum()
        mode = "reflect" if r < min(h, w) else "replicate"
        y = F.pad(x, (r, r, r, r), mode=mode)
        y = F.conv2d(y, g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
        return F.conv2d(y, g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def _planes(x: torch.Tensor) -> list[list[np.ndarray]]:
    """Each image of a [0,1] batch as the 8-bit planes PIL codes: one RGB array (H,W,3) for 3 channels, one
    grey array per channel otherwise."""
    u8 = _to_u8(x).to(torch.uint8).numpy()
    if x.shape[1] == 3:
        return [[np.ascontiguousarray(img.transpose(1, 2, 0))] for img in u8]
    return [[np.ascontiguousarray(plane) for plane in img] for img in u8]


def _from_planes(planes: list[list[np.ndarray]], like: torch.Tensor) -> torch.Tensor:
    if like.shape[1] == 3:
        arr = np.stack([p[0].transpose(2, 0, 1) for p in planes])
    else:
        arr = np.stack([np.stack(p) for p in planes])
    return (torch.from_numpy(arr.astype(np.float32)) / 255.0).to(like.dtype)


def _pil_map(x: torch.Tensor, op: Callable[[Image.Image], Image.Image]) -> torch.Tensor:
    """``op`` on every image of ``x`` as PIL images (RGB for 3 channels, else per channel grey)."""
    out = []
    for image in _planes(x):
        out.append([np.asarray(op(Image.fromarray(p, "RGB" if p.ndim == 3 else "L"))) for p in image])
    return _from_planes(out, x)


def jpeg_compress(x: torch.Tensor, quality: int) -> torch.Tensor:
    """JPEG round trip of a [0,1] batch through libjpeg (Pillow), as the reference code does: 8-bit
    samples, baseline, 4:4:4 (no chroma subsampling); colour (C=3) as RGB, any other channel count coded
    per channel as grey. libjpeg is deterministic, so the same batch always gives the same bytes."""
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must lie in 1..100, got {quality}")

    def round_trip(img: Image.Image) -> Image.Image:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=quality, subsampling=0)
        buf.seek(0)
        return Image.open(buf).convert(img.mode)

    return _pil_map(x, round_trip)


@register_threat
@dataclass(frozen=True)
class Jpeg(InputThreat):
    """JPEG compression at quality ``q`` (FBI [C]: 30…90), through libjpeg (Pillow), 4:4:4."""

    q: int = 75
    name: ClassVar[str] = "jpeg"

    def __post_init__(self) -> None:
        if not 1 <= self.q <= 100:
            raise ThreatSpecError(f"jpeg: q must lie in 1..100, got {self.q}")

    def transform(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        return jpeg_compress(x, self.q)


@register_threat
@dataclass(frozen=True)
class Equalize(InputThreat):
    """Histogram equalisation per image and channel on 8-bit levels (FBI [C]): Pillow's
    ``ImageOps.equalize``, as the reference code."""

    name: ClassVar[str] = "equalize"

    def transform(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        return _pil_map(x, ImageOps.equalize)


@register_threat
@dataclass(frozen=True)
class Posterize(InputThreat):
    """Keep the top ``bits`` bits of each 8-bit level (FBI [C]: 3…7; PIL's ``ImageOps.posterize``)."""

    bits: int = 4
    name: ClassVar[str] = "posterize"

    def __post_init__(self) -> None:
        if not 1 <= self.bits <= 8:
            raise ThreatSpecError(f"posterize: bits must lie in 1..8, got {self.bits}")

    def transform(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        bits = self.bits
        return _pil_map(x, lambda img: ImageOps.posterize(img, bits))
