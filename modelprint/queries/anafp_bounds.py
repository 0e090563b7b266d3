"""AnaFP's analytic bounds on the stretch factor (Yang, Geng, Chen, Luo 2026; docs/anafp.md#construction).

**Every formula of AnaFP lives in this module**, so that it can be corrected in one place once the full
paper is available; :mod:`modelprint.queries.anafp` only orchestrates (seeds, batching, selection, keys).
Only the paper's abstract was available, so everything here is [R] (reconstructed, docs/anafp.md) unless
tagged [D] (a default of this project). The paper calls the stretch factor τ; here it is λ (the project's
issue), and the reconstruction's slope "λ_f·d" is κ_f below.

Notation, for a seed x that the victim f labels y, a target class t ≠ y, and logits z_g of a model g:

- boundary displacement r: x + r lies on f's y/t boundary along the DeepFool direction (found by
  bisection on the ray, :func:`boundary_displacement`); d = ‖r‖₂ (step 1);
- fingerprint x_f(λ) = clip(x + λ·r, 0, 1), λ > 1, labelled t by f (:func:`stretched`, step 2);
- margin m_g(x) = z_{g,t}(x) − max_{j≠t} z_{g,j}(x); g predicts t iff m_g > 0 (:func:`margin`, step 3);
- logit shift Δ_g(x) = ‖z_g(x) − z_f(x)‖∞, so that m_g ≥ m_f − 2·Δ_g (:func:`logit_shift`, step 4;
  open item: ∞- or 2-norm);
- slope κ_f(λ) of the victim's margin along the ray, so that m_f(x_f(λ)) ≥ κ_f(λ)·(λ − 1) (m_f = 0 at the
  boundary); it is the reconstruction's λ_f·d. ``"probes"`` (the reconstruction's form): the min over probe
  stretches s ∈ [1, λ] (:func:`probe_stretches`) of ∂m_f(x_f(s))/∂s (:func:`ray_slopes` by autograd through
  the clip, :func:`slope_up_to`); ``"secant"`` [D]: m_f(x_f(λ))/(λ − 1) (:func:`secant_slope`), exact at every
  candidate and free (the victim's logits there are computed anyway);
- **robustness (lower bound)**: a pirated g keeps t if κ_f(λ)(λ − 1) > 2·Δ_g, i.e.
  λ > λ_lower(λ) = 1 + 2·Δ_P(λ) / κ_f(λ), with Δ_P(λ) the q-quantile of Δ_g(x_f(λ)) over the
  pirated pool P̂; +∞ where κ_f ≤ 0 (:func:`lower_bound`). It depends on λ through x_f: the "circular
  dependency" that grid search resolves;
- **uniqueness (upper bound)**: the margin of an independent h grows by at most ρ_h per unit λ, so h
  does not give t while λ < λ_h = −m_h(x) / ρ_h (:func:`uniqueness_stretch`; λ_h ≤ 0 when h already
  gives t at x). ``"ball"`` (the reconstruction's form): ρ_h = L_h·d with L_h the local Lipschitz constant of
  m_h, the max of ‖∇ₓm_h‖₂ on the segment [x, x_f(λ_clip)] and in the ball B(x, λ_clip·d)
  (:func:`lipschitz_points`, :func:`gradient_norms` [D]), since m_h(x_f(λ)) ≤ m_h(x) + L_h·λ·d (clipping only
  shortens x_f − x); ``"ray"`` [D]: the same bound restricted to the ray x_f lies on, ρ_h = the max of
  ∂m_h(x_f(s))/∂s over s ∈ [0, λ_clip] (:func:`ray_slopes`); λ_upper = the (1 − q)-quantile of λ_h over the
  independent pool Î, so at most a fraction 1 − q of it may violate (:func:`upper_bound`);
- **quantile relaxation**: q (default 0.5 [D], :data:`DEFAULT_QUANTILE`) on both pools, linear
  interpolation between order statistics (``torch.quantile``);
- **grid search**: ``n`` candidates evenly spaced in (1, λ_max], λ_max = min(λ_upper, λ_clip) (λ_clip
  when λ_upper ≤ 1), 500 [R], λ_clip = 10 [D] (:func:`candidate_grid`); a candidate is feasible iff
  λ > λ_lower(λ), λ < λ_upper and m_f(x_f(λ)) > 0 (the last [D]: the victim itself labels it t); the
  chosen one maximises the normalised slack min(λ − λ_lower(λ), λ_upper − λ)/λ [D] ("most feasible";
  :func:`most_feasible`). The admissible interval of a seed is reported as [smallest robust candidate,
  λ_upper); it is empty when no candidate is feasible, and the most feasible candidate is then the least
  infeasible one (largest, negative, slack).
- **coarse-to-fine search** [D] (:func:`coarse_columns`, :func:`refine_strides`, :func:`refinement`): the
  same grid, but only every s-th candidate first (and the last), then passes of stride s/5, s/25, …, 1,
  each within one previous stride of the most feasible candidate so far and below the first robust one.
  Every candidate evaluated has the exhaustive grid's values; the choice differs from the grid's only where
  the slack peaks higher between coarse candidates away from the coarse choice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from modelprint.models.base import TorchClassifier
from modelprint.pools import PoolEnsemble

DEFAULT_QUANTILE = 0.5
"""q of the quantile relaxation (steps 4–5 of docs/anafp.md#construction [D]; the first reconstruction
proposed 0.9). Measured on the tiny zoo with the default 10 + 10 pool (seed 0, 256 seeds): q = 0.9 and 0.75
left every interval empty (0/256 seeds), since distilled and head-retrained pirated models shift the logits by
3.6–4.9 (∞-norm) at the fingerprints and q ≥ 0.75 keeps them in Δ_P; q = 0.5 gave 118/256 admissible seeds."""
DEFAULT_GRID = 500
"""Candidate stretch factors of the grid search (step 6 of docs/anafp.md#construction [R])."""
DEFAULT_CLIP = 10.0
"""λ_clip, the largest candidate (step 6 of docs/anafp.md#construction [D])."""


# --------------------------------------------------------------------------- geometry (steps 1–3)


def stretched(x: torch.Tensor, r: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """x_f(λ) = clip(x + λ·r, 0, 1) for seeds ``x`` and displacements ``r`` (N,C,H,W) and stretch factors
    ``lam`` (N,) → (N,C,H,W) or (N,G) → (N,G,C,H,W)."""
    if lam.ndim == 1:
        return (x + lam.view(-1, 1, 1, 1) * r).clamp(0.0, 1.0)
    return (x.unsqueeze(1) + lam[..., None, None, None] * r.unsqueeze(1)).clamp(0.0, 1.0)


def margin(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """m(x) = z_t − max_{j≠t} z_j for logits (..., K) and targets broadcastable to (...) → (...)."""
    target = target.expand(logits.shape[:-1])
    mask = torch.nn.functional.one_hot(target, logits.shape[-1]).bool()
    z_t = logits.masked_fill(~mask, 0.0).sum(-1)
    return z_t - logits.masked_fill(mask, float("-inf")).amax(-1)


def logit_shift(logits: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Δ_g = ‖z_g − z_f‖∞ over the class axis: logits (..., K) of g against the victim's ``reference``."""
    return (logits - reference).abs().amax(-1)


@torch.no_grad()
def boundary_displacement(
    victim: TorchClassifier,
    x: torch.Tensor,
    direction: torch.Tensor,
    target: torch.Tensor,
    *,
    hi: float,
    iterations: int = 20,
) -> torch.Tensor:
    """r = s*·``direction`` with s* ∈ (0, ``hi``] where the victim's margin toward ``target`` changes sign
    on the ray clip(x + s·direction) (bisection; m_f(x) < 0 at s = 0 and m_f > 0 at s = ``hi``), taking
    the upper end so that x + r is labelled t (step 1 of docs/anafp.md#construction)."""
    lo = torch.zeros(len(x))
    up = torch.full((len(x),), float(hi))
    for _ in range(iterations):
        mid = (lo + up) / 2
        above = margin(victim(stretched(x, direction, mid)), target) > 0
        up = torch.where(above, mid, up)
        lo = torch.where(above, lo, mid)
    return up.view(-1, 1, 1, 1) * direction


def probe_stretches(lo: float, hi: float, n: int) -> torch.Tensor:
    """``n`` probe stretches lo + (hi − lo)·(k/(n − 1))², k = 0..n−1 [D]: denser near ``lo``, where the chosen
    λ usually lies (evenly spaced probes 0.6 apart on [1, 10] made κ_f jump at 1.6 and pinned λ below it)."""
    if n == 1:
        return torch.tensor([float(lo)])
    return lo + (hi - lo) * (torch.arange(n, dtype=torch.float32) / (n - 1)) ** 2


def ray_slopes(
    forward: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    r: torch.Tensor,
    target: torch.Tensor,
    stretches: torch.Tensor,
) -> torch.Tensor:
    """∂m(x_f(s))/∂s at every probe stretch s (S,) for every seed, by autograd through the clip: the local
    slope of a margin along the fingerprint's ray. ``forward`` maps (M,C,H,W) to logits (M,K) (one model,
    e.g. ``victim.forward``) → (N,S), or to (H,M,K) (``PoolEnsemble.logits``) → (H,N,S)."""
    n, s = len(x), len(stretches)
    lam = stretches.to(x).repeat(n).requires_grad_(True)
    points = stretched(x.repeat_interleave(s, 0), r.repeat_interleave(s, 0), lam)
    logits = forward(points)
    m = margin(logits, target.repeat_interleave(s).to(logits.device))
    if m.ndim == 1:
        (grad,) = torch.autograd.grad(m.sum(), lam)
        return grad.detach().cpu().reshape(n, s)
    grads = [
        torch.autograd.grad(m[h].sum(), lam, retain_graph=h + 1 < len(m))[0].detach().cpu()
        for h in range(len(m))
    ]
    return torch.stack(grads).view(len(m), n, s)


def slope_up_to(slopes: torch.Tensor, stretches: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """κ_f(λ) = min of ``slopes`` (N,S) over the probe ``stretches`` (S,) ≤ λ, for ``lam`` (N,G) → (N,G)
    (the smallest probe, 1, always counts)."""
    below = stretches.view(1, 1, -1) <= lam.unsqueeze(-1)
    below[..., 0] = True
    return slopes.unsqueeze(1).expand(*lam.shape, -1).masked_fill(~below, float("inf")).amin(-1)


# --------------------------------------------------------------------------- robustness (step 4)


def secant_slope(victim_margin: torch.Tensor, lam: torch.Tensor) -> torch.Tensor:
    """κ_f(λ) = m_f(x_f(λ)) / (λ − 1), the mean slope of the victim's margin from the boundary (where it is
    0) to the candidate [D]; with it, λ > λ_lower(λ) ⟺ m_f(x_f(λ)) > 2·Δ_P(λ) exactly. The reconstruction's
    minimum of the local slope over the segment (:func:`slope_up_to`) is a lower bound of it (mean value
    theorem)."""
    return victim_margin / (lam - 1.0)


def relaxed(values: torch.Tensor, q: float, dim: int = 0) -> torch.Tensor:
    """The q-quantile of ``values`` along the pool axis ``dim`` (linear interpolation; quantile
    relaxation of steps 4–5 in docs/anafp.md#construction)."""
    return torch.quantile(values, q, dim=dim)


def lower_bound(shift: torch.Tensor, slope: torch.Tensor) -> torch.Tensor:
    """λ_lower = 1 + 2·Δ_P / κ_f elementwise (+∞ where κ_f ≤ 0: no robustness guarantee)."""
    bound = 1.0 + 2.0 * shift / slope.clamp_min(1e-12)
    return torch.where(slope > 0, bound, torch.full_like(bound, float("inf")))


# --------------------------------------------------------------------------- uniqueness (step 5)


def lipschitz_points(
    x: torch.Tensor, r: torch.Tensor, lam_clip: float, n: int, *, generator: torch.Generator
) -> torch.Tensor:
    """(N, n, C,H,W) points where the independent models' Lipschitz constants are estimated [D]: ⌈n/2⌉
    evenly on the segment [x, x_f(λ_clip)], the rest uniform in the ball B(x, λ_clip·d), clipped to
    [0,1] (step 5 of docs/anafp.md#construction)."""
    on_segment = (n + 1) // 2
    t = torch.linspace(0.0, lam_clip, on_segment).to(x)
    segment = stretched(x, r, t.expand(len(x), -1))
    d = r.flatten(1).norm(dim=1)
    k = n - on_segment
    dim = x[0].numel()
    direction = torch.randn((len(x), k, dim), generator=generator).to(x)
    direction = direction / direction.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    radius = lam_clip * d.view(-1, 1) * torch.rand((len(x), k), generator=generator).to(x) ** (1.0 / dim)
    ball = (x.flatten(1).unsqueeze(1) + radius.unsqueeze(-1) * direction).clamp(0.0, 1.0)
    return torch.cat([segment, ball.view(len(x), k, *x.shape[1:])], dim=1)


def gradient_norms(ensemble: PoolEnsemble, points: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """‖∇ₓ m_h(p)‖₂ for every member h and point p (M,C,H,W) with targets (M,) → (H, M) (members that run one
    by one each get their own forward and backward, see :func:`pool_ray_slopes`)."""
    if not ensemble.batched:  # members run one by one: one backward each through its own graph only
        return torch.cat(
            [_gradient_norms(_member(ensemble, h), points, target) for h in range(len(ensemble))]
        )
    return _gradient_norms(ensemble.logits, points, target)


def _member(ensemble: PoolEnsemble, h: int) -> Callable[[torch.Tensor], torch.Tensor]:
    """Member ``h`` of ``ensemble`` alone, as a (M,C,H,W) → (1,M,K) forward."""
    return lambda x: ensemble.logits(x, members=[h])


def _gradient_norms(
    forward: Callable[[torch.Tensor], torch.Tensor], points: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    p = points.detach().requires_grad_(True)
    m = margin(forward(p), target.to(p.device))  # (H, M)
    norms = []
    for h in range(len(m)):
        (grad,) = torch.autograd.grad(m[h].sum(), p, retain_graph=h + 1 < len(m))
        norms.append(grad.flatten(1).norm(dim=1))
    return torch.stack(norms).detach().cpu()


def pool_ray_slopes(
    ensemble: PoolEnsemble, x: torch.Tensor, r: torch.Tensor, target: torch.Tensor, stretches: torch.Tensor
) -> torch.Tensor:
    """:func:`ray_slopes` of every member of ``ensemble`` → (H,N,S). Members that run one by one (the CPU
    default) get one forward and one backward each: a backward from one member's margins through the
    ensemble's stacked graph would also run through every other member's graph (with zero gradients), H²
    backward passes in all. The values are the same bit for bit."""
    if ensemble.batched:
        return ray_slopes(ensemble.logits, x, r, target, stretches)
    return torch.cat(
        [ray_slopes(_member(ensemble, h), x, r, target, stretches) for h in range(len(ensemble))]
    )


def uniqueness_stretch(seed_margin: torch.Tensor, rate: torch.Tensor) -> torch.Tensor:
    """λ_h = −m_h(x) / ρ_h for margins m_h(x) and growth rates ρ_h per unit λ (H,N) → (H,N): ρ_h = L_h·d
    (``lipschitz="ball"``) or the largest ray slope of m_h (``"ray"``). Where ρ_h ≤ 0 the margin cannot
    grow: λ_h = +∞ if h does not give t at x (m_h < 0), else 0."""
    bound = -seed_margin / rate.clamp_min(1e-12)
    never = torch.where(seed_margin < 0, float("inf"), 0.0)
    return torch.where(rate > 0, bound, never)


def upper_bound(per_model: torch.Tensor, q: float) -> torch.Tensor:
    """λ_upper = the (1 − q)-quantile of λ_h (H,N) over the independent pool → (N,)."""
    return relaxed(per_model, 1.0 - q, dim=0)


# --------------------------------------------------------------------------- grid search (step 6)


def candidate_grid(upper: torch.Tensor, lam_clip: float, n: int) -> torch.Tensor:
    """(N, n) candidates 1 + (λ_max − 1)·k/n, k = 1..n, with λ_max = min(λ_upper, λ_clip), or λ_clip where
    λ_upper ≤ 1 (the interval is then empty; the grid still ranks the least infeasible candidates)."""
    top = torch.where(upper > 1.0, upper.clamp_max(lam_clip), torch.full_like(upper, lam_clip))
    steps = torch.arange(1, n + 1, dtype=upper.dtype) / n
    return 1.0 + (top.view(-1, 1) - 1.0) * steps.view(1, -1)


def feasible(
    lam: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor, victim_margin: torch.Tensor
) -> torch.Tensor:
    """λ > λ_lower(λ), λ < λ_upper and m_f(x_f(λ)) > 0, for (N,G) candidates and (N,) upper bounds."""
    return (lam > lower) & (lam < upper.view(-1, 1)) & (victim_margin > 0)


def slack(lam: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor) -> torch.Tensor:
    """Normalised slack min(λ − λ_lower(λ), λ_upper − λ)/λ (N,G): positive exactly inside the bounds."""
    return torch.minimum(lam - lower, upper.view(-1, 1) - lam) / lam


@dataclass(frozen=True)
class Choice:
    """Per seed (N,): the chosen ``lam``, its ``lower_at`` = λ_lower(λ), its ``slack``, whether it is
    ``feasible``, whether the admissible interval is ``empty`` (no feasible candidate), the interval's
    lower end ``interval_lower`` (smallest candidate with λ > λ_lower(λ); +∞ if none) and
    ``interval_slack``, the largest slack of any candidate (how far an empty interval is from opening);
    ``evaluated``, how many grid candidates were evaluated (None: not recorded)."""

    lam: torch.Tensor
    lower_at: torch.Tensor
    slack: torch.Tensor
    feasible: torch.Tensor
    empty: torch.Tensor
    interval_lower: torch.Tensor
    interval_slack: torch.Tensor
    evaluated: torch.Tensor | None = None


def most_feasible(
    lam: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor, victim_margin: torch.Tensor
) -> Choice:
    """The feasible candidate of largest :func:`slack` per seed; where none is feasible, the candidate of
    largest slack overall (least infeasible) with ``empty`` set. Inputs (N,G), ``upper`` (N,)."""
    ok, s, empty, best = _ranking(lam, lower, upper, victim_margin)
    rows = torch.arange(len(lam))
    robust = lam > lower
    first = torch.where(robust, lam, torch.full_like(lam, float("inf"))).amin(dim=1)
    chosen = s[rows, best]
    return Choice(lam[rows, best], lower[rows, best], chosen, ok[rows, best], empty, first, chosen)


def _ranking(
    lam: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor, victim_margin: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(feasible, slack, empty, best position) of :func:`most_feasible`'s ranking."""
    ok = feasible(lam, lower, upper, victim_margin)
    s = slack(lam, lower, upper)
    empty = ~ok.any(dim=1)
    ranked = torch.where(ok, s, torch.full_like(s, float("-inf")))
    ranked[empty] = torch.nan_to_num(s[empty], nan=float("-inf"))
    return ok, s, empty, ranked.argmax(dim=1)


def coarse_columns(n: int, coarse: int) -> torch.Tensor:
    """Grid positions of the coarse pass over ``n`` candidates [D]: 0, s, 2s, … and n − 1, with the stride
    s = max(1, n // ``coarse``) (500 candidates, ``coarse`` 20: 21 positions 25 apart)."""
    cols = torch.arange(0, n, max(1, n // coarse))
    return cols if int(cols[-1]) == n - 1 else torch.cat([cols, torch.tensor([n - 1])])


REFINE = 5
"""Each pass of the coarse-to-fine search divides the stride by this factor [D] (25, 5, 1)."""


def refine_strides(stride: int) -> list[int]:
    """The strides of the passes after a coarse pass of stride ``stride``: divided by :data:`REFINE` down
    to 1 (25 → [5, 1]; 1 → [])."""
    out: list[int] = []
    while stride > 1:
        stride = max(1, stride // REFINE)
        out.append(stride)
    return out


def refinement(
    lam: torch.Tensor,
    lower: torch.Tensor,
    upper: torch.Tensor,
    victim_margin: torch.Tensor,
    stride: int,
    step: int,
) -> torch.Tensor:
    """(N,G) mask of the candidates one fine pass evaluates [D], from the candidates evaluated so far
    (``lower`` +∞ and ``victim_margin`` −∞ elsewhere, so they are neither robust nor ranked): every
    ``step``-th candidate within ``stride`` of the current most feasible one (the grid's choice can only
    move there at this resolution), and every ``step``-th one within ``stride`` below the first robust
    candidate (so that the interval's lower end is the grid's). Candidates already evaluated are included."""
    _, _, _, best = _ranking(lam, lower, upper, victim_margin)
    robust = lam > lower
    found = robust.any(dim=1)
    first = robust.to(torch.int8).argmax(dim=1)
    j = torch.arange(lam.shape[1]).view(1, -1)
    around = j - best.view(-1, 1)
    around = (around.abs() < stride) & (around % step == 0)
    below = first.view(-1, 1) - j
    below = (below > 0) & (below < stride) & (below % step == 0) & found.view(-1, 1)
    return around | below
