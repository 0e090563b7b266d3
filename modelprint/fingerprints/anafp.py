"""AnaFP — analytical fingerprinting with a stretch factor (Yang, Geng, Chen, Luo 2026, seed paper 001;
spec §2, reconstructed from the abstract: every formula is [R] and lives in
:mod:`modelprint.ops.anafp_bounds`)."""

from __future__ import annotations

from modelprint.detectors.matching import MatchRate
from modelprint.fingerprints.base import FINGERPRINTS, Fingerprint
from modelprint.ops import anafp_bounds as ab
from modelprint.pools import PoolSpec
from modelprint.queries.anafp import ANAFP_POOL, AnaFPQueries, Lipschitz, Slope
from modelprint.representations.outputs import HardLabels


@FINGERPRINTS.register("anafp")
def anafp(
    *,
    budget: int = 100,
    pool_spec: PoolSpec = ANAFP_POOL,
    quantile: float = ab.DEFAULT_QUANTILE,
    grid: int = ab.DEFAULT_GRID,
    lambda_clip: float = ab.DEFAULT_CLIP,
    fixed_lambda: float | None = None,
    lipschitz: Lipschitz = "ray",
    slope: Slope = "secant",
    slope_points: int = 16,
    lipschitz_points: int = 32,
    batch_size: int = 64,
    max_seeds: int | None = 256,
) -> Fingerprint:
    """Boundary-stretched DeepFool points with an admissible stretch factor, hard labels, match rate;
    label-only.

    Q = :class:`AnaFPQueries`: each seed's DeepFool direction is stretched to x + λ·r (r reaches the
    victim's boundary), λ chosen by a grid search (500 candidates in (1, min(λ_upper, 10)]) for the most
    feasible value between the robustness bound from 10 pirated surrogates (λ_lower, from logit shifts
    and the victim's margin slope) and the uniqueness bound from 10 independent ones (λ_upper, from
    margins and local Lipschitz constants), both relaxed to the q = 0.5 quantile (spec §2.2 [R]; the
    spec's q = 0.9 left every interval empty on the tiny zoo: see
    :data:`~modelprint.ops.anafp_bounds.DEFAULT_QUANTILE`).
    ``fixed_lambda`` is the ablation: the same seeds with every λ fixed (CLI ``anafp:fixed_lambda=1.5``).
    R = labels, D = match rate with the label the victim gives (spec §2.3). 100 label queries."""
    sampler = AnaFPQueries(
        pool_spec=pool_spec, quantile=quantile, grid=grid, lambda_clip=lambda_clip, fixed_lambda=fixed_lambda,
        lipschitz=lipschitz, slope=slope, slope_points=slope_points, lipschitz_points=lipschitz_points,
        batch_size=batch_size, max_seeds=max_seeds,
    )  # fmt: skip
    return Fingerprint("anafp", sampler, HardLabels(), MatchRate(), budget)
