"""ADV-TRA's adversarial trajectories (Xu, Wang, Liu, Yang, Peng, Liu; NeurIPS'24; docs/adv-tra.md).

A fingerprint is a *surface trajectory*: from a clean seed, signed-gradient steps walk across the victim's
boundary into a target class, with step sizes that shrink towards the boundary and grow again after it
(bilateral), chained through ``tra_classes − 1`` targets, each leg starting where the previous one ended.

Per (start x, target t) the unilateral step sizes s_0 … s_{h−1} (h = L/2) are searched [C] so that the
roll-out x_{i+1} = x_i − s_i·sign ∇ℓ(x_i, t) lands in t exactly at step h. The bilateral leg then rolls
out L steps with [s_0 … s_{h−1}, s_{h−1} … s_0] and records its L + 1 points. Everything is batched over
seeds (each seed keeps its own step sizes; finished seeds leave the batch): up to floating-point batch
effects this is the official one-seed-at-a-time loop."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F

from modelprint.data import Dataset
from modelprint.models.base import TorchClassifier
from modelprint.ops.convergence import StopRule
from modelprint.ops.threads import intra_op_threads
from modelprint.pools import Pool
from modelprint.queries.base import QuerySampler
from modelprint.queries.common import QueryStructure
from modelprint.types import Queries

log = logging.getLogger(__name__)

TrajectoryLoss = Literal["logit", "ce"]
Bound = Literal["mask", "clip"]

STOP_TOL = 1e-2
"""Relative tolerance of the per-seed step-search stop rule (our default; the code runs every epoch [C])."""
STOP_WINDOW = 10
"""Epochs over which a seed's best landing miss must improve by more than :data:`STOP_TOL` for its step-size
search to go on (our default; 0 switches the rule off)."""


def target_gap(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """z_t − max_{c≠t} z_c per row (B,): positive where the victim labels x with its target t."""
    z = logits.detach()
    t = target.to(z.device)[:, None]
    return (z.gather(1, t).squeeze(1) - z.scatter(1, t, float("-inf")).amax(dim=1)).cpu()


def signed_gradient(
    victim: TorchClassifier, x: torch.Tensor, target: torch.Tensor, *, loss: TrajectoryLoss = "logit"
) -> tuple[torch.Tensor, torch.Tensor]:
    """(sign ∇_x ℓ(x, t), the victim's labels at x) from one forward/backward pass per batch.

    ``loss="logit"``: ℓ = −z_t, the official code's ``nll_loss`` on raw logits [C]; ``"ce"``: targeted
    cross-entropy, the fork's choice [C]. Both are per sample (summed, so rows do not interact)."""
    sign, labels, _ = signed_gradient_gap(victim, x, target, loss=loss)
    return sign, labels


def signed_gradient_gap(
    victim: TorchClassifier, x: torch.Tensor, target: torch.Tensor, *, loss: TrajectoryLoss = "logit"
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`signed_gradient` and the :func:`target_gap` at x (B,), read off the same forward pass."""
    if len(x) == 0:
        return torch.zeros_like(x), torch.zeros(0, dtype=torch.long), torch.zeros(0)
    signs, labels, gaps = [], [], []
    for i in range(0, len(x), victim.batch_size):
        xb = x[i : i + victim.batch_size].detach().clone().requires_grad_(True)
        tb = target[i : i + victim.batch_size].to(victim.device)
        logits = victim.forward(xb)
        if loss == "logit":
            value = -logits.gather(1, tb[:, None]).sum()
        else:
            value = F.cross_entropy(logits, tb, reduction="sum")
        (grad,) = torch.autograd.grad(value, xb)
        signs.append(grad.sign().cpu())
        labels.append(logits.detach().argmax(dim=1).cpu())
        gaps.append(target_gap(logits, tb))
    return torch.cat(signs), torch.cat(labels), torch.cat(gaps)


def signed_step(
    x: torch.Tensor, step: torch.Tensor, sign: torch.Tensor, *, bound: Bound = "mask"
) -> torch.Tensor:
    """x − s·sign with a per-sample step s (B,). ``bound="mask"``: coordinates that would leave [0,1] do
    not move (the official code [C]); ``"clip"``: clamp to [0,1] (the fork). Both stay in [0,1]."""
    moved = x - step.view(-1, *([1] * (x.ndim - 1))) * sign
    if bound == "clip":
        return moved.clamp(0.0, 1.0)
    return torch.where((moved >= 0.0) & (moved <= 1.0), moved, x)


@dataclass(frozen=True)
class StepSearch:
    """Result of :meth:`TrajectoryQueries.search`: step sizes (B,h), ``accepted`` (B,) and ``epochs``."""

    step_sizes: torch.Tensor
    accepted: torch.Tensor
    epochs: torch.Tensor


@dataclass(frozen=True)
class SurfaceTrajectories:
    """Points (B,m,L+1,C,H,W), victim labels (B,m,L+1), step sizes (B,m,h) and ``ok`` (B,): whether every
    one of the seed's m legs was found (rows with ``ok`` False hold zeros past the failed leg);
    ``search_epochs`` (≤ m,): the epochs each leg's step search ran (its slowest seed), legs in order."""

    points: torch.Tensor
    labels: torch.Tensor
    step_sizes: torch.Tensor
    ok: torch.Tensor
    search_epochs: torch.Tensor


class TrajectoryQueries(QuerySampler):
    """ADV-TRA surface trajectories as queries (docs/adv-tra.md). The class defaults are the official
    code's [C] with our mapping of MFUE's "length 40 with m = 8": L = 4, ``tra_classes`` = 9,
    i.e. 8 legs × 5 points = 40 queries per trajectory [R]. (The registered ``adv-tra`` changes three of
    them for 28×28 data and CPU time; see :func:`modelprint.fingerprints.advtra.advtra`.)

    **Budget split.** With P = (``tra_classes`` − 1)·(L + 1) points per trajectory, a budget b asks
    ⌈b / P⌉ trajectories; when P does not divide b the last one is cut after its first b mod P points (a
    partial trajectory is still matched on its own points). With these defaults MFUE's b = 4000 is
    100 × 40 (its CIFAR-10 configuration). Queries are trajectory-major: trajectory τ's legs in order,
    each leg's L + 1 points (its start included, so a leg's start repeats the previous leg's end, as in
    the official code).

    **Seeds.** Seeds the victim classifies correctly (docs/conventions.md#seed-data), in a random order from
    ``generator``; each gets ``tra_classes`` − 1 distinct targets ≠ its label, drawn uniformly [C]. A seed
    whose step-size search fails on any leg (a step size > 1, or no acceptance within ``max_iteration``
    epochs) is skipped [C]. Seeds are tried in order until enough trajectories succeed (the official code
    stops after the first 2 × ``num_trajectories`` seeds [C]; here every correctly classified seed of the
    split may be tried, so the budget is filled whenever the split allows, and the result is the first ⌈b/P⌉
    successes in seed order either way). They run in batches of ⌈``oversample`` × missing⌉ seeds.

    **Fidelity notes:**

    - the crossed-too-early test checks the intermediate points x_1 … x_{h−1} as
      docs/adv-tra.md#step-size-search states; the official code's index checks x_0 (the start) instead, so
      for L = 4 it never detects an early crossing;
    - the auxiliary loss's gradient reaches s_j only, not s_{j+1} (as the official autograd graph has it,
      where s_{j+1} does not require grad when the term is built);
    - ``accept_after`` = 0.25 keeps the official "accept only after epoch > max_iteration/4" [C]. This is
      the main cost (at least 77 epochs × h gradient passes per leg); ``accept_after=0`` accepts at the
      first epoch that crosses exactly at step h, several times faster. Before that epoch an accepting seed's
      step sizes only move by the auxiliary-loss step (~1e-4 per epoch), so the accepted step sizes barely
      differ (measured on digits: the same to 3 decimals).

    **Stop rule** (our defaults :data:`STOP_TOL`, :data:`STOP_WINDOW`; :mod:`modelprint.ops.convergence`):
    ``max_iteration`` stays the cap of each seed's step-size search, and each seed is checked after every
    epoch on its landing miss Σ_{i<h} max(0, g_i) + max(0, −g_h), g_i = z_t − max_{c≠t} z_c at roll-out point
    x_i (read off the roll-out's own forward passes; 0 when it lands exactly). Once a seed's best miss has
    improved by at most ``stop_tol`` (relative) over the last ``stop_window`` epochs, the seed is retired:
    accepted if it lands exactly at that epoch (bypassing the ``accept_after`` wait, during which its step
    sizes barely move), failed if it has never landed (an oscillating search), else kept until it lands
    again. Tol 1e-2 over 10 epochs by default; ``stop_window=0``: every epoch up to acceptance or the cap,
    bit for bit as before the rule.

    ``extras``: ``trajectory`` (N,) id, ``segment`` (N,) leg, ``target`` (N,) the leg's target class,
    ``step_size`` (N,) the step that reached each point (0 at a leg's start), ``index`` (N,) the seed's index
    in ``data`` and ``source_label`` (N,) the victim's label at generation; ``epochs_run`` (S,) the epochs
    each of the S step searches ran (every leg of every seed batch tried, in order; ≤ ``max_iteration``).
    Labels are the seeds' labels."""

    structure: ClassVar[QueryStructure] = "points"

    def __init__(
        self,
        *,
        length: int = 4,
        max_iteration: int = 300,
        initial_stepsize: float = 0.05,
        tra_lr: float = 0.05,
        factor_lc: float = 0.9,
        factor_re: float = 0.95,
        tra_classes: int = 9,
        loss: TrajectoryLoss = "logit",
        bound: Bound = "mask",
        accept_after: float = 0.25,
        oversample: float = 1.25,
        stop_tol: float = STOP_TOL,
        stop_window: int = STOP_WINDOW,
    ) -> None:
        if length < 2 or length % 2:
            raise ValueError(f"length must be an even number >= 2, got {length}")
        if tra_classes < 2:
            raise ValueError("tra_classes counts the start class: it must be >= 2")
        if loss not in ("logit", "ce"):
            raise ValueError(f"loss must be 'logit' or 'ce', got {loss!r}")
        if bound not in ("mask", "clip"):
            raise ValueError(f"bound must be 'mask' or 'clip', got {bound!r}")
        if not 0 < factor_lc < 1:
            raise ValueError("factor_lc must lie in (0, 1)")
        if initial_stepsize - 0.002 * (length // 2 - 1) <= 0:
            raise ValueError("initial_stepsize is too small for the 0.002 per-step decrement")
        StopRule(stop_tol, stop_window)  # validates both
        self.length = length
        self.max_iteration = max_iteration
        self.initial_stepsize = initial_stepsize
        self.tra_lr = tra_lr
        self.factor_lc = factor_lc
        self.factor_re = factor_re
        self.tra_classes = tra_classes
        self.loss = loss
        self.bound = bound
        self.accept_after = accept_after
        self.oversample = oversample
        self.stop_tol, self.stop_window = stop_tol, stop_window

    @property
    def points_per_trajectory(self) -> int:
        """P = (``tra_classes`` − 1)·(L + 1)."""
        return (self.tra_classes - 1) * (self.length + 1)

    # ------------------------------------------------------------------------------------ one leg

    def search(self, victim: TorchClassifier, x: torch.Tensor, target: torch.Tensor) -> StepSearch:
        """Unilateral step-size search (docs/adv-tra.md#step-size-search) for starts x (B,C,H,W) and targets t
        (B,).

        s_i = s₀ − 0.002·i; per epoch: roll out h steps; status2 = some x_1 … x_{h−1} is already t; status1 =
        x_h is not t and not status2. Accept when neither (after epoch > ``accept_after`` · max_iteration);
        otherwise a step of lr ``tra_lr`` on Σ_j (s_j·decay − s_{j+1})² + Σ_j max(0, −s_j), then
        s ·= 1/factor_lc − 0.049·e/E on status1 (grow) or factor_lc + 0.049·e/E on status2 (shrink); any
        s > 1 fails the seed, as does reaching ``max_iteration`` without acceptance. The stop rule (see the
        class docstring) retires each seed on its own plateau of the landing miss."""
        h, n = self.length // 2, len(x)
        s = (self.initial_stepsize - 0.002 * torch.arange(h, dtype=torch.float32)).repeat(n, 1)
        accepted = torch.zeros(n, dtype=torch.bool)
        failed = torch.zeros(n, dtype=torch.bool)
        epochs = torch.zeros(n, dtype=torch.long)
        decay = self.factor_re
        rule = StopRule(self.stop_tol, self.stop_window)
        plateau = rule.plateau()
        miss = torch.zeros(n, dtype=torch.float64)  # retired seeds keep their last value
        for epoch in range(self.max_iteration):
            idx = (~accepted & ~failed).nonzero().flatten()
            if len(idx) == 0:
                break
            xa, ta, sa = x[idx], target[idx], s[idx]
            early = torch.zeros(len(idx), dtype=torch.bool)
            over = torch.zeros(len(idx), dtype=torch.float64)
            for i in range(h):
                sign, labels, gap = signed_gradient_gap(victim, xa, ta, loss=self.loss)
                if i > 0:
                    early |= labels == ta
                    over += gap.double().clamp(min=0)
                xa = signed_step(xa, sa[:, i], sign, bound=self.bound)
            status2 = early
            if rule.enabled:
                logits = victim(xa)  # predict() is this argmax
                status1 = (logits.argmax(dim=1) != ta) & ~status2
                miss[idx] = over + (-target_gap(logits, ta).double()).clamp(min=0)
            else:
                status1 = (victim.predict(xa) != ta) & ~status2
            epochs[idx] = epoch + 1
            lands = ~status1 & ~status2
            take = lands
            if epoch <= self.accept_after * self.max_iteration:
                take = torch.zeros_like(take)
            give_up = torch.zeros_like(take)
            if rule.enabled:
                plateau.update(miss)
                best = plateau.best
                assert best is not None
                settled = plateau.converged[idx]
                take = take | (settled & lands)
                give_up = settled & ~lands & (best[idx] > 0)
            accepted[idx[take]] = True
            rest = ~take
            grad = torch.zeros_like(sa)
            grad[:, :-1] = 2 * decay * (decay * sa[:, :-1] - sa[:, 1:])
            grad -= (sa < 0).float()
            new = sa - self.tra_lr * grad
            frac = epoch / self.max_iteration
            new = torch.where(status1[:, None], new * (1 / self.factor_lc - 0.049 * frac), new)
            new = torch.where(status2[:, None], new * (self.factor_lc + 0.049 * frac), new)
            s[idx[rest]] = new[rest]
            failed[idx[rest]] = (new[rest] > 1).any(dim=1) | give_up[rest]
        return StepSearch(s, accepted & ~failed, epochs)

    def bilateral(
        self, victim: TorchClassifier, x: torch.Tensor, target: torch.Tensor, step_sizes: torch.Tensor
    ) -> torch.Tensor:
        """The L + 1 points (B,L+1,C,H,W) of the bilateral leg: steps [s_0 … s_{h−1}, s_{h−1} … s_0]."""
        steps = torch.cat([step_sizes, step_sizes.flip(1)], dim=1)
        points = [x]
        for i in range(steps.shape[1]):
            sign, _ = signed_gradient(victim, points[-1], target, loss=self.loss)
            points.append(signed_step(points[-1], steps[:, i], sign, bound=self.bound))
        return torch.stack(points, dim=1)

    def surface(
        self, victim: TorchClassifier, seeds: torch.Tensor, targets: torch.Tensor
    ) -> SurfaceTrajectories:
        """Chain one bilateral leg per column of ``targets`` (B,m), each from the previous leg's end."""
        n, m, h = len(seeds), targets.shape[1], self.length // 2
        points = torch.zeros(n, m, self.length + 1, *seeds.shape[1:])
        steps = torch.zeros(n, m, h)
        ok = torch.ones(n, dtype=torch.bool)
        start = seeds.clone()
        search_epochs: list[int] = []
        for k in range(m):
            idx = ok.nonzero().flatten()
            if len(idx) == 0:
                break
            found = self.search(victim, start[idx], targets[idx, k])
            search_epochs.append(int(found.epochs.max()))
            ok[idx[~found.accepted]] = False
            good = idx[found.accepted]
            leg = self.bilateral(victim, start[good], targets[good, k], found.step_sizes[found.accepted])
            points[good, k] = leg
            steps[good, k] = found.step_sizes[found.accepted]
            start[good] = leg[:, -1]
        labels = torch.zeros(n, m, self.length + 1, dtype=torch.long)
        if bool(ok.any()):
            flat = points[ok].flatten(0, 2)
            labels[ok] = victim.predict(flat).view(-1, m, self.length + 1)
        return SurfaceTrajectories(points, labels, steps, ok, torch.tensor(search_epochs, dtype=torch.long))

    # ------------------------------------------------------------------------------------ sampler

    def draw_targets(
        self, labels: torch.Tensor, num_classes: int, *, generator: torch.Generator
    ) -> torch.Tensor:
        """``tra_classes`` − 1 distinct targets ≠ label per seed (B,m), uniformly without replacement."""
        keys = torch.rand(len(labels), num_classes, generator=generator)
        keys[torch.arange(len(labels)), labels] = 2.0  # never among the smallest
        return keys.argsort(dim=1)[:, : self.tra_classes - 1]

    def sample(
        self,
        victim: TorchClassifier,
        data: Dataset,
        budget: int,
        *,
        generator: torch.Generator,
        pool: Pool | None = None,
    ) -> Queries:
        if victim.num_classes < self.tra_classes:
            raise ValueError(
                f"ADV-TRA crosses {self.tra_classes} classes; the victim has only {victim.num_classes}"
            )
        per = self.points_per_trajectory
        wanted = math.ceil(budget / per) if budget > 0 else 0
        correct = (victim.predict(data.images) == data.labels).nonzero().flatten()
        order = correct[torch.randperm(len(correct), generator=generator)]
        targets = self.draw_targets(data.labels[order], victim.num_classes, generator=generator)
        parts: list[tuple[torch.Tensor, SurfaceTrajectories]] = []
        found, tried = 0, 0
        with intra_op_threads():  # latency-bound step loops, see modelprint.ops.threads
            while found < wanted and tried < len(order):
                chunk = torch.arange(
                    tried, min(len(order), tried + math.ceil(self.oversample * (wanted - found)))
                )
                tried += len(chunk)
                result = self.surface(victim, data.images[order[chunk]], targets[chunk])
                parts.append((chunk, result))
                found += int(result.ok.sum())
        if found < wanted:
            log.warning("ADV-TRA: only %d of %d trajectories succeeded on %s", found, wanted, data.name)
        return self._assemble(data, order, targets, parts, wanted, budget)

    def _assemble(
        self,
        data: Dataset,
        order: torch.Tensor,
        targets: torch.Tensor,
        parts: list[tuple[torch.Tensor, SurfaceTrajectories]],
        wanted: int,
        budget: int,
    ) -> Queries:
        """The first ``wanted`` successful trajectories in seed order, flattened and cut to ``budget``."""
        m, width, shape = self.tra_classes - 1, self.length + 1, data.input_shape
        rows = [(chunk[r.ok], r.points[r.ok], r.labels[r.ok], r.step_sizes[r.ok]) for chunk, r in parts]
        pos = torch.cat([r[0] for r in rows])[:wanted] if rows else torch.zeros(0, dtype=torch.long)
        points = torch.cat([r[1] for r in rows])[:wanted] if rows else torch.zeros(0, m, width, *shape)
        labels = (
            torch.cat([r[2] for r in rows])[:wanted] if rows else torch.zeros(0, m, width, dtype=torch.long)
        )
        steps = torch.cat([r[3] for r in rows])[:wanted] if rows else torch.zeros(0, m, self.length // 2)
        t = len(pos)
        leg_steps = torch.cat([torch.zeros(t, m, 1), steps, steps.flip(2)], dim=2)  # step reaching each point
        grid = torch.meshgrid(torch.arange(t), torch.arange(m), torch.arange(width), indexing="ij")
        seed_index = order[pos]
        extras = {
            "trajectory": grid[0].flatten(),
            "segment": grid[1].flatten(),
            "target": targets[pos][:, :, None].expand(t, m, width).flatten(),
            "step_size": leg_steps.flatten(),
            "index": seed_index[:, None].expand(t, m * width).flatten(),
            "source_label": labels.flatten(),
        }
        inputs = points.flatten(0, 2)
        seed_labels = data.labels[seed_index][:, None].expand(t, m * width).flatten()
        keep = min(budget, len(inputs))
        epochs_run = [r.search_epochs for _, r in parts]
        return Queries(
            inputs[:keep].contiguous(),
            seed_labels[:keep].clone(),
            {
                **{k: v[:keep].contiguous().clone() for k, v in extras.items()},
                "epochs_run": torch.cat(epochs_run) if epochs_run else torch.zeros(0, dtype=torch.long),
            },
        )
