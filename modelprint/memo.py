"""In-process memoisation of expensive, pure steps, keyed on exactly their inputs.

Several steps of query generation are deterministic functions of settings, weights, data and the random
generator's state: MFUE's trigger optimisation, AnaFP's DeepFool geometry, the fits of query detectors.
Runs that repeat them with the same inputs (MFUE-w and MFUE-b of one seed, AnaFP at several fixed λ for
its ablation, one detector guarding every suspect of a preset) recall the result instead, and leave the
generator in the state a fresh computation would have left it in, so the outcome is bit-identical."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

import torch

from modelprint.data import Dataset
from modelprint.models.base import TorchClassifier

T = TypeVar("T")


def tensor_digest(tensors: Iterable[torch.Tensor]) -> str:
    """SHA-256 over the tensors' dtypes, shapes and bytes."""
    h = hashlib.sha256()
    for t in tensors:
        t = t.detach().cpu().contiguous()
        h.update(f"{t.dtype}{tuple(t.shape)}".encode())
        h.update(t.view(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def model_digest(model: TorchClassifier) -> str:
    """SHA-256 of a white-box model's parameter and buffer names and values, its normalisation, input shape
    and class count."""
    h = hashlib.sha256(repr((model.input_shape, model.mean, model.std, model.num_classes)).encode())
    state = model.module.state_dict()
    h.update(repr(list(state)).encode())
    h.update(tensor_digest(state.values()).encode())
    return h.hexdigest()


def data_digest(data: Dataset) -> str:
    """SHA-256 of a dataset's name, images and labels."""
    return hashlib.sha256((data.name + tensor_digest([data.images, data.labels])).encode()).hexdigest()


def generator_state(generator: torch.Generator | None) -> bytes:
    """The generator's state as bytes (empty for none), for memo tokens."""
    return b"" if generator is None else generator.get_state().numpy().tobytes()


class Memo(Generic[T]):
    """The last ``size`` results of one step, least recently used dropped first.

    :meth:`recall` takes a token that must determine the result (include :func:`generator_state` when the
    step draws random numbers) and restores the generator to its post-computation state on a hit."""

    def __init__(self, size: int) -> None:
        if size < 1:
            raise ValueError(f"memo size must be positive, got {size}")
        self.size = size
        self._entries: OrderedDict[Hashable, tuple[T, torch.Tensor | None]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, token: Hashable) -> bool:
        return token in self._entries

    def clear(self) -> None:
        self._entries.clear()

    def recall(
        self, token: Hashable, compute: Callable[[], T], generator: torch.Generator | None = None
    ) -> T:
        """``compute()`` once per token; a hit returns the stored value and the generator's stored state."""
        if token in self._entries:
            self._entries.move_to_end(token)
            value, state = self._entries[token]
            if generator is not None and state is not None:
                generator.set_state(state.clone())
            return value
        value = compute()
        self._entries[token] = (value, None if generator is None else generator.get_state().clone())
        while len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return value


__all__ = ["Memo", "data_digest", "generator_state", "model_digest", "tensor_digest"]
