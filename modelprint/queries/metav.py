"""MetaV's adaptive fingerprint (Pan, Yan, Zhang, Yang, KDD'22; docs/metav.md): N learnable inputs trained
jointly with a meta-verifier V on an owner-side pool, V(concat softmax f(X)) → P(f is pirated)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from modelprint.attacks.base import seeded
from modelprint.data import Dataset
from modelprint.models.base import TorchClassifier
from modelprint.ops.convergence import StopRule
from modelprint.pools import Pool, PoolEnsemble, PoolSpec
from modelprint.queries.base import PoolSampler
from modelprint.types import Queries

VERIFIER_PREFIX = "metav."
"""Key extras holding V's parameters (``metav.<state_dict name>``) so verification rebuilds V."""

#: Pirated models for the pool (docs/metav.md#components: fine-tune, prune, distil, adversarial training)
#: built on the owner's data, and independent models over several architectures. 8 + 8 keeps generation on two
#: CPU cores; the paper's pools are larger [R].
METAV_POOL = PoolSpec(
    positives=(
        "finetune(ftal,data=owner)",
        "finetune(rtll,data=owner)",
        "finetune(rtal,data=owner)",
        "prune(0.3,ft=1,data=owner)",
        "prune(0.6,ft=1,data=owner)",
        "distill(data=owner)",
        "distill(cnn-s,data=owner)",
        "advtrain(4,data=owner)",
    ),
    negatives=("same", "same", "cnn-s", "lenet", "mlp", "resnet8", "cnn-s", "lenet"),
)

STOP_TOL = 1e-2
"""Relative tolerance of the iteration stop rule (our default; the paper runs all its iterations)."""
STOP_WINDOW = 4
"""Checks over which the best block-mean BCE must improve by more than :data:`STOP_TOL` for the training to
go on (our default; 0 switches the rule off)."""
STOP_FLOOR = 1.0
"""Below a BCE of 1 nat the tolerance is absolute (``stop_tol`` nats): the BCE of a verifier that separates
its pool decays towards 0 geometrically and never stops improving relatively (our default)."""
STOP_BLOCK = 50
"""Iterations per check: the checked objective is the mean BCE over a block of iterations, since a single
iteration's loss depends on which pool models it drew (our default)."""


def meta_verifier(n_queries: int, num_classes: int, hidden: tuple[int, ...] = (256, 64)) -> nn.Sequential:
    """V: an MLP N·K → 256 → 64 → 1 with ReLU; the sigmoid is applied to its logit [D]."""
    layers: list[nn.Module] = []
    width = n_queries * num_classes
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


class MetaVQueries(PoolSampler):
    """Jointly trains inputs X (``budget`` images, grey plus small uniform noise [R]: NaturalFinger describes
    MetaV queries as "empty images with slight noises") and V with balanced BCE [R]: each iteration draws
    ``per_side`` positive models (the victim is always a positive candidate) and ``per_side`` negatives;
    Adam lr 1e-2 on X and 1e-3 on V [D]; X clamped to [0,1]. ``iterations``: 2,000 here [D] (the
    registered ``metav`` halves it for CPU).
    V's weights travel in the key's extras and :class:`~modelprint.detectors.verifier.MetaVerifier`
    rebuilds them at verification.

    Each iteration evaluates only the ``per_side`` + ``per_side`` models it drew (the same numbers as the
    whole pool then indexed). Stop rule (our defaults :data:`STOP_TOL`, :data:`STOP_WINDOW`,
    :data:`STOP_BLOCK`; :mod:`modelprint.ops.convergence`): ``iterations`` is the cap, and after every block
    of ``stop_block`` iterations the block's mean BCE is checked; training ends once the best block mean has
    improved by at most ``stop_tol`` (relative, absolute in nats below 1 nat) over the last ``stop_window``
    blocks (tol 1e-2 over 4 blocks of 50 iterations by default; ``stop_window=0``: all iterations, as
    before the rule). Extra ``iterations_run``: the iterations that ran (no ``metav.`` prefix: those extras
    are V's weights)."""

    def __init__(
        self,
        *,
        iterations: int = 2000,
        per_side: int = 4,
        lr_inputs: float = 1e-2,
        lr_verifier: float = 1e-3,
        noise: float = 0.05,
        pool_spec: PoolSpec = METAV_POOL,
        stop_tol: float = STOP_TOL,
        stop_window: int = STOP_WINDOW,
        stop_block: int = STOP_BLOCK,
    ) -> None:
        if iterations < 1 or per_side < 1 or stop_block < 1:
            raise ValueError("metav: iterations, per_side and stop_block must be >= 1")
        StopRule(stop_tol, stop_window)  # validates both
        self.iterations, self.per_side = iterations, per_side
        self.lr_inputs, self.lr_verifier, self.noise = lr_inputs, lr_verifier, noise
        self.pool_spec = pool_spec
        self.stop_tol, self.stop_window, self.stop_block = stop_tol, stop_window, stop_block

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
        c, h, w = victim.input_shape
        x = (0.5 + self.noise * (2 * torch.rand(budget, c, h, w, generator=generator) - 1)).clamp(0, 1)
        x.requires_grad_(True)
        seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
        with seeded(seed):
            verifier = meta_verifier(budget, victim.num_classes)
        positives = PoolEnsemble([victim, *pool.positives])
        negatives = PoolEnsemble(list(pool.negatives))
        opt = torch.optim.Adam(
            [{"params": [x], "lr": self.lr_inputs}, {"params": verifier.parameters(), "lr": self.lr_verifier}]
        )
        k_pos, k_neg = min(self.per_side, len(positives)), min(self.per_side, len(negatives))
        target = torch.cat([torch.ones(k_pos), torch.zeros(k_neg)])
        weight = torch.cat([torch.full((k_pos,), 0.5 / k_pos), torch.full((k_neg,), 0.5 / k_neg)])
        plateau = StopRule(self.stop_tol, self.stop_window, STOP_FLOOR).plateau()
        block_loss, done = 0.0, 0
        while done < self.iterations:
            pick_pos = torch.randperm(len(positives), generator=generator)[:k_pos].tolist()
            pick_neg = torch.randperm(len(negatives), generator=generator)[:k_neg].tolist()
            probs = torch.cat(  # (M, N, K): only the drawn models run
                [positives.logits(x, pick_pos).softmax(-1), negatives.logits(x, pick_neg).softmax(-1)]
            )
            logit = verifier(probs.flatten(1)).squeeze(1)
            loss = F.binary_cross_entropy_with_logits(logit, target, weight=weight, reduction="sum")
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                x.clamp_(0, 1)
            done += 1
            block_loss += float(loss.detach())
            if done % self.stop_block == 0:
                if plateau.update(block_loss / self.stop_block):
                    break
                block_loss = 0.0
        extras = {VERIFIER_PREFIX + k: v.detach().clone() for k, v in verifier.state_dict().items()}
        extras["iterations_run"] = torch.tensor(done)
        return Queries(x.detach().clone(), None, extras)
