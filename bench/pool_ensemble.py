"""Time one forward+backward (to the input) over a pool with the member loop and with the batched
``PoolEnsemble`` (spec §6–9: CAE / MetaFinger / MetaV pools), in the same run, and check that both give the
same logits and input gradients.

    python bench/pool_ensemble.py [--arch cnn-m] [--members 10] [--batch 64] [--repeats 5] [--threads 0]

The defaults are the sizes of the CAE / MetaFinger pools (10 cnn-m members on 1x28x28 inputs, batch 64).
Rows: ``loop`` (``batched=False``), ``batched`` (the default ``method="auto"``), ``vmap`` (``method="vmap"``)
and ``members' forward`` (the old reference: each member's own ``forward``, which also computes weight
gradients). Methods run interleaved, after warm-up; wall-clock and process CPU times are medians. The last
line counts the step's floating-point work and the rate each path reaches: when the loop already runs near
the CPU's arithmetic peak, no batching of the same work can be much faster.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F

from modelprint.models.archs import build_arch
from modelprint.models.base import TorchClassifier
from modelprint.pools.ensemble import PoolEnsemble

Step = Callable[[torch.Tensor], torch.Tensor]


def build_pool(arch: str, members: int, size: int, classes: int) -> list[TorchClassifier]:
    """``members`` models of one architecture, different seeds, random (non-trivial) batch-norm statistics."""
    pool = []
    for seed in range(members):
        torch.manual_seed(seed)
        module = build_arch(arch, in_channels=1, num_classes=classes, image_size=size)
        gen = torch.Generator().manual_seed(seed)
        for layer in module.modules():
            if isinstance(layer, torch.nn.BatchNorm2d):
                layer.running_mean.copy_(0.2 * torch.randn(layer.num_features, generator=gen))
                layer.running_var.copy_(0.5 + torch.rand(layer.num_features, generator=gen))
        pool.append(
            TorchClassifier(
                module, num_classes=classes, input_shape=(1, size, size), mean=[0.1307], std=[0.3081]
            )
        )
    return pool


def step(logits_fn: Step, x0: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward, cross-entropy summed over members, backward to the input; (logits, input gradient)."""
    x = x0.clone().requires_grad_(True)
    logits = logits_fn(x)  # (P, N, K)
    loss = F.cross_entropy(logits.flatten(0, 1), y.repeat(len(logits)), reduction="sum")
    loss.backward()
    assert x.grad is not None
    return logits.detach(), x.grad


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--arch", default="cnn-m")
    parser.add_argument("--members", type=int, default=10)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--size", type=int, default=28, help="input side (1 channel)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0 = leave default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    classes = 10
    pool = build_pool(args.arch, args.members, args.size, classes)
    gen = torch.Generator().manual_seed(0)
    x0 = torch.rand(args.batch, 1, args.size, args.size, generator=gen)
    y = torch.randint(classes, (args.batch,), generator=gen)

    start = time.perf_counter()
    batched = PoolEnsemble(pool, batched=True)
    build_s = time.perf_counter() - start
    methods: dict[str, Step] = {
        "loop": PoolEnsemble(pool, batched=False).logits,
        "batched": batched.logits,
        "vmap": PoolEnsemble(pool, batched=True, method="vmap").logits,
        "members' forward": lambda x: torch.stack([m.forward(x) for m in pool]),
    }
    wall: dict[str, list[float]] = {k: [] for k in methods}
    cpu: dict[str, list[float]] = {k: [] for k in methods}
    results: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    names = list(methods)
    for rep in range(args.warmup + args.repeats):
        for name in names[rep % len(names) :] + names[: rep % len(names)]:  # rotate the order
            t_wall, t_cpu = time.perf_counter(), time.process_time()
            results[name] = step(methods[name], x0, y)
            if rep >= args.warmup:
                wall[name].append(time.perf_counter() - t_wall)
                cpu[name].append(time.process_time() - t_cpu)
        for m in pool:  # the old reference accumulates weight gradients into the members
            m.module.zero_grad(set_to_none=True)

    print(
        f"pool: {args.members} x {args.arch} on 1x{args.size}x{args.size}, batch {args.batch}, "
        f"forward + backward to x (CE summed over members)"
    )
    threads = f"{args.threads} (set)" if args.threads else f"{torch.get_num_threads()} (default)"
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(f"torch {torch.__version__}, threads {threads}, cpus {os.cpu_count()}, load average {load}")
    print(f"batched groups: {batched.groups} (built and probe-checked in {build_s:.2f} s)")
    print(f"{args.warmup} warm-up + {args.repeats} timed repeats, interleaved; medians (min)")
    ref_logits, ref_grad = results["loop"]
    for name in names:
        logits, grad = results[name]
        w, c = statistics.median(wall[name]), statistics.median(cpu[name])
        print(
            f"  {name:17s} wall {w:7.3f} s ({min(wall[name]):6.3f})  cpu {c:7.3f} s  "
            f"max|dlogits| {float((logits - ref_logits).abs().max()):.1e}  "
            f"max|dgrad_x| {float((grad - ref_grad).abs().max()):.1e}"
        )
    loop_w, batched_w = statistics.median(wall["loop"]), statistics.median(wall["batched"])
    loop_c, batched_c = statistics.median(cpu["loop"]), statistics.median(cpu["batched"])
    print(f"ratio loop / batched: wall {loop_w / batched_w:.2f}x, cpu {loop_c / batched_c:.2f}x")
    print(f"max |input gradient| (scale): {float(ref_grad.abs().max()):.1e}")
    flops = count_flops(methods["loop"], x0, y)
    print(
        f"work: {flops / 1e9:.2f} GFLOP per step (forward + backward, counted by torch's FlopCounterMode); "
        f"loop {flops / loop_w / 1e9:.0f} GFLOP/s, batched {flops / batched_w / 1e9:.0f} GFLOP/s"
    )


def count_flops(logits_fn: Step, x0: torch.Tensor, y: torch.Tensor) -> float:
    """Floating-point operations of one :func:`step` (the same for every path: batching adds no work)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        step(logits_fn, x0, y)
    return float(counter.get_total_flops())


if __name__ == "__main__":
    main()
