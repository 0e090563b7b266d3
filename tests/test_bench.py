from pathlib import Path

from typer.testing import CliRunner

from modelprint.bench.pipeline import resolve_fingerprints, run_preset
from modelprint.cli import app, parse_seeds
from modelprint.report import report_rows
from modelprint.results import ResultsDB
from modelprint.testing import TinyZoo
from modelprint.workspace import Workspace


def _workspace_with_tiny(tiny: TinyZoo, tmp_path: Path) -> Workspace:
    import shutil

    ws = Workspace(tmp_path / "home")
    shutil.copytree(tiny.store.root / "models", ws.store.root / "models")
    return ws


def test_runner_scores_every_pair_once_and_resumes(tiny: TinyZoo, tmp_path: Path) -> None:
    ws = _workspace_with_tiny(tiny, tmp_path)
    fps = resolve_fingerprints(["akh", "random"], budget=50)
    first = run_preset(tiny.preset, fps, [0, 1], ws, progress=False)
    n_pairs = len(tiny.preset.pairs())
    assert (
        first.build.built == [] and first.stats.scored == 2 * 2 * n_pairs and first.stats.keys_generated == 4
    )
    second = run_preset(tiny.preset, fps, [0, 1], ws, progress=False)
    assert (
        second.stats.scored == 0
        and second.stats.skipped == 2 * 2 * n_pairs
        and second.stats.keys_generated == 0
    )
    with ResultsDB(ws.results_path) as db:
        records = db.records(preset="tiny")
    assert len(records) == 2 * 2 * n_pairs
    assert all(r.queries == 50 and r.access == "labels" for r in records)
    same = [r for r in records if r.task == "same"]
    assert same and all(r.score == 1.0 and r.positive for r in same)
    assert {r.task for r in records if not r.positive} == {"independent"}
    rows = report_rows(records, ws.store)
    assert all(r.suspect_accuracy is not None and r.suspect_accuracy > 0.8 for r in rows)


def test_cli_runs_the_benchmark_and_writes_the_report(tiny: TinyZoo, tmp_path: Path) -> None:
    ws = _workspace_with_tiny(tiny, tmp_path)
    runner = CliRunner()
    result = runner.invoke(
        app, ["bench", "run", "tiny", "-f", "akh", "-f", "random", "--seeds", "0,1", "--home", str(ws.home)]
    )
    assert result.exit_code == 0, result.output
    assert "akh" in result.output and "random" in result.output and "TPR@5%FPR" in result.output
    html = ws.report_path.read_text()
    assert "<table" in html and "akh" in html and "data:image/png;base64," in html
    # negatives by family (tiny has disjoint-data and same-data ones) and the confidence table
    assert "Negatives by family" in html and "same-data same-arch" in html and "disjoint-data" in html
    assert "same-data other-arch" in result.output and "Confidence: log-loss ratio" in html
    assert "negative: same-data same-arch" in result.output
    listing = runner.invoke(app, ["list", "fingerprints"])
    assert listing.exit_code == 0 and "akh" in listing.output
    bad = runner.invoke(app, ["bench", "run", "tiny", "-f", "nope", "--home", str(ws.home)])
    assert bad.exit_code == 2 and "unknown fingerprint 'nope'" in bad.output


def test_parse_seeds() -> None:
    assert (
        parse_seeds("0,1,2") == [0, 1, 2] and parse_seeds("0-3") == [0, 1, 2, 3] and parse_seeds("2,2") == [2]
    )


def test_budget_sweep_rows_and_curve(tiny: TinyZoo, tmp_path: Path) -> None:
    from modelprint.report import summarise
    from modelprint.report.budget import budget_curves, split_label

    ws = _workspace_with_tiny(tiny, tmp_path)
    run_preset(tiny.preset, resolve_fingerprints(["akh"]), [0, 1], ws, progress=False, budgets=[10, 40])
    with ResultsDB(ws.results_path) as db:
        records = db.records()
    assert {r.fingerprint for r in records} == {"akh@10", "akh@40"}
    assert {r.queries for r in records if r.fingerprint == "akh@40"} == {40}
    assert split_label("akh@40") == ("akh", 40) and split_label("sac-w") == ("sac-w", None)
    figure = budget_curves(summarise(report_rows(records, ws.store)))
    assert figure is not None and len(figure.axes[0].lines) >= 1


def test_schemes_sharing_a_query_set_are_answered_once(tiny: TinyZoo, tmp_path: Path) -> None:
    import dataclasses

    ws = _workspace_with_tiny(tiny, tmp_path)
    akh = resolve_fingerprints(["akh"])[0]
    twin = dataclasses.replace(akh, name="akh-twin")  # same sampler, so the same queries for a seed
    run = run_preset(tiny.preset, [akh, twin], [0], ws, progress=False)
    pairs = len(tiny.preset.pairs())
    assert run.stats.images_charged == 2 * pairs * akh.budget
    assert run.stats.images_sent == pairs * akh.budget


def test_cli_runs_a_sample_of_combinations(tiny: TinyZoo, tmp_path: Path) -> None:
    ws = _workspace_with_tiny(tiny, tmp_path)
    result = CliRunner().invoke(
        app, ["bench", "run", "tiny", "--combos", "--max-combos", "3", "--seeds", "0", "--home", str(ws.home)]
    )
    assert result.exit_code == 0, result.output
    with ResultsDB(ws.results_path) as db:
        names = {r.fingerprint for r in db.records()}
    assert len(names) == 3 and all(n.startswith("q=") for n in names)
    listing = CliRunner().invoke(app, ["list", "combos"])
    count = int(listing.output.strip().splitlines()[-1].split()[0])
    assert listing.exit_code == 0 and count >= 100


def test_results_db_waits_for_another_writer(tmp_path: Path) -> None:
    """Two benchmark processes share a workspace: a write that meets another connection's open write
    transaction waits for it instead of failing with "database is locked" (SQLite's default wait, 5 s, is
    shorter than the 6 s the other writer holds the lock here)."""
    import sqlite3
    import threading
    import time

    from modelprint.results import ScoreRecord

    path = tmp_path / "results.sqlite"
    record = ScoreRecord("akh", "cfg", 0, "v", "s", "", "tiny", True, "finetune", 0.9, 100, 0.1, "labels")
    with ResultsDB(path) as db:
        holder = sqlite3.connect(path, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")  # another process mid-write
        holder.execute("INSERT INTO keys VALUES ('x', 'x', 0, 'v', 1, 0.0)")
        threading.Thread(target=lambda: (time.sleep(6.0), holder.commit())).start()
        t0 = time.perf_counter()
        db.add(record)
        assert time.perf_counter() - t0 >= 5.5  # it waited for the other transaction
        assert db.done("cfg", 0, "v") == {"s"}
        holder.close()
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
