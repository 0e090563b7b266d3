"""IPGuard's boundary queries (Cao, Jia, Gong, AsiaCCS'21), with QuRD's version fixed as
docs/ipguard.md#deviations describes."""

from __future__ import annotations

import logging
import math
from typing import Literal

import torch

from modelprint.data import Dataset
from modelprint.models.base import TorchClassifier
from modelprint.ops.boundary import boundary_search
from modelprint.ops.convergence import StopRule
from modelprint.pools import Pool
from modelprint.queries.base import QuerySampler
from modelprint.queries.common import QueryStructure, draw_indices
from modelprint.types import Queries

log = logging.getLogger(__name__)

STOP_TOL = 1e-2
"""Relative tolerance of the per-point stop rule (our default; without it a point runs to loss 0 or the
cap)."""
STOP_WINDOW = 20
"""Adam steps over which a point's best loss must improve by more than :data:`STOP_TOL` for it to go on
(our default; 0 switches the rule off)."""


class BoundaryQueries(QuerySampler):
    """Points just across the victim's boundary between its label i and a target j.

    Per start x₀ (label i = argmax g(x₀)), j ~ U(classes \\ {i}) (QuRD may draw j = i: fixed), then Adam
    (lr 0.01) minimises ReLU(g_i − g_j + k) + ReLU(max_{t≠i,j} g_t − g_i), max masked with −∞ (QuRD masks
    with 0: fixed), until the loss is 0 or ``max_iter`` steps (QuRD stops at argmax = j, ignoring k; our
    default [D] is followed). Only points the victim labels j are kept. Starts are seeds
    (``init="data"``) or U(0,1) noise (``init="uniform_noise"``); when too few succeed, further rounds draw
    new starts and targets, at most ``max_rounds``. Labels are the starts' labels (the victim's prediction
    for noise); extras hold i (``source_label``), j (``target``), the final ``loss`` and ``iterations``.

    ``until="label"`` is QuRD's stopping (each point stops at the first step the victim labels it j,
    whatever its margin), registered as ``ipguard-qurd``. Stop rule (our defaults :data:`STOP_TOL`,
    :data:`STOP_WINDOW`): a point whose best loss improved by at most ``stop_tol`` (relative) over the last
    ``stop_window`` steps stops there (``max_iter`` is the cap; ``stop_window=0``: the loss-0 rule only)."""

    structure: QueryStructure = "points"

    def __init__(
        self,
        *,
        k: float = 10.0,
        lr: float = 0.01,
        max_iter: int = 1000,
        init: Literal["data", "uniform_noise"] = "data",
        max_rounds: int = 5,
        oversample: float = 1.25,
        until: Literal["loss", "label"] = "loss",
        stop_tol: float = STOP_TOL,
        stop_window: int = STOP_WINDOW,
    ) -> None:
        if init not in ("data", "uniform_noise"):
            raise ValueError(f"init must be 'data' or 'uniform_noise', got {init!r}")
        if until not in ("loss", "label"):
            raise ValueError(f"until must be 'loss' or 'label', got {until!r}")
        self.until = until
        self.stop = StopRule(stop_tol, stop_window)
        self.k = k
        self.lr = lr
        self.max_iter = max_iter
        self.init = init
        self.max_rounds = max_rounds
        self.oversample = oversample

    def _starts(
        self, victim: TorchClassifier, data: Dataset, n: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.init == "uniform_noise":
            x = torch.rand((n, *data.input_shape), generator=generator)
            return x, victim.predict(x), torch.full((n,), -1, dtype=torch.long)
        idx = draw_indices(len(data), n, generator=generator)
        return data.images[idx].clone(), data.labels[idx].clone(), idx

    def sample(
        self,
        victim: TorchClassifier,
        data: Dataset,
        budget: int,
        *,
        generator: torch.Generator,
        pool: Pool | None = None,
    ) -> Queries:
        if victim.num_classes < 3:
            raise ValueError("IPGuard needs at least three classes")
        parts: dict[str, list[torch.Tensor]] = {
            k: [] for k in ("inputs", "labels", "index", "source_label", "target", "loss", "iterations")
        }
        found = 0
        for _ in range(self.max_rounds):
            need = budget - found
            if need <= 0:
                break
            n = math.ceil(need * self.oversample)
            x, labels, idx = self._starts(victim, data, n, generator)
            source = victim.predict(x)
            target = (source + torch.randint(1, victim.num_classes, (n,), generator=generator)) % (
                victim.num_classes
            )
            res = boundary_search(
                victim, x, source, target, k=self.k, lr=self.lr, max_iter=self.max_iter,
                until=self.until, stop=self.stop, keep=need,
            )  # fmt: skip
            ok = (victim.predict(res.points) == target).nonzero().flatten()[:need]
            for key, value in (
                ("inputs", res.points),
                ("labels", labels),
                ("index", idx),
                ("source_label", source),
                ("target", target),
                ("loss", res.loss),
                ("iterations", res.iterations),
            ):
                parts[key].append(value[ok])
            found += len(ok)
        if found < budget:
            log.warning("IPGuard: only %d of %d boundary points succeeded", found, budget)
        cat = {k: torch.cat(v) for k, v in parts.items()}
        extras = {k: cat[k] for k in ("index", "source_label", "target", "loss", "iterations")}
        return Queries(cat["inputs"], cat["labels"], extras)
