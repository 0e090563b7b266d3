"""What each dataset declares about itself, so that constants the papers chose for CIFAR can be scaled.

The fingerprinting papers state their perturbation budgets, CutMix boxes and augmentation lists for
CIFAR-10/100 (32×32 colour photographs whose objects fill the frame and survive a horizontal flip). On
other data those constants can degenerate: a corner box on a centred digit pastes black on black, a
horizontal flip turns some digits into others. Every dataset declares here the facts the scaling rules
read (:mod:`modelprint.ops.scaling`); on the papers' own data the rules give the papers' values."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TRAITS", "DataTraits", "traits_of"]


@dataclass(frozen=True)
class DataTraits:
    """``papers_data``: the papers' constants apply as stated (CIFAR). ``flips_preserve_labels``: a
    horizontal flip keeps the class (photographs of objects: yes; digits: no, 2/5 and 7 change shape).
    ``centred``: the content sits in the middle of a mostly blank frame (digits), so geometry tied to the
    frame's corners is taken relative to the content's bounding box instead."""

    papers_data: bool
    flips_preserve_labels: bool
    centred: bool


TRAITS: dict[str, DataTraits] = {
    "cifar10": DataTraits(papers_data=True, flips_preserve_labels=True, centred=False),
    "cifar100": DataTraits(papers_data=True, flips_preserve_labels=True, centred=False),
    "mnist5k": DataTraits(papers_data=False, flips_preserve_labels=False, centred=True),
    "digits": DataTraits(papers_data=False, flips_preserve_labels=False, centred=True),
    "animal-mnist": DataTraits(papers_data=False, flips_preserve_labels=True, centred=True),
}

UNKNOWN = DataTraits(papers_data=False, flips_preserve_labels=False, centred=False)
"""A user's dataset (npz, image folder) not declared here: no flips (the safe side), frame geometry."""


def traits_of(name: str) -> DataTraits:
    """The declared traits of dataset ``name``; :data:`UNKNOWN` for undeclared ones."""
    return TRAITS.get(name, UNKNOWN)
