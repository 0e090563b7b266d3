"""Adversarial samplers (QuRD Eq. 4): PGD/FGSM, DeepFool, ModelDiff pairs and a universal perturbation.

Each perturbs seeds drawn from the pool it is given (any :mod:`~modelprint.queries.seeds` set). With
``pairs=True`` the queries are QuRD's S = (S_seed, S_adv): the seeds, then their perturbed copies, paired
i ↔ i + m in ``extras["pair_index"]``; an odd budget is rounded down to an even number of queries."""

from __future__ import annotations

from typing import Literal

import torch

from modelprint.data import Dataset
from modelprint.models.base import TorchClassifier
from modelprint.ops.adversarial import fgsm, pgd
from modelprint.ops.convergence import StopRule
from modelprint.ops.deepfool import deepfool
from modelprint.ops.scaling import scaled_linf
from modelprint.ops.threads import intra_op_threads
from modelprint.ops.uap import universal_perturbation
from modelprint.pools import Pool
from modelprint.queries.base import QuerySampler
from modelprint.queries.common import QueryStructure, draw_indices, pair_index
from modelprint.types import Queries


def _assemble(
    seeds: torch.Tensor,
    adversarial: torch.Tensor,
    labels: torch.Tensor,
    index: torch.Tensor,
    pairs: bool,
    extras: dict[str, torch.Tensor],
) -> Queries:
    if not pairs:
        return Queries(adversarial, labels, {"index": index, **extras})
    m = len(seeds)
    return Queries(
        torch.cat([seeds, adversarial]),
        torch.cat([labels, labels]),
        {"index": index, "pair_index": pair_index(m), **extras},
    )


class _PerturbedSeeds(QuerySampler):
    """Samplers that perturb drawn seeds: the perturbed points alone, or (``pairs``) each seed followed
    by its perturbed version, so a budget of n asks n//2 seeds."""

    pairs: bool

    @property
    def structure(self) -> QueryStructure:
        return "pairs" if self.pairs else "points"

    def draw_seeds(
        self, data: Dataset, budget: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(indices, images, labels) of the seeds for ``budget`` queries."""
        idx = draw_indices(len(data), budget // 2 if self.pairs else budget, generator=generator)
        return idx, data.images[idx].clone(), data.labels[idx].clone()


class AdversarialQueries(_PerturbedSeeds):
    """ℓ∞ PGD (Madry et al. 2018) or FGSM (Goodfellow et al. 2015) examples of the victim around seeds.

    Untargeted attacks push away from the victim's own prediction; targeted ones toward a class drawn
    uniformly among the others (recorded in ``extras["target"]``). Labels are the seeds' labels."""

    def __init__(
        self,
        *,
        method: Literal["pgd", "fgsm"] = "pgd",
        eps: float = 8 / 255,
        steps: int = 10,
        step_size: float | None = None,
        targeted: bool = False,
        random_start: bool = True,
        pairs: bool = False,
    ) -> None:
        if method not in ("pgd", "fgsm"):
            raise ValueError(f"method must be 'pgd' or 'fgsm', got {method!r}")
        self.method = method
        self.eps = eps
        self.steps = steps
        self.step_size = step_size
        self.targeted = targeted
        self.random_start = random_start
        self.pairs = pairs

    def step_size_for(self, eps: float) -> float | None:
        """The PGD step at budget ``eps`` (``step_size``; None: pgd's 2.5·ε/steps)."""
        return self.step_size

    def sample(
        self,
        victim: TorchClassifier,
        data: Dataset,
        budget: int,
        *,
        generator: torch.Generator,
        pool: Pool | None = None,
    ) -> Queries:
        idx, x, labels = self.draw_seeds(data, budget, generator)
        eps = self.radius(victim, data)
        predicted = victim.predict(x)
        extras: dict[str, torch.Tensor] = {}
        if self.targeted:
            shift = torch.randint(1, victim.num_classes, (len(x),), generator=generator)
            goal = (predicted + shift) % victim.num_classes
            extras["target"] = goal
        else:
            goal = predicted
        with intra_op_threads():  # latency-bound step loop, see modelprint.ops.threads
            adv = self._attack(victim, x, goal, generator, eps)
        if eps != self.eps:
            extras["eps"] = torch.tensor([eps])
        return _assemble(x, adv, labels, idx, self.pairs, extras)

    def radius(self, victim: TorchClassifier, data: Dataset) -> float:
        """The ℓ∞ budget of one key (``eps``; subclasses may scale it to the data)."""
        return self.eps

    def _attack(
        self,
        victim: TorchClassifier,
        x: torch.Tensor,
        goal: torch.Tensor,
        generator: torch.Generator,
        eps: float,
    ) -> torch.Tensor:
        if self.method == "fgsm":
            return fgsm(victim, x, goal, eps=eps, targeted=self.targeted)
        return pgd(
            victim,
            x,
            goal,
            eps=eps,
            steps=self.steps,
            step_size=self.step_size_for(eps),
            targeted=self.targeted,
            random_start=self.random_start,
            generator=generator,
        )


MODELDIFF_EPS = 0.03
"""ModelDiff's ℓ∞ budget on CIFAR (QuRD's code)."""


class ModelDiffQueries(AdversarialQueries):
    """ModelDiff's input pairs as QuRD builds them (Li et al., ISSTA'21; docs/modeldiff.md#queries): s/2 seeds
    and one untargeted ℓ∞ PGD example each, foolbox LinfPGD defaults (40 steps of 0.01/0.3·ε, random start),
    attacked label = the victim's prediction. ``eps=None`` (default): ε = 0.03 on CIFAR and max(0.03, the
    victim's median minimal ℓ∞ distance) elsewhere (:func:`~modelprint.ops.scaling.scaled_linf`; at 0.03 PGD
    flips about 10 % of digit seeds), recorded in ``extras["eps"]``; a number fixes ε."""

    def __init__(self, *, eps: float | None = None, steps: int = 40, rel_step: float = 0.01 / 0.3) -> None:
        self.fixed = eps
        self.rel_step = rel_step
        first = MODELDIFF_EPS if eps is None else eps
        super().__init__(method="pgd", eps=first, steps=steps, step_size=rel_step * first, pairs=True)

    def radius(self, victim: TorchClassifier, data: Dataset) -> float:
        return self.eps if self.fixed is not None else scaled_linf(MODELDIFF_EPS, victim, data)

    def step_size_for(self, eps: float) -> float:
        return self.rel_step * eps


class DeepFoolQueries(_PerturbedSeeds):
    """DeepFool examples of the victim (Moosavi-Dezfooli et al., CVPR'16; QuRD lists DeepFoolF under
    adversarial sampling), with ``overshoot``; ``extras["fooled"]`` marks those that changed label."""

    def __init__(self, *, overshoot: float = 0.02, max_iter: int = 50, pairs: bool = False) -> None:
        self.overshoot = overshoot
        self.max_iter = max_iter
        self.pairs = pairs

    def sample(
        self,
        victim: TorchClassifier,
        data: Dataset,
        budget: int,
        *,
        generator: torch.Generator,
        pool: Pool | None = None,
    ) -> Queries:
        idx, x, labels = self.draw_seeds(data, budget, generator)
        result = deepfool(victim, x, overshoot=self.overshoot, max_iter=self.max_iter)
        extras = {"fooled": result.fooled.to(torch.uint8), "iterations": result.iterations}
        return _assemble(x, result.adversarial, labels, idx, self.pairs, extras)


def spread_indices(predicted: torch.Tensor, m: int, *, generator: torch.Generator) -> torch.Tensor:
    """``m`` indices spread over the victim's predicted classes: round-robin over classes, random order
    within each (stands in for UAP's clustering of victim features, docs/uap.md#algorithm [R])."""
    order = torch.randperm(len(predicted), generator=generator)
    by_class = [order[predicted[order] == c] for c in torch.unique(predicted).tolist()]
    picked: list[int] = []
    depth = 0
    while len(picked) < min(m, len(predicted)):
        for members in by_class:
            if depth < len(members) and len(picked) < m:
                picked.append(int(members[depth]))
        depth += 1
    chosen = torch.tensor(picked, dtype=torch.long)
    if len(chosen) < m:  # pool smaller than m: cycle
        chosen = chosen[draw_indices(len(chosen), m, generator=generator)]
    return chosen


UAP_STOP_TOL = 1e-2
"""Relative tolerance of the UAP pass stop rule (our default; the paper runs passes up to its cap)."""
UAP_STOP_WINDOW = 3
"""Passes over which the best fooling rate must improve by more than :data:`UAP_STOP_TOL` for the fit to go on
(our default; 0 switches the rule off)."""


class UAPQueries(QuerySampler):
    """Pairs (x_i, x_i + v) for a universal adversarial perturbation v of the victim (Peng et al., CVPR'22;
    docs/uap.md#algorithm): v is fitted with :func:`~modelprint.ops.uap.universal_perturbation` on
    ``fit_points`` seeds (ξ = 10/255, target fooling rate 0.8, ≤ 10 passes), then m = budget/2 points spread
    across the victim's predicted classes are queried clean and perturbed. v is stored in ``extras["uap"]``.

    Stop rule (our defaults :data:`UAP_STOP_TOL`, :data:`UAP_STOP_WINDOW`; :mod:`modelprint.ops.convergence`):
    ``max_passes`` is the cap; after every pass the fooling rate on the fitting seeds (which the pass computes
    anyway) is checked, and the fit ends once the best rate has improved by at most ``stop_tol`` (relative)
    over the last ``stop_window`` passes (tol 1e-2 over 3 passes by default; ``stop_window=0``: every pass
    up to the target rate, as before the rule). Extras ``fooling_rate`` and ``passes_run``."""

    structure: QueryStructure = "pairs"

    def __init__(
        self,
        *,
        eps: float = 10 / 255,
        target_fooling: float = 0.8,
        max_passes: int = 10,
        fit_points: int = 100,
        batch_size: int = 16,
        overshoot: float = 0.02,
        max_iter: int = 10,
        stop_tol: float = UAP_STOP_TOL,
        stop_window: int = UAP_STOP_WINDOW,
    ) -> None:
        StopRule(stop_tol, stop_window)  # validates both
        self.eps = eps
        self.target_fooling = target_fooling
        self.max_passes = max_passes
        self.fit_points = fit_points
        self.batch_size = batch_size
        self.overshoot = overshoot
        self.max_iter = max_iter
        self.stop_tol, self.stop_window = stop_tol, stop_window

    def sample(
        self,
        victim: TorchClassifier,
        data: Dataset,
        budget: int,
        *,
        generator: torch.Generator,
        pool: Pool | None = None,
    ) -> Queries:
        fit = draw_indices(len(data), min(self.fit_points, len(data)), generator=generator)
        result = universal_perturbation(
            victim,
            data.images[fit],
            eps=self.eps,
            target_fooling=self.target_fooling,
            max_passes=self.max_passes,
            overshoot=self.overshoot,
            max_iter=self.max_iter,
            batch_size=self.batch_size,
            generator=generator,
            stop=StopRule(self.stop_tol, self.stop_window),
        )
        m = budget // 2
        idx = spread_indices(victim.predict(data.images), m, generator=generator)
        x, labels = data.images[idx].clone(), data.labels[idx].clone()
        v = result.perturbation
        extras = {
            "uap": v[None],
            "fooling_rate": torch.tensor([result.fooling_rate]),
            "passes_run": torch.tensor([result.passes]),
        }
        return _assemble(x, (x + v).clamp(0, 1), labels, idx, True, extras)
