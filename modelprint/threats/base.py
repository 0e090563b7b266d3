"""Deployment-side threats as evaluation axes (docs/threats.md: input processing, output defences,
stacking): the :class:`Threat` interface, the ``THREATS`` registry and the ``name:key=value`` spec parser.

A threat turns the suspect's model into another :class:`~modelprint.models.base.Classifier`
(``threat.wrap(model, seed)``) that sits *below* the :class:`~modelprint.models.access.Suspect` access
wrapper, so the owner still pays one query per image sent (docs/conventions.md#access-levels). MFUE
(Xu et al., KDD'26, §6) and QuRD (Godinot et al., AAAI'25) evaluate fingerprints under such input
modifications and output noise."""

from __future__ import annotations

import dataclasses
import hashlib
import typing
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, Literal

import torch

from modelprint.models.access import AccessError
from modelprint.models.base import Classifier, Wrapping
from modelprint.registry import Registry, UnknownNameError
from modelprint.specs import ParamValue, SpecError, format_value, parse_kwargs, split_spec
from modelprint.types import Output, gives_at_least

__all__ = [
    "THREATS",
    "InputThreat",
    "OutputThreat",
    "QueryOutputThreat",
    "Threat",
    "ThreatChain",
    "ThreatSpecError",
    "ThreatWrapped",
    "derive_seed",
    "parse_threat",
    "parse_threats",
    "register_threat",
]

Kind = Literal["input", "output"]


class ThreatSpecError(SpecError):
    """A threat spec (``name:key=value,...``) that cannot be parsed or names unknown parts."""


def derive_seed(*parts: object) -> int:
    """A stable 63-bit seed from any printable parts (never Python's salted ``hash``)."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


class Threat(ABC):
    """A deployment-side threat: ``wrap(model, seed)`` gives the model as the suspect's API serves it.

    Subclasses are frozen dataclasses whose fields are the threat's typed parameters; ``name`` is the
    registry name and ``kind`` says whether it processes inputs or defends outputs (docs/threats.md)."""

    name: ClassVar[str]
    kind: ClassVar[Kind]

    def params(self) -> dict[str, ParamValue]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    @property
    def spec(self) -> str:
        """Canonical spec, e.g. ``jpeg:q=50``; :func:`parse_threat` of it gives an equal threat."""
        params = self.params()
        if not params:
            return self.name
        return f"{self.name}:" + ",".join(f"{k}={format_value(v)}" for k, v in params.items())

    def __str__(self) -> str:
        return self.spec

    @abstractmethod
    def output_for(self, output: Output) -> Output:
        """The level the wrapped model answers at, given the model's; :class:`AccessError` when the threat
        cannot be applied to a model answering at ``output``."""

    @abstractmethod
    def wrap(self, model: Classifier, seed: int = 0) -> Classifier:
        """The model behind this threat; its randomness comes from a generator seeded by ``seed``."""


class ThreatWrapped(Wrapping):
    """The Classifier a threat makes of ``model``: the threat's ``process`` runs on every call with the
    wrapper's generator, so a given seed and call sequence always give the same answers."""

    def __init__(self, model: Classifier, threat: InputThreat | QueryOutputThreat, seed: int = 0) -> None:
        self.output: Output = threat.output_for(model.output)
        self.model = model
        self.threat = threat
        self.seed = int(seed)
        self.num_classes = model.num_classes
        self._gen = torch.Generator().manual_seed(self.seed)

    def __repr__(self) -> str:
        return f"ThreatWrapped({self.model!r}, {self.threat.spec!r}, seed={self.seed})"

    def reset(self) -> None:
        """Restart the random stream from ``seed``."""
        self._gen = torch.Generator().manual_seed(self.seed)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.threat.process(self.model, x, self._gen)


class InputThreat(Threat):
    """Input processing (docs/threats.md#input-processing): ``transform`` maps a batch in [0,1] to a batch in
    [0,1] before the model sees it; the answer level is the model's."""

    kind: ClassVar[Kind] = "input"

    def output_for(self, output: Output) -> Output:
        return output

    @abstractmethod
    def transform(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """The processed batch (same shape, float32, in [0,1])."""

    def process(self, model: Classifier, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        return model(self.transform(x.float(), gen).clamp(0.0, 1.0))

    def wrap(self, model: Classifier, seed: int = 0) -> Classifier:
        return ThreatWrapped(model, self, seed)


class OutputThreat(Threat):
    """Output defence (docs/threats.md#output-defences): changes what the model answers. Per-query defences
    subclass :class:`QueryOutputThreat`; defences with state of their own (DP-Logits' noise stream, a fitted
    query detector) implement ``wrap`` with their own wrapper."""

    kind: ClassVar[Kind] = "output"


class QueryOutputThreat(OutputThreat):
    """Output defence applied batch by batch: ``process`` queries the model and changes its answer."""

    @abstractmethod
    def process(self, model: Classifier, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor: ...

    def wrap(self, model: Classifier, seed: int = 0) -> Classifier:
        return ThreatWrapped(model, self, seed)


def needs_scores(name: str, output: Output) -> None:
    """Refuse a defence that perturbs scores on a model answering only labels or a top-k list."""
    if not gives_at_least(output, "probs"):
        raise AccessError(f"threat {name!r} needs a model giving probs or logits; it gives {output!r}")


@dataclasses.dataclass(frozen=True)
class ThreatChain(Threat):
    """Stacked threats (docs/threats.md#stacking), written ``a+b+...``: the input stages run first, in the
    order written, then the model behind the output defences, applied in the order written (the first one
    nearest the model). Each stage draws from its own seed derived from the chain's."""

    stages: tuple[Threat, ...]
    name: ClassVar[str] = "chain"
    kind: ClassVar[Kind] = "output"

    def __post_init__(self) -> None:
        if len(self.stages) < 2 or any(isinstance(s, ThreatChain) for s in self.stages):
            raise ThreatSpecError("a threat chain needs two or more plain threats")

    @property
    def spec(self) -> str:
        return "+".join(s.spec for s in self.stages)

    def _ordered(self) -> tuple[list[Threat], list[Threat]]:
        return [s for s in self.stages if s.kind == "output"], [s for s in self.stages if s.kind == "input"]

    def output_for(self, output: Output) -> Output:
        outputs, _ = self._ordered()
        for stage in outputs:
            output = stage.output_for(output)
        return output

    def wrap(self, model: Classifier, seed: int = 0) -> Classifier:
        self.output_for(model.output)
        outputs, inputs = self._ordered()
        index = {id(s): i for i, s in enumerate(self.stages)}
        for stage in outputs:
            model = stage.wrap(model, derive_seed(seed, index[id(stage)]))
        for stage in reversed(inputs):
            model = stage.wrap(model, derive_seed(seed, index[id(stage)]))
        return model


THREATS: Registry[Threat] = Registry("threat", group="modelprint.threats")

T = typing.TypeVar("T", bound=type[Threat])


def register_threat(cls: T) -> T:
    """Class decorator: register a threat dataclass under its ``name`` (described by its first sentence)."""
    THREATS.register(cls.name)(cls)
    return cls


def _fields(factory: Callable[..., Threat]) -> dict[str, Any]:
    assert isinstance(factory, type) and dataclasses.is_dataclass(factory)
    hints = typing.get_type_hints(factory)
    return {f.name: hints[f.name] for f in dataclasses.fields(factory)}


def parse_threat(text: str) -> Threat:
    """``"jpeg:q=50"`` -> the threat. Parameters are ``key=value`` separated by commas and converted to
    the declared types (floats may be written ``16/255``); omitted ones take their defaults. ``a+b``
    stacks threats (:class:`ThreatChain`). Raises :class:`ThreatSpecError` naming the problem."""
    text = text.strip()
    if not text:
        raise ThreatSpecError("empty threat spec")
    if "+" in text:
        return ThreatChain(tuple(parse_threat(part) for part in text.split("+")))
    name, items = split_spec(text, "threat", ThreatSpecError)
    try:
        factory = THREATS.get(name)
    except UnknownNameError as exc:
        raise ThreatSpecError(str(exc)) from None
    kwargs = parse_kwargs(f"threat {name!r}", items, _fields(factory), ThreatSpecError)
    return factory(**kwargs)


def parse_threats(texts: typing.Iterable[str]) -> list[Threat]:
    """Each spec parsed; duplicates (same canonical spec) are dropped, keeping the first."""
    out: dict[str, Threat] = {}
    for text in texts:
        threat = parse_threat(text)
        out.setdefault(threat.spec, threat)
    return list(out.values())
