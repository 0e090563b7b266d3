"""What an owner-side pool holds and the built pool (docs/cae.md#pools, docs/metafinger.md#pools,
docs/metav.md#components; MFUE §5).

Positives are the victim attacked on the **owner's** data (fine-tune, prune, noise, adversarial training,
extraction); negatives are independent models trained on the owner's data with seeds no benchmark preset
uses. Both are ordinary zoo lineages, so pools are built, cached and verified like any zoo model.

A pool may also carry a class-conditional GAN trained on the owner's data (NaturalFinger,
docs/naturalfinger.md#gan): the spec names its settings (:class:`~modelprint.gan.GanSpec`), the built pool
holds the trained GAN, and it is cached in the same store as the members (``<store>/gans``)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from modelprint.gan import ConditionalGan, GanSpec
from modelprint.models.base import TorchClassifier
from modelprint.zoo.lineage import canonical, join, parse_lineage, parse_step, step

NEGATIVE_SEED_BASE = 1000
"""Pool negatives use seeds (and pool positives ``rep=`` values) from here on; presets use values below 100,
so pool models and benchmark models never coincide."""


def pool_step(text: str, rep: int) -> str:
    """``text`` with ``rep=`` set (unless given) so the pool model gets its own seed: a pool positive made
    with the same recipe as a benchmark suspect (e.g. FingerBench's distillation on the owner's data) would
    otherwise *be* that suspect."""
    parsed = parse_step(text)
    kwargs = dict(parsed.kwargs)
    kwargs.setdefault("rep", str(rep))
    return step(parsed.name, *parsed.args, **kwargs)


@dataclass(frozen=True, repr=False)
class PoolSpec:
    """``positives``: step texts applied to the victim (each should train on ``data=owner``);
    ``negatives``: architectures of independent models (``same`` = the victim's), one seed each;
    ``gan``: settings of a GAN on the owner's data to build along (None: no GAN)."""

    positives: tuple[str, ...]
    negatives: tuple[str, ...]
    gan: GanSpec | None = None

    def __repr__(self) -> str:
        """The dataclass spelling; ``gan`` only when set, so specs without one keep their cache keys."""
        gan = "" if self.gan is None else f", gan={self.gan!r}"
        return f"PoolSpec(positives={self.positives!r}, negatives={self.negatives!r}{gan})"

    def lineages(self, victim: str) -> tuple[list[str], list[str]]:
        """(positive, negative) lineage ids for the victim lineage ``victim``."""
        root = parse_lineage(victim)[0]
        if root.name != "train" or len(root.args) < 2:
            raise ValueError(
                f"pools need a victim trained by the zoo (train(arch,dataset,seed,...)): {victim!r}"
            )
        arch, dataset = root.args[0], root.args[1]
        recipe = {k: v for k, v in root.kwargs if k not in ("data", "rep")}  # the victim's epochs, lr, ...
        positives = [
            canonical(join(victim, pool_step(text, NEGATIVE_SEED_BASE + i)))
            for i, text in enumerate(self.positives)
        ]
        negatives = [
            canonical(step("train", arch if a == "same" else a, dataset, seed, data="owner", **recipe))
            for seed, a in enumerate(self.negatives, start=NEGATIVE_SEED_BASE)
        ]
        return positives, negatives


@dataclass(frozen=True)
class Pool:
    """Built pool members (white-box) with their lineage ids, and the GAN of the spec (if it names one)."""

    positives: tuple[TorchClassifier, ...]
    negatives: tuple[TorchClassifier, ...]
    positive_lineages: tuple[str, ...] = ()
    negative_lineages: tuple[str, ...] = ()
    gan: ConditionalGan | None = None

    def __post_init__(self) -> None:
        if not self.positives and not self.negatives:
            raise ValueError("a pool needs at least one model")

    def require_both(self, who: str) -> Pool:
        """This pool, or a clear error when ``who`` (which tells the two sides apart) lacks one."""
        if not self.positives or not self.negatives:
            raise ValueError(f"{who} needs a pool with at least one positive and one negative model")
        return self

    def __repr__(self) -> str:  # a notebook shows the pool's make-up, not its models' weights
        gan = ", with a GAN" if self.gan is not None else ""
        return f"Pool({len(self.positives)} positive and {len(self.negatives)} negative models{gan})"

    def split(self, fraction: float, *, seed: int) -> tuple[Pool, Pool]:
        """A seeded (train, validation) split of both sides; each part keeps at least one model per side."""
        gen = torch.Generator().manual_seed(seed)

        def cut(n: int) -> tuple[list[int], list[int]]:
            if n < 2:
                raise ValueError("splitting a pool needs at least two models on each side")
            order = torch.randperm(n, generator=gen).tolist()
            k = min(max(1, round(fraction * n)), n - 1)
            return sorted(order[:k]), sorted(order[k:])

        (pos_a, pos_b), (neg_a, neg_b) = cut(len(self.positives)), cut(len(self.negatives))
        return self.subset(pos_a, neg_a), self.subset(pos_b, neg_b)

    def subset(self, positives: Sequence[int], negatives: Sequence[int]) -> Pool:
        """The pool of the members at the given positions."""

        def pick(items: Sequence, index: Sequence[int]) -> tuple:
            return tuple(items[i] for i in index) if items else ()

        return Pool(
            pick(self.positives, positives),
            pick(self.negatives, negatives),
            pick(self.positive_lineages, positives),
            pick(self.negative_lineages, negatives),
            self.gan,
        )
