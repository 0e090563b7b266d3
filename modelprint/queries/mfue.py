"""MFUE queries (Xu et al., KDD'26; docs/mfue.md): unlearnable (error-minimising) triggers
optimised against mimic models, i.e. snapshots of the source under PGD adversarial fine-tuning, and, for
the label-only variant MFUE-b, Monte Carlo probes mixing each trigger with Gaussian noise
(docs/mfue.md#mfue-b-verification).

Mimic models (docs/mfue.md#mimic-models). The code [C] saves one snapshot per epoch of a single adversarial
fine-tuning run. A :class:`~modelprint.pools.PoolSpec` positive is one lineage step that the zoo trains on its
own, and a step text cannot chain steps, so true snapshots would need a new attack. :data:`MFUE_POOL`
therefore approximates snapshot k by an **independent** run of ``advtrain(4,lr=0.001,epochs=k,data=owner)``
for k = 1..10: model k has seen k epochs of ε = 4/255 [P] PGD training at lr 0.001 [P][C] from the source on
the owner's (source training) data [C], so the pool spans the same growing distances from the source as the
snapshots. Differences, all from the zoo's ``advtrain`` step: each run has its own seed and a cosine schedule
over its k epochs (the code keeps lr constant within 10 epochs), so run k drifts about as far as snapshot k/2
to k; PGD uses 10 steps of 1/255 with a random start (code: 20 steps of 1.2/255 from x); and the loss is
½CE(clean) + ½CE(adv) on every batch (code: 64 clean + 8 adversarial samples). Cost: 55 adversarial epochs
(≈ 600 plain epochs) instead of the code's 10.

``Pool`` needs at least one negative. MFUE's generation uses none (τ and θ are set afterwards on a model
ensemble [P]), so :data:`MFUE_POOL` holds one independent model of the victim's architecture on the owner's
data; it serves only as a logged sanity check (its CE on the fresh triggers is logged next to the source's).

Observed on the tiny zoo (digits 8×8, tests/test_mfue.py): the mimic pool barely matters there (mimics at
lr 0.001–0.5 give the same triggers and scores), MFUE-b separates derived from independent models (AUC 1.0)
but MFUE-w at the paper's ε = 8/255, τ = 0.5 hardly does (AUC ≈ 0.55)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import torch
import torch.nn.functional as F

from modelprint.data import Dataset
from modelprint.memo import Memo, data_digest, generator_state, model_digest
from modelprint.models.base import TorchClassifier
from modelprint.ops.convergence import NEVER, StopRule
from modelprint.pools import Pool, PoolEnsemble, PoolSpec
from modelprint.queries.base import PoolSampler
from modelprint.queries.common import QueryStructure
from modelprint.types import Queries

log = logging.getLogger(__name__)

Draw = Literal["member", "mean"]

MIMIC_MODELS = 10
"""Number of mimic models n [P][C]."""

MFUE_POOL = PoolSpec(
    positives=tuple(f"advtrain(4,data=owner,epochs={k},lr=0.001)" for k in range(1, MIMIC_MODELS + 1)),
    negatives=("same",),
)
"""Ten mimic models (≈ snapshots after 1..10 epochs of ε = 4/255 PGD training, lr 0.001; see the module
docstring) and one independent model that generation does not use (``Pool`` requires one)."""

STOP_TOL = 1e-3
"""Relative tolerance of the trigger stop rule (our default; the paper and code run all 2000 iterations)."""
STOP_WINDOW = 100
"""Outer iterations (each ``inner`` = 10 sign steps; 5 % of the 2000) over which the source's CE must
improve by more than :data:`STOP_TOL` for the optimisation to go on (our default; 0 switches the rule off).
On the tiny zoo (seeds 0-2) a window of 20 was far cheaper than the cap, with AUC 0.556 against 0.583; a
window of 100 still costs a small fraction of the cap and gave AUC 0.576."""

PREFIX = "mfue."
"""Key extras of MFUE: ``mfue.index`` (seed positions in the seed set), and for MFUE-b ``mfue.trigger``
(trigger of every probe), ``mfue.alpha`` (α* per trigger), ``mfue.triggers`` (x_UF), ``mfue.kept`` (position
of each kept trigger among those generated) and ``mfue.noise_seed`` (seed of the probe noise draws); both:
``mfue.outer_run`` (outer iterations the trigger optimisation ran, at most ``outer``)."""


def correct_seeds(
    victim: TorchClassifier, data: Dataset, n: int, *, generator: torch.Generator
) -> torch.Tensor:
    """Positions of ``n`` seeds (seeded random order) that the victim classifies correctly
    (docs/mfue.md#trigger-generation [D])."""
    ok = (victim.predict(data.images) == data.labels).nonzero().squeeze(1)
    if len(ok) == 0:
        raise ValueError(f"the victim classifies no sample of {data.name} correctly")
    return ok[torch.randperm(len(ok), generator=generator)[:n]]


def unlearnable_triggers(
    members: Sequence[TorchClassifier],
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    eps: float = 8 / 255,
    step: float = 1.6 / 255,
    outer: int = 2000,
    inner: int = 10,
    decay_at: int = 100,
    decay: float = 0.9,
    draw: Draw = "member",
    stop: StopRule = NEVER,
    generator: torch.Generator,
) -> tuple[torch.Tensor, int]:
    """Eq. 3–4 [P], algorithm of the code [C]: min over ‖δ‖∞ ≤ ``eps`` of CE(f(clip(x+δ)), y) with the
    ground-truth y, one δ for the batch, initialised U(−eps, eps). Each of ``outer`` iterations picks the
    model(s) and runs ``inner`` steps δ ← clamp(δ − η·sign ∇δ CE, −eps, eps), CE averaged over the batch;
    η = ``step`` is multiplied by ``decay`` once, after iteration ``decay_at`` [C].

    ``draw="member"`` [C]: one member drawn uniformly per outer iteration (a stochastic estimate of the
    expectation). ``draw="mean"`` [P Eq. 4]: the exact mean CE over all members every step, one batched
    :class:`~modelprint.pools.PoolEnsemble` call (``len(members)`` times the cost).

    ``stop`` (:class:`~modelprint.ops.convergence.StopRule`) ends the outer loop early: after every outer
    iteration the first member's (the source's, with ``include_source``) mean CE on the current triggers is
    checked, one forward pass per ``inner`` gradient steps, and the loop stops once it has improved by at
    most ``stop.tol`` (relative) over the last ``stop.window`` iterations. The check draws no random
    numbers, so with the rule off (``window=0``) the result is bit-identical to the plain loop.
    Returns (x_UF in [0,1], outer iterations run)."""
    if eps <= 0 or step <= 0 or outer < 1 or inner < 1:
        raise ValueError("unlearnable_triggers: eps, step, outer and inner must be positive")
    if draw not in ("member", "mean"):
        raise ValueError(f"draw must be 'member' or 'mean', got {draw!r}")
    runners = [PoolEnsemble([m]) for m in members] if draw == "member" else [PoolEnsemble(members)]
    delta = (2 * torch.rand(x.shape, generator=generator) - 1) * eps
    eta = step
    plateau = stop.plateau()
    watched = members[0]
    it = 0
    for it in range(1, outer + 1):
        runner = runners[int(torch.randint(len(runners), (1,), generator=generator))]
        for _ in range(inner):
            delta.requires_grad_(True)
            logits = runner.logits((x + delta).clamp(0, 1))  # (P,N,K)
            loss = F.cross_entropy(logits.flatten(0, 1), y.to(logits.device).repeat(len(logits)))
            (grad,) = torch.autograd.grad(loss, delta)
            delta = (delta.detach() - eta * grad.sign()).clamp(-eps, eps)
        if it == decay_at:
            eta *= decay
        if stop.enabled:
            with torch.no_grad():
                watched_ce = F.cross_entropy(watched((x + delta).clamp(0, 1)), y.to(watched.device))
            if plateau.update(float(watched_ce)):
                break
    return (x + delta).clamp(0, 1).detach(), it


_MEMO: Memo[Queries] = Memo(4)
"""Recent trigger optimisations (see :meth:`UnlearnableTriggers.triggers`)."""


class UnlearnableTriggers(PoolSampler):
    """MFUE's Q (docs/mfue.md#trigger-generation): ``budget`` correctly classified seeds of ``data`` (seeded
    random choice [D]; the runner passes the owner's held-out test split, the code's held-out slice [C]) made
    error-minimising against the mimic ensemble {victim} ∪ pool positives (``include_source``; our default
    [D], which avoids the code's swap of the last snapshot for the source [C], docs/conventions.md#pitfalls).
    Queries carry the ground-truth labels and ``mfue.index``. Defaults: ε_UF = 8/255 [P][C], η = 1.6/255,
    2000 × 10 steps, decay 0.9 at iteration 100 [C]."""

    structure: QueryStructure = "points"

    _unprinted = ("stop",)  # the stop rule is printed as stop_tol and stop_window

    def __init__(
        self,
        *,
        eps: float = 8 / 255,
        step: float = 1.6 / 255,
        outer: int = 2000,
        inner: int = 10,
        draw: Draw = "member",
        include_source: bool = True,
        pool_spec: PoolSpec = MFUE_POOL,
        stop_tol: float = STOP_TOL,
        stop_window: int = STOP_WINDOW,
    ) -> None:
        if eps <= 0 or step <= 0 or outer < 1 or inner < 1:
            raise ValueError("mfue: eps, step, outer and inner must be positive")
        if draw not in ("member", "mean"):
            raise ValueError(f"mfue: draw must be 'member' or 'mean', got {draw!r}")
        self.eps, self.step, self.outer, self.inner = eps, step, outer, inner
        self.draw: Draw = draw
        self.include_source = include_source
        self.pool_spec = pool_spec
        self.stop = StopRule(stop_tol, stop_window)  # validates both
        self.stop_tol, self.stop_window = stop_tol, stop_window

    def triggers(
        self, victim: TorchClassifier, data: Dataset, n: int, pool: Pool, *, generator: torch.Generator
    ) -> Queries:
        """``n`` triggers (fewer if fewer seeds are classified correctly) with labels and ``mfue.index``.

        The result is a pure function of the settings, the victim's weights, the seed data, ``n``, the pool
        and the generator's state, so it is memoised on exactly those (:data:`_MEMO`, the last few calls):
        MFUE-w and MFUE-b of one seed, and MFUE-b at several probe counts with the same trigger count, share
        one optimisation — and leave the generator in the same state as a fresh run would."""
        token = (
            repr(self), model_digest(victim), data_digest(data), n,
            pool.positive_lineages, pool.negative_lineages, generator_state(generator),
        )  # fmt: skip
        optimise = lambda: self._optimise(victim, data, n, pool, generator=generator)  # noqa: E731
        return _MEMO.recall(token, optimise, generator)

    def _optimise(
        self, victim: TorchClassifier, data: Dataset, n: int, pool: Pool, *, generator: torch.Generator
    ) -> Queries:
        index = correct_seeds(victim, data, n, generator=generator)
        members = [victim, *pool.positives] if self.include_source else list(pool.positives)
        x, y = data.images[index], data.labels[index]
        x_uf, outer_run = unlearnable_triggers(
            members, x, y, eps=self.eps, step=self.step, outer=self.outer, inner=self.inner, draw=self.draw,
            stop=self.stop, generator=generator,
        )  # fmt: skip
        with torch.no_grad():
            src = F.cross_entropy(victim(x_uf), y, reduction="none")
            clean = F.cross_entropy(victim(x), y, reduction="none")
            neg = [F.cross_entropy(m(x_uf), y, reduction="none") for m in pool.negatives]
        log.info(
            "mfue: %d triggers after %d of %d outer iterations, source CE %.2e (clean seeds %.2e), pool "
            "negatives CE %s",
            len(index), outer_run, self.outer, float(src.mean()), float(clean.mean()),
            [f"{float(v.mean()):.2e}" for v in neg],
        )  # fmt: skip
        extras = {PREFIX + "index": index, PREFIX + "outer_run": torch.tensor(outer_run)}
        return Queries(x_uf, y.clone(), extras)

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
        return self.triggers(victim, data, budget, pool, generator=generator)


def mix(x_uf: torch.Tensor, noise: torch.Tensor, alpha: torch.Tensor) -> torch.Tensor:
    """Eq. 7 [P]: clip(α·x_UF + (1−α)·δ_pb, 0, 1) for triggers (T,C,H,W), noise (T,M,C,H,W), α (T,)."""
    a = alpha.view(-1, 1, 1, 1, 1)
    return (a * x_uf.unsqueeze(1) + (1 - a) * noise).clamp(0, 1)


def alpha_search(
    victim: TorchClassifier,
    x_uf: torch.Tensor,
    y: torch.Tensor,
    noise: torch.Tensor,
    *,
    halvings: int = 8,
    band: tuple[float, float] = (0.4, 0.6),
) -> tuple[torch.Tensor, torch.Tensor]:
    """Step 3 of docs/mfue.md#mfue-b-verification [C], for all triggers at once: bisect α in (0,1) until the
    source's accuracy on the M probes lies in ``band`` (below: α ← larger, towards x_UF; above: smaller), at
    most ``halvings`` times. Returns (α* (T,), found (T,) bool); a trigger without such α is dropped by the
    caller [C]."""
    t, m = noise.shape[:2]
    lo, hi = torch.zeros(t), torch.ones(t)
    alpha, found = torch.full((t,), float("nan")), torch.zeros(t, dtype=torch.bool)
    for _ in range(halvings):
        active = (~found).nonzero().squeeze(1)
        if len(active) == 0:
            break
        a = (lo[active] + hi[active]) / 2
        probes = mix(x_uf[active], noise[active], a).flatten(0, 1)
        acc = (victim.predict(probes).view(len(active), m) == y[active, None]).float().mean(1)
        low, high = acc < band[0], acc > band[1]
        ok = ~(low | high)
        lo[active[low]] = a[low]
        hi[active[high]] = a[high]
        alpha[active[ok]] = a[ok]
        found[active[ok]] = True
    return alpha, found


class ProbedTriggers(PoolSampler):
    """MFUE-b's Q (docs/mfue.md#mfue-b-verification [C]): unlearnable triggers (as
    :class:`UnlearnableTriggers`), each with M = ``probes`` Gaussian noise draws δ_pb ~ N(0, I) in pixel space
    (code; the paper's "gradient ascent" probes are not implemented), α* found by :func:`alpha_search` on the
    source, triggers without α* dropped [C].

    The queries are the M probes of every kept trigger, ``budget // probes`` triggers generated (at least
    one; M = min(``probes``, budget)), so at most ``budget`` label queries are sent and ``len(queries)`` is
    exactly what a suspect is charged. The probes themselves are stored (verification replays them
    bit-for-bit) with labels y and the ``mfue.*`` extras (:data:`PREFIX`); ``mfue.noise_seed`` regenerates the
    draws: ``torch.randn(T, M, C, H, W)`` from that seed, T triggers generated, rows ``mfue.kept``."""

    structure: QueryStructure = "points"

    def __init__(
        self,
        *,
        probes: int = 100,
        halvings: int = 8,
        band: tuple[float, float] = (0.4, 0.6),
        triggers: UnlearnableTriggers | None = None,
    ) -> None:
        if probes < 1 or halvings < 1 or not 0 <= band[0] <= band[1] <= 1:
            raise ValueError("mfue-b: probes and halvings must be positive, band within [0,1]")
        self.probes, self.halvings, self.band = probes, halvings, (float(band[0]), float(band[1]))
        self.base = triggers or UnlearnableTriggers()
        self.pool_spec = self.base.pool_spec

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
        m = min(self.probes, budget)
        base = self.base.triggers(victim, data, max(1, budget // m), pool, generator=generator)
        x_uf, y = base.inputs, base.labels
        assert y is not None
        noise_seed = int(torch.randint(2**62, (1,), generator=generator))
        noise = torch.randn(
            len(x_uf), m, *x_uf.shape[1:], generator=torch.Generator().manual_seed(noise_seed)
        )
        alpha, found = alpha_search(victim, x_uf, y, noise, halvings=self.halvings, band=self.band)
        kept = found.nonzero().squeeze(1)
        log.info("mfue-b: %d of %d triggers found α* (M = %d probes each)", len(kept), len(x_uf), m)
        if len(kept) == 0:
            return Queries(x_uf[:0], y[:0])
        inputs = mix(x_uf[kept], noise[kept], alpha[kept]).flatten(0, 1)
        extras = {
            PREFIX + "index": base.extras[PREFIX + "index"][kept],
            PREFIX + "trigger": torch.arange(len(kept)).repeat_interleave(m),
            PREFIX + "alpha": alpha[kept],
            PREFIX + "triggers": x_uf[kept],
            PREFIX + "kept": kept,
            PREFIX + "noise_seed": torch.tensor([noise_seed], dtype=torch.int64),
            PREFIX + "outer_run": base.extras[PREFIX + "outer_run"],
        }
        return Queries(inputs, y[kept].repeat_interleave(m), extras)
