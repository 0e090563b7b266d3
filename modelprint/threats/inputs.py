"""Input-processing threats (spec §17): the suspect's API transforms every incoming query before its model.

MFUE suite [P] (Xu et al., KDD'26): ``crop``, ``flip``, ``rotate``, ``gaussian-noise``, ``blur``. FBI/QuRD
suite [C] (Maho et al. TIFS'23; Godinot et al. AAAI'25): ``jpeg``, ``equalize``, ``posterize``. All work on
[0,1] NCHW batches of any size and channel count; random ones draw per image from the wrapper's seeded
generator. JPEG, equalisation and posterisation act on 8-bit pixels, as the reference code (PIL) does."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F

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
    "quant_table",
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


# JPEG (ITU-T T.81 Annex K): the example luminance and chrominance quantisation tables.
_LUMA = (
    (16, 11, 10, 16, 24, 40, 51, 61),
    (12, 12, 14, 19, 26, 58, 60, 55),
    (14, 13, 16, 24, 40, 57, 69, 56),
    (14, 17, 22, 29, 51, 87, 80, 62),
    (18, 22, 37, 56, 68, 109, 103, 77),
    (24, 35, 55, 64, 81, 104, 113, 92),
    (49, 64, 78, 87, 103, 121, 120, 101),
    (72, 92, 95, 98, 112, 100, 103, 99),
)
_CHROMA = (
    (17, 18, 24, 47, 99, 99, 99, 99),
    (18, 21, 26, 66, 99, 99, 99, 99),
    (24, 26, 56, 99, 99, 99, 99, 99),
    (47, 66, 99, 99, 99, 99, 99, 99),
    *((99,) * 8 for _ in range(4)),
)


def quant_table(quality: int, chroma: bool = False) -> torch.Tensor:
    """The 8×8 table at ``quality`` (1..100) with the IJG scaling: 5000/q below 50, 200 − 2q above,
    entries floor((T·s + 50)/100) clamped to [1, 255] (baseline)."""
    if not 1 <= quality <= 100:
        raise ValueError(f"JPEG quality must lie in 1..100, got {quality}")
    scale = 5000 // quality if quality < 50 else 200 - 2 * quality
    base = torch.tensor(_CHROMA if chroma else _LUMA, dtype=torch.float64)
    return torch.floor((base * scale + 50) / 100).clamp(1, 255)


def _dct_matrix() -> torch.Tensor:
    k = torch.arange(8, dtype=torch.float64).view(-1, 1)
    n = torch.arange(8, dtype=torch.float64).view(1, -1)
    m = torch.cos((2 * n + 1) * k * math.pi / 16) * math.sqrt(2 / 8)
    m[0] /= math.sqrt(2)
    return m  # orthonormal DCT-II: the 2-D transform D B Dᵀ is T.81's FDCT


def _code_planes(planes: torch.Tensor, tables: torch.Tensor) -> torch.Tensor:
    """Blockwise DCT → quantise (round) → dequantise → IDCT of sample planes (N,C,H,W) in 0..255 with
    H, W multiples of 8; ``tables`` (C,8,8)."""
    n, c, h, w = planes.shape
    d = _dct_matrix()
    blocks = (planes - 128.0).view(n, c, h // 8, 8, w // 8, 8).permute(0, 1, 2, 4, 3, 5)
    coef = d @ blocks @ d.T
    q = tables.view(1, c, 1, 1, 8, 8)
    rec = d.T @ (torch.round(coef / q) * q) @ d
    return (rec + 128.0).permute(0, 1, 2, 4, 3, 5).reshape(n, c, h, w)


def jpeg_compress(x: torch.Tensor, quality: int) -> torch.Tensor:
    """JPEG round trip of a [0,1] batch, written here (baseline, 4:4:4; the entropy coding is lossless and
    skipped): 8-bit samples; colour (C=3) in JFIF YCbCr with the chrominance table on Cb/Cr, any other
    channel count coded per channel with the luminance table; edges replicated to whole 8×8 blocks."""
    c, h, w = x.shape[1:]
    v = _to_u8(x).double()
    if c == 3:
        r, g, b = v[:, 0], v[:, 1], v[:, 2]
        y = 0.299 * r + 0.587 * g + 0.114 * b
        cb = 128 - 0.168736 * r - 0.331264 * g + 0.5 * b
        cr = 128 + 0.5 * r - 0.418688 * g - 0.081312 * b
        v = torch.stack([y, cb, cr], dim=1).round().clamp(0, 255)
        tables = torch.stack([quant_table(quality), quant_table(quality, True), quant_table(quality, True)])
    else:
        tables = quant_table(quality).expand(c, 8, 8)
    ph, pw = -h % 8, -w % 8
    padded = F.pad(v, (0, pw, 0, ph), mode="replicate") if ph or pw else v
    out = _code_planes(padded, tables)[:, :, :h, :w].round().clamp(0, 255)
    if c == 3:
        y, cb, cr = out[:, 0], out[:, 1] - 128, out[:, 2] - 128
        out = torch.stack([y + 1.402 * cr, y - 0.344136 * cb - 0.714136 * cr, y + 1.772 * cb], dim=1)
        out = out.round().clamp(0, 255)
    return (out / 255.0).to(x.dtype)


@register_threat
@dataclass(frozen=True)
class Jpeg(InputThreat):
    """JPEG compression at quality ``q`` (FBI [C]: 30…90; own implementation, see :func:`jpeg_compress`)."""

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
    """Histogram equalisation per image and channel on 8-bit levels (FBI [C]), with PIL's
    ``ImageOps.equalize`` mapping: step = (pixels − count of the top level) // 255, level i ↦
    (step//2 + #pixels below i) // step; images with a single level, or step 0, are unchanged."""

    name: ClassVar[str] = "equalize"

    def transform(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        n, c, h, w = x.shape
        v = _to_u8(x).view(n * c, h * w)
        hist = torch.zeros(n * c, 256, dtype=torch.long).scatter_add_(1, v, torch.ones_like(v))
        top = hist.gather(1, v.max(dim=1, keepdim=True).values)
        step = (h * w - top) // 255
        below = hist.cumsum(1) - hist
        lut = ((step // 2 + below) // step.clamp_min(1)).clamp_max(255)
        lut = torch.where(step > 0, lut, torch.arange(256).expand_as(lut))
        return (lut.gather(1, v).view(n, c, h, w).to(x.dtype)) / 255.0


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
        mask = (0xFF << (8 - self.bits)) & 0xFF
        return (_to_u8(x) & mask).to(x.dtype) / 255.0
