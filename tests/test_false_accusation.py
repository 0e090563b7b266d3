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
def test_leave_one_out_rates_on_tiny(tiny: TinyZoo, tmp_path: Path) -> None:
    ws = Workspace(tmp_path / "home")
    shutil.copytree(tiny.store.root / "models", ws.store.root / "models")
    run_preset(tiny.preset, resolve_fingerprints(["akh", "random"]), [0, 1, 2], ws, progress=False)
    out = subprocess.run(
        [sys.executable, str(BENCH), "--preset", "tiny", "--home", str(ws.home), "--alphas", "0.05,0.2"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    # five negatives: calibration sets of four, so p >= 1/5 and nothing is accused at α = 0.05
    assert "calibration sets of 4 (smallest p = 1/5)" in out
    rows = {
        tuple(line.split()[:2]): line for line in out.splitlines() if line.startswith(("akh ", "random "))
    }
    for scheme in ("akh", "random"):
        line = rows[(scheme, "all")]
        counts = [(int(k), int(n)) for k, n in re.findall(r"(\d+)/(\d+)", line)]
        assert counts[0][0] == 0 and counts[0][1] == 15  # α = 0.05: 5 negatives × 3 seeds, none accused
        assert counts[1][0] <= counts[1][1]  # α = 0.2: at most the top one per cell
