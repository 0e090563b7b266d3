"""Typed metadata shared by samplers and representations, plus small index helpers.

A sampler's ``structure`` says how its queries relate to each other, which decides the representations
that can read them (QuRD's raw / pairwise / listwise split):

- ``points``: independent queries; every point-wise representation applies.
- ``pairs``: (x_i, x'_i) pairs recorded in ``extras["pair_index"]`` (m,2); also a set of points.
- ``lime``: groups of masked copies of seeds, with ``extras["lime_masks"]`` and ``["lime_group"]``;
  also a set of points."""

from __future__ import annotations

from typing import Literal, get_args

import torch

QueryStructure = Literal["points", "pairs", "lime"]
STRUCTURES: frozenset[QueryStructure] = frozenset(get_args(QueryStructure))


def draw_indices(pool: int, n: int, *, generator: torch.Generator) -> torch.Tensor:
    """``n`` indices into a pool of size ``pool``: a random permutation, repeated (fresh each time) when the
    pool is smaller than ``n`` so a sampler can still return its full budget."""
    if pool < 1:
        raise ValueError("cannot draw from an empty seed set")
    parts, total = [], 0
    while total < n:
        parts.append(torch.randperm(pool, generator=generator))
        total += pool
    return torch.cat(parts)[:n] if parts else torch.zeros(0, dtype=torch.long)


def pair_index(m: int) -> torch.Tensor:
    """(m,2) indices pairing query i with query i + m, ModelDiff's layout (originals, then their partners)."""
    first = torch.arange(m)
    return torch.stack([first, first + m], dim=1)


def pairs_of(extras: dict[str, torch.Tensor], n: int) -> torch.Tensor:
    """The pair index of a query set, defaulting to the first half against the second half."""
    if "pair_index" in extras:
        return extras["pair_index"].long()
    if n % 2:
        raise ValueError("pairwise representation on an odd number of queries without extras['pair_index']")
    return pair_index(n // 2)
