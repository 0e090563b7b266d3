"""Negative families: what kind of innocent model a negative is, read from its lineage.

A real owner's innocent party trained on the same public data, often with the same architecture; the
papers' suites also hold attacked copies of an independent model (mirror negatives) and students
distilled from one. Each family is scored apart in the report, because a scheme's false-positive rate is
set by its hardest family."""

from __future__ import annotations

from modelprint.attacks.base import ATTACKS
from modelprint.zoo.lineage import Step, is_derived, parse_lineage

DERIVED = "derived"
SAME_DATA_SAME_ARCH = "same-data same-arch"
SAME_DATA_OTHER_ARCH = "same-data other-arch"
DISJOINT_DATA = "disjoint-data"
MIRROR = "mirror"
DISTILLED_FROM_INDEPENDENT = "distilled-from-independent"
OTHER = "other"
NEGATIVE_FAMILIES = (
    SAME_DATA_SAME_ARCH,
    SAME_DATA_OTHER_ARCH,
    DISJOINT_DATA,
    MIRROR,
    DISTILLED_FROM_INDEPENDENT,
    OTHER,
)
"""Hardest first, as an owner meets them: same data and architecture, then same data, then disjoint data
(the suites' usual negatives), then attacked copies of an independent model."""


def _train_split(root: Step) -> tuple[str, str] | None:
    """(architecture, data split) of a ``train`` root step, None for any other root."""
    if root.name != "train" or not root.args:
        return None
    return root.args[0], dict(root.kwargs).get("data", "owner")


def _fresh(st: Step) -> bool:
    return st.name in ATTACKS and bool(getattr(ATTACKS.get(st.name), "fresh_student", False))


def family_of(victim: str, suspect: str) -> str:
    """The family of ``suspect`` relative to ``victim``: ``derived`` for positives; for negatives, an
    independent model (a lone ``train`` step) is ``same-data same-arch`` / ``same-data other-arch`` when it
    trained on the victim's split and ``disjoint-data`` otherwise; an independent model followed by steps
    is ``distilled-from-independent`` when every step trains a fresh student (distillation, extraction)
    and ``mirror`` otherwise. Roots that are not ``train`` steps give ``other``."""
    if is_derived(suspect, victim):
        return DERIVED
    steps = parse_lineage(suspect)
    if len(steps) > 1:
        return DISTILLED_FROM_INDEPENDENT if all(_fresh(st) for st in steps[1:]) else MIRROR
    mine, theirs = _train_split(parse_lineage(victim)[0]), _train_split(steps[0])
    if mine is None or theirs is None:
        return OTHER
    if mine[1] != theirs[1]:
        return DISJOINT_DATA
    return SAME_DATA_SAME_ARCH if mine[0] == theirs[0] else SAME_DATA_OTHER_ARCH


def arch_of(lineage: str) -> str | None:
    """The architecture a lineage ends in, as far as its steps say: the last fresh student's ``arch``
    argument if it names one, else the root ``train`` step's (None if neither says)."""
    steps = parse_lineage(lineage)
    root = _train_split(steps[0])
    arch = root[0] if root else None
    for st in steps[1:]:
        named = st.args[0] if st.args else dict(st.kwargs).get("arch")
        if _fresh(st) and named not in (None, "same"):
            arch = named
    return arch
