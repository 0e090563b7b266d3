"""Output defences (docs/threats.md#output-defences) applied by the suspect's API after its model: ``topk``,
``labels``, ``dp-logits`` (Rahimian, Orekondy, Fritz; MFUE's adaptive attack, Xu et al. KDD'26 §6), ``round``,
``poison`` (a simple prediction-poisoning baseline after Orekondy, Schiele, Fritz ICLR'20, which QuRD, Godinot
et al. AAAI'25, cites) and ``smoothing`` (randomised smoothing, Cohen et al. ICML'19; FBI [C])."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch

from modelprint.models.access import AccessError, to_labels, to_probs
from modelprint.models.base import Classifier
from modelprint.threats.base import (
    OutputThreat,
    QueryOutputThreat,
    ThreatSpecError,
    needs_scores,
    register_threat,
)
from modelprint.threats.dp_logits import DPLogits, Mechanism
from modelprint.types import Output

__all__ = ["DPLogitsThreat", "Labels", "Poison", "Round", "Smoothing", "TopK"]


@register_threat
@dataclass(frozen=True)
class TopK(QueryOutputThreat):
    """Only the ``k`` most likely labels, best first, (N,k) (FBI's code default k = 3 [C]). See
    docs/threats.md#output-defences."""

    k: int = 3
    name: ClassVar[str] = "topk"

    def __post_init__(self) -> None:
        if self.k < 1:
            raise ThreatSpecError(f"topk: k must be at least 1, got {self.k}")

    def output_for(self, output: Output) -> Output:
        if output == "labels":
            raise AccessError("threat 'topk' needs a model giving a top-k list, probs or logits")
        return "topk"

    def process(self, model: Classifier, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        out = model(x)
        if model.output == "topk":
            return out[:, : self.k].long()
        return out.topk(min(self.k, model.num_classes), dim=1).indices


@register_threat
@dataclass(frozen=True)
class Labels(QueryOutputThreat):
    """Label only: the argmax, (N,) (the harshest access). See docs/threats.md#output-defences."""

    name: ClassVar[str] = "labels"

    def output_for(self, output: Output) -> Output:
        return "labels"

    def process(self, model: Classifier, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        return to_labels(model(x), model.output)


@register_threat
@dataclass(frozen=True)
class DPLogitsThreat(OutputThreat):
    """DP-Logits: i.i.d. Laplace(0, ``sigma``) (or Gaussian) noise on every logit, fresh per query; answers
    at the model's level (docs/threats.md#output-defences: σ ∈ {0, 0.5, 1, 2, 5, 10}, σ = 2 the "astute
    attacker" [P])."""

    sigma: float = 2.0
    mechanism: Literal["laplace", "gaussian"] = "laplace"
    name: ClassVar[str] = "dp-logits"

    def __post_init__(self) -> None:
        if self.sigma < 0:
            raise ThreatSpecError(f"dp-logits: sigma must be non-negative, got {self.sigma}")

    def output_for(self, output: Output) -> Output:
        needs_scores(self.name, output)
        return output

    def wrap(self, model: Classifier, seed: int = 0) -> Classifier:
        self.output_for(model.output)
        mechanism: Mechanism = self.mechanism
        return DPLogits(model, self.sigma, mechanism, seed=seed)


@register_threat
@dataclass(frozen=True)
class Round(QueryOutputThreat):
    """Probabilities rounded to ``decimals`` places, not renormalised ([D]: d ∈ {1, 2}); small
    classes become exact zeros, so representations should clamp before taking logs. See
    docs/threats.md#output-defences."""

    decimals: int = 2
    name: ClassVar[str] = "round"

    def __post_init__(self) -> None:
        if not 0 <= self.decimals <= 8:
            raise ThreatSpecError(f"round: decimals must lie in 0..8, got {self.decimals}")

    def output_for(self, output: Output) -> Output:
        needs_scores(self.name, output)
        return "probs"

    def process(self, model: Classifier, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        return torch.round(to_probs(model(x), model.output), decimals=self.decimals)


@register_threat
@dataclass(frozen=True)
class Poison(QueryOutputThreat):
    """Prediction poisoning, simple version [D]: p̃ = (1 − ε)·p + ε·r with r ~ Dirichlet(1, …, 1) fresh per
    query, then the top label restored by swapping p̃'s entries at the old and new argmax, so label
    accuracy is kept (up to ties) while the probabilities lose much of their information. Orekondy et
    al.'s MAD picks the perturbation direction by gradients of a surrogate; this is a cheap stand-in."""

    epsilon: float = 0.5
    name: ClassVar[str] = "poison"

    def __post_init__(self) -> None:
        if not 0.0 <= self.epsilon <= 1.0:
            raise ThreatSpecError(f"poison: epsilon must lie in [0, 1], got {self.epsilon}")

    def output_for(self, output: Output) -> Output:
        needs_scores(self.name, output)
        return "probs"

    def process(self, model: Classifier, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        p = to_probs(model(x), model.output).double()
        e = torch.empty(p.shape, dtype=torch.float64).exponential_(generator=gen)
        q = (1 - self.epsilon) * p + self.epsilon * e / e.sum(dim=1, keepdim=True)
        old, new = p.argmax(dim=1, keepdim=True), q.argmax(dim=1, keepdim=True)
        q_old, q_new = q.gather(1, old), q.gather(1, new)
        q = q.scatter(1, new, q_old).scatter(1, old, q_new)
        return q.float()


@register_threat
@dataclass(frozen=True)
class Smoothing(QueryOutputThreat):
    """Randomised smoothing (Cohen et al.): ``n`` copies x + N(0, ``sigma``²) per query (not clipped).
    ``mode=vote`` answers the majority label (ties: the smaller label); ``mode=mean`` the mean of the
    model's outputs at its own level (FBI [C] averages logits). FBI sweeps σ ∈ {0.01 … 0.1} with n = 100
    [C]; the API's model runs n times per query, the owner is charged one query."""

    sigma: float = 0.05
    n: int = 100
    mode: Literal["vote", "mean"] = "vote"
    name: ClassVar[str] = "smoothing"
    chunk: ClassVar[int] = 8192  # noisy copies per model call

    def __post_init__(self) -> None:
        if self.sigma < 0 or self.n < 1:
            raise ThreatSpecError(f"smoothing: need sigma >= 0 and n >= 1, got {self.sigma}, {self.n}")

    def output_for(self, output: Output) -> Output:
        if self.mode == "mean":
            needs_scores(self.name, output)
            return output
        return "labels"

    def process(self, model: Classifier, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        per = max(1, self.chunk // self.n)
        answers = []
        for i in range(0, len(x), per):
            xb = x[i : i + per].float()
            b = len(xb)
            noisy = xb.repeat_interleave(self.n, dim=0)
            noisy = noisy + self.sigma * torch.randn(noisy.shape, generator=gen)
            out = model(noisy)
            if self.mode == "mean":
                answers.append(out.view(b, self.n, -1).mean(dim=1))
            else:
                labels = to_labels(out, model.output).view(b, self.n)
                votes = torch.zeros(b, model.num_classes, dtype=torch.long)
                votes.scatter_add_(1, labels, torch.ones_like(labels))
                answers.append(votes.argmax(dim=1))
        if not answers:
            return torch.empty(0, dtype=torch.long) if self.mode == "vote" else model(x)
        return torch.cat(answers)
