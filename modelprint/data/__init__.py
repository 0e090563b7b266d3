"""Datasets for modelprint: bundled (mnist5k, digits, animal-mnist), local CIFAR, .npz and image folders.

``load_dataset(name, split)`` returns a :class:`Dataset` for one of :data:`SPLITS`; splits are class
balanced and fixed by ``split_seed``, and ``mean``/``std`` always describe the ``train`` split.
"""

from __future__ import annotations

import weakref
from pathlib import Path

import numpy as np
import torch

from modelprint.data.base import Dataset
from modelprint.data.loaders import DATASETS, RawData, UnsafeFileError, clear_cache, load_raw
from modelprint.data.splits import SPLITS, channel_stats, check_split, split_indices

BUNDLED_DATASETS: tuple[str, ...] = ("mnist5k", "digits", "animal-mnist")
"""Datasets that ship inside installed wheels; every other one needs a local ``root``."""

SplitInfo = tuple[dict[str, np.ndarray], tuple[float, ...], tuple[float, ...]]

__all__ = [
    "BUNDLED_DATASETS",
    "DATASETS",
    "SPLITS",
    "Dataset",
    "RawData",
    "UnsafeFileError",
    "clear_cache",
    "dataset_names",
    "load_dataset",
    "split_indices",
]


def dataset_names() -> list[str]:
    """Names accepted by :func:`load_dataset`, sorted."""
    return DATASETS.names()


def load_dataset(
    name: str, split: str = "all", *, root: str | Path | None = None, split_seed: int = 0
) -> Dataset:
    """Load ``split`` of dataset ``name`` as float32 (N,C,H,W) images in [0,1] and int64 labels.

    ``root`` is the local file/folder for datasets that are not bundled (cifar10, cifar100, npz,
    imagefolder); nothing is downloaded. The same ``split_seed`` always gives the same split.
    """
    check_split(split)
    raw = load_raw(name, root)  # validates the name
    index, mean, std = _split(raw, split_seed, split)
    images = torch.from_numpy(raw.images[index])
    images = images.to(torch.float32).div_(255.0) if raw.images.dtype == np.uint8 else images
    return Dataset(name, images, torch.from_numpy(raw.labels[index]), raw.num_classes, mean, std)


def _split(
    raw: RawData, split_seed: int, split: str
) -> tuple[np.ndarray, tuple[float, ...], tuple[float, ...]]:
    """Indices of ``split`` plus train-split mean/std, memoised on the raw arrays' lifetime."""
    per_seed = _SPLIT_CACHE.setdefault(raw, {})
    if split_seed not in per_seed:
        indices = split_indices(raw.labels, split_seed, raw.num_train)
        per_seed[split_seed] = (indices, *channel_stats(raw.images, indices["train"]))
    indices, mean, std = per_seed[split_seed]
    return indices[split], mean, std


_SPLIT_CACHE: weakref.WeakKeyDictionary[RawData, dict[int, SplitInfo]] = weakref.WeakKeyDictionary()
