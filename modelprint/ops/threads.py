"""Intra-op thread control for latency-bound loops.

The iterative searches (IPGuard's Adam loop, DeepFool, UAP) run thousands of small tensor ops. With several
intra-op threads on a shared CPU each op waits at an OpenMP barrier for a descheduled peer thread:
on the tiny zoo with 2 threads and one busy core, IPGuard ran orders of magnitude slower than on one
thread. These loops therefore run on one thread; the caller's setting is restored on exit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def intra_op_threads(n: int = 1) -> Iterator[None]:
    """Temporarily cap torch's intra-op thread count at ``n`` (never raises it)."""
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, min(n, before)))
    try:
        yield
    finally:
        torch.set_num_threads(before)
