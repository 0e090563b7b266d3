"""DeepFool (Moosavi-Dezfooli, Fawzi, Frossard, CVPR'16), ℓ2, batched, in [0,1] pixel space.

At the current point the classifier is linearised; the step goes to the nearest linearised boundary
between the original class and any other class, r = (|f_l| + 1e-4)·w_l/‖w_l‖², and is accumulated.
The returned point is x₀ + (1 + overshoot)·Σr, clipped to [0,1] after every step
(docs/conventions.md#images-and-budgets; the paper does not clip). Samples stop independently once their label
has changed or ``max_iter`` is reached."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from modelprint.models.base import TorchClassifier
from modelprint.ops.threads import intra_op_threads


@dataclass(frozen=True)
class DeepFoolResult:
    """``adversarial`` (N,C,H,W) in [0,1]; ``perturbation`` Σr before overshoot; ``iterations`` (N,);
    ``fooled`` (N,) True where the final label differs from the original one."""

    adversarial: torch.Tensor
    perturbation: torch.Tensor
    iterations: torch.Tensor
    fooled: torch.Tensor


def logits_and_class_gradients(model: TorchClassifier, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Logits (B,K) and ∇ₓ g_k for every class k (B,K,C,H,W) in one forward/backward: the batch is
    replicated K times and replicate c back-propagates only its class-c logit (samples are independent
    in eval mode, so this equals K separate backward passes)."""
    b, k = len(x), model.num_classes
    xr = x.detach().repeat(k, 1, 1, 1).requires_grad_(True)
    logits = model.forward(xr)
    chosen = logits.view(k, b, k).diagonal(dim1=0, dim2=2)  # chosen[i, c] = logit c of replicate c
    (grad,) = torch.autograd.grad(chosen.sum(), xr)
    grads = grad.detach().cpu().reshape(k, b, *x.shape[1:]).transpose(0, 1)
    return logits[:b].detach().cpu(), grads


def deepfool_step(logits: torch.Tensor, grads: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """One DeepFool step per sample from logits (B,K) and class gradients (B,K,C,H,W): the minimal ℓ2
    move to the closest linearised boundary of ``original`` (B,)."""
    f = logits - logits.gather(1, original[:, None])
    w = grads - grads[torch.arange(len(original)), original][:, None]
    norms = w.flatten(2).norm(dim=2)
    ratio = f.abs() / norms.clamp_min(1e-12)
    ratio[torch.arange(len(original)), original] = float("inf")
    best = ratio.argmin(dim=1)
    rows = torch.arange(len(original))
    scale = (f[rows, best].abs() + 1e-4) / norms[rows, best].clamp_min(1e-12) ** 2
    return scale.view(-1, *([1] * (grads.ndim - 2))) * w[rows, best]


@intra_op_threads()
def deepfool(
    model: TorchClassifier, x: torch.Tensor, *, overshoot: float = 0.02, max_iter: int = 50
) -> DeepFoolResult:
    """Batched ℓ2 DeepFool on a white-box ``model``; ``x`` (N,C,H,W) in [0,1] on the CPU."""
    if overshoot < 0 or max_iter < 1:
        raise ValueError("deepfool needs overshoot >= 0 and max_iter >= 1")
    if model.num_classes < 2:
        raise ValueError("deepfool needs at least two classes")
    x0 = x.detach().float().cpu()
    original = model.predict(x0)
    total = torch.zeros_like(x0)
    adv = x0.clone()
    iterations = torch.zeros(len(x0), dtype=torch.long)
    active = torch.ones(len(x0), dtype=torch.bool)
    was_training = model.module.training
    model.module.eval()
    try:
        for _ in range(max_iter):
            idx = active.nonzero().flatten()
            if len(idx) == 0:
                break
            logits, grads = logits_and_class_gradients(model, adv[idx])
            still = logits.argmax(1) == original[idx]
            active[idx[~still]] = False
            if not still.any():
                break
            keep = idx[still]
            total[keep] += deepfool_step(logits[still], grads[still], original[keep])
            adv[keep] = (x0[keep] + (1 + overshoot) * total[keep]).clamp(0, 1)
            iterations[keep] += 1
    finally:
        model.module.train(was_training)
    fooled = model.predict(adv) != original
    return DeepFoolResult(adv, total, iterations, fooled)
