"""Conferrable adversarial examples (Lukas, Zhang, Kerschbaum, ICLR'21; docs/cae.md): CEM against a pool of
surrogates (extracted from the victim) and references (independent models), then conferrability selection."""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F

from modelprint.data import Dataset
from modelprint.data.traits import traits_of
from modelprint.models.base import TorchClassifier
from modelprint.ops.convergence import StopRule
from modelprint.pools import Pool, PoolEnsemble, PoolSpec
from modelprint.queries.base import PoolSampler
from modelprint.queries.common import QueryStructure
from modelprint.types import Queries

log = logging.getLogger(__name__)

CAE_ARCHS: tuple[str, ...] = ("same", "cnn-m", "lenet", "mlp", "resnet8")
"""Architectures of the CAE pool: the victim's and four others of :mod:`modelprint.models.archs`."""

CAE_POOL = PoolSpec(
    positives=tuple(f"labelextract({a},data=owner)" for a in CAE_ARCHS)
    + tuple(f"distill({a},data=owner)" for a in CAE_ARCHS),
    negatives=CAE_ARCHS + CAE_ARCHS,
)
"""10 surrogates + 10 references (the MFUE config, docs/cae.md#pools [P]). Surrogates retrain on the victim's
outputs over the owner's data: label extraction (its top-1 labels, the paper's recipe) and distillation
(its probabilities) into five architectures; references are independent models of the same five
architectures (two seeds each), trained on the owner's data with seeds no benchmark preset uses."""

COLOUR_EPS = 0.025
"""ε of docs/cae.md#cem for CINIC/CIFAR (ℓ∞ in [0,1] pixel units)."""
SWEEP_TOP_EPS = 0.15
"""ε off the papers' data: the top of the paper's own sweep (0.01–0.15). The victim's median minimal ℓ∞
distance (ModelDiff's rule, :func:`~modelprint.ops.scaling.scaled_linf`) is too small a ball for CEM: on the
tiny digits zoo it is 0.09 and no candidate transfers to the surrogates, where 0.15 passes 13 of 30; on
CIFAR the paper's 0.025 is several times that distance."""
LR_PER_EPS = 1e-3 / COLOUR_EPS
"""Adam's lr is kept proportional to ε (docs/cae.md: lr 1e-3 for ε = 0.025), so the same number of steps can
cross the ball whatever its radius."""

STOP_TOL = 1e-2
"""Relative tolerance of the CEM step stop rule (our default; the paper runs all its steps)."""
STOP_WINDOW = 4
"""Checks over which the best block-mean CEM loss must improve by more than :data:`STOP_TOL` for a seed
batch's optimisation to go on (our default; 0 switches the rule off). Measured on the tiny zoo (3 + 3 pool
models, seeds 0–2): the 100 steps end after 70–100."""
STOP_BLOCK = 5
"""CEM steps per check: the checked objective is the mean loss per seed over a block of steps, since a
single step's loss depends on its member dropout draw (our default)."""
BATCH_TOL = 0.05
"""Relative tolerance of the seed-batch stop rule (our default; the paper goes on until the budget is met
or the seeds run out)."""
BATCH_WINDOW = 3
"""Seed batches over which the candidates passing the selection must grow by more than :data:`BATCH_TOL`
of the count before them (by at least one while none had passed) for the batches to go on (our default; 0
switches the rule off)."""


class ConferrableQueries(PoolSampler):
    """CEM (docs/cae.md#cem [R]) from seeds the victim M classifies correctly, then selection
    (docs/cae.md#selection-and-verification).

    With σ(x') = Softmax(mean_{s∈S} Drop(s(x')) ⊙ (1 − mean_{r∈R} Drop(r(x')))) over softmax outputs of
    surrogates S and references R (Drop keeps each member with probability 1 − ``dropout``, a fresh draw per
    step; at least one member per side is kept), Adam minimises, per seed x₀ and inside the ℓ∞ ball of
    radius ``eps`` clipped to [0,1],

        L = α·H(1, max_t σ_t) − β·H(M(x₀), M(x')) + γ·H(M(x'), mean_{s∈S} s(x')),

    with H the cross-entropy against the hard label M(·) (term 2: leave the source's label; term 3: the
    surrogates agree with the source). A candidate is kept iff M(x') ≠ M(x₀) and
    Conf(x') = Transfer(S; M(x'))·(1 − Transfer(R; M(x'))) ≥ ``tau`` with every pool model and no dropout;
    its label is M(x'). Seeds are processed ``batch_size`` at a time in a seeded random order until
    ``budget`` candidates pass or the seeds (at most ``max_seeds``) run out; then the passing ones are
    returned, or the single most conferrable adversarial candidate if none passed (a warning is logged).

    ``eps=None`` is 0.025 on CIFAR [R] and the top of the paper's sweep elsewhere (:meth:`radius`);
    ``lr=None`` is ``eps`` × 0.04 (1e-3 at ε = 0.025). α, β, γ = 1, 0.1, 0.1, τ = 0.85, 100 steps and
    dropout 0.3 are the [D]/[R] defaults of docs/cae.md#parameters.

    Stop rules (our defaults :data:`STOP_TOL`, :data:`STOP_WINDOW`, :data:`STOP_BLOCK`, :data:`BATCH_TOL`,
    :data:`BATCH_WINDOW`; :mod:`modelprint.ops.convergence`):

    * steps: ``steps`` is the cap; after every block of ``stop_block`` steps the block's mean CEM loss per
      seed (the loss the steps minimise) is checked, and a seed batch's optimisation ends once the best
      block mean has improved by at most ``stop_tol`` (relative) over the last ``stop_window`` blocks
      (1e-2 over 4 blocks of 5 steps by default);
    * seed batches: they end once the last ``batch_window`` batches added at most ``batch_tol`` × the
      candidates that had passed the selection before them (0.05 over 3 batches; none at all while none
      had passed).

    ``stop_window=0, batch_window=0``: every step and every seed batch, as before the rules. Extras:
    ``index`` (seed in ``data``), ``source_label`` M(x₀), ``conferrability`` (no dropout), ``num_selected``
    (how many passed the selection), ``steps_run`` (CEM steps each seed batch ran) and ``batches_run``
    (seed batches that ran)."""

    structure: QueryStructure = "points"

    def __init__(
        self,
        *,
        pool_spec: PoolSpec = CAE_POOL,
        eps: float | None = None,
        lr: float | None = None,
        steps: int = 100,
        alpha: float = 1.0,
        beta: float = 0.1,
        gamma: float = 0.1,
        dropout: float = 0.3,
        tau: float = 0.85,
        batch_size: int = 128,
        max_seeds: int | None = None,
        stop_tol: float = STOP_TOL,
        stop_window: int = STOP_WINDOW,
        stop_block: int = STOP_BLOCK,
        batch_tol: float = BATCH_TOL,
        batch_window: int = BATCH_WINDOW,
    ) -> None:
        if eps is not None and eps <= 0:
            raise ValueError(f"eps must be positive, got {eps}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0,1), got {dropout}")
        if steps < 1 or batch_size < 1 or stop_block < 1:
            raise ValueError("steps, batch_size and stop_block must be positive")
        StopRule(stop_tol, stop_window), StopRule(batch_tol, batch_window)  # validate the settings
        self.pool_spec = pool_spec
        self.eps = eps
        self.lr = lr
        self.steps = steps
        self.alpha = alpha
        self.beta = beta
        self.gamma = gamma
        self.dropout = dropout
        self.tau = tau
        self.batch_size = batch_size
        self.max_seeds = max_seeds
        self.stop_tol, self.stop_window, self.stop_block = stop_tol, stop_window, stop_block
        self.batch_tol, self.batch_window = batch_tol, batch_window

    def radius(self, data: Dataset) -> float:
        """The ℓ∞ radius used on ``data``: ``eps``, or the reconstruction's 0.025 on the papers' data (CIFAR,
        :mod:`modelprint.data.traits`) and :data:`SWEEP_TOP_EPS` elsewhere (at 0.025 the digit models
        almost never change their label, so CEM yields no adversarial candidate)."""
        if self.eps is not None:
            return self.eps
        return COLOUR_EPS if traits_of(data.name).papers_data else SWEEP_TOP_EPS

    def _keep(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Member dropout: a (n,) 0/1 mask keeping each member with probability 1 − dropout (≥ 1 kept)."""
        mask = (torch.rand(n, generator=generator) >= self.dropout).float()
        if mask.sum() == 0:
            mask[torch.randint(n, (1,), generator=generator)] = 1.0
        return mask

    def cem(
        self,
        victim: TorchClassifier,
        ensemble: PoolEnsemble,
        n_surrogates: int,
        x0: torch.Tensor,
        eps: float,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, int]:
        """CEM-optimised candidates for seeds ``x0`` (ensemble members: surrogates first, then references)
        and the number of steps that ran."""
        lr = self.lr if self.lr is not None else eps * LR_PER_EPS
        y0 = victim.predict(x0)
        x = x0.clone().requires_grad_(True)
        opt = torch.optim.Adam([x], lr=lr)
        n_refs = len(ensemble) - n_surrogates
        plateau = StopRule(self.stop_tol, self.stop_window).plateau()
        block_loss: float | torch.Tensor = 0.0
        steps_run = 0
        while steps_run < self.steps:
            probs = ensemble.probs(x)  # (P, N, K)
            surrogates, references = probs[:n_surrogates], probs[n_surrogates:]
            keep_s = self._keep(n_surrogates, generator).view(-1, 1, 1)
            keep_r = self._keep(n_refs, generator).view(-1, 1, 1)
            mean_s = (surrogates * keep_s).sum(0) / keep_s.sum()
            mean_r = (references * keep_r).sum(0) / keep_r.sum()
            sigma = torch.softmax(mean_s * (1.0 - mean_r), dim=1)
            conferrable = -torch.log(sigma.max(dim=1).values)  # H(1, max_t σ_t)
            source = victim.forward(x)
            adversarial = F.cross_entropy(source, y0, reduction="none")  # H(M(x0), M(x'))
            agree = F.nll_loss(
                torch.log(surrogates.mean(0).clamp_min(1e-12)), source.argmax(1).detach(), reduction="none"
            )  # H(M(x'), mean_s s(x'))
            loss = (self.alpha * conferrable - self.beta * adversarial + self.gamma * agree).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                x.copy_(torch.minimum(torch.maximum(x, x0 - eps), x0 + eps).clamp_(0.0, 1.0))
            steps_run += 1
            block_loss = block_loss + loss.detach()
            if steps_run % self.stop_block == 0:
                if plateau.update(float(block_loss) / (self.stop_block * len(x0))):
                    break
                block_loss = 0.0
        return x.detach(), steps_run

    @staticmethod
    def conferrability(
        ensemble: PoolEnsemble, n_surrogates: int, x: torch.Tensor, target: torch.Tensor
    ) -> torch.Tensor:
        """Conf(x; t) = Transfer(S; t)·(1 − Transfer(R; t)) with every member, no dropout
        (docs/cae.md#pools)."""
        hits = (ensemble.labels(x) == target.view(1, -1)).float()  # (P, N)
        return hits[:n_surrogates].mean(0) * (1.0 - hits[n_surrogates:].mean(0))

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
        eps = self.radius(data)
        correct = (victim.predict(data.images) == data.labels).nonzero().flatten()
        if len(correct) == 0:
            raise ValueError(f"CAE: the victim classifies no seed of {data.name} correctly")
        order = correct[torch.randperm(len(correct), generator=generator)]
        if self.max_seeds is not None:
            order = order[: self.max_seeds]
        ensemble = PoolEnsemble([*pool.positives, *pool.negatives])
        n_s = len(pool.positives)
        parts: dict[str, list[torch.Tensor]] = {
            k: [] for k in ("inputs", "index", "source_label", "conferrability", "passed")
        }
        found = 0
        batches = StopRule(self.batch_tol, self.batch_window).plateau(maximise=True)
        batches.update(found)
        steps_run: list[int] = []
        for start in range(0, len(order), self.batch_size):
            if found >= budget:
                break
            idx = order[start : start + self.batch_size]
            x0 = data.images[idx]
            x, steps = self.cem(victim, ensemble, n_s, x0, eps, generator)
            steps_run.append(steps)
            label = victim.predict(x)
            conf = self.conferrability(ensemble, n_s, x, label)
            adversarial = label != victim.predict(x0)
            passed = adversarial & (conf >= self.tau)
            found += int(passed.sum())
            for key, value in (
                ("inputs", x),
                ("index", idx),
                ("source_label", victim.predict(x0)),
                ("conferrability", torch.where(adversarial, conf, torch.full_like(conf, -1.0))),
                ("passed", passed),
            ):
                parts[key].append(value)
            if batches.update(found) and found < budget:
                log.info(
                    "CAE: passing candidates stopped growing after %d seed batches (%d found)",
                    len(steps_run),
                    found,
                )
                break
        cat = {k: torch.cat(v) for k, v in parts.items()}
        passed = cat["passed"]
        chosen = passed.nonzero().flatten()[:budget]
        if len(chosen) < budget:
            log.warning(
                "CAE: only %d of %d candidates passed the selection (tau=%.2f)", len(chosen), budget, self.tau
            )
        if len(chosen) == 0:
            chosen = cat["conferrability"].argmax().view(1)  # the most conferrable adversarial candidate
        extras = {k: cat[k][chosen] for k in ("index", "source_label", "conferrability")}
        extras["num_selected"] = torch.tensor(int(passed.sum().clamp_max(budget)))
        extras["steps_run"] = torch.tensor(steps_run)
        extras["batches_run"] = torch.tensor(len(steps_run))
        extras["eps"] = torch.tensor([eps])
        return Queries(cat["inputs"][chosen], data.labels[cat["index"][chosen]], extras)
