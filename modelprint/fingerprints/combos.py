"""QuRD combinatorics (Godinot et al. AAAI'25, "the next 100 fingerprints"): every compatible
(sampler, seed set, representation, detector) combination, derived from the parts' typed metadata.

Compatibility is read off the parts, never listed by hand:

- the sampler's ``structure`` (points / pairs / lime) must be in the representation's ``accepts``;
- the representation's ``kind`` (labels / ranking / vector / matrix) must be in the detector's ``accepts``;
- with ``access`` given, the suspect's level must reach the representation's ``needs``.

The parts come from the sampler, seed-set, representation and detector registries (plugins add to them);
the tables below register the built-in parts with their combo-mode settings. Left out on purpose:
:class:`Hamming` (ranks exactly like ``match``), :class:`SubsetCosine` (≈ ``cosine``), and the fitted
detectors :class:`CalibratedThreshold` / :class:`LearnedDetector`, which need pools of models and wrap any
combo's detector afterwards. ``fast=True`` (the default) caps the expensive samplers (boundary 200 Adam
steps and 2 rounds, DeepFool 20 iterations, UAP 2 passes on 50 points, 20 LIME masks per seed) so that 100
combos over a 35-model zoo fit in one benchmark run on two CPU cores."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from modelprint.detectors.base import DETECTORS, Detector
from modelprint.detectors.distances import Cosine, NegativeL1, NegativeL2
from modelprint.detectors.information import MutualInformation
from modelprint.detectors.matching import MatchRate
from modelprint.fingerprints.base import Fingerprint
from modelprint.models.access import AccessError, require
from modelprint.queries.adversarial import AdversarialQueries, DeepFoolQueries, ModelDiffQueries, UAPQueries
from modelprint.queries.base import SAMPLERS, QuerySampler
from modelprint.queries.boundary import BoundaryQueries
from modelprint.queries.lime import LimeQueries
from modelprint.queries.sampling import UniformQueries
from modelprint.queries.seeds import SEED_SETS, Seeded, structure_of
from modelprint.representations.base import REPRESENTATIONS, Representation
from modelprint.representations.lime import LimeWeights
from modelprint.representations.listwise import CorrelationMatrix
from modelprint.representations.outputs import HardLabels
from modelprint.representations.pairwise import DecisionDistanceVector, HardDecisionVector, PairedOutputs
from modelprint.representations.scores import Logits, Probabilities, TopK, TrueLabelRank
from modelprint.types import Output

T = TypeVar("T")

_COMBO_SAMPLERS: dict[str, Callable[..., QuerySampler]] = {
    "uniform": lambda *, fast=True: UniformQueries(),
    "pgd": lambda *, fast=True: AdversarialQueries(method="pgd", eps=8 / 255, steps=10),
    "fgsm": lambda *, fast=True: AdversarialQueries(method="fgsm", eps=8 / 255),
    "boundary": lambda *, fast=True: (
        BoundaryQueries(max_iter=200, max_rounds=2) if fast else BoundaryQueries()
    ),
    "deepfool": lambda *, fast=True: DeepFoolQueries(max_iter=20 if fast else 50),
    "lime": lambda *, fast=True: LimeQueries(subsample=20 if fast else 100),
    "uap": lambda *, fast=True: UAPQueries(max_passes=2, fit_points=50) if fast else UAPQueries(),
    "modeldiff": lambda *, fast=True: ModelDiffQueries(),
}
_COMBO_REPRESENTATIONS: dict[str, Callable[[], Representation]] = {
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
_COMBO_DETECTORS: dict[str, Callable[[], Detector]] = {
    "match": MatchRate,
    "mi": MutualInformation,
    "cosine": Cosine,
    "l1": NegativeL1,
    "l2": NegativeL2,
}
for _name, _sampler in _COMBO_SAMPLERS.items():
    SAMPLERS.register(_name, doc=f"combination sampler {_name}")(_sampler)
for _name, _rep in _COMBO_REPRESENTATIONS.items():
    REPRESENTATIONS.register(_name, doc=f"combination representation {_name}")(_rep)
for _name, _det in _COMBO_DETECTORS.items():
    DETECTORS.register(_name, doc=f"combination detector {_name}")(_det)


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
        return REPRESENTATIONS.make(self.representation).needs

    @classmethod
    def parse(cls, name: str) -> Combo:
        parts = dict(p.split("=", 1) for p in name.split("/") if "=" in p)
        if set(parts) != {"q", "s", "r", "d"} or name.count("/") != 3:
            raise ValueError(f"malformed combo name {name!r}; expected q=.../s=.../r=.../d=...")
        return cls(parts["q"], parts["s"], parts["r"], parts["d"])

    def __str__(self) -> str:
        return self.name


def incompatibility(
    sampler: QuerySampler, representation: Representation, detector: Detector, access: Output | None = None
) -> str | None:
    """Why the parts do not fit, or ``None`` when they do (read from their typed metadata)."""
    structure = structure_of(sampler)
    if structure not in representation.accepts:
        return (
            f"{representation!r} reads {sorted(representation.accepts)} queries, {sampler!r} makes "
            f"{structure!r} ones"
        )
    if representation.kind not in detector.accepts:
        return f"{detector!r} does not compare {representation.kind!r} representations"
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
    q_names = list(samplers) if samplers is not None else SAMPLERS.names()
    s_names = list(seeds) if seeds is not None else SEED_SETS.names()
    r_names = list(representations) if representations is not None else REPRESENTATIONS.names()
    d_names = list(detectors) if detectors is not None else DETECTORS.names()
    qs = {n: SAMPLERS.make(n, fast=True) for n in q_names}
    rs = {n: REPRESENTATIONS.make(n) for n in r_names}
    ds = {n: DETECTORS.make(n) for n in d_names}
    for n in s_names:
        SEED_SETS.get(n)
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
    sampler = SAMPLERS.make(c.sampler, fast=fast)
    seeds = SEED_SETS.make(c.seeds)
    representation = REPRESENTATIONS.make(c.representation)
    detector = DETECTORS.make(c.detector)
    reason = incompatibility(sampler, representation, detector)
    if reason is not None:
        raise IncompatibleCombo(f"{c.name}: {reason}")
    if access is not None:
        require(access, representation.needs, who=c.name)
    return Fingerprint(c.name, Seeded(sampler, seeds), representation, detector, budget)


def sample_combos(limit: int | None, *, budget: int | None = None) -> list[Fingerprint]:
    """Every compatible combination as a fingerprint, or a seeded random sample of ``limit`` of them (the
    same sample on every run, sorted by name)."""
    chosen = compatible_combos()
    if limit is not None and limit < len(chosen):
        chosen = sorted(random.Random(0).sample(chosen, limit), key=lambda c: c.name)
    return [make_combo(c, budget=budget or 100) for c in chosen]
