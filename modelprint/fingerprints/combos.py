"""QuRD combinatorics (Godinot et al. AAAI'25, "the next 100 fingerprints"): every compatible
(sampler, seed set, representation, detector) combination, derived from the parts' typed metadata.

Compatibility is read off the parts, never listed by hand:

- the sampler's ``structure`` (points / pairs / lime) must be in the representation's ``accepts``;
- the representation's ``kind`` (labels / ranking / vector / matrix) must be in the detector's ``accepts``;
- with ``access`` given, the suspect's level must reach the representation's ``needs``.

The component tables below only name the parts and their combo-mode settings. Left out on purpose:
:class:`Hamming` (ranks exactly like ``match``), :class:`SubsetCosine` (≈ ``cosine``), and the fitted
detectors :class:`CalibratedThreshold` / :class:`LearnedDetector`, which need pools of models and wrap any
combo's detector afterwards. ``fast=True`` (the default) caps the expensive samplers (boundary 200 Adam
steps and 2 rounds, DeepFool 20 iterations, UAP 2 passes on 50 points, 20 LIME masks per seed) so that 100
combos over a 35-model zoo fit in one benchmark run on two CPU cores."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

from modelprint.data import Dataset
from modelprint.detectors.base import Detector
from modelprint.detectors.distances import Cosine, NegativeL1, NegativeL2
from modelprint.detectors.information import MutualInformation
from modelprint.detectors.matching import MatchRate
from modelprint.fingerprints.base import Fingerprint
from modelprint.models.access import AccessError, require
from modelprint.models.base import TorchClassifier
from modelprint.queries.adversarial import AdversarialQueries, DeepFoolQueries, ModelDiffQueries, UAPQueries
from modelprint.queries.base import QuerySampler
from modelprint.queries.boundary import BoundaryQueries
from modelprint.queries.lime import LimeQueries
from modelprint.queries.sampling import UniformQueries
from modelprint.queries.seeds import NegativeSeeds, NoiseSeeds, Seeded, SeedSet, SplitSeeds, structure_of
from modelprint.representations.base import Representation
from modelprint.representations.lime import LimeWeights
from modelprint.representations.listwise import CorrelationMatrix
from modelprint.representations.outputs import HardLabels
from modelprint.representations.pairwise import DecisionDistanceVector, HardDecisionVector, PairedOutputs
from modelprint.representations.scores import Logits, Probabilities, TopK, TrueLabelRank
from modelprint.types import Key, Output, Queries

T = TypeVar("T")

SAMPLERS: dict[str, Callable[[bool], QuerySampler]] = {
    "uniform": lambda fast: UniformQueries(),
    "pgd": lambda fast: AdversarialQueries(method="pgd", eps=8 / 255, steps=10),
    "fgsm": lambda fast: AdversarialQueries(method="fgsm", eps=8 / 255),
    "boundary": lambda fast: BoundaryQueries(max_iter=200, max_rounds=2) if fast else BoundaryQueries(),
    "deepfool": lambda fast: DeepFoolQueries(max_iter=20 if fast else 50),
    "lime": lambda fast: LimeQueries(subsample=20 if fast else 100),
    "uap": lambda fast: UAPQueries(max_passes=2, fit_points=50) if fast else UAPQueries(),
    "modeldiff": lambda fast: ModelDiffQueries(),
}
SEEDS: dict[str, Callable[[], SeedSet]] = {
    "split": SplitSeeds,
    "negatives": NegativeSeeds,
    "noise": NoiseSeeds,
}
REPRESENTATIONS: dict[str, Callable[[], Representation]] = {
    "labels": HardLabels,
    "topk": lambda: TopK(3),
    "rank": lambda: TrueLabelRank(3),
    "probs": Probabilities,
    "logits": Logits,
    "corr": CorrelationMatrix,
    "corr-logits": lambda: CorrelationMatrix("logits"),
    "ddv": DecisionDistanceVector,
    "hddv": HardDecisionVector,
    "pairdiff": PairedOutputs,
    "lime": LimeWeights,
}
DETECTORS: dict[str, Callable[[], Detector]] = {
    "match": MatchRate,
    "mi": MutualInformation,
    "cosine": Cosine,
    "l1": NegativeL1,
    "l2": NegativeL2,
}


class IncompatibleCombo(ValueError):
    """The parts' types do not fit together (query structure or representation kind)."""


@dataclass(frozen=True, order=True)
class Combo:
    """Names of the four parts; ``name`` is ``q=<sampler>/s=<seeds>/r=<representation>/d=<detector>``."""

    sampler: str
    seeds: str
    representation: str
    detector: str

    @property
    def name(self) -> str:
        return f"q={self.sampler}/s={self.seeds}/r={self.representation}/d={self.detector}"

    @property
    def needs(self) -> Output:
        return _lookup(REPRESENTATIONS, self.representation, "representation")().needs

    @classmethod
    def parse(cls, name: str) -> Combo:
        parts = dict(p.split("=", 1) for p in name.split("/") if "=" in p)
        if set(parts) != {"q", "s", "r", "d"} or name.count("/") != 3:
            raise ValueError(f"malformed combo name {name!r}; expected q=.../s=.../r=.../d=...")
        return cls(parts["q"], parts["s"], parts["r"], parts["d"])

    def __str__(self) -> str:
        return self.name


def _lookup(table: dict[str, T], name: str, what: str) -> T:
    if name not in table:
        raise KeyError(f"unknown {what} {name!r}; known: {', '.join(sorted(table))}")
    return table[name]


def incompatibility(
    sampler: QuerySampler, representation: Representation, detector: Detector, access: Output | None = None
) -> str | None:
    """Why the parts do not fit, or ``None`` when they do (read from their typed metadata)."""
    structure = structure_of(sampler)
    accepts = getattr(representation, "accepts", frozenset())
    if structure not in accepts:
        return f"{representation!r} reads {sorted(accepts)} queries, {sampler!r} makes {structure!r} ones"
    kind = getattr(representation, "kind", None)
    if kind not in getattr(detector, "accepts", frozenset()):
        return f"{detector!r} does not compare {kind!r} representations"
    if access is not None:
        try:
            require(access, representation.needs, who=repr(representation))
        except AccessError as err:
            return str(err)
    return None


def compatible_combos(
    *,
    access: Output | None = None,
    samplers: Iterable[str] | None = None,
    seeds: Iterable[str] | None = None,
    representations: Iterable[str] | None = None,
    detectors: Iterable[str] | None = None,
) -> list[Combo]:
    """Every compatible combination of the named parts (all by default), sorted by name; with ``access``,
    only those a suspect at that level can be verified with."""
    q_names = list(samplers) if samplers is not None else list(SAMPLERS)
    s_names = list(seeds) if seeds is not None else list(SEEDS)
    r_names = list(representations) if representations is not None else list(REPRESENTATIONS)
    d_names = list(detectors) if detectors is not None else list(DETECTORS)
    qs = {n: _lookup(SAMPLERS, n, "sampler")(True) for n in q_names}
    rs = {n: _lookup(REPRESENTATIONS, n, "representation")() for n in r_names}
    ds = {n: _lookup(DETECTORS, n, "detector")() for n in d_names}
    for n in s_names:
        _lookup(SEEDS, n, "seed set")
    out = [
        Combo(q, s, r, d)
        for q, s, r, d in itertools.product(q_names, s_names, r_names, d_names)
        if incompatibility(qs[q], rs[r], ds[d], access) is None
    ]
    return sorted(out, key=lambda c: c.name)


def make_combo(
    combo: Combo | str,
    *,
    budget: int = 100,
    fast: bool = True,
    access: Output | None = None,
) -> Fingerprint:
    """Build the :class:`Fingerprint` of a combo (or its name); raises :class:`IncompatibleCombo` when the
    types do not fit and :class:`~modelprint.models.access.AccessError` when ``access`` is too low."""
    c = Combo.parse(combo) if isinstance(combo, str) else combo
    sampler = _lookup(SAMPLERS, c.sampler, "sampler")(fast)
    seeds = _lookup(SEEDS, c.seeds, "seed set")()
    representation = _lookup(REPRESENTATIONS, c.representation, "representation")()
    detector = _lookup(DETECTORS, c.detector, "detector")()
    reason = incompatibility(sampler, representation, detector)
    if reason is not None:
        raise IncompatibleCombo(f"{c.name}: {reason}")
    if access is not None:
        require(access, representation.needs, who=c.name)
    return Fingerprint(c.name, Seeded(sampler, seeds), representation, detector, budget)


def generate_shared(
    fingerprints: Sequence[Fingerprint], victim: TorchClassifier, data: Dataset, *, seed: int = 0
) -> dict[str, Key]:
    """Keys for many fingerprints, sampling once per distinct (sampler, budget): the same keys as
    ``fp.generate(victim, data, seed=seed)`` for each, since sampling is the expensive part and combos
    that differ only in R/D ask the same queries."""
    cache: dict[tuple[str, int], Queries] = {}
    keys: dict[str, Key] = {}
    for fp in fingerprints:
        token = (repr(fp.sampler), fp.budget)
        if token not in cache:
            cache[token] = fp.sample(victim, data, seed=seed)
        keys[fp.name] = fp.key_for(victim, data, cache[token], seed=seed)
    return keys
