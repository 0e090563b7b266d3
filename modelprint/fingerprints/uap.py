"""UAP fingerprinting (Peng, Li, Chen, Zhang, Zhu, Xue, CVPR'22; docs/uap.md — reconstructed, no code)."""

from __future__ import annotations

from typing import Literal

from modelprint.detectors.distances import SubsetCosine
from modelprint.fingerprints.base import FINGERPRINTS, Fingerprint
from modelprint.queries.adversarial import UAP_STOP_TOL, UAP_STOP_WINDOW, UAPQueries
from modelprint.representations.pairwise import PairedOutputs


@FINGERPRINTS.register("uap")
def uap(
    *,
    budget: int = 200,
    eps: float = 10 / 255,
    max_passes: int = 10,
    fit_points: int = 100,
    n_subsets: int = 20,
    combine: Literal["difference", "concat"] = "difference",
    stop_tol: float = UAP_STOP_TOL,
    stop_window: int = UAP_STOP_WINDOW,
) -> Fingerprint:
    """Clean/UAP-perturbed point pairs, paired probabilities, mean subset cosine; probability access.

    Pool-free reconstruction needing only the victim and seed data. Q = :class:`UAPQueries`: a universal
    perturbation v of the victim (DeepFool-based, ξ = 10/255, target fooling 0.8, ≤ 10 passes: ``max_passes``
    is the cap of the stop rule on the fooling rate, ``stop_window=0`` runs every pass up to the target) and
    m = budget/2 = 100 points spread over the victim's predicted classes, queried clean and with v
    (2m = 200 queries). R = softmax M(x_i + v) − softmax M(x_i) per point, i.e. the paper's paired
    fingerprint [softmax M(x_i) ‖ softmax M(x_i + v)] through a fixed linear encoder [−I, I]
    (``combine="concat"`` keeps the raw pair). D = mean over 20 fixed random half-subsets of the points
    of the cosine between victim and suspect fingerprints.

    Not implemented (needs pools): the contrastive encoder trained on pirated vs independent models
    (Step 3) is replaced by that fixed difference, and the t-test against μ₀ (the mean similarity to
    independent models) is left to :meth:`SubsetCosine.t_statistic` / :class:`CalibratedThreshold`
    given such a pool."""
    sampler = UAPQueries(
        eps=eps, max_passes=max_passes, fit_points=fit_points, stop_tol=stop_tol, stop_window=stop_window
    )
    return Fingerprint("uap", sampler, PairedOutputs(combine), SubsetCosine(n_subsets=n_subsets), budget)
