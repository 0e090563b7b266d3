"""Post-training weight quantisation (ModelReuse) and half precision (FBI), simulated in float32
(docs/attacks.md#modification-attacks).

The store keeps float32 weights, so both attacks write back the *dequantised* values: the model computes
exactly what the low-precision weights would, but activations stay float32. Deviations from the sources:
ModelReuse runs ``torch.quantization.quantize_dynamic`` on Linear layers only (per-tensor qint8 weights,
activations quantised on the fly) [C]; here the weights of every conv + linear layer are quantised per
output channel by default (``layers=linear`` restricts it to Linear layers), and activations are not
quantised. FBI casts the model *and its inputs* to fp16 [C]; here only the weights and buffers are rounded
to fp16, inputs and arithmetic stay float32 (8-bit images in [0,1] are exact in fp16 up to 2^-11)."""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from modelprint.attacks.base import ATTACKS, AttackContext, Built, Modification
from modelprint.attacks.common import weight_layers
from modelprint.attacks.training import to_int
from modelprint.models.base import TorchClassifier

LAYERS: dict[str, tuple[type[nn.Module], ...]] = {"all": (nn.Conv2d, nn.Linear), "linear": (nn.Linear,)}


def quant_step(weight: torch.Tensor, bits: int) -> torch.Tensor:
    """Per-output-channel step of a symmetric uniform quantiser: max|W_c| / (2^(bits-1) - 1), shape (C,)."""
    qmax = 2 ** (bits - 1) - 1
    return weight.detach().flatten(1).abs().amax(dim=1) / qmax


@torch.no_grad()
def quantize_weight(weight: torch.Tensor, bits: int) -> torch.Tensor:
    """``weight`` rounded to its per-output-channel grid (dequantised); all-zero channels stay zero."""
    qmax = 2 ** (bits - 1) - 1
    step = quant_step(weight, bits)
    shape = (-1,) + (1,) * (weight.ndim - 1)
    safe = torch.where(step > 0, step, torch.ones_like(step)).view(shape)
    q = (weight / safe).round().clamp(-qmax, qmax) * safe
    return torch.where(step.view(shape) > 0, q, weight)


@ATTACKS.register("quantize")
class Quantize(Modification):
    """``quantize(bits, layers=all)``: symmetric uniform post-training quantisation of conv + linear weights
    per output channel, ``bits`` in 2..16 (8 = int8, the ModelReuse qint8 variant [C]); biases stay float.
    Every weight moves by at most half a step; ``config["max_abs_change"]`` records the largest change.
    Expected: 8 bits keep accuracy within 0.01 of the source; 2 bits degrade it (0.39 on digits)."""

    example: ClassVar[str] = "quantize(8)"

    positional = ("bits",)

    def __init__(self, bits: str | int, *, layers: str = "all") -> None:
        self.bits = to_int(bits, "bits")
        if not 2 <= self.bits <= 16:
            raise ValueError(f"quantize: bits must be an integer in 2..16, got {self.bits}")
        if layers not in LAYERS:
            raise ValueError(f"quantize: layers must be one of {tuple(LAYERS)}, got {layers!r}")
        self.layers = layers

    def apply(
        self, parent: TorchClassifier | None, parent_arch: str | None, ctx: AttackContext, *, seed: int
    ) -> Built:
        assert parent is not None and parent_arch is not None
        change = 0.0
        with torch.no_grad():
            for layer in weight_layers(parent.module, LAYERS[self.layers]):
                q = quantize_weight(layer.weight, self.bits)
                change = max(change, float((q - layer.weight).abs().max()))
                layer.weight.copy_(q)
        config = {"bits": self.bits, "layers": self.layers, "max_abs_change": change}
        return Built(parent.module, parent_arch, config)


@ATTACKS.register("half")
class Half(Modification):
    """``half()``: every floating parameter and buffer (batch-norm statistics included) cast to fp16 and back
    (FBI's half-precision variation [C]); ``config["max_abs_change"]`` records the largest change.
    Expected: accuracy within 0.01 of the source."""

    example: ClassVar[str] = "half()"

    def task_name(self) -> str:
        """Half precision is one of QuRD's quantize variants (ModelReuse float16)."""
        return "quantize"

    def apply(
        self, parent: TorchClassifier | None, parent_arch: str | None, ctx: AttackContext, *, seed: int
    ) -> Built:
        assert parent is not None and parent_arch is not None
        change = 0.0
        with torch.no_grad():
            for t in [*parent.module.parameters(), *parent.module.buffers()]:
                if t.is_floating_point():
                    h = t.half().to(t.dtype)
                    change = max(change, float((h - t).abs().max()) if t.numel() else 0.0)
                    t.copy_(h)
        return Built(parent.module, parent_arch, {"dtype": "float16", "max_abs_change": change})
