"""Build the same zoo with the local executor and with a local Dask cluster; print the time ratio and
check that both produced byte-identical models.

    python bench/zoo_executors.py --preset quick --jobs 2
    python bench/zoo_executors.py --preset fingerbench --reference DIR --reference-seconds 1836.5
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from modelprint.attacks import AttackContext
from modelprint.zoo.builder import build_zoo
from modelprint.zoo.executors import DaskExecutor, Executor, LocalExecutor
from modelprint.zoo.preset_files import resolve_preset
from modelprint.zoo.store import ModelStore


def timed_build(
    lineages: list[str], root: Path, dataset: str, executor: Executor
) -> tuple[float, dict[str, str]]:
    store = ModelStore(root)
    start = time.perf_counter()
    build_zoo(lineages, store, AttackContext(dataset), executor=executor)
    seconds = time.perf_counter() - start
    return seconds, {lin: store.card(lin).sha256 for lin in lineages}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="only the first N lineages (0 = all)")
    parser.add_argument(
        "--reference",
        type=Path,
        help="a workspace whose zoo already holds a complete local build of the preset: its model hashes "
        "are compared and --reference-seconds is used as the local time, instead of building again",
    )
    parser.add_argument("--reference-seconds", type=float, help="wall seconds of that local build")
    args = parser.parse_args()
    if (args.reference is None) != (args.reference_seconds is None):
        parser.error("--reference and --reference-seconds go together")
    preset = resolve_preset(args.preset)
    lineages = preset.lineages()[: args.limit or None]
    with tempfile.TemporaryDirectory() as tmp:
        if args.reference is not None:
            store = ModelStore(args.reference / "zoo")
            missing = [lin for lin in lineages if not store.is_valid(lin)]
            if missing:
                parser.error(f"the reference zoo lacks {len(missing)} models, e.g. {missing[0]}")
            local_s, local_h = args.reference_seconds, {lin: store.card(lin).sha256 for lin in lineages}
            print(f"local build: the reference zoo in {args.reference} ({local_s:.1f} s as given)")
        else:
            local_ex = LocalExecutor(args.jobs)
            local_s, local_h = timed_build(lineages, Path(tmp) / "local", preset.dataset, local_ex)
        dask_ex = DaskExecutor(n_workers=args.jobs)
        try:
            dask_s, dask_h = timed_build(lineages, Path(tmp) / "dask", preset.dataset, dask_ex)
        finally:
            dask_ex.close()
    same = sum(local_h[k] == dask_h[k] for k in lineages)
    print(f"preset {args.preset}: {len(lineages)} models, {args.jobs} workers")
    print(f"local (loky processes): {local_s:8.1f} s")
    print(f"dask (LocalCluster):    {dask_s:8.1f} s")
    print(f"ratio dask / local:     {dask_s / local_s:8.2f}")
    print(f"identical models:       {same} / {len(lineages)}")


if __name__ == "__main__":
    main()
