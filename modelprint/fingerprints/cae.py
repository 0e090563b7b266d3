"""CAE — conferrable adversarial examples (Lukas, Zhang, Kerschbaum, ICLR'21; spec §6, reconstructed)."""

from __future__ import annotations

from modelprint.detectors.matching import MatchRate
from modelprint.fingerprints.base import FINGERPRINTS, Fingerprint
from modelprint.pools import PoolSpec
from modelprint.queries.cae import CAE_POOL, ConferrableQueries
from modelprint.representations.outputs import HardLabels


@FINGERPRINTS.register("cae")
def cae(
    *,
    budget: int = 100,
    pool_spec: PoolSpec = CAE_POOL,
    eps: float | None = None,
    lr: float | None = None,
    steps: int = 100,
    alpha: float = 1.0,
    beta: float = 0.1,
    gamma: float = 0.1,
    dropout: float = 0.3,
    tau: float = 0.85,
    max_seeds: int | None = None,
) -> Fingerprint:
    """Conferrable adversarial examples from a surrogate/reference pool, hard labels, CAEAcc; label-only.

    Q = :class:`ConferrableQueries`: CEM (dropout-ensemble loss, α, β, γ = 1, 0.1, 0.1, Adam, 100 steps,
    ℓ∞ ε = 0.025 on colour images and 0.15 on grayscale ones) against 10 surrogates (label extraction and
    distillation of the victim on the owner's data) + 10 independent references (the MFUE config), kept iff
    adversarial for the victim and conferrable ≥ τ = 0.85 on the whole pool; fewer than ``budget`` when
    the seeds run out (at least one). R = labels, D = match rate, i.e. CAEAcc (the paper thresholds it, e.g.
    θ = 0.75). n label queries (100)."""
    sampler = ConferrableQueries(
        pool_spec=pool_spec, eps=eps, lr=lr, steps=steps, alpha=alpha, beta=beta, gamma=gamma,
        dropout=dropout, tau=tau, max_seeds=max_seeds,
    )  # fmt: skip
    return Fingerprint("cae", sampler, HardLabels(), MatchRate(), budget)
