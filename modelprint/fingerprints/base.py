"""A named fingerprint is a QuRD composition: sampler → representation → detector (Godinot et al. AAAI'25)."""

from __future__ import annotations

import inspect
from dataclasses import dataclass, replace

import torch

from modelprint.data import Dataset
from modelprint.detectors.base import Detector
from modelprint.models.base import Classifier, TorchClassifier
from modelprint.models.signature import architecture_signature
from modelprint.pools import Pool, PoolSpec
from modelprint.queries.base import QuerySampler
from modelprint.registry import Registry, UnknownNameError
from modelprint.representations.base import Representation
from modelprint.specs import SpecError, canonical, parameters, parse_kwargs, split_spec
from modelprint.types import JSONValue, Key, Output, Queries


def refuse_nan_victim(victim: TorchClassifier, data: Dataset) -> None:
    """Raise when the victim's outputs on the first seed images are NaN (a broken model makes no key)."""
    probe = data.images[:8]
    if len(probe) and bool(torch.isnan(victim(probe)).any()):
        raise ValueError(f"{victim!r} gives NaN outputs on {data.name}: no key is made from it")


@dataclass(frozen=True)
class Fingerprint:
    """Generation sees a white-box victim; verification a black-box suspect. ``repr()`` is the config."""

    name: str
    sampler: QuerySampler
    representation: Representation
    detector: Detector
    budget: int = 100

    @property
    def needs(self) -> Output:
        """The least access level a suspect must give."""
        return self.representation.needs

    @property
    def pool_spec(self) -> PoolSpec | None:
        """The owner-side pool the sampler learns from (CAE, MetaFinger, MetaV, ...), or None."""
        return self.sampler.pool_spec

    def sample(
        self, victim: TorchClassifier, data: Dataset, *, seed: int = 0, pool: Pool | None = None
    ) -> Queries:
        """The sampler run on the seed set ``data`` with a generator seeded by ``seed`` (and the built
        ``pool`` of its :attr:`pool_spec`, when it declares one)."""
        if data.input_shape != victim.input_shape:
            raise ValueError(f"seed data is {data.input_shape}; the victim expects {victim.input_shape}")
        generator = torch.Generator().manual_seed(seed)
        if self.pool_spec is not None and pool is None:
            raise ValueError(f"{self.name} learns from a model pool: build one (PoolSpec) and pass pool=")
        queries = self.sampler.sample(victim, data, self.budget, generator=generator, pool=pool)
        if len(queries) == 0:
            raise ValueError(f"{self.name}: the sampler found no queries in {data.name}")
        return queries

    def key_for(self, victim: TorchClassifier, data: Dataset, queries: Queries, *, seed: int = 0) -> Key:
        """The key of already sampled ``queries``: the victim's reference representation and the config."""
        reference = self.representation(victim, queries)
        if reference.is_floating_point() and bool(torch.isnan(reference).any()):
            raise ValueError(f"{victim!r} gives NaN outputs on the key's queries: no key is made from it")
        config: dict[str, JSONValue] = {
            "fingerprint": repr(self), "seed": seed, "victim": victim.name, "dataset": data.name,
            "num_classes": victim.num_classes, "needs": self.needs,
            "victim_architecture": architecture_signature(victim.module),
        }  # fmt: skip
        return Key(self.name, config, queries, reference)

    def generate(
        self, victim: TorchClassifier, data: Dataset, *, seed: int = 0, pool: Pool | None = None
    ) -> Key:
        """Sample the queries from the seed set ``data`` and record the victim's reference representation.
        A victim whose outputs on the seed data are NaN is refused before anything is sampled."""
        refuse_nan_victim(victim, data)
        return self.key_for(victim, data, self.sample(victim, data, seed=seed, pool=pool), seed=seed)

    def verify(self, key: Key, suspect: Classifier) -> float:
        """Score a suspect; higher means more likely derived from the key's victim."""
        if key.scheme != self.name:
            raise ValueError(f"key was made by {key.scheme!r}, not {self.name!r}")
        expected = key.config.get("num_classes")
        if expected is not None and suspect.num_classes != expected:
            raise ValueError(f"suspect has {suspect.num_classes} classes, the key's victim has {expected}")
        detector = self.detector.bind(key.queries.extras)
        answers = self.representation(suspect, key.queries)
        if answers.is_floating_point() and bool(torch.isnan(answers).any()):
            raise ValueError("the suspect's answers contain NaN: it cannot be scored (a broken model or API)")
        return detector.score(key.reference, answers)


FINGERPRINTS: Registry[Fingerprint] = Registry("fingerprint", group="modelprint.fingerprints")

MAX_BUDGET = 1_000_000
"""The most queries one fingerprint may ask (a budget is a count of images sent to a suspect)."""


def parse_fingerprint(text: str, *, budget: int | None = None) -> Fingerprint:
    """``"cae:max_seeds=512"`` → the registered fingerprint with those keyword arguments (typed as the
    factory declares them; floats may be written ``8/255``). With arguments, the fingerprint's name is the
    canonical spec, so results and keys of different settings never mix. ``budget`` overrides the spec's;
    a budget other than the scheme's default is a setting like any other (``adv-tra:budget=1000``), so runs
    at two budgets never share a label in the report (budget curves use ``name@budget`` labels instead)."""
    name, items = split_spec(text, "fingerprint")
    try:
        factory = FINGERPRINTS.get(name)
    except UnknownNameError as exc:
        raise SpecError(str(exc)) from None
    kwargs: dict[str, object] = dict(parse_kwargs(f"fingerprint {name!r}", items, parameters(factory)))
    if budget is not None:
        kwargs["budget"] = budget
    asked = kwargs.get("budget")
    if asked is not None and not (isinstance(asked, int) and 1 <= asked <= MAX_BUDGET):
        raise SpecError(
            f"fingerprint {name!r}: budget must be a whole number from 1 to {MAX_BUDGET:,}, got {asked!r}"
        )
    default = inspect.signature(factory).parameters.get("budget")
    if default is not None and kwargs.get("budget") == default.default:
        del kwargs["budget"]  # the default budget is not a setting
    label = canonical(name, kwargs)  # type: ignore[arg-type]
    fp = factory(**kwargs)
    return fp if label == name else replace(fp, name=label)
