"""A detection-guarded API (docs/query-detectors.md, docs/threats.md#output-defences): the suspect's deployer
screens every query with a query detector and does not answer the flagged ones truthfully, so a fingerprint
whose queries look anomalous loses them. Registered as the threat ``guard:detector=daeit,mode=refuse``
(``modelprint list threats``)."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from modelprint.data import Dataset, load_dataset
from modelprint.models.base import Classifier, TorchClassifier, Wrapping
from modelprint.threats.base import OutputThreat, ThreatSpecError, register_threat
from modelprint.threats.detection.base import QUERY_DETECTORS, QueryDetector, fit_cached
from modelprint.types import Output
from modelprint.zoo.lineage import LineageError, parse_lineage

__all__ = ["Guard", "Guarded", "white_box"]

Mode = Literal["refuse", "random"]


def white_box(model: Classifier) -> TorchClassifier:
    """The white-box model under wrappers that keep it as ``.model`` (shared answers, other threats)."""
    seen: object = model
    for _ in range(32):
        if isinstance(seen, TorchClassifier):
            return seen
        seen = getattr(seen, "model", None)
        if seen is None:
            break
    raise ValueError(f"threat 'guard' needs the deployed white-box model; {model!r} does not expose one")


@functools.lru_cache(maxsize=4)
def _load(dataset: str, split: str) -> Dataset:
    return load_dataset(dataset, split)


def deployer_dataset(model: TorchClassifier, dataset: str = "auto") -> str:
    """``dataset``, or for ``auto`` the dataset of the model's lineage root ``train(arch,DATASET,...)``."""
    if dataset != "auto":
        return dataset
    try:
        root = parse_lineage(model.name)[0]
    except LineageError:
        root = None
    if root is None or len(root.args) < 2:
        raise ValueError(f"guard: cannot tell the deployer's dataset of {model!r}; give dataset=NAME")
    return root.args[1]


def refusal(output: Output, n: int, num_classes: int, width: int) -> torch.Tensor:
    """The refused answer at each level: uniform probabilities (all-zero logits), hence label 0 (the first of
    the tied classes) at label access and the top-k list 0, 1, ..., k−1."""
    if output == "logits":
        return torch.zeros(n, num_classes)
    if output == "probs":
        return torch.full((n, num_classes), 1.0 / num_classes)
    if output == "topk":
        return torch.arange(width).expand(n, width).clone()
    return torch.zeros(n, dtype=torch.long)


def random_answer(output: Output, n: int, num_classes: int, width: int, gen: torch.Generator) -> torch.Tensor:
    """A random answer at each level from p ~ Dirichlet(1, …, 1) (normalised exponentials): log p as logits,
    p, its top-k list, or its argmax (a uniform random label)."""
    p = -torch.rand(n, num_classes, generator=gen).clamp_min(1e-12).log()
    p = p / p.sum(1, keepdim=True)
    if output == "logits":
        return p.log()
    if output == "probs":
        return p
    if output == "topk":
        return p.argsort(1, descending=True)[:, :width]
    return p.argmax(1)


class Guarded(Wrapping):
    """``model`` behind a fitted query ``detector``: flagged queries get the refusal or a random answer;
    the others the model's answer, unchanged. ``queries`` and ``flagged`` count what it saw."""

    def __init__(self, model: Classifier, detector: QueryDetector, mode: Mode, seed: int = 0) -> None:
        self.model, self.detector, self.mode, self.seed = model, detector, mode, int(seed)
        self.output: Output = model.output
        self.num_classes = model.num_classes
        self.queries = 0
        self.flagged = 0
        self._gen = torch.Generator().manual_seed(self.seed)

    def __repr__(self) -> str:
        return f"Guarded({self.model!r}, {self.detector.name}, mode={self.mode}, seed={self.seed})"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        flags = self.detector.flag(x)
        self.queries += len(x)
        n = int(flags.sum())
        if n == 0:
            return out
        self.flagged += n
        width = out.shape[1] if out.ndim == 2 else 1
        if self.mode == "refuse":
            fake = refusal(self.output, n, self.num_classes, width)
        else:
            fake = random_answer(self.output, n, self.num_classes, width, self._gen)
        out = out.clone()
        out[flags] = fake.to(out.dtype)
        return out


@register_threat
@dataclass(frozen=True)
class Guard(OutputThreat):
    """Query-detection guard: the deployer fits a query ``detector`` (``modelprint.threats.detection``:
    daeit, daeit-vote, she, scadn, naturalfinger) on the deployed model and its clean data, then refuses
    (uniform probabilities, label 0) or answers at random (``mode``) every flagged query
    (docs/query-detectors.md).

    The clean data is the ``split`` (default the attacker's half: the thief deploys) of ``dataset``
    (``auto``: the one in the model's lineage, ``train(arch,DATASET,...)``); the detector is fitted
    with its default settings and ``seed``, once per model in a process (:func:`fit_cached`). Answers keep the
    model's level; ``seed`` of ``wrap`` drives the random answers only."""

    detector: str = "daeit"
    mode: Mode = "refuse"
    dataset: str = "auto"
    split: str = "attacker"
    seed: int = 0
    name: ClassVar[str] = "guard"

    def __post_init__(self) -> None:
        if self.detector not in QUERY_DETECTORS:
            raise ThreatSpecError(
                f"guard: unknown detector {self.detector!r}; known: {', '.join(QUERY_DETECTORS.names())}"
            )

    def output_for(self, output: Output) -> Output:
        return output

    def fitted_detector(self, model: TorchClassifier) -> QueryDetector:
        """The detector fitted on ``model`` and the deployer's clean data (cached per process)."""
        data = _load(deployer_dataset(model, self.dataset), self.split)
        if data.input_shape != model.input_shape:
            raise ValueError(
                f"guard: {data.name} images are {data.input_shape}, the model takes {model.input_shape}"
            )
        return fit_cached(QUERY_DETECTORS.make(self.detector, seed=self.seed), model, data)

    def wrap(self, model: Classifier, seed: int = 0) -> Classifier:
        return Guarded(model, self.fitted_detector(white_box(model)), self.mode, seed)
