"""MFUE (Xu et al., KDD'26; docs/mfue.md) as QuRD decomposes it (docs/mfue.md#qurd-decomposition): Q
= unlearnable triggers optimised on mimic models (+ M noise probes per trigger for MFUE-b), R = per-trigger CE
loss (its Monte Carlo estimate −log p̂_y for MFUE-b), D = per-trigger interval match with tolerance τ → match
rate."""

from __future__ import annotations

from dataclasses import replace

from modelprint.detectors.distances import RankCorrelation
from modelprint.detectors.interval import IntervalMatch
from modelprint.fingerprints.base import FINGERPRINTS, Fingerprint
from modelprint.pools import PoolSpec
from modelprint.queries.mfue import (
    MFUE_POOL,
    PREFIX,
    STOP_TOL,
    STOP_WINDOW,
    Draw,
    ProbedTriggers,
    UnlearnableTriggers,
)
from modelprint.representations.losses import ProbeLoss, TrueLabelLoss


@FINGERPRINTS.register(
    "mfue-w",
    doc=(
        "Unlearnable triggers, per-trigger loss, fraction within ±50 % of the source's loss; "
        "probability access."
    ),
)
def mfue_w(
    *,
    budget: int = 100,
    tau: float = 0.5,
    one_sided: bool = False,
    eps: float = 8 / 255,
    step: float = 1.6 / 255,
    outer: int = 2000,
    inner: int = 10,
    draw: Draw = "member",
    include_source: bool = True,
    pool_spec: PoolSpec = MFUE_POOL,
    stop_tol: float = STOP_TOL,
    stop_window: int = STOP_WINDOW,
) -> Fingerprint:
    """MFUE-w: ``budget`` = n = 100 unlearnable triggers [P][C] (ε 8/255, η 1.6/255, 2000 × 10 sign steps
    against one mimic model drawn per outer step [C]), probability access; score = fraction of triggers
    whose suspect loss lies in [(1−τ)·L_src, (1+τ)·L_src], τ = 0.5 [P] (``one_sided``: ≤ (1+τ)·L_src [D]).
    Pool: :data:`~modelprint.queries.mfue.MFUE_POOL` (10 adversarial fine-tunes ≈ snapshots, 1 unused
    negative). ``budget`` probability queries per suspect. The optimisation stops once the source's CE has
    improved by ≤ ``stop_tol`` (relative) over ``stop_window`` outer iterations (our stop rule; 0: all
    ``outer`` iterations, as the paper)."""
    sampler = UnlearnableTriggers(
        eps=eps, step=step, outer=outer, inner=inner, draw=draw, include_source=include_source,
        pool_spec=pool_spec, stop_tol=stop_tol, stop_window=stop_window,
    )  # fmt: skip
    return Fingerprint("mfue-w", sampler, TrueLabelLoss(), IntervalMatch(tau, one_sided), budget)


@FINGERPRINTS.register(
    "mfue-b",
    doc=(
        "Unlearnable triggers under Gaussian probes, label agreement per trigger, interval test; "
        "label-only."
    ),
)
def mfue_b(
    *,
    budget: int = 10_000,
    probes: int = 100,
    tau: float = 0.5,
    one_sided: bool = False,
    eps: float = 8 / 255,
    step: float = 1.6 / 255,
    outer: int = 2000,
    inner: int = 10,
    draw: Draw = "member",
    include_source: bool = True,
    pool_spec: PoolSpec = MFUE_POOL,
    stop_tol: float = STOP_TOL,
    stop_window: int = STOP_WINDOW,
) -> Fingerprint:
    """MFUE-b: label-only; ``budget`` = n × M label queries, 10,000 = 100 triggers × 100 Gaussian probes
    [P][C] (100× MFUE-w), α* bisected on the source so 40–60 % of the probes keep label y, triggers without
    α* dropped [C] (the key then holds, and a suspect is charged, fewer). Score = interval match rate of
    −log p̂_y, τ = 0.5 [P]. Triggers (and their stop rule) as ``mfue-w``."""
    triggers = UnlearnableTriggers(
        eps=eps, step=step, outer=outer, inner=inner, draw=draw, include_source=include_source,
        pool_spec=pool_spec, stop_tol=stop_tol, stop_window=stop_window,
    )  # fmt: skip
    sampler = ProbedTriggers(probes=probes, triggers=triggers)
    return Fingerprint("mfue-b", sampler, ProbeLoss(PREFIX), IntervalMatch(tau, one_sided), budget)


@FINGERPRINTS.register(
    "mfue-w-rank",
    doc=(
        "Ours, not MFUE's: MFUE-w's triggers and per-trigger losses compared by rank correlation."
    ),
)
def mfue_w_rank(
    *,
    budget: int = 100,
    eps: float = 8 / 255,
    step: float = 1.6 / 255,
    outer: int = 2000,
    inner: int = 10,
    draw: Draw = "member",
    include_source: bool = True,
    pool_spec: PoolSpec = MFUE_POOL,
    stop_tol: float = STOP_TOL,
    stop_window: int = STOP_WINDOW,
) -> Fingerprint:
    """Ours, a QuRD combination, not MFUE's: MFUE-w's triggers and per-trigger CE losses, compared by
    Spearman's rank correlation (:class:`~modelprint.detectors.distances.RankCorrelation`) instead of the
    ±τ interval. The interval test fails by construction when a derived model is more or less confident
    than the source overall (a retrained head, a student: several nats off on digits); the order of the
    triggers' losses survives such a shift. Same settings and triggers as ``mfue-w`` (shared within a run),
    probability access, ``budget`` queries."""
    interval = mfue_w(
        budget=budget, eps=eps, step=step, outer=outer, inner=inner, draw=draw, include_source=include_source,
        pool_spec=pool_spec, stop_tol=stop_tol, stop_window=stop_window,
    )  # fmt: skip
    return replace(interval, name="mfue-w-rank", detector=RankCorrelation())
