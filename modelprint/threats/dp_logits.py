"""DP-Logits output defence (Rahimian, Orekondy, Fritz; docs/threats.md#output-defences), the adaptive attack
of MFUE's §6 [P]: the suspect's API adds i.i.d. noise to every logit before answering."""

from __future__ import annotations

from typing import Literal

import torch

from modelprint.models.base import Classifier, Wrapping
from modelprint.types import Output

Mechanism = Literal["laplace", "gaussian"]
MECHANISMS: tuple[Mechanism, ...] = ("laplace", "gaussian")


class DPLogits(Wrapping):
    """Wraps a classifier giving logits or probabilities; answers at the same level (``output``).

    Logits: z̃ = z + η, returned as logits (a :class:`~modelprint.models.access.Suspect` then gives
    softmax(z̃) at probability access and argmax z̃ at label access). Probabilities only: the noise
    goes on the log-probabilities (logits up to a per-row constant, which softmax ignores) and softmax(log
    p + η) is returned. η ~ Laplace(0, b = σ) per logit [R] (``mechanism="gaussian"``: N(0, σ²)). Noise is
    fresh per query (never cached) and drawn from a generator seeded by ``seed``, so the same sequence of
    calls gives the same answers; :meth:`reset` restarts the stream. σ = 0 returns the model's answers
    unchanged. Models answering labels or top-k lists are refused: they have no logits to perturb."""

    def __init__(
        self, model: Classifier, sigma: float, mechanism: Mechanism = "laplace", seed: int = 0
    ) -> None:
        if sigma < 0:
            raise ValueError(f"DP-Logits: sigma must be non-negative, got {sigma}")
        if mechanism not in MECHANISMS:
            raise ValueError(f"DP-Logits: unknown mechanism {mechanism!r}; expected one of {MECHANISMS}")
        if model.output not in ("logits", "probs"):
            raise ValueError(f"DP-Logits needs logits or probs; the model gives {model.output!r}")
        self.model = model
        self.sigma = float(sigma)
        self.mechanism: Mechanism = mechanism
        self.seed = int(seed)
        self.num_classes = model.num_classes
        self.output: Output = model.output
        self._gen = torch.Generator().manual_seed(self.seed)

    def __repr__(self) -> str:
        return f"DPLogits({self.model!r}, sigma={self.sigma}, mechanism={self.mechanism!r}, seed={self.seed})"

    def reset(self) -> None:
        """Restart the noise stream from ``seed``."""
        self._gen = torch.Generator().manual_seed(self.seed)

    def noise(self, shape: torch.Size) -> torch.Tensor:
        """One draw of η with the given shape (float32)."""
        if self.mechanism == "gaussian":
            return self.sigma * torch.randn(shape, generator=self._gen)
        e = torch.empty((2, *shape)).exponential_(generator=self._gen)  # Laplace(0,b) = b·(E₁ − E₂)
        return self.sigma * (e[0] - e[1])

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(x)
        if self.sigma == 0:
            return out
        if self.output == "logits":
            return out + self.noise(out.shape).to(out)
        logp = out.double().clamp_min(torch.finfo(torch.float64).tiny).log()
        return (logp + self.noise(out.shape).double()).softmax(dim=1).to(out.dtype)
