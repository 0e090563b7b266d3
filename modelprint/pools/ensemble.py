"""One forward (and backward) over every member of a pool (spec §6–9: CAE, MetaFinger, MetaV).

Reference implementation: a loop over members. Members that share an architecture are meant to run as
one batched call (``torch.func.stack_module_state`` + ``functional_call`` + ``vmap``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from modelprint.models.base import TorchClassifier


class PoolEnsemble:
    """``logits(x)`` → (P, N, K): every member's differentiable logits on the same batch ``x`` in [0,1]."""

    def __init__(self, models: Sequence[TorchClassifier]) -> None:
        if not models:
            raise ValueError("an ensemble needs at least one model")
        classes = {m.num_classes for m in models}
        shapes = {m.input_shape for m in models}
        if len(classes) != 1 or len(shapes) != 1:
            raise ValueError(f"pool members disagree on classes {classes} or input shapes {shapes}")
        self.models = tuple(models)
        self.num_classes = classes.pop()
        self.input_shape = shapes.pop()

    def __len__(self) -> int:
        return len(self.models)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(P, N, K) logits, differentiable with respect to ``x`` (members in eval mode)."""
        return torch.stack([m.forward(x) for m in self.models])

    def probs(self, x: torch.Tensor) -> torch.Tensor:
        """(P, N, K) softmax outputs."""
        return self.logits(x).softmax(dim=-1)

    @torch.no_grad()
    def labels(self, x: torch.Tensor) -> torch.Tensor:
        """(P, N) top-1 labels."""
        return self.logits(x).argmax(dim=-1)
