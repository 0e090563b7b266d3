"""The benchmark grid (keys and scoring) on local worker processes and on a Dask local cluster: the wall
time ratio, and whether both stored the same rows and keys.

Both runs start from empty key folders and results databases over the same built zoo, with the same
number of workers (one torch thread each).

    python bench/grid_executors.py --preset quick --schemes akh,random,ipguard,modeldiff,sac-w,sac-m,zest
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

from modelprint.attacks import AttackContext
from modelprint.bench.pipeline import build_preset, resolve_fingerprints
from modelprint.bench.runner import run_benchmark
from modelprint.keys import KeyStore
from modelprint.results import ResultsDB
from modelprint.workspace import Workspace
from modelprint.zoo.executors import DaskExecutor, Executor, LocalExecutor
from modelprint.zoo.preset_files import resolve_preset


def timed_grid(args: argparse.Namespace, ws: Workspace, root: Path, executor: Executor) -> float:
    preset = resolve_preset(args.preset)
    fps = resolve_fingerprints(args.schemes.split(","))
    seeds = [int(s) for s in args.seeds.split(",")]
    with ResultsDB(root / "results.sqlite") as db:
        start = time.perf_counter()
        run_benchmark(preset, fps, seeds, store=ws.store, results=db, keys=KeyStore(root / "keys"),
                      ctx=AttackContext(preset.dataset), executor=executor)  # fmt: skip
        return time.perf_counter() - start


def stored(root: Path) -> tuple[dict[tuple[object, ...], tuple[float, int]], dict[str, str]]:
    with ResultsDB(root / "results.sqlite") as db:
        rows = {(r.config, r.seed, r.victim, r.suspect): (r.score, r.queries) for r in db.records()}
    keys = {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in (root / "keys").rglob("key.safetensors")}  # fmt: skip
    return rows, keys


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--home", default=None, help="workspace with the built zoo")
    parser.add_argument("--schemes", default="akh,random,ipguard,modeldiff,sac-w,sac-m,zest")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    ws = Workspace.at(args.home)
    local = LocalExecutor(args.jobs)
    build_preset(resolve_preset(args.preset), ws, progress=False, executor=local)
    with tempfile.TemporaryDirectory() as tmp:
        local_s = timed_grid(args, ws, Path(tmp) / "local", local)
        dask = DaskExecutor(n_workers=args.jobs)
        try:
            dask_s = timed_grid(args, ws, Path(tmp) / "dask", dask)
        finally:
            dask.close()
        local_rows, local_keys = stored(Path(tmp) / "local")
        dask_rows, dask_keys = stored(Path(tmp) / "dask")
    same_rows = sum(dask_rows.get(k) == v for k, v in local_rows.items())
    same_keys = sum(dask_keys.get(k) == v for k, v in local_keys.items())
    print(f"preset {args.preset}, schemes {args.schemes}, seeds {args.seeds}, {args.jobs} workers")
    print(f"local (loky processes): {local_s:8.1f} s")
    print(f"dask (LocalCluster):    {dask_s:8.1f} s  (cluster start included)")
    print(f"ratio dask / local:     {dask_s / local_s:8.2f}")
    print(f"identical rows:         {same_rows} / {len(local_rows)}")
    print(f"identical keys:         {same_keys} / {len(local_keys)}")


if __name__ == "__main__":
    main()
