"""Sweeps and per-attack ranges in the report (MFUE Figures 4c/d and 9, its probe-count curve)."""

from __future__ import annotations

from matplotlib.figure import Figure

from modelprint.report import ScoreRow, summarise
from modelprint.report.sweeps import find_sweeps, sweep_sections, task_range_records
from modelprint.report.threats import threat_costs, threat_matrix
from modelprint.results import AccuracyRecord


def _rows(fp: str, gap: float, threat: str = "") -> list[ScoreRow]:
    rows = []
    for seed in (0, 1):
        for i in range(4):
            rows.append(ScoreRow(fp, seed, "v", f"p{i}", True, "finetune" if i < 2 else "prune",
                                 0.5 + gap + 0.01 * i, 10, 0.0, threat=threat))  # fmt: skip
            rows.append(ScoreRow(fp, seed, "v", f"n{i}", False, "independent", 0.5 + 0.02 * i, 10, 0.0,
                                 threat=threat))  # fmt: skip
    return rows


def test_sweeps_are_found_per_parameter_with_the_default() -> None:
    labels = ["mfue-b", "mfue-b:budget=1000,probes=10", "mfue-b:budget=5000,probes=50", "akh@50", "akh"]
    sweeps = {(s.base, s.key): s for s in find_sweeps(labels)}
    assert set(sweeps) == {("mfue-b", "budget"), ("mfue-b", "probes")}
    probes = sweeps["mfue-b", "probes"]
    assert probes.points == ((10.0, "mfue-b:budget=1000,probes=10"), (50.0, "mfue-b:budget=5000,probes=50"))
    assert probes.default == "mfue-b"
    assert find_sweeps(["anafp:fixed_lambda=1", "anafp"]) == []  # one value is not a sweep


def test_report_sections_hold_ranges_parameter_and_threat_sweeps() -> None:
    rows = _rows("x", 0.0) + _rows("x:probes=10", 0.05) + _rows("x:probes=50", 0.3)
    threatened = _rows("x", 0.3, "dp-logits:sigma=0.5") + _rows("x", -0.2, "dp-logits:sigma=5")
    clean = [r for r in rows if r.fingerprint == "x"]
    headers, cells = task_range_records(clean, ["x"])
    assert headers == ["task", "x"]
    assert [c[0] for c in cells] == ["finetune", "prune", "independent"]  # positives first
    assert cells[0][1] == "0.50–0.51 (0.51)" and cells[2][1] == "0.50–0.56 (0.53)"
    matrix = threat_matrix(rows + threatened)
    accs = [AccuracyRecord("p", t, "v", a, 100) for t, a in
            (("", 0.99), ("dp-logits:sigma=0.5", 0.97), ("dp-logits:sigma=5", 0.5))]  # fmt: skip
    sections = dict(sweep_sections(rows, summarise(rows), ["x"], matrix, threat_costs(accs)))
    assert "Per-attack score ranges" in sections
    assert isinstance(sections["Sweep: x over probes"], Figure)
    fig = sections["Threat sweep: dp-logits over sigma"]
    assert isinstance(fig, Figure)
    acc_axis = fig.axes[1]
    assert list(acc_axis.lines[0].get_ydata()) == [0.97, 0.5]
