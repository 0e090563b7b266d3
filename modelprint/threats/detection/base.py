"""Query detectors (docs/query-detectors.md): a suspect's deployer screens incoming queries for anomalies, so
an owner's fingerprint queries should look like ordinary traffic (stealthiness). MFUE (Xu et al., KDD'26,
Table 2) and NaturalFinger (Yang et al.) measure it with SHE, SCADN, DAEIT and a small CNN detector.

Every detector has one interface: ``fit(model, clean)`` on the deployed white-box model and the deployer's
clean data, then ``score(x) -> (N,)`` (higher = more anomalous, one orientation for all detectors) and
``flag(x) -> (N,) bool``.

Threshold (MFUE protocol, docs/query-detectors.md#protocol): sort the clean samples' scores and average the
10% of them lying furthest in the anomalous direction (the "lowest 10% quantile" of a score where low =
anomalous, such as SHE's energy; with our orientation, the *highest* 10% of the scores). A query is flagged
when its score lies strictly beyond that mean. Since that mean is at least the clean 90th percentile, at most
10% of the calibration samples are flagged (about 4% for a Gaussian score). The clean samples are a held-out
part (``holdout``) of the deployer's data that the detector did not train on. Detectors with a decision of
their own (DAEIT's and NaturalFinger's binary classifiers, the DAEIT vote) use it by default
(``rule="native"``) and the MFUE threshold with ``rule="mfue"``; SHE and SCADN always use the MFUE one."""

from __future__ import annotations

import dataclasses
import math
import typing
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, Literal, Self

import torch
import torch.nn.functional as F
from torch import nn

from modelprint.data import Dataset
from modelprint.memo import Memo, data_digest, model_digest
from modelprint.models.base import TorchClassifier
from modelprint.registry import Registry, UnknownNameError
from modelprint.specs import (
    ParamValue,
    SpecError,
    canonical,
    format_value,
    parameters,
    parse_kwargs,
    split_spec,
)

__all__ = [
    "QUERY_DETECTORS",
    "QueryDetector",
    "QueryDetectorSpecError",
    "Rule",
    "fit_cached",
    "mfue_threshold",
    "model_digest",
    "parse_query_detector",
    "register_query_detector",
]

#: ``native``: the detector's own decision; ``mfue``: the clean-score threshold of the MFUE protocol.
Rule = Literal["native", "mfue"]


class QueryDetectorSpecError(SpecError):
    """A query-detector spec (``name:key=value,...``) that cannot be parsed."""


def mfue_threshold(clean_scores: torch.Tensor, tail: float = 0.1) -> float:
    """MFUE's threshold (docs/query-detectors.md#protocol) for scores where higher = more anomalous: the mean
    of the ``tail`` fraction (at least one) of the clean scores lying furthest in the anomalous direction,
    i.e. the top ones."""
    if clean_scores.numel() == 0:
        raise ValueError("the MFUE threshold needs at least one clean score")
    if not 0.0 < tail <= 1.0:
        raise ValueError(f"tail must lie in (0, 1], got {tail}")
    k = max(1, math.ceil(tail * clean_scores.numel()))
    return float(clean_scores.double().flatten().topk(k).values.mean())


@dataclass(eq=False)
class QueryDetector(ABC):
    """A query detector (docs/query-detectors.md); dataclass fields are its settings, ``*_`` attributes its
    fitted state.

    ``fit`` draws at most ``images`` clean images (seeded by ``seed``), trains on all but a ``holdout``
    fraction and sets ``threshold_`` from the held-out scores (see the module docstring)."""

    name: ClassVar[str]

    images: int = 1000
    holdout: float = 0.2
    tail: float = 0.1
    seed: int = 0
    threshold_: float = field(default=math.nan, init=False, repr=False)
    clean_scores_: torch.Tensor = field(default_factory=lambda: torch.empty(0), init=False, repr=False)

    def __post_init__(self) -> None:
        if self.images < 2:
            raise QueryDetectorSpecError(f"{self.name}: images must be at least 2, got {self.images}")
        if not 0.0 < self.holdout < 1.0:
            raise QueryDetectorSpecError(f"{self.name}: holdout must lie in (0, 1), got {self.holdout}")
        if not 0.0 < self.tail <= 1.0:
            raise QueryDetectorSpecError(f"{self.name}: tail must lie in (0, 1], got {self.tail}")

    def params(self) -> dict[str, ParamValue]:
        """The settings (constructor arguments) by name."""
        return {k: getattr(self, k) for k in parameters(type(self))}

    @property
    def spec(self) -> str:
        """Canonical spec, e.g. ``daeit:epochs=30,...``; :func:`parse_query_detector` gives an equal one."""
        return f"{self.name}:" + ",".join(f"{k}={format_value(v)}" for k, v in self.params().items())

    @property
    def label(self) -> str:
        """Short spec naming only the settings that differ from the defaults, e.g. ``daeit:eps=0.2``."""
        defaults = type(self)().params()
        changed = {k: v for k, v in self.params().items() if v != defaults[k]}
        return canonical(self.name, changed)

    def __str__(self) -> str:
        return self.spec

    @property
    def fitted(self) -> bool:
        return not math.isnan(self.threshold_)

    def fit(self, model: TorchClassifier, clean: Dataset) -> Self:
        """Fit on the deployed ``model`` and the deployer's ``clean`` data; deterministic for a seed."""
        if len(clean) < 2:
            raise ValueError(f"{self.name}: fitting needs at least 2 clean images, got {len(clean)}")
        gen = torch.Generator().manual_seed(self.seed)
        order = torch.randperm(len(clean), generator=gen)[: self.images]
        n_cal = min(len(order) - 1, max(1, round(self.holdout * len(order))))
        calibration, train = clean.subset(order[:n_cal]), clean.subset(order[n_cal:])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)  # layer initialisation of the detector's own networks
            self._fit(model, train, gen)
        self.clean_scores_ = self.score(calibration.images)
        self.threshold_ = self._threshold(self.clean_scores_)
        return self

    def _threshold(self, clean_scores: torch.Tensor) -> float:
        """The flagging threshold from the held-out clean scores: MFUE's rule unless overridden."""
        return mfue_threshold(clean_scores, self.tail)

    @abstractmethod
    def _fit(self, model: TorchClassifier, train: Dataset, gen: torch.Generator) -> None:
        """Store what ``score`` needs (the model, learned networks, statistics)."""

    @abstractmethod
    def score(self, x: torch.Tensor) -> torch.Tensor:
        """Anomaly scores (N,) of a batch (N,C,H,W) in [0,1]; higher = more anomalous."""

    def flag(self, x: torch.Tensor) -> torch.Tensor:
        """(N,) bool: the queries scored strictly beyond ``threshold_``."""
        if not self.fitted:
            raise RuntimeError(f"{self.name}: fit the detector before flagging queries")
        if len(x) == 0:
            return torch.zeros(0, dtype=torch.bool)
        return self.score(x) > self.threshold_


class NativeRule:
    """Mixin for detectors with a decision of their own at score ``native_threshold`` (``rule``)."""

    native_threshold: ClassVar[float] = 0.0
    rule: Rule
    tail: float

    def _threshold(self, clean_scores: torch.Tensor) -> float:
        if self.rule == "native":
            return self.native_threshold
        return mfue_threshold(clean_scores, self.tail)


QUERY_DETECTORS: Registry[QueryDetector] = Registry("query detector")

D = typing.TypeVar("D", bound=type[QueryDetector])


def register_query_detector(cls: D) -> D:
    """Class decorator: register a detector under its ``name`` (described by its first sentence)."""
    text = " ".join((cls.__doc__ or "").split())
    QUERY_DETECTORS.register(cls.name, doc=text.split(". ")[0].removesuffix("."))(cls)
    return cls


def parse_query_detector(text: str) -> QueryDetector:
    """``"daeit:epochs=10,rule=mfue"`` -> an unfitted detector (typed parameters, defaults elsewhere)."""
    name, items = split_spec(text, "query detector", QueryDetectorSpecError)
    try:
        factory: Callable[..., QueryDetector] = QUERY_DETECTORS.get(name)
    except UnknownNameError as exc:
        raise QueryDetectorSpecError(str(exc)) from None
    kwargs = parse_kwargs(f"query detector {name!r}", items, parameters(factory), QueryDetectorSpecError)
    return factory(**kwargs)


# ------------------------------------------------------------------------------------------------ caching


_FITTED: Memo[QueryDetector] = Memo(256)  # fits are small; a benchmark guards every suspect of a preset


def fit_cached(detector: QueryDetector, model: TorchClassifier, clean: Dataset) -> QueryDetector:
    """A fitted copy of ``detector`` for (``model``, ``clean``), reused within the process: fits are
    seeded, so the key (the detector's spec, the model's weights, the data) determines the result."""
    token = (detector.spec, model_digest(model), data_digest(clean))
    return _FITTED.recall(token, lambda: dataclasses.replace(detector).fit(model, clean))


# --------------------------------------------------------------------------------------- shared helpers


def train_binary(
    net: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    epochs: int,
    lr: float,
    batch: int,
    gen: torch.Generator,
) -> None:
    """Adam on class-balanced binary cross-entropy (``y`` = 1: anomalous), shuffled with ``gen``; ``net``
    maps a batch of ``x`` to (N,) logits and is left in eval mode."""
    positives = float(y.sum())
    pos_weight = torch.tensor((len(y) - positives) / max(positives, 1.0))
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), batch):
            idx = order[i : i + batch]
            if len(idx) < 2:
                continue  # batch norm needs two values per channel
            loss = F.binary_cross_entropy_with_logits(net(x[idx]), y[idx].float(), pos_weight=pos_weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()


@torch.no_grad()
def batched(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor, batch: int = 512) -> torch.Tensor:
    """``fn`` over ``x`` in batches, concatenated (no gradients)."""
    outs = [fn(x[i : i + batch]) for i in range(0, len(x), batch)]
    return torch.cat(outs) if outs else torch.empty(0)
