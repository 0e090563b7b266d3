"""Answers shared across schemes: a suspect answers each distinct query batch once per run.

Representations that read the same queries (every combination built on one sampler, or a scheme evaluated
at several detectors) then reuse the stored answer instead of querying again (QuRD: Q, R and D are separate
stages, so one query set serves many representations and detectors)."""

from __future__ import annotations

import hashlib

import torch

from modelprint.models.base import Classifier, Wrapping
from modelprint.types import Output


def batch_digest(x: torch.Tensor) -> str:
    """Content hash of a query batch (shape, dtype and bytes)."""
    h = hashlib.sha1(str((tuple(x.shape), str(x.dtype))).encode())
    h.update(x.detach().contiguous().cpu().numpy().tobytes())
    return h.hexdigest()


class SharedAnswers(Wrapping):
    """Wraps a classifier; memoises its output per distinct input batch and counts images really sent."""

    def __init__(self, model: Classifier) -> None:
        self.model = model
        self.num_classes = model.num_classes
        self.output: Output = model.output
        self.sent = 0
        self.hits = 0
        self._answers: dict[str, torch.Tensor] = {}

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        key = batch_digest(x)
        if key in self._answers:
            self.hits += int(x.shape[0])
        else:
            self._answers[key] = self.model(x)
            self.sent += int(x.shape[0])
        return self._answers[key].clone()

    def __repr__(self) -> str:
        return f"SharedAnswers({self.model!r}, sent={self.sent}, reused={self.hits})"
