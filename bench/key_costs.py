"""What every named scheme's key costs on a preset, where the time goes, and what the stop rules save.

For each scheme: the key seconds (one torch thread, from the benchmark's own key table), the query count,
and the AUC over the seeds. Schemes with stop rules (settings named ``*_window``) also run with every window
set to 0 — the paper's step count, the rule off — in the same run, so the table gives key seconds and AUC
before and after side by side. ``--profile`` generates one key per scheme (the default settings, seed 0)
under cProfile to split its time into model loading, forward passes, backward passes and the rest, and
counts its FLOPs (``torch.utils.flop_counter``); FLOPs over the unprofiled key seconds of seed 0 give its
FLOP rate, printed against this core's measured one-thread matmul rate.

    python bench/key_costs.py --preset quick --seeds 0,1,2 --before-seeds 0,1,2 --profile
    python bench/key_costs.py --schemes mfue-w,mfue-b --before-seeds 0      # add rows; a rerun resumes

Keys, rows and timings live in the workspace (``--home``), so runs add up and a rerun recomputes nothing.
"""

from __future__ import annotations

import argparse
import cProfile
import inspect
import pstats
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch

from modelprint.attacks import AttackContext
from modelprint.bench.pipeline import build_preset
from modelprint.bench.runner import run_benchmark
from modelprint.fingerprints.base import FINGERPRINTS, Fingerprint, parse_fingerprint
from modelprint.memo import Memo
from modelprint.metrics import roc_auc
from modelprint.pools import build_pool
from modelprint.results import ResultsDB
from modelprint.workspace import Workspace
from modelprint.zoo.executors import LocalExecutor, make_executor
from modelprint.zoo.preset_files import resolve_preset

HEAVY = ("mfue-w", "mfue-b", "metafinger", "anafp", "naturalfinger", "cae", "metav", "adv-tra")


COST_SETTINGS = ("grid_coarse",)
"""Cost settings other than stop-rule windows whose 0 restores the exhaustive loop (AnaFP's coarse grid)."""


def stop_off(name: str) -> str | None:
    """The spec of ``name`` with every stop-rule window (and cost setting) at 0: the paper's step counts
    (None if the scheme has none)."""
    params = inspect.signature(FINGERPRINTS.get(name)).parameters
    off = sorted(p for p in params if p.endswith("window") or p in COST_SETTINGS)
    return f"{name}:" + ",".join(f"{w}=0" for w in off) if off else None


def matmul_rate(size: int = 512, repeats: int = 20) -> float:
    """Best one-thread FLOP/s of a ``size``³ float32 matmul."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t)
    return 2 * size**3 / best


def clear_memos() -> None:
    """Empty every in-process memo of the package, so a repeated generation recomputes."""
    for name, module in list(sys.modules.items()):
        if name.startswith("modelprint"):
            for value in vars(module).values():
                if isinstance(value, Memo):
                    value.clear()


def profile_key(fp: Fingerprint, ws: Workspace, victim: str, ctx: AttackContext) -> dict[str, float]:
    """Seconds of one fresh key by bucket (cProfile), and its FLOPs (counted in a second run)."""
    data = ctx.split("test")

    def generate() -> None:
        pool = build_pool(fp.pool_spec, victim, ws.store, ctx) if fp.pool_spec is not None else None
        model = ws.store.load(victim)
        fp.generate(model, data, seed=0, pool=pool)

    clear_memos()
    prof = cProfile.Profile()
    start = time.perf_counter()
    prof.runcall(generate)
    total = time.perf_counter() - start
    stats = pstats.Stats(prof)
    cum: dict[str, float] = defaultdict(float)
    for (file, _, func), (_, _, _, ct, _) in stats.stats.items():  # type: ignore[attr-defined]
        if func in ("load", "build_pool") and ("zoo/store" in file or "pools/builder" in file):
            cum["loading"] += ct
        elif func == "_call_impl" and "torch/nn/modules/module.py" in file:
            cum["forward"] += ct
        elif func in ("backward", "grad") and "torch/autograd/__init__.py" in file:
            cum["backward"] += ct
    from torch.utils.flop_counter import FlopCounterMode

    clear_memos()
    with FlopCounterMode(display=False) as counter:
        generate()
    other = max(0.0, total - cum["loading"] - cum["forward"] - cum["backward"])
    return {"total": total, **cum, "other": other, "flops": float(counter.get_total_flops())}


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--home", default=None, help="workspace (default: ./modelprint-data)")
    parser.add_argument("--schemes", default=",".join(HEAVY), help="comma-separated, or 'all'")
    parser.add_argument("--seeds", default="0,1,2", help="seeds of the default (stop rules on) keys")
    parser.add_argument("--before-seeds", default="0", help="seeds of the rule-off keys ('' for none)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes (one thread each)")
    parser.add_argument("--executor", default="local")
    parser.add_argument("--profile", action="store_true", help="split one key's time and count its FLOPs")
    parser.add_argument("--grids", default="", help="presets whose grid time to estimate, e.g. tiny,mfue")
    args = parser.parse_args()
    preset = resolve_preset(args.preset)
    ws = Workspace.at(args.home)
    names = sorted(FINGERPRINTS) if args.schemes == "all" else args.schemes.split(",")
    seeds = [int(s) for s in args.seeds.split(",") if s]
    before_seeds = [int(s) for s in args.before_seeds.split(",") if s]
    executor = LocalExecutor(args.jobs) if args.executor == "local" else make_executor(args.executor)
    build_preset(preset, ws, progress=False, executor=executor)
    ctx = AttackContext(preset.dataset)
    after = {n: parse_fingerprint(n) for n in names}
    before = {n: parse_fingerprint(s) for n in names if (s := stop_off(n)) is not None}
    with ResultsDB(ws.results_path) as db:
        for fps, s in ((list(after.values()), seeds), (list(before.values()), before_seeds)):
            if fps and s:
                run_benchmark(preset, fps, s, store=ws.store, results=db, keys=ws.keys, ctx=ctx,
                              executor=executor)  # fmt: skip
        keys = db.key_records()
        records = db.records(fingerprints=[fp.name for fp in [*after.values(), *before.values()]], threat="")
    victims = set(preset.victims)
    suspects = {p.suspect for p in preset.pairs()}

    def verify_seconds(fp: Fingerprint) -> float:
        """Median seconds of one verification (one pair) of ``fp``'s default keys."""
        secs = [r.seconds for r in records if r.config == repr(fp)]
        return statistics.median(secs) if secs else float("nan")

    def summary(fp: Fingerprint, on: list[int]) -> tuple[str, str, str]:
        ks = [k for k in keys if k.config == repr(fp) and k.victim in victims and k.seed in on]
        aucs = []
        for seed in on:
            rows = [r for r in records if r.config == repr(fp) and r.seed == seed and r.suspect in suspects]
            if rows:
                aucs.append(roc_auc([r.positive for r in rows], [r.score for r in rows]))
        secs = f"{statistics.median(k.seconds for k in ks):8.1f}" if ks else f"{'-':>8}"
        auc = f"{statistics.mean(aucs):.3f}±{statistics.pstdev(aucs):.3f}" if aucs else "-"
        queries = str(max((k.queries for k in ks), default=0))
        return secs, auc, queries

    print(f"\n{args.preset}: key seconds (median over seeds, one thread) and AUC (mean ± std over seeds)")
    print(f"{'scheme':14} {'before s':>8} {'after s':>8} {'ratio':>6} {'AUC before':>12} {'AUC after':>12} "
          f"{'queries':>8} {'verify s':>8}  seeds after / before")  # fmt: skip
    for n in names:
        a_s, a_auc, a_q = summary(after[n], seeds)
        b_s, b_auc, _ = summary(before[n], before_seeds) if n in before else ("       -", "-", "")
        try:
            ratio = f"{float(b_s) / float(a_s):6.1f}"
        except ValueError:
            ratio = f"{'-':>6}"
        print(f"{n:14} {b_s} {a_s} {ratio} {b_auc:>12} {a_auc:>12} {a_q:>8} {verify_seconds(after[n]):8.3f}  "
              f"{args.seeds} / {args.before_seeds if n in before else '-'}")  # fmt: skip
    if args.grids:
        print(f"\nfull grid of these {len(names)} schemes × 3 seeds, one core, from the per-key and per-pair "
              f"costs above (models of other presets differ in size: an estimate)")  # fmt: skip
        key_s = sum(statistics.median([k.seconds for k in keys if k.config == repr(after[n])] or [0.0])
                    for n in names)  # fmt: skip
        pair_s = sum(v for n in names if (v := verify_seconds(after[n])) == v)
        for grid in args.grids.split(","):
            other = resolve_preset(grid)
            n_pairs = len(other.pairs())
            total = 3 * (len(other.victims) * key_s + n_pairs * pair_s)
            print(f"  {grid:12} {len(other.victims):3d} victims {n_pairs:5d} pairs {total / 60:8.1f} CPU-min")
    if args.profile:
        torch.set_num_threads(1)
        rate = matmul_rate()
        print(f"\none-thread float32 matmul: {rate / 1e9:.1f} GFLOP/s")
        print(f"{'scheme':14} {'key s':>7} {'loading':>8} {'forward':>8} {'backward':>9} {'other':>7} "
              f"{'GFLOP':>8} {'GFLOP/s':>8} {'of matmul':>9}")  # fmt: skip
        for n in names:
            p = profile_key(after[n], ws, preset.victims[0], ctx)
            gflops = p["flops"] / 1e9
            timed = [k.seconds for k in keys if k.config == repr(after[n]) and k.seed == 0]
            per_s = gflops / max(timed[0] if timed else p["total"], 1e-9)  # unprofiled key seconds
            print(f"{n:14} {p['total']:7.1f} {p['loading']:8.1f} {p['forward']:8.1f} {p['backward']:9.1f} "
                  f"{p['other']:7.1f} {gflops:8.1f} {per_s:8.2f} {per_s * 1e9 / rate:9.1%}")  # fmt: skip
    print(f"\nworkspace: {Path(ws.home).resolve()}")


if __name__ == "__main__":
    main()
