"""What a GAN is to modelprint: its settings (:class:`GanSpec`, the cache key), its card (:class:`GanCard`)
and the trained pair (:class:`ConditionalGan`) that NaturalFinger (docs/naturalfinger.md) optimises latents
through."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

import torch

from modelprint.gan.nets import Discriminator, Generator
from modelprint.types import JSONValue
from modelprint.zoo.lineage import parse_step, step

GAN_CARD_FORMAT = "modelprint-gan-card/1"


def auto_width(size: int) -> int:
    """The default base width by image size: 64 from 32×32 up (the CIFAR layout of docs/naturalfinger.md#gan),
    16 below (28×28 and 8×8 digits): width 16 trains faster than 32 on a CPU and is enough for recognisable
    digits (see :class:`GanSpec`)."""
    return 64 if size >= 32 else 16


@dataclass(frozen=True)
class GanSpec:
    """Settings of the class-conditional hinge GAN of docs/naturalfinger.md#gan [D], trained on the ``data``
    split (the owner's, never the attacker's) of the pool's dataset.

    Adam with ``lr_g`` / ``lr_d`` and betas (0.0, 0.9), batch ``batch``, ``n_dis`` discriminator steps per
    generator step, an EMA of the generator's weights with decay ``ema`` (0: none). ``width=None`` picks
    :func:`auto_width` from the image size. ``epochs`` passes over the split replace the 50k–100k
    CIFAR generator steps proposed for a GAN trained from scratch (the default 100 gives about 3k steps on
    mnist5k's 2,000 owner images).

    Measured with the defaults on mnist5k (owner split, split seed 0): of 2,000 samples, 90.8%
    pass NaturalFinger's initial selection against the victim ``train(cnn-m,mnist5k,0)`` and its 8 pool
    positives, and the victim labels 92.2% of those with confidence above 0.9."""

    epochs: int = 100
    seed: int = 0
    width: int | None = None
    z_dim: int = 128
    batch: int = 64
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    n_dis: int = 1
    ema: float = 0.999
    data: str = "owner"

    def __post_init__(self) -> None:
        if min(self.epochs, self.z_dim, self.batch, self.n_dis) < 1 or (self.width or 1) < 1:
            raise ValueError(f"GAN settings must be positive: {self}")
        if not 0.0 <= self.ema < 1.0:
            raise ValueError(f"ema must be in [0, 1), got {self.ema}")
        if self.data not in ("owner", "train", "all"):
            raise ValueError(f"a GAN for fingerprinting trains on the owner's data, not {self.data!r}")

    def resolved_width(self, size: int) -> int:
        return self.width if self.width is not None else auto_width(size)

    def gan_id(self, dataset: str, size: int, split_seed: int = 0) -> str:
        """The cache key, written like a lineage step: ``gan(mnist5k,0,batch=64,...)``."""
        text = step(
            "gan", dataset, self.seed, data=self.data, epochs=self.epochs, width=self.resolved_width(size),
            z=self.z_dim, batch=self.batch, lr_g=self.lr_g, lr_d=self.lr_d, n_dis=self.n_dis, ema=self.ema,
            split=split_seed,
        )  # fmt: skip
        return str(parse_step(text))


def gan_dir_name(gan_id: str) -> str:
    """A short, filesystem-safe folder name for a GAN id."""
    return hashlib.sha256(gan_id.encode()).hexdigest()[:16]


@dataclass
class GanCard:
    """Everything needed to rebuild and judge a stored GAN, with the trainer's per-epoch losses."""

    gan_id: str
    dataset: str
    image_shape: list[int]
    num_classes: int
    z_dim: int
    width: int
    seed: int
    history: list[dict[str, float]] = field(default_factory=list)
    config: dict[str, JSONValue] = field(default_factory=dict)
    seconds: float = 0.0
    sha256: str = ""
    format: str = GAN_CARD_FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> GanCard:
        raw = json.loads(text)
        if raw.get("format") != GAN_CARD_FORMAT:
            raise ValueError(f"not a modelprint GAN card (format {raw.get('format')!r})")
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in raw.items() if k in known})


class ConditionalGan:
    """A trained (G, D) pair, frozen and in eval mode; images are in [0,1] on the outside
    (docs/naturalfinger.md#algorithm: x = (G(z, c) + 1)/2, and D sees 2x − 1). Gradients flow to the latents
    and inputs only. The networks run on their own device; results come back on the device of the latents (or
    images) passed in."""

    def __init__(self, generator: Generator, discriminator: Discriminator, card: GanCard) -> None:
        self.generator = generator.eval().requires_grad_(False)
        self.discriminator = discriminator.eval().requires_grad_(False)
        self.card = card
        self.device = next(self.generator.parameters()).device

    @property
    def gan_id(self) -> str:
        return self.card.gan_id

    @property
    def z_dim(self) -> int:
        return self.generator.z_dim

    @property
    def num_classes(self) -> int:
        return self.generator.num_classes

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.generator.image_shape

    def __repr__(self) -> str:
        return f"ConditionalGan({self.gan_id})"

    def images(self, z: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) images in [0,1], differentiable with respect to ``z``."""
        out = self.generator(z.to(self.device), c.to(self.device))
        return ((out + 1) / 2).clamp(0.0, 1.0).to(z.device)

    def realness(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        """D's (N,) scores of images ``x`` in [0,1] with class codes ``c`` (higher: more real)."""
        return self.discriminator(2 * x.to(self.device) - 1, c.to(self.device)).to(x.device)

    def draw(self, n: int, *, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` latents z ~ N(0, I) and class codes c ~ U{0..K−1} from ``generator``."""
        z = torch.randn(n, self.z_dim, generator=generator)
        c = torch.randint(self.num_classes, (n,), generator=generator)
        return z, c

    @torch.no_grad()
    def sample(
        self, n: int, *, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(z, c, images) for ``n`` fresh draws."""
        z, c = self.draw(n, generator=generator)
        return z, c, self.images(z, c)
