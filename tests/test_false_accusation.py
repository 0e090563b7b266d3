"""The leave-one-out false-accusation bench runs on stored tiny scores and never accuses more than it says."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from modelprint.bench.pipeline import resolve_fingerprints, run_preset
from modelprint.testing import TinyZoo
from modelprint.workspace import Workspace

BENCH = Path(__file__).resolve().parents[1] / "bench" / "false_accusation.py"


@pytest.mark.slow
def test_matched_set_rates_on_tiny(tiny: TinyZoo, tmp_path: Path) -> None:
    """A matched set from `calibrate build`: tiny's negatives (never calibrated on) against the whole set,
    and the set's own models held out in turn."""
    from modelprint.verify import matched_set, save_set

    ws = Workspace(tmp_path / "home")
    shutil.copytree(tiny.store.root / "models", ws.store.root / "models")
    chosen = matched_set(tiny.source, per_arch=4, recipe="cpu-fixed", name="m")
    save_set(ws.home, chosen)
    run_preset(tiny.preset, resolve_fingerprints(["akh", "random"]), [0, 1], ws, progress=False)
    out = subprocess.run(
        [sys.executable, str(BENCH), "--preset", "tiny", "--home", str(ws.home), "--alphas", "0.1",
         "--calibrate", "m"], capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    header = next(line for line in out.splitlines() if "calibrated on" in line)
    assert "12 (smallest p = 1/13)" in header
    for scheme in ("akh", "random", "fisher"):
        lines = [ln for ln in out.splitlines() if ln.startswith(scheme)]
        (matched,) = [ln for ln in lines if "matched set (leave-one-out)" in ln]
        k, n = (int(v) for v in re.findall(r"(\d+)/(\d+)", matched)[0])
        assert n == 24 and k <= 2  # 12 models × 2 seeds; each cell accuses at most its top one (p = 1/12)


@pytest.mark.slow
def test_leave_one_out_rates_on_tiny(tiny: TinyZoo, tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "home")
    shutil.copytree(tiny.store.root / "models", ws.store.root / "models")
    run_preset(tiny.preset, resolve_fingerprints(["akh", "random"]), [0, 1, 2], ws, progress=False)
    out = subprocess.run(
        [sys.executable, str(BENCH), "--preset", "tiny", "--home", str(ws.home), "--alphas", "0.05,0.2"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    # five negatives: calibration sets of four, so p >= 1/5 and verify refuses α = 0.05
    header = next(line for line in out.splitlines() if "calibrated on" in line)
    assert "calibrated on 4 (smallest p = 1/5) models" in header
    rows = {
        tuple(line.split()[:2]): line for line in out.splitlines() if line.startswith(("akh ", "random "))
    }
    for scheme in ("akh", "random"):
        line = rows[(scheme, "all")]
        counts = [(int(k), int(n)) for k, n in re.findall(r"(\d+)/(\d+)", line)]
        assert "refused (n < 19)" in line  # α = 0.05: verify refuses a set of 4
        assert counts[0][1] == 15  # α = 0.2: 5 negatives × 3 seeds
        assert counts[0][0] <= 3  # at most the top one per cell (p = 1/5)
