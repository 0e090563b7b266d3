"""AnaFP queries (Yang, Geng, Chen, Luo 2026; docs/anafp.md — reconstructed, [R]): DeepFool
points of the victim pushed past its decision boundary and stretched by a factor λ whose admissible
interval comes from a pirated pool (robustness: they must still agree) and an independent pool
(uniqueness: they must disagree), with quantile relaxation and a grid search for the most feasible λ.

The formulas are all in :mod:`modelprint.queries.anafp_bounds`; this module picks seeds, batches them through
the pools and assembles the key. ``fixed_lambda`` turns the scheme into its ablation: the same seeds,
targets and bounds, but every fingerprint stretched by that λ instead of the analytic choice."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Literal

import torch

from modelprint.data import Dataset
from modelprint.memo import Memo, generator_state, model_digest, tensor_digest
from modelprint.models.base import TorchClassifier
from modelprint.ops.convergence import StopRule
from modelprint.ops.deepfool import deepfool
from modelprint.ops.threads import intra_op_threads
from modelprint.pools import Pool, PoolEnsemble, PoolSpec
from modelprint.queries import anafp_bounds as ab
from modelprint.queries.base import PoolSampler
from modelprint.queries.common import QueryStructure
from modelprint.types import Queries

log = logging.getLogger(__name__)

Lipschitz = Literal["ball", "ray"]
"""How the independent models' margin growth is bounded (step 5 of docs/anafp.md#construction): ``ball`` is
the reconstruction's local Lipschitz constant over a ball [D]; ``ray`` the same bound restricted to the
fingerprint's ray."""

Slope = Literal["secant", "probes"]
"""The victim's margin slope κ_f in the robustness bound (step 4 of docs/anafp.md#construction): ``probes`` is
the reconstruction's minimum of the local slope over probe points [D]; ``secant`` the exact mean slope at each
candidate."""

ANAFP_ARCHS: tuple[str, ...] = ("same", "cnn-m", "lenet", "mlp", "resnet8")
"""Architectures of the independent pool: the victim's and four others (the CAE references, so both
schemes share these models in a zoo store)."""

ANAFP_POOL = PoolSpec(
    positives=(
        *(f"finetune({m},data=owner,rep=0)" for m in ("ftll", "ftal", "rtll", "rtal")),
        "prune(0.3,ft=1,data=owner)",
        "prune(0.6,ft=1,data=owner)",
        "noise(3,data=owner)",
        "distill(data=owner)",
        "distill(resnet8,data=owner)",
        "advtrain(4,data=owner)",
    ),
    negatives=ANAFP_ARCHS + ANAFP_ARCHS,
)
"""10 pirated + 10 independent surrogates [D] (docs/anafp.md#pools: the attack families of docs/attacks.md on
the owner's data — fine-tuning in the four modes (shared with MetaFinger's pool), pruning with recovery,
weight noise, distillation into the same and another architecture, adversarial training; independent models of
five architectures, two seeds each, on the owner's data)."""

GRID_COARSE = 20
"""Candidates of the grid search's coarse pass (our default; ``grid_coarse=0``: every candidate, the
exhaustive search of step 6 in docs/anafp.md#construction): 21 of the 500 candidates (stride 25), then passes
of stride 5 and 1 around the best so far (:func:`~modelprint.queries.anafp_bounds.refinement`), 37 candidates
per seed on average. On the tiny zoo (512 seeds, the 10 + 10 default pool and a 4 + 4 one) it chose the
exhaustive grid's λ for 510 of 512 seeds with the small pool (the two others: |Δλ| ≤ 0.08, slack 0.004 lower)
and all 512 with the default pool."""
BATCH_TOL = 0.05
"""Relative tolerance of the seed-batch stop rule (our default; the reconstruction analyses seeds until
``budget`` are admissible or ``max_seeds`` ran out)."""
BATCH_WINDOW = 2
"""Seed batches over which the admissible count must grow by more than :data:`BATCH_TOL` of itself (by at
least one seed while it is 0) for the analysis to go on (our default; 0 switches the rule off)."""

PREFIX = "anafp."
"""Key extras, per fingerprint: ``index`` (seed position in the seed set), ``target`` (t), ``lambda``
(chosen λ), ``lower`` / ``upper`` (admissible interval [smallest robust candidate, λ_upper); ``lower`` is
+∞ when no candidate below λ_upper is robust), ``lower_at`` (λ_lower at the chosen λ), ``distance`` (d),
``slack`` (normalised slack of the chosen λ), ``interval_slack`` (the best slack on the grid: how far an
empty interval is from opening; fillers are ranked by it), ``empty`` (the interval was empty: a
least-infeasible filler), ``inside`` (the chosen λ is feasible), ``evaluated`` (grid candidates evaluated for
the seed, at most ``grid``); scalars ``examined`` (seeds analysed), ``admissible`` (of those, seeds with a
non-empty interval) and ``batches_run`` (seed batches analysed)."""


@dataclass(frozen=True)
class Geometry:
    """Per seed DeepFool moved (N,): ``index``, the seed ``x``, target ``target``, boundary displacement
    ``r`` (N,C,H,W) and λ_upper ``upper``: what steps 1–2 find, before any λ is chosen."""

    index: torch.Tensor
    x: torch.Tensor
    target: torch.Tensor
    r: torch.Tensor
    upper: torch.Tensor


_ANALYTIC: Memo[tuple[Geometry, ab.Choice]] = Memo(64)
"""Recent analytic analyses of seed batches (see :meth:`AnaFPQueries.analyse`): a 256-seed run has 4
batches, so the analytic choice and every fixed λ of a few victims and seeds share them."""


@dataclass(frozen=True)
class Analysis:
    """Per analysed seed (N,): ``index`` in the seed set, ``inputs`` x_f(λ) (N,C,H,W), and the extras."""

    index: torch.Tensor
    inputs: torch.Tensor
    target: torch.Tensor
    distance: torch.Tensor
    upper: torch.Tensor
    choice: ab.Choice

    def extras(self) -> dict[str, torch.Tensor]:
        c = self.choice
        evaluated = torch.zeros(len(c.lam), dtype=torch.long) if c.evaluated is None else c.evaluated
        return {
            "index": self.index,
            "target": self.target,
            "lambda": c.lam,
            "lower": c.interval_lower,
            "upper": self.upper,
            "lower_at": c.lower_at,
            "distance": self.distance,
            "slack": c.slack,
            "interval_slack": c.interval_slack,
            "empty": c.empty,
            "inside": c.feasible,
            "evaluated": evaluated,
        }


class AnaFPQueries(PoolSampler):
    """Stretched DeepFool points with an analytically admissible stretch factor (docs/anafp.md#construction
    [R]).

    Per batch of ``batch_size`` seeds the victim classifies correctly (seeded random order):

    1. ℓ2 DeepFool (``overshoot``, ``max_iter``) gives the target t (the victim's label at the DeepFool
       point, i.e. the class of the nearest linearised boundary) and a direction; bisection on that ray
       gives the boundary displacement r (:func:`~modelprint.queries.anafp_bounds.boundary_displacement`);
       seeds DeepFool cannot move are skipped;
    2. the independent pool gives λ_upper per seed: margins at x and growth rates estimated at
       ``lipschitz_points`` points (``lipschitz``, see :data:`Lipschitz`);
    3. ``grid`` candidates in (1, min(λ_upper, ``lambda_clip``)] are evaluated on the victim and the
       pirated pool, λ_lower(λ) at each (the victim's slope from ``slope``, see :data:`Slope`; ``"probes"``
       uses ``slope_points`` probe stretches), and the most feasible one is chosen (``quantile`` = q);
    4. seeds with a non-empty admissible interval are kept until ``budget`` are found; when the seeds (at
       most ``max_seeds``) run out first, seeds with empty intervals fill the rest, least infeasible first
       (largest ``interval_slack``), flagged ``empty`` (a warning is logged).

    Cost settings [D] (our defaults; see :data:`GRID_COARSE`, :data:`BATCH_TOL`, :data:`BATCH_WINDOW`):
    ``grid_coarse`` candidates are evaluated first and the grid is refined around their choice
    (coarse to fine, ``0``: every candidate); the seed batches stop early once the last ``batch_window``
    batches added at most ``batch_tol`` × the admissible seeds found before them (none while none was
    found; ``batch_window=0``: no early stop). With ``grid_coarse=0, batch_window=0`` the keys are those of
    the exhaustive search.

    ``fixed_lambda`` (the ablation): steps 1–4 run unchanged (same seeds, same bounds in the extras), but
    every fingerprint is x_f(``fixed_lambda``); ``inside`` then says whether that λ was feasible.
    Extras: see :data:`PREFIX`.

    Defaults that depart from the reconstruction (docs/anafp.md#deviations, [D]; ``quantile``: see
    :data:`~modelprint.queries.anafp_bounds.DEFAULT_QUANTILE`; measured on the tiny zoo, 4 + 4 pool, q = 0.9):
    ``lipschitz="ray"`` (the reconstruction's ball gave λ_upper ≤ 1, an empty interval, for 96% of the 356
    seeds, median 0.48, and no admissible seed; the ray 32%, median 1.15: the victim's own bound
    −m_f(x)/(L_f·d) is ≤ 1 by construction, and independent models have similar margin-to-gradient ratios in
    every direction but not along the victim's adversarial one); ``slope="secant"`` (the reconstruction's
    minimum over probe points pins λ just below a probe, where κ_f drops); ``max_seeds=256`` bounds the cost
    (every seed costs ``grid`` × (1 + |P̂|) forward passes)."""

    structure: QueryStructure = "points"

    def __init__(
        self,
        *,
        pool_spec: PoolSpec = ANAFP_POOL,
        quantile: float = ab.DEFAULT_QUANTILE,
        grid: int = ab.DEFAULT_GRID,
        lambda_clip: float = ab.DEFAULT_CLIP,
        fixed_lambda: float | None = None,
        lipschitz: Lipschitz = "ray",
        slope: Slope = "secant",
        slope_points: int = 16,
        lipschitz_points: int = 32,
        overshoot: float = 0.02,
        max_iter: int = 50,
        batch_size: int = 64,
        max_seeds: int | None = 256,
        grid_coarse: int = GRID_COARSE,
        batch_tol: float = BATCH_TOL,
        batch_window: int = BATCH_WINDOW,
    ) -> None:
        if not 0.0 < quantile < 1.0:
            raise ValueError(f"quantile must be in (0,1), got {quantile}")
        if lambda_clip <= 1.0:
            raise ValueError(f"lambda_clip must exceed 1, got {lambda_clip}")
        if fixed_lambda is not None and fixed_lambda <= 1.0:
            raise ValueError(f"fixed_lambda must exceed 1 (λ = 1 is the boundary), got {fixed_lambda}")
        if lipschitz not in ("ball", "ray"):
            raise ValueError(f"lipschitz must be 'ball' or 'ray', got {lipschitz!r}")
        if slope not in ("secant", "probes"):
            raise ValueError(f"slope must be 'secant' or 'probes', got {slope!r}")
        if min(grid, slope_points, lipschitz_points, max_iter, batch_size) < 1:
            raise ValueError("grid, slope_points, lipschitz_points, max_iter and batch_size must be positive")
        if grid_coarse < 0:
            raise ValueError(f"grid_coarse must be non-negative (0: every candidate), got {grid_coarse}")
        StopRule(batch_tol, batch_window)  # validates both
        self.pool_spec = pool_spec
        self.quantile = quantile
        self.grid = grid
        self.lambda_clip = lambda_clip
        self.fixed_lambda = fixed_lambda
        self.lipschitz = lipschitz
        self.slope = slope
        self.slope_points = slope_points
        self.lipschitz_points = lipschitz_points
        self.overshoot = overshoot
        self.max_iter = max_iter
        self.batch_size = batch_size
        self.max_seeds = max_seeds
        self.grid_coarse = grid_coarse
        self.batch_tol = batch_tol
        self.batch_window = batch_window

    def upper_bounds(
        self,
        negatives: PoolEnsemble,
        x: torch.Tensor,
        r: torch.Tensor,
        target: torch.Tensor,
        generator: torch.Generator,
    ) -> torch.Tensor:
        """λ_upper (N,) from the independent pool (step 5 of docs/anafp.md#construction), with the growth rate
        ρ_h of each member's margin per unit λ from ``lipschitz``: ``"ball"`` L_h·d, L_h the largest ‖∇m_h‖₂
        at ``lipschitz_points`` points on the segment and in the ball; ``"ray"`` the largest ∂m_h/∂λ at
        ``lipschitz_points`` stretches in [0, λ_clip] along the fingerprint's own ray."""
        n, k = len(x), self.lipschitz_points
        if self.lipschitz == "ball":
            points = ab.lipschitz_points(x, r, self.lambda_clip, k, generator=generator).flatten(0, 1)
            norms = ab.gradient_norms(negatives, points, target.repeat_interleave(k))
            rate = norms.view(-1, n, k).amax(-1) * r.flatten(1).norm(dim=1)
        else:
            stretches = torch.linspace(0.0, self.lambda_clip, k)
            rate = ab.pool_ray_slopes(negatives, x, r, target, stretches).amax(-1)
        with torch.no_grad():
            seed_margin = ab.margin(negatives.logits(x), target).cpu()  # (H, N)
        return ab.upper_bound(ab.uniqueness_stretch(seed_margin, rate), self.quantile)

    def lower_bounds(
        self, victim: TorchClassifier, positives: PoolEnsemble, geo: Geometry, lam: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """λ_lower(λ) and the victim's margin m_f(x_f(λ)) at candidates ``lam`` (N,G) (step 4 of
        docs/anafp.md#construction): the pirated pool's logit shift (quantile ``quantile`` over its members)
        against the victim's slope. Every candidate is evaluated on its own, so a column gives the same values
        alone as in a grid."""
        x, r, target = geo.x, geo.r, geo.target
        n, g = lam.shape
        points = ab.stretched(x, r, lam).flatten(0, 1)  # (N·G, C,H,W)
        with torch.no_grad():
            reference = victim(points)
            shifts = ab.logit_shift(positives.logits(points).cpu(), reference)  # (P, N·G)
        shift = ab.relaxed(shifts, self.quantile, dim=0).view(n, g)
        victim_margin = ab.margin(reference, target.repeat_interleave(g)).view(n, g)
        if self.slope == "secant":
            kappa = ab.secant_slope(victim_margin, lam)
        else:
            stretches = ab.probe_stretches(1.0, self.lambda_clip, self.slope_points)
            slopes = ab.ray_slopes(victim.forward, x, r, target, stretches)
            kappa = ab.slope_up_to(slopes, stretches, lam)
        return ab.lower_bound(shift, kappa), victim_margin

    def choose(self, victim: TorchClassifier, positives: PoolEnsemble, geo: Geometry) -> ab.Choice:
        """Grid search for the most feasible λ (steps 4 and 6 of docs/anafp.md#construction) over ``grid``
        candidates in (1, min(λ_upper, ``lambda_clip``)]: all of them (``grid_coarse=0`` or ≥ ``grid``), or
        coarse to fine (``grid_coarse`` candidates, then :func:`~modelprint.queries.anafp_bounds.refinement`
        passes), the candidates left out counting as infeasible."""
        lam = ab.candidate_grid(geo.upper, self.lambda_clip, self.grid)
        n = len(lam)
        if self.grid_coarse == 0 or self.grid_coarse >= self.grid:
            lower, victim_margin = self.lower_bounds(victim, positives, geo, lam)
            choice = ab.most_feasible(lam, lower, geo.upper, victim_margin)
            return dataclasses.replace(choice, evaluated=torch.full((n,), self.grid))
        slopes = None if self.slope == "secant" else self.victim_slopes(victim, geo)
        lower = torch.full_like(lam, float("inf"))  # not evaluated: never robust, slack −∞
        victim_margin = torch.full_like(lam, float("-inf"))
        done = torch.zeros_like(lam, dtype=torch.bool)
        stride = max(1, self.grid // self.grid_coarse)
        done[:, ab.coarse_columns(self.grid, self.grid_coarse)] = True
        self._evaluate(victim, positives, geo, lam, done, lower, victim_margin, slopes)
        for step in ab.refine_strides(stride):
            new = ab.refinement(lam, lower, geo.upper, victim_margin, stride, step) & ~done
            self._evaluate(victim, positives, geo, lam, new, lower, victim_margin, slopes)
            done |= new
            stride = step
        choice = ab.most_feasible(lam, lower, geo.upper, victim_margin)
        return dataclasses.replace(choice, evaluated=done.sum(dim=1))

    def victim_slopes(self, victim: TorchClassifier, geo: Geometry) -> torch.Tensor:
        """The victim's margin slopes (N,S) at the ``slope_points`` probe stretches (``slope="probes"``)."""
        stretches = ab.probe_stretches(1.0, self.lambda_clip, self.slope_points)
        return ab.ray_slopes(victim.forward, geo.x, geo.r, geo.target, stretches)

    def _evaluate(
        self,
        victim: TorchClassifier,
        positives: PoolEnsemble,
        geo: Geometry,
        lam: torch.Tensor,
        mask: torch.Tensor,
        lower: torch.Tensor,
        victim_margin: torch.Tensor,
        slopes: torch.Tensor | None,
    ) -> None:
        """λ_lower and m_f at the candidates ``lam[mask]`` (N,G), written into ``lower`` and
        ``victim_margin``: :meth:`lower_bounds` on a ragged set of candidates (one forward per candidate and
        model)."""
        rows, cols = mask.nonzero(as_tuple=True)
        if len(rows) == 0:
            return
        at = lam[rows, cols]
        points = ab.stretched(geo.x[rows], geo.r[rows], at)  # (M, C,H,W)
        with torch.no_grad():
            reference = victim(points)
            shifts = ab.logit_shift(positives.logits(points).cpu(), reference)  # (P, M)
        shift = ab.relaxed(shifts, self.quantile, dim=0)
        margin = ab.margin(reference, geo.target[rows])
        if slopes is None:
            kappa = ab.secant_slope(margin, at)
        else:
            stretches = ab.probe_stretches(1.0, self.lambda_clip, self.slope_points)
            kappa = ab.slope_up_to(slopes[rows], stretches, at.view(-1, 1)).squeeze(1)
        lower[rows, cols] = ab.lower_bound(shift, kappa)
        victim_margin[rows, cols] = margin

    def fix(
        self,
        victim: TorchClassifier,
        positives: PoolEnsemble,
        geo: Geometry,
        grid: ab.Choice,
        fixed_lambda: float,
    ) -> ab.Choice:
        """The ablation: the grid's interval (``grid``) kept, the choice replaced by ``fixed_lambda``, with
        its own λ_lower, slack and feasibility."""
        lam = torch.full((len(geo.x), 1), float(fixed_lambda))
        lower, victim_margin = self.lower_bounds(victim, positives, geo, lam)
        ok = ab.feasible(lam, lower, geo.upper, victim_margin).squeeze(1)
        at = ab.slack(lam, lower, geo.upper).squeeze(1)
        return dataclasses.replace(grid, lam=lam[:, 0], lower_at=lower[:, 0], slack=at, feasible=ok)

    def geometry(
        self,
        victim: TorchClassifier,
        negatives: PoolEnsemble,
        x: torch.Tensor,
        index: torch.Tensor,
        *,
        generator: torch.Generator,
    ) -> Geometry:
        """Steps 1–2 on one batch of seeds ``x`` (their positions ``index``): DeepFool targets, boundary
        displacements and λ_upper of the seeds DeepFool could move."""
        adv = deepfool(victim, x, overshoot=self.overshoot, max_iter=self.max_iter)
        target = victim.predict(adv.adversarial)
        moved = adv.fooled & (adv.perturbation.flatten(1).norm(dim=1) > 0)
        x, direction, target, index = x[moved], adv.perturbation[moved], target[moved], index[moved]
        if len(x) == 0:
            return Geometry(index, x, target, torch.zeros_like(x), torch.zeros(0))
        r = ab.boundary_displacement(victim, x, direction, target, hi=1.0 + self.overshoot)
        return Geometry(index, x, target, r, self.upper_bounds(negatives, x, r, target, generator))

    def analyse(
        self,
        victim: TorchClassifier,
        positives: PoolEnsemble,
        negatives: PoolEnsemble,
        x: torch.Tensor,
        index: torch.Tensor,
        *,
        generator: torch.Generator,
        context: tuple[object, ...] | None = None,
    ) -> Analysis:
        """Steps 1–3 on one batch of seeds ``x`` (their positions ``index``): fingerprints and bounds of the
        seeds DeepFool could move. ``context`` names the victim and both pools (as :meth:`sample`
        does); with it, the analytic result is recalled when the same batch was analysed before with the
        same settings (:data:`_ANALYTIC`), so each fixed λ of the ablation costs one forward pass per seed
        and pool member."""

        def compute() -> tuple[Geometry, ab.Choice]:
            geo = self.geometry(victim, negatives, x, index, generator=generator)
            if len(geo.x) == 0:
                none = torch.zeros(0)
                return geo, ab.Choice(none, none, none, none.bool(), none.bool(), none, none)
            return geo, self.choose(victim, positives, geo)

        if context is None:
            geo, choice = compute()
        else:
            names = ("overshoot", "max_iter", "lipschitz", "lipschitz_points", "lambda_clip", "quantile")
            settings = tuple(
                getattr(self, n) for n in (*names, "grid", "slope", "slope_points", "grid_coarse")
            )
            token = (settings, context, tensor_digest([x, index]), generator_state(generator))
            geo, choice = _ANALYTIC.recall(token, compute, generator)
        if len(geo.x) == 0:
            return Analysis(geo.index, geo.x, geo.target, choice.lam, choice.lam, choice)
        if self.fixed_lambda is not None:
            choice = self.fix(victim, positives, geo, choice, self.fixed_lambda)
        inputs = ab.stretched(geo.x, geo.r, choice.lam)
        return Analysis(geo.index, inputs, geo.target, geo.r.flatten(1).norm(dim=1), geo.upper, choice)

    @intra_op_threads()
    def sample(
        self,
        victim: TorchClassifier,
        data: Dataset,
        budget: int,
        *,
        generator: torch.Generator,
        pool: Pool | None = None,
    ) -> Queries:
        pool = self.require_pool(pool)
        correct = (victim.predict(data.images) == data.labels).nonzero().flatten()
        if len(correct) == 0:
            raise ValueError(f"AnaFP: the victim classifies no seed of {data.name} correctly")
        order = correct[torch.randperm(len(correct), generator=generator)]
        if self.max_seeds is not None:
            order = order[: self.max_seeds]
        positives, negatives = PoolEnsemble(pool.positives), PoolEnsemble(pool.negatives)
        context = (model_digest(victim), pool.positive_lineages, pool.negative_lineages)
        parts: list[Analysis] = []
        found = 0
        plateau = StopRule(self.batch_tol, self.batch_window).plateau(maximise=True)
        plateau.update(found)
        for start in range(0, len(order), self.batch_size):
            if found >= budget:
                break
            idx = order[start : start + self.batch_size]
            part = self.analyse(
                victim, positives, negatives, data.images[idx], idx, generator=generator, context=context
            )
            found += int((~part.choice.empty).sum())
            parts.append(part)
            if plateau.update(found):
                log.info(
                    "AnaFP: admissible seeds stopped growing after %d batches (%d found)", len(parts), found
                )
                break
        extras = {k: torch.cat([p.extras()[k] for p in parts]) for k in parts[0].extras()}
        inputs = torch.cat([p.inputs for p in parts])
        if len(inputs) == 0:
            raise ValueError(f"AnaFP: DeepFool moved no seed of {data.name} across the victim's boundary")
        admissible = (~extras["empty"]).nonzero().flatten()
        chosen = admissible[:budget]
        if len(chosen) < budget:
            rest = extras["empty"].nonzero().flatten()
            rest = rest[extras["interval_slack"][rest].argsort(descending=True, stable=True)]
            chosen = torch.cat([chosen, rest[: budget - len(chosen)]])
            log.warning(
                "AnaFP: only %d of %d seeds had a non-empty admissible interval; %d least-infeasible fill in",
                len(admissible), budget, len(chosen) - len(admissible),
            )  # fmt: skip
        out = {PREFIX + k: v[chosen] for k, v in extras.items()}
        out[PREFIX + "examined"] = torch.tensor(len(inputs))
        out[PREFIX + "admissible"] = torch.tensor(len(admissible))
        out[PREFIX + "batches_run"] = torch.tensor(len(parts))
        log.info(
            "AnaFP: %d of %d analysed seeds admissible; median λ %.3f",
            len(admissible), len(inputs), float(out[PREFIX + "lambda"].median()),
        )  # fmt: skip
        return Queries(inputs[chosen], data.labels[extras["index"][chosen]], out)
