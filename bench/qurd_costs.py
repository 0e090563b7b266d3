"""CPU seconds of QuRD's seven schemes (akh, random, ipguard, modeldiff, sac-w, sac-m, zest) on a preset's
pairs, key generation and verification apart, for this checkout and for another one run side by side.

Each code version runs in its own subprocess with one torch thread, on the same zoo, seeds and pairs; the
same calls (``generate`` then ``verify`` on every pair, each suspect loaded once) are timed with the
process's CPU clock (user and system apart). The AUC of each scheme is printed beside it, so a speed-up
that changed results shows.

    git worktree add /tmp/mp-start 613606d
    python bench/qurd_costs.py --preset quick --seeds 0,1,2 --against /tmp/mp-start
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

SCHEMES = ("akh", "random", "ipguard", "modeldiff", "sac-w", "sac-m", "zest")


def cpu() -> tuple[float, float]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime


def worker(preset_name: str, home: str, seeds: list[int], schemes: list[str]) -> dict[str, object]:
    """Runs inside the subprocess: times every scheme's keys and verifications."""
    import torch

    torch.set_num_threads(1)
    from modelprint.attacks import AttackContext
    from modelprint.fingerprints import FINGERPRINTS
    from modelprint.metrics import roc_auc
    from modelprint.models.access import Suspect
    from modelprint.zoo.presets import PRESETS
    from modelprint.zoo.store import ModelStore

    preset = PRESETS.make(preset_name)
    store = ModelStore(Path(home) / "zoo")
    data = AttackContext(preset.dataset).split("test")
    pairs = preset.pairs()
    lineages = dict.fromkeys([p.victim for p in pairs] + [p.suspect for p in pairs])
    models = {lin: store.load(lin) for lin in lineages}
    out: dict[str, object] = {}
    for name in schemes:
        fp = FINGERPRINTS.make(name)
        key_u = key_s = ver_u = ver_s = 0.0
        aucs, queries = [], 0
        for seed in seeds:
            for victim in dict.fromkeys(p.victim for p in pairs):
                u0, s0 = cpu()
                key = fp.generate(models[victim], data, seed=seed)
                u1, s1 = cpu()
                key_u, key_s = key_u + u1 - u0, key_s + s1 - s0
                scores, labels = [], []
                for pair in (p for p in pairs if p.victim == victim):
                    suspect = Suspect(models[pair.suspect], access=fp.needs)
                    u0, s0 = cpu()
                    scores.append(fp.verify(key, suspect))
                    u1, s1 = cpu()
                    ver_u, ver_s = ver_u + u1 - u0, ver_s + s1 - s0
                    labels.append(pair.positive)
                    queries = max(queries, suspect.queries_spent)
                aucs.append(roc_auc(labels, scores))
        out[name] = {
            "key_user": key_u, "key_sys": key_s, "verify_user": ver_u, "verify_sys": ver_s,
            "auc": sum(aucs) / len(aucs), "queries": queries, "pairs": len(pairs) * len(seeds),
        }  # fmt: skip
    return out


def run_version(code: Path, args: argparse.Namespace) -> tuple[dict[str, dict[str, float]], float]:
    env = {**os.environ, "PYTHONPATH": str(code), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, __file__, "--worker", "--preset", args.preset, "--home", args.home,
           "--seeds", args.seeds, "--schemes", ",".join(args.schemes)]  # fmt: skip
    start = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=code, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{code}: worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1]), time.perf_counter() - start


def table(label: str, res: dict[str, dict[str, float]]) -> float:
    print(f"\n{label}")
    print(f"{'scheme':10} {'key user':>9} {'key sys':>8} {'verify user':>12} {'verify sys':>10} {'total':>8} "
          f"{'AUC':>6} {'queries':>8}")  # fmt: skip
    total = 0.0
    for name, r in res.items():
        t = r["key_user"] + r["key_sys"] + r["verify_user"] + r["verify_sys"]
        total += t
        print(f"{name:10} {r['key_user']:9.1f} {r['key_sys']:8.1f} {r['verify_user']:12.1f} "
              f"{r['verify_sys']:10.1f} {t:8.1f} {r['auc']:6.3f} {int(r['queries']):8d}")  # fmt: skip
    print(f"{'total':10} {'':9} {'':8} {'':12} {'':10} {total:8.1f}")
    return total


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--home", default="modelprint-data", help="workspace whose zoo holds the preset")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--schemes", type=lambda s: s.split(","), default=list(SCHEMES))
    parser.add_argument("--against", type=Path, help="another checkout to time in the same run")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    seeds = [int(s) for s in args.seeds.split(",")]
    args.home = str(Path(args.home).resolve())
    if args.worker:
        print(json.dumps(worker(args.preset, args.home, seeds, args.schemes)))
        return
    here = Path(__file__).resolve().parents[1]
    versions = [("this checkout", here)]
    if args.against:
        versions.append((f"against {args.against}", args.against))
    totals = []
    for label, code in versions:
        res, wall = run_version(code.resolve(), args)
        totals.append(table(f"{label} ({code}), {wall:.0f} s wall, seeds {args.seeds}, one thread", res))
    if len(totals) == 2:
        print(f"\nCPU seconds, {versions[1][0]} / this checkout: {totals[1] / totals[0]:.2f}x")


if __name__ == "__main__":
    main()
