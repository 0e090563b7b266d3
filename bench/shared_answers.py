"""Answer sharing in the runner: combinations built on one sampler ask each suspect once.

Runs the same set of fingerprints over a preset twice in one process: through the runner (one sampling per
sampler, one answer per query batch and suspect, shared by every representation/detector), and by
recomputing per scheme (each scheme samples and queries on its own). Prints the images each suspect really
answered, the images the schemes were charged for, and the time ratio.

    python bench/shared_answers.py --preset tiny --sampler boundary
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from modelprint.attacks import AttackContext
from modelprint.bench.pipeline import build_preset
from modelprint.bench.runner import run_benchmark
from modelprint.fingerprints.combos import compatible_combos, make_combo
from modelprint.keys import KeyStore
from modelprint.models.access import Suspect
from modelprint.results import ResultsDB
from modelprint.workspace import Workspace
from modelprint.zoo.preset_files import resolve_preset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--sampler", default="boundary", help="combos of this sampler are compared")
    parser.add_argument("--home", default=None, help="workspace with the built zoo (default: a temp dir)")
    args = parser.parse_args()
    preset = resolve_preset(args.preset)
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.at(args.home or tmp)
        build_preset(preset, ws, progress=False)
        fps = [make_combo(c) for c in compatible_combos(samplers=[args.sampler], seeds=["split"])]
        ctx = AttackContext(preset.dataset)
        pairs = preset.pairs()

        start = time.perf_counter()
        with ResultsDB(Path(tmp) / "shared.sqlite") as db:
            keys = KeyStore(Path(tmp) / "keys")
            stats = run_benchmark(preset, fps, [0], store=ws.store, results=db, keys=keys, ctx=ctx)
        shared_s = time.perf_counter() - start

        start = time.perf_counter()
        recomputed_sent = 0
        data = ctx.split("test")
        for fp in fps:
            victim = ws.store.load(pairs[0].victim)
            key = fp.generate(victim, data, seed=0)
            for pair in pairs:
                suspect = Suspect(ws.store.load(pair.suspect), access=fp.needs)
                fp.verify(key, suspect)
                recomputed_sent += suspect.queries_spent
        recomputed_s = time.perf_counter() - start

    print(f"preset {args.preset}: {len(pairs)} suspects, {len(fps)} combinations on sampler {args.sampler}")
    print(f"images charged to the schemes:          {stats.images_charged}")
    print(f"images the suspects answered (shared):  {stats.images_sent}")
    print(f"images the suspects answered (per scheme): {recomputed_sent}")
    print(f"queries per suspect per query set (shared): {stats.images_sent / len(pairs) / fps[0].budget:.2f}")
    ratio = recomputed_s / shared_s
    print(f"time shared: {shared_s:.1f} s, recomputed per scheme: {recomputed_s:.1f} s, ratio {ratio:.2f}x")


if __name__ == "__main__":
    main()
