"""AnaFP — analytical fingerprinting with a stretch factor (Yang, Geng, Chen, Luo 2026;
docs/anafp.md, reconstructed from the abstract: every formula is [R] and lives in
:mod:`modelprint.queries.anafp_bounds`)."""

from __future__ import annotations

from modelprint.fingerprints.pooled import register_label_scheme
from modelprint.queries.anafp import AnaFPQueries

anafp = register_label_scheme(
    "anafp",
    AnaFPQueries,
    doc="""Boundary-stretched DeepFool points with an admissible stretch factor, hard labels, match rate;
    label-only.

    Q = :class:`AnaFPQueries`: each seed's DeepFool direction is stretched to x + λ·r (r reaches the
    victim's boundary), λ chosen by a grid search (500 candidates in (1, min(λ_upper, 10)]) for the most
    feasible value between the robustness bound from 10 pirated surrogates (λ_lower, from logit shifts
    and the victim's margin slope) and the uniqueness bound from 10 independent ones (λ_upper, from
    margins and local Lipschitz constants), both relaxed to the q = 0.5 quantile (docs/anafp.md [R]; the
    first reconstruction's q = 0.9 left every interval empty on the tiny zoo: see
    :data:`~modelprint.queries.anafp_bounds.DEFAULT_QUANTILE`).
    ``fixed_lambda`` is the ablation: the same seeds with every λ fixed (CLI ``anafp:fixed_lambda=1.5``).
    R = labels, D = match rate with the label the victim gives (docs/anafp.md#verification). 100 label
    queries.""",
)
