"""Classifier protocol (black-box) and TorchClassifier (white-box: device, normalisation, batching)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from modelprint.types import Output


@runtime_checkable
class Classifier(Protocol):
    """Anything images can be sent to: (N,C,H,W) in [0,1] -> (N,K) scores, (N,k) top-k or (N,) labels.
    It declares the (C,H,W) it takes and how many images it has been sent (``queries_spent``), so a
    verification reads both from any suspect, local or remote, wrapped or not."""

    num_classes: int
    output: Output
    input_shape: tuple[int, ...]

    @property
    def queries_spent(self) -> int: ...

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...


class Wrapping:
    """Mixin of a classifier that wraps ``self.model``: it takes the wrapped model's inputs and reports the
    images the wrapped model was sent."""

    model: Classifier

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.model.input_shape)

    @property
    def queries_spent(self) -> int:
        """Images the wrapped model was sent."""
        return int(self.model.queries_spent)


INFERENCE_BATCH = 128
"""Images per no-grad forward call. Larger batches make activation tensors above glibc's 32 MiB mmap
ceiling (512 28×28 images through cnn-m: 51 MB per conv output), which are mapped and unmapped on every call;
the page faults cost about a third of Zest's verification time as system time (``bench/key_costs.py``
prints it). At 128 the same outputs come back bit for bit with no faults."""


class TorchClassifier:
    """A white-box model. Owns the device, the input normalisation and batching, so algorithms take and
    return CPU tensors in [0,1]. ``__call__`` returns logits; ``forward`` keeps the autograd graph.

    The module's 4-D weights are stored channels-last (NHWC): oneDNN's convolutions then run in that layout
    end to end, with faster forward passes and training steps on these CNNs at one thread
    (``bench/channels_last.py`` measures it). Values are the same; saved files and digests are layout-free
    (``contiguous()``), though sums inside a convolution may round differently from the NCHW kernels."""

    output: Output = "logits"

    arch_name: str | None = None
    """The architecture the model was built as, when it came from a zoo card."""
    arch_kwargs: dict[str, object] | None = None
    """A user class's constructor arguments, when it came from a zoo card (None: built-in or defaults)."""

    def __init__(
        self,
        module: nn.Module,
        *,
        num_classes: int,
        input_shape: Sequence[int],
        mean: Sequence[float] | None = None,
        std: Sequence[float] | None = None,
        device: str | torch.device = "cpu",
        batch_size: int = INFERENCE_BATCH,
        name: str = "",
    ) -> None:
        self.module = module.to(device).eval()
        if len(tuple(input_shape)) == 3:
            self.module.to(memory_format=torch.channels_last)
        self.num_classes = int(num_classes)
        self.input_shape = tuple(int(s) for s in input_shape)
        if len(self.input_shape) != 3:
            raise ValueError(f"input_shape must be (C,H,W), got {self.input_shape}")
        channels = self.input_shape[0]
        self.mean = tuple(float(m) for m in (mean if mean is not None else [0.0] * channels))
        self.std = tuple(float(s) for s in (std if std is not None else [1.0] * channels))
        if len(self.mean) != channels or len(self.std) != channels:
            raise ValueError("mean/std must have one entry per input channel")
        self.device = torch.device(device)
        self.batch_size = int(batch_size)
        self.name = name
        self.queries_spent = 0
        """Images sent through ``__call__`` (the black-box queries; ``forward`` is white-box use)."""
        self._mean_t = torch.tensor(self.mean, device=self.device).view(1, -1, 1, 1)
        self._std_t = torch.tensor(self.std, device=self.device).view(1, -1, 1, 1)

    def __repr__(self) -> str:
        return f"TorchClassifier({self.name or type(self.module).__name__}, classes={self.num_classes})"

    def check_inputs(self, x: torch.Tensor) -> None:
        """Clear error on a wrong shape instead of a cryptic one deep inside a conv layer."""
        if x.ndim != 4 or tuple(x.shape[1:]) != self.input_shape:
            raise ValueError(
                f"{self!r} expects inputs of shape (N,{','.join(map(str, self.input_shape))}), "
                f"got {tuple(x.shape)}"
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Differentiable logits for a batch on the model's device (no batching, graph kept)."""
        x = x.to(self.device)
        return self.module((x - self._mean_t) / self._std_t)

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N,K) on the CPU, computed in batches without gradients."""
        self.check_inputs(x)
        self.module.eval()
        self.queries_spent += int(x.shape[0])
        outs = [
            self.forward(x[i : i + self.batch_size]).float().cpu() for i in range(0, len(x), self.batch_size)
        ]
        if not outs:
            return torch.empty(0, self.num_classes)
        return torch.cat(outs)

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Hard labels (N,)."""
        return self(x).argmax(dim=1)

    def probs(self, x: torch.Tensor) -> torch.Tensor:
        return self(x).softmax(dim=1)

    def accuracy(self, images: torch.Tensor, labels: torch.Tensor) -> float:
        if len(labels) == 0:
            return float("nan")
        return float((self.predict(images) == labels).float().mean())
