"""Helpers shared by the extra attacks: student construction, argument checks, query-set preparation and
temperature-scaled soft labels (training itself lives in :mod:`modelprint.attacks.training`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from modelprint.attacks.base import seeded
from modelprint.data import BUNDLED_DATASETS, load_dataset
from modelprint.models.archs import ARCHS
from modelprint.models.base import TorchClassifier
from modelprint.models.formats import check_classifier
from modelprint.models.user import build_architecture, is_user_arch

SAME = "same"
"""The ``arch`` value meaning "the parent's architecture" (the default of every extraction attack)."""

DATA_SPLITS = ("owner", "attacker", "train")
DEFAULT_QUERYSET = "animal-mnist"


def check_arch(arch: str, attack: str) -> str:
    """``arch`` if it is ``same``, a registered architecture or a user class (``package.module:Class``,
    imported only when the run allows it), else a ValueError listing the known ones."""
    if arch != SAME and arch not in ARCHS and not is_user_arch(arch):
        raise ValueError(
            f"{attack}: unknown architecture {arch!r}; use {SAME!r} or one of {', '.join(ARCHS.names())}"
        )
    return arch


def check_split(data: str, attack: str) -> str:
    if data not in DATA_SPLITS:
        raise ValueError(f"{attack}: data must be one of {DATA_SPLITS}, got {data!r}")
    return data


def positive(value: float, name: str, attack: str) -> float:
    if not value > 0 or not math.isfinite(value):
        raise ValueError(f"{attack}: {name} must be a positive number, got {value}")
    return value


def at_least(value: int, low: int, name: str, attack: str) -> int:
    if value < low:
        raise ValueError(f"{attack}: {name} must be >= {low}, got {value}")
    return value


def new_student(parent: TorchClassifier, arch: str, *, seed: int) -> TorchClassifier:
    """A freshly initialised ``arch`` (seeded) with the parent's input shape, classes and normalisation."""
    c, h, _ = parent.input_shape
    with seeded(seed):
        same_class = is_user_arch(arch) and arch == parent.arch_name
        module = build_architecture(
            arch, in_channels=c, num_classes=parent.num_classes, image_size=h,
            arch_kwargs=parent.arch_kwargs if same_class else None,
        )  # fmt: skip
    student = TorchClassifier(
        module,
        num_classes=parent.num_classes,
        input_shape=parent.input_shape,
        mean=parent.mean,
        std=parent.std,
        device=parent.device,
    )
    if is_user_arch(arch):  # a user class answers for its own class count: it must be the parent's
        check_classifier(student, parent.input_shape, parent.num_classes, arch)
    return student


def resolve_arch(arch: str, parent_arch: str | None) -> str:
    if arch != SAME:
        return arch
    if parent_arch is None:
        raise ValueError("arch=same needs a parent architecture")
    return parent_arch


def match_shape(images: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """Images (N,C',H',W') in [0,1] resized with area interpolation to ``shape`` = (C,H,W); grey -> colour
    repeats the channel, colour -> grey averages the channels."""
    c, h, w = (int(s) for s in shape)
    if images.shape[1] != c:
        if images.shape[1] == 1:
            images = images.expand(-1, c, -1, -1)
        elif c == 1:
            images = images.mean(dim=1, keepdim=True)
        else:
            raise ValueError(f"cannot map {images.shape[1]} channels to {c}")
    if tuple(images.shape[2:]) != (h, w):
        images = F.interpolate(images, size=(h, w), mode="area")
    return images.clamp(0, 1).contiguous()


def query_images(
    name: str,
    shape: Sequence[int],
    n: int,
    *,
    seed: int,
    split: str = "all",
    root: str | Path | None = None,
) -> torch.Tensor:
    """``n`` images drawn uniformly without replacement (seeded) from ``split`` of dataset ``name``,
    matched to the victim's input ``shape``. ``root`` locates a set that is not bundled (CIFAR-100 next to
    a CIFAR-10 victim's files); bundled sets ignore it. ValueError when the set holds fewer than ``n``."""
    data = load_dataset(name, split, root=None if name in BUNDLED_DATASETS else root)
    if n > len(data):
        raise ValueError(f"query set {name!r} ({split}) holds {len(data)} images, fewer than {n} asked for")
    index = torch.randperm(len(data), generator=torch.Generator().manual_seed(seed))[:n]
    return match_shape(data.images[index], shape)


def tempered(probs: torch.Tensor, temperature: float) -> torch.Tensor:
    """softmax(z / T) from the probabilities softmax(z): log p recovers z up to a per-row constant, so this
    is exact for a probability-access attacker (up to float underflow of tiny probabilities)."""
    if temperature == 1.0:
        return probs
    return (probs.clamp_min(1e-30).log() / temperature).softmax(dim=1)


def soft_ce(logits: torch.Tensor, target: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """T² · cross-entropy between softmax(logits/T) and soft targets (Hinton et al. 2015 scaling)."""
    log_p = F.log_softmax(logits / temperature, dim=1)
    return -(target * log_p).sum(1).mean() * temperature**2


def weight_layers(
    module: nn.Module, kinds: tuple[type[nn.Module], ...] = (nn.Conv2d, nn.Linear)
) -> list[nn.Module]:
    """Every conv / linear layer of ``module`` (the layers weight-space attacks act on)."""
    return [m for m in module.modules() if isinstance(m, kinds)]
