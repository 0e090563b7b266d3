"""NCHW against channels-last (NHWC) weights, per architecture, one torch thread, in one run.

For each architecture: the best of ``--repeats`` timings of (a) a no-grad forward of ``--images`` images in
batches of ``INFERENCE_BATCH`` (what verification and screening do), (b) forward + input gradient of a
64-image batch (what the boundary, adversarial and trigger searches do), (c) one SGD training step of a
128-image batch (what zoo builds do); the ratio NCHW / channels-last, and the largest logit difference
between the two layouts.

    python bench/channels_last.py --archs cnn-s,cnn-m,resnet8,vgg13-bn,lenet,mlp
"""

from __future__ import annotations

import argparse
import copy
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from modelprint.models.archs import ARCHS
from modelprint.models.base import INFERENCE_BATCH


def best_of(fn: Callable[[], object], repeats: int) -> float:
    """Best wall seconds of ``repeats`` calls (after one warm-up)."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def timings(module: nn.Module, x: torch.Tensor, repeats: int) -> tuple[float, float, float, torch.Tensor]:
    """Seconds of inference, of forward + input gradient, of a training step; and the logits of ``x``."""
    module.eval()

    def infer() -> torch.Tensor:
        with torch.no_grad():
            return torch.cat([module(x[i : i + INFERENCE_BATCH]) for i in range(0, len(x), INFERENCE_BATCH)])

    def input_grad() -> None:
        xa = x[:64].clone().requires_grad_(True)
        torch.autograd.grad(module(xa).sum(), xa)

    logits = infer()
    t_infer, t_grad = best_of(infer, repeats), best_of(input_grad, repeats)
    train = copy.deepcopy(module).train()
    opt = torch.optim.SGD(train.parameters(), lr=0.01, momentum=0.9)
    labels = torch.randint(0, logits.shape[1], (128,), generator=torch.Generator().manual_seed(0))

    def step() -> None:
        opt.zero_grad()
        F.cross_entropy(train(x[:128]), labels).backward()
        opt.step()

    return t_infer, t_grad, best_of(step, repeats), logits


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--archs", default="mlp,lenet,cnn-s,cnn-m,cnn-l,resnet8,resnet20,vgg13-bn")
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--size", type=int, default=28)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    x = torch.rand(args.images, args.channels, args.size, args.size)
    shape = f"{args.channels}×{args.size}×{args.size}"
    print(f"{args.images} images {shape}, one thread; seconds NCHW / NHWC (ratio)")
    heads = ("inference", "forward+input grad", "training step")
    print(f"{'arch':10} " + " ".join(f"{h:>22}" for h in heads) + f" {'max |Δ logit|':>14}")
    for name in args.archs.split(","):
        nchw = ARCHS.get(name)(in_channels=args.channels, num_classes=10, image_size=args.size)
        nhwc = copy.deepcopy(nchw).to(memory_format=torch.channels_last)
        a, b = timings(nchw, x, args.repeats), timings(nhwc, x, args.repeats)
        cells = [f"{p:6.3f} / {q:6.3f} ({p / q:4.2f}×)" for p, q in zip(a[:3], b[:3], strict=True)]
        diff = float((a[3] - b[3]).abs().max())
        print(f"{name:10} {cells[0]:>22} {cells[1]:>22} {cells[2]:>22} {diff:14.2e}")


if __name__ == "__main__":
    main()
