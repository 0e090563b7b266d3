"""Verification throughput in-process vs over HTTP on loopback (binary bodies, keep-alive).

Self-contained: a randomly initialised ``cnn-m`` on 28×28 grey images and an AKH key (label-only) drawn
from random seed images; the same key is verified against the same model wrapped as an in-process
label-only ``Suspect`` and as a ``RemoteClassifier`` talking to ``modelprint.serving.serve``. Prints
images/s for both and their ratio (the target over HTTP is ≥ 500 images/s for small CNNs).

    python bench/http_verify.py --queries 2048 --batch 256 --repeats 5
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from modelprint.data.base import Dataset
from modelprint.fingerprints import FINGERPRINTS
from modelprint.models.access import Suspect
from modelprint.models.archs import build_arch
from modelprint.models.base import Classifier, TorchClassifier
from modelprint.serving import RemoteClassifier, serve


def rates(
    verify: Callable[[Classifier], float], suspects: dict[str, Classifier], images: int, repeats: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Median images/s of each suspect over ``repeats`` verifications, interleaved so that a load change
    on a shared machine hits both alike (after one warm-up each), and each suspect's score."""
    scores = {name: verify(s) for name, s in suspects.items()}
    seconds: dict[str, list[float]] = {name: [] for name in suspects}
    for _ in range(repeats):
        for name, suspect in suspects.items():
            start = time.perf_counter()
            verify(suspect)
            seconds[name].append(time.perf_counter() - start)
    return {name: images / statistics.median(t) for name, t in seconds.items()}, scores


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--arch", default="cnn-m")
    parser.add_argument("--size", type=int, default=28, help="image side (1 channel)")
    parser.add_argument("--queries", type=int, default=2048, help="the key's query budget")
    parser.add_argument("--batch", type=int, default=256, help="images per HTTP request")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (server and local)")
    parser.add_argument("--json", action="store_true", help="JSON bodies instead of binary")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    shape = (1, args.size, args.size)
    module = build_arch(args.arch, in_channels=1, num_classes=10, image_size=args.size)
    model = TorchClassifier(module, num_classes=10, input_shape=shape, batch_size=args.batch, name=args.arch)
    g = torch.Generator().manual_seed(0)
    n_seeds = 2 * args.queries
    seeds = Dataset(
        "random", torch.rand(n_seeds, *shape, generator=g), torch.randint(10, (n_seeds,), generator=g), 10,
        (0.5,), (0.25,),
    )  # fmt: skip
    fp = FINGERPRINTS.make("akh", budget=args.queries)
    key = fp.generate(model, seeds, seed=0)
    n = key.num_queries

    def verify(suspect: Classifier) -> float:
        return fp.verify(key, suspect)

    with (
        serve(model, access="labels", max_batch=args.batch) as server,
        RemoteClassifier(server.url, batch_size=args.batch, binary=not args.json) as remote,
    ):
        suspects: dict[str, Classifier] = {"local": Suspect(model, access="labels"), "http": remote}
        rate, score = rates(verify, suspects, n, args.repeats)
        requests, served = server.requests_served, server.images_served
    assert score["http"] == score["local"], score
    assert served == n * (args.repeats + 1)
    local_rate, http_rate = rate["local"], rate["http"]

    body = "JSON" if args.json else "binary"
    size = "x".join(map(str, shape))
    print(f"key: akh, {n} label queries on {args.arch} {size}, {args.batch} images/request")
    print(f"{args.threads} torch thread(s), median of {args.repeats} verifications")
    print(f"in-process:        {local_rate:9.0f} images/s")
    print(f"HTTP ({body}):    {http_rate:9.0f} images/s   ({requests} requests, {served} images served)")
    print(f"ratio HTTP/local:  {http_rate / local_rate:9.2f}")


if __name__ == "__main__":
    main()
