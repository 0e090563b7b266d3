"""Deterministic, class-balanced splits: ``all``, ``train``, ``test``, ``owner`` and ``attacker``.

``test`` is the official test set where a dataset has one, otherwise a class-balanced 20% of all images;
``train`` is the rest. ``owner`` and ``attacker`` are class-balanced halves of ``train`` (the owner trains
on one half, the attacker gets the other). All randomness comes from ``numpy.random.default_rng`` seeded
with ``split_seed``, never from torch's or numpy's global generator.
"""

from __future__ import annotations

import numpy as np

SPLITS: tuple[str, ...] = ("all", "train", "test", "owner", "attacker")
TEST_FRACTION = 0.2

# Separate streams so that the owner/attacker cut does not depend on how the test cut consumed randomness.
_STREAM_TEST = 0
_STREAM_OWNER = 1


def check_split(split: str) -> None:
    """Raise ``ValueError`` for an unknown split name."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; known: {', '.join(SPLITS)}")


def stratified_cut(
    labels: np.ndarray, fraction: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Split positions ``0..len(labels)-1`` into (first, rest), ``first`` holding ``fraction`` of every class.

    Per-class quotas use largest-remainder rounding so ``len(first) == round(fraction * len(labels))``;
    ties (e.g. odd class counts when halving) go to randomly chosen classes. Both parts come back sorted.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    exact = counts * fraction
    quotas = np.floor(exact).astype(np.int64)
    missing = round(fraction * len(labels)) - int(quotas.sum())
    if missing > 0:
        tie_break = rng.permutation(len(classes))
        order = tie_break[np.argsort(-(exact - quotas)[tie_break], kind="stable")]
        quotas[order[:missing]] += 1
    first: list[np.ndarray] = []
    rest: list[np.ndarray] = []
    for cls, quota in zip(classes, quotas, strict=True):
        members = rng.permutation(np.flatnonzero(labels == cls))
        first.append(members[:quota])
        rest.append(members[quota:])
    empty = np.empty(0, dtype=np.int64)
    return (
        np.sort(np.concatenate(first or [empty])).astype(np.int64),
        np.sort(np.concatenate(rest or [empty])).astype(np.int64),
    )


def split_indices(
    labels: np.ndarray, split_seed: int = 0, num_train: int | None = None
) -> dict[str, np.ndarray]:
    """Sorted int64 indices of every split in :data:`SPLITS`.

    ``num_train`` marks an official train/test boundary (the first ``num_train`` rows are the official
    train set, the rest the official test set); ``None`` means cut a class-balanced 20% test set.
    """
    if isinstance(split_seed, bool) or not isinstance(split_seed, int | np.integer) or split_seed < 0:
        raise ValueError(f"split_seed must be a non-negative int, got {split_seed!r}")
    labels = np.asarray(labels)
    n = len(labels)
    everything = np.arange(n, dtype=np.int64)
    if num_train is not None:
        if not 0 <= num_train <= n:
            raise ValueError(f"num_train={num_train} outside [0, {n}]")
        train, test = everything[:num_train], everything[num_train:]
    else:
        test, train = stratified_cut(
            labels, TEST_FRACTION, np.random.default_rng([int(split_seed), _STREAM_TEST])
        )
    owner_pos, attacker_pos = stratified_cut(
        labels[train], 0.5, np.random.default_rng([int(split_seed), _STREAM_OWNER])
    )
    return {
        "all": everything,
        "train": train,
        "test": test,
        "owner": train[owner_pos],
        "attacker": train[attacker_pos],
    }


def channel_stats(
    images: np.ndarray, index: np.ndarray | None = None, chunk: int = 4096
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and (population) std of (N,C,H,W) images (rows ``index`` only), uint8 as value/255."""
    rows = np.arange(len(images)) if index is None else np.asarray(index)
    if images.ndim != 4 or len(rows) == 0:
        raise ValueError(f"need a non-empty (N,C,H,W) array, got shape {images.shape} with {len(rows)} rows")
    scale = 255.0 if images.dtype == np.uint8 else 1.0
    channels = images.shape[1]
    total = np.zeros(channels, dtype=np.float64)
    squares = np.zeros(channels, dtype=np.float64)
    for start in range(0, len(rows), chunk):
        block = images[rows[start : start + chunk]].astype(np.float64) / scale
        total += block.sum(axis=(0, 2, 3))
        squares += np.square(block).sum(axis=(0, 2, 3))
    count = len(rows) * images.shape[2] * images.shape[3]
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
    return tuple(float(m) for m in mean), tuple(float(s) for s in std)
