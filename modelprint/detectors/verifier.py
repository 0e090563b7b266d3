"""MetaV's learned meta-verifier as a detector (Pan et al. KDD'22; docs/metav.md#verification): score
= V(concat softmax)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from modelprint.detectors.base import Detector


class MetaVerifier(Detector):
    """score = σ(V(suspect's probability vectors, flattened)) ∈ (0,1); ≥ 0.5 reads "pirated" [P].
    V is rebuilt from the key (:meth:`bind`): an unbound detector refuses to score."""

    def __init__(self, prefix: str = "metav.", verifier: nn.Module | None = None) -> None:
        self.prefix = prefix
        self._verifier = verifier

    def __repr__(self) -> str:
        return f"MetaVerifier(prefix={self.prefix!r})"

    def bind(self, key_tensors: Mapping[str, torch.Tensor]) -> Detector:
        state = {k.removeprefix(self.prefix): v for k, v in key_tensors.items() if k.startswith(self.prefix)}
        if not state:
            raise ValueError(f"the key carries no verifier weights ({self.prefix}*): was it made by MetaV?")
        weights = sorted(k for k in state if k.endswith(".weight"))
        layers: list[nn.Module] = []
        for i, name in enumerate(weights):
            out_f, in_f = state[name].shape
            layers.append(nn.Linear(in_f, out_f))
            if i < len(weights) - 1:
                layers.append(nn.ReLU())
        verifier = nn.Sequential(*layers)
        verifier.load_state_dict(state)  # layer indices 0, 2, 4, ... match the trained Sequential's
        return MetaVerifier(self.prefix, verifier.eval())

    @torch.no_grad()
    def score(self, reference: torch.Tensor, suspect: torch.Tensor) -> float:
        if self._verifier is None:
            raise ValueError("MetaVerifier needs the key's verifier: call bind(key.queries.extras) first")
        return float(torch.sigmoid(self._verifier(suspect.float().flatten().unsqueeze(0))).item())
