"""SHE, simplified Hopfield energy (Zhang et al., ICLR'23; docs/query-detectors.md#she): a training-free OOD
detector on the deployed classifier's penultimate features."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from modelprint.data import Dataset
from modelprint.models.base import TorchClassifier
from modelprint.threats.detection.base import QueryDetector, register_query_detector

__all__ = ["SHE", "penultimate"]


@torch.no_grad()
def penultimate(model: TorchClassifier, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(features (N,D), logits (N,K)) of a batch in [0,1]: the input of the model's final ``classifier``
    layer (every architecture of :mod:`modelprint.models.archs` applies it last), read by a forward hook,
    so the logits are exactly the model's."""
    head = getattr(model.module, "classifier", None)
    if not isinstance(head, torch.nn.Module):
        raise ValueError(f"{model!r} has no `classifier` layer to read penultimate features from")
    seen: list[torch.Tensor] = []
    hook = head.register_forward_hook(lambda _m, inputs, _o: seen.append(inputs[0].flatten(1).float().cpu()))
    try:
        logits = model(x)
    finally:
        hook.remove()
    feats = torch.cat(seen) if seen else torch.empty(0, 0)
    return feats, logits


@register_query_detector
@dataclass(eq=False)
class SHE(QueryDetector):
    """SHE energy: E(x) = ⟨φ(x), S_ŷ⟩ with φ the penultimate feature, ŷ the prediction and S_c the mean
    feature of the clean training images correctly classified as c; low energy = OOD, so the score is −E.

    Training-free; classes with no correctly classified image keep S_c = 0 (energy 0). Flagged with the
    MFUE clean-score threshold (docs/query-detectors.md#protocol)."""

    name: ClassVar[str] = "she"
    model_: TorchClassifier | None = field(default=None, init=False, repr=False)
    patterns_: torch.Tensor = field(default_factory=lambda: torch.empty(0), init=False, repr=False)

    def _fit(self, model: TorchClassifier, train: Dataset, gen: torch.Generator) -> None:
        feats, logits = penultimate(model, train.images)
        pred = logits.argmax(1)
        correct = pred == train.labels
        patterns = torch.zeros(model.num_classes, feats.shape[1])
        for c in range(model.num_classes):
            chosen = correct & (pred == c)
            if chosen.any():
                patterns[c] = feats[chosen].mean(0)
        self.model_, self.patterns_ = model, patterns

    def energy(self, x: torch.Tensor) -> torch.Tensor:
        """E(x) (N,): the stored pattern of the predicted class dotted with the query's feature."""
        if self.model_ is None:
            raise RuntimeError("she: fit the detector first")
        feats, logits = penultimate(self.model_, x)
        return (feats * self.patterns_[logits.argmax(1)]).sum(1)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        return -self.energy(x)
