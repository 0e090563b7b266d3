"""CAE — conferrable adversarial examples (Lukas, Zhang, Kerschbaum, ICLR'21; docs/cae.md, reconstructed)."""

from __future__ import annotations

from modelprint.fingerprints.pooled import register_label_scheme
from modelprint.queries.cae import ConferrableQueries

cae = register_label_scheme(
    "cae",
    ConferrableQueries,
    doc="""Conferrable adversarial examples from a surrogate/reference pool, hard labels, CAEAcc; label-only.

    Q = :class:`ConferrableQueries`: CEM (dropout-ensemble loss, α, β, γ = 1, 0.1, 0.1, Adam, 100 steps,
    ℓ∞ ε = 0.025 on colour images and 0.15 on grayscale ones) against 10 surrogates (label extraction and
    distillation of the victim on the owner's data) + 10 independent references (the MFUE config), kept iff
    adversarial for the victim and conferrable ≥ τ = 0.85 on the whole pool; fewer than ``budget`` when
    the seeds run out (at least one). The 100 steps are the cap of a stop rule on the block-mean CEM loss,
    and seed batches end once the passing candidates stop growing (:class:`ConferrableQueries`;
    ``stop_window=0, batch_window=0``: the paper's loop). R = labels, D = match rate, i.e. CAEAcc (the
    paper thresholds it, e.g. θ = 0.75). n label queries (100).""",
)
