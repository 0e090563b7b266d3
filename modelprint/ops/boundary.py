"""IPGuard's boundary search (Cao, Jia, Gong, AsiaCCS'21) as fixed in docs/ipguard.md.

L(x) = ReLU(g_i(x) − g_j(x) + k) + ReLU(max_{t≠i,j} g_t(x) − g_i(x)) on the logits g: label j with margin
k over i, and i kept as the runner-up. The max excludes i and j with −∞ (QuRD masks with 0, wrong for
negative logits). Adam on x (lr 0.01), clip to [0,1] after each step, and each point stops as soon as its
loss is exactly 0 (its value at that moment is frozen) or after ``max_iter`` steps; ``until="label"`` stops
it at the first step the model labels it j instead (QuRD's rule, which ignores the margin k). With a
:class:`~modelprint.ops.convergence.StopRule`, a point whose loss has stopped improving also stops (its loss
is checked after every step, per point)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from modelprint.models.base import TorchClassifier
from modelprint.ops.convergence import NEVER, StopRule
from modelprint.ops.threads import intra_op_threads


def ipguard_loss(logits: torch.Tensor, source: torch.Tensor, target: torch.Tensor, k: float) -> torch.Tensor:
    """Per-sample IPGuard loss (N,) from logits (N,K), source labels i and targets j ≠ i (N,)."""
    if logits.shape[1] < 3:
        raise ValueError("the IPGuard loss needs at least three classes (i, j and a third one)")
    if torch.any(source == target):
        raise ValueError("IPGuard targets must differ from the source labels (j ≠ i)")
    gi = logits.gather(1, source[:, None]).squeeze(1)
    gj = logits.gather(1, target[:, None]).squeeze(1)
    mask = torch.zeros_like(logits, dtype=torch.bool)
    mask.scatter_(1, source[:, None], True)
    mask.scatter_(1, target[:, None], True)
    others = logits.masked_fill(mask, float("-inf")).max(dim=1).values
    return F.relu(gi - gj + k) + F.relu(others - gi)


@dataclass(frozen=True)
class BoundaryResult:
    """``points`` (N,C,H,W) in [0,1], final ``loss`` (N,) and Adam ``iterations`` (N,) spent per point."""

    points: torch.Tensor
    loss: torch.Tensor
    iterations: torch.Tensor


@intra_op_threads()
def boundary_search(
    model: TorchClassifier,
    x: torch.Tensor,
    source: torch.Tensor,
    target: torch.Tensor,
    *,
    k: float,
    lr: float = 0.01,
    max_iter: int = 1000,
    betas: tuple[float, float] = (0.9, 0.999),
    adam_eps: float = 1e-8,
    until: Literal["loss", "label"] = "loss",
    stop: StopRule = NEVER,
    keep: int | None = None,
) -> BoundaryResult:
    """Minimise :func:`ipguard_loss` over x with Adam (torch's update rule, written out so that finished
    points leave the batch: only the active rows are forwarded, which is what makes 1000 steps cheap).
    Points are independent (eval-mode model), so this equals Adam on the whole batch with the finished
    rows frozen. A point finishes at loss 0 (``until="loss"``) or once labelled j (``"label"``), or once
    ``stop`` finds its loss converged; ``max_iter`` is the cap. ``keep``: only the first ``keep`` points
    (by position) that end labelled j are used, so a point behind ``keep`` already certain ones stops too
    (the points used are exactly those of the full run; the others' values are then not final)."""
    if max_iter < 0:
        raise ValueError("max_iter must be non-negative")
    if until not in ("loss", "label"):
        raise ValueError(f"until must be 'loss' or 'label', got {until!r}")
    source, target = source.cpu().long(), target.cpu().long()
    points = x.detach().float().cpu().clone()
    m1, m2 = torch.zeros_like(points), torch.zeros_like(points)
    done = torch.zeros(len(points), dtype=torch.bool)
    iterations = torch.zeros(len(points), dtype=torch.long)
    plateau = stop.plateau() if stop.enabled else None
    seen = torch.full((len(points),), float("inf"))  # each point's loss at its last step
    certain = torch.zeros(len(points), dtype=torch.bool)  # stopped, and labelled j where they stopped
    b1, b2 = betas
    was_training = model.module.training
    model.module.eval()
    try:
        for step in range(max_iter + 1):
            idx = (~done).nonzero().flatten()
            if len(idx) == 0:
                break
            xa = points[idx].clone().requires_grad_(True)
            logits = model.forward(xa)
            loss = ipguard_loss(logits, source[idx].to(model.device), target[idx].to(model.device), k)
            if until == "loss":
                finished = loss.detach().cpu() <= 0
            else:
                finished = logits.detach().argmax(dim=1).cpu() == target[idx]
            if plateau is not None:
                seen[idx] = loss.detach().cpu()
                plateau.update(seen)
                finished = finished | plateau.converged[idx]
            done[idx[finished]] = True
            if keep is not None:  # loss 0 (margin k > 0) and label j both leave j the argmax
                lands = logits.detach().argmax(dim=1).cpu() == target[idx]
                certain[idx[finished & lands]] = True
                ahead = torch.cumsum(certain.long(), 0) - certain.long()  # certain points before each
                behind = (ahead >= keep) & ~done
                if behind.any():
                    done |= behind
                    finished = finished | behind[idx]
            if step == max_iter or finished.all():
                break
            (grad,) = torch.autograd.grad(loss.sum(), xa)
            act, g = idx[~finished], grad.detach().cpu()[~finished]
            t = step + 1  # every active row has taken exactly ``step`` steps so far
            m1[act] = b1 * m1[act] + (1 - b1) * g
            m2[act] = b2 * m2[act] + (1 - b2) * g * g
            update = (m1[act] / (1 - b1**t)) / ((m2[act] / (1 - b2**t)).sqrt() + adam_eps)
            points[act] = (points[act] - lr * update).clamp(0, 1)
            iterations[act] += 1
        with torch.no_grad():
            last = ipguard_loss(model(points), source, target, k)
    finally:
        model.module.train(was_training)
    return BoundaryResult(points, last, iterations)
