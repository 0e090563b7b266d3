"""FBI's mutual-information detector (Maho, Furon, Le Merrer, TIFS'23; docs/fbi.md [C])."""

from __future__ import annotations

from typing import ClassVar

import torch

from modelprint.detectors.base import Detector
from modelprint.detectors.distances import check_pair
from modelprint.representations.kinds import RepKind


def entropy_bits(symbols: torch.Tensor) -> float:
    """Empirical Shannon entropy in bits of the rows of ``symbols`` ((n,) or (n,d): a row is one symbol)."""
    rows = symbols.reshape(len(symbols), -1)
    _, counts = torch.unique(rows, dim=0, return_counts=True)
    p = counts.double() / counts.sum()
    return float(-(p * p.log2()).sum())


def mutual_information_bits(u: torch.Tensor, v: torch.Tensor) -> float:
    """I(u; v) = H(u) + H(v) − H(u, v) in bits from the empirical joint histogram of two (n,) vectors."""
    check_pair(u, v)
    joint = torch.stack([u.long().flatten(), v.long().flatten()], dim=1)
    return entropy_bits(u.long()) + entropy_bits(v.long()) - entropy_bits(joint)


class MutualInformation(Detector):
    """score = I(z_ref; z_sus) in bits (FBI's default, higher = same family; bounded by H(z_ref), reached by
    the victim itself). ``normalised=True`` gives I / min(H(u), H(v)) = 1 − FBI's "mutual distance";
    when one side is constant (zero entropy) it is 1.0 for identical vectors and 0.0 otherwise."""

    accepts: ClassVar[frozenset[RepKind]] = frozenset({"labels"})

    def __init__(self, *, normalised: bool = False) -> None:
        self.normalised = normalised

    @property
    def perfect(self) -> float | None:
        return 1.0 if self.normalised else None

    def score(self, reference: torch.Tensor, suspect: torch.Tensor) -> float:
        check_pair(reference, suspect)
        if reference.ndim != 1 or reference.is_floating_point() or suspect.is_floating_point():
            raise ValueError("mutual information compares (n,) vectors of discrete symbols")
        if not self.normalised:
            return max(0.0, mutual_information_bits(reference, suspect))
        if torch.equal(reference, suspect):
            return 1.0
        low = min(entropy_bits(reference), entropy_bits(suspect))
        if low == 0.0:
            return 0.0
        return max(0.0, min(1.0, mutual_information_bits(reference, suspect) / low))
