"""Results out of the workspace: `results export` (CSV / JSON, one row per victim, suspect, scheme, seed and
threat, with the ground truth and the negative's family), `bench run --json`, `--version` and `-q`."""

from __future__ import annotations

import csv
import io
import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelprint.cli import app
from modelprint.results.export import COLUMNS
from modelprint.testing import TinyZoo

runner = CliRunner()


@pytest.fixture(scope="module")
def scored(tiny: TinyZoo, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    home = tmp_path_factory.mktemp("export")
    shutil.copytree(tiny.store.root / "models", home / "zoo" / "models")
    result = runner.invoke(app, ["bench", "run", "tiny", "-f", "akh", "--seeds", "0,1", "--home", str(home),
                                 "--executor", "inline", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    return home, result.stdout


def test_bench_run_json_is_the_summary_table(scored: tuple[Path, str], tiny: TinyZoo) -> None:
    _, out = scored
    body = json.loads(out.strip().splitlines()[-1])
    (akh,) = body["schemes"]
    assert body["preset"] == "tiny" and akh["fingerprint"] == "akh" and akh["queries_mean"] == 100
    assert 0.5 < akh["auc_mean"] <= 1.0 and akh["n_seeds"] == 2 and len(akh["per_seed"]) == 2


def test_export_holds_every_row_with_truth_and_family(scored: tuple[Path, str], tiny: TinyZoo) -> None:
    home, _ = scored
    result = runner.invoke(app, ["results", "export", "--home", str(home), "--preset", "tiny"])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert tuple(rows[0]) == COLUMNS
    assert len(rows) == 2 * len(tiny.preset.pairs())  # 2 seeds × every pair
    negatives = {r["suspect"]: r["family"] for r in rows if r["derived"] == "False"}
    assert negatives["train(cnn-s,digits,201,epochs=15)"] == "same-data same-arch"
    assert negatives["train(lenet,digits,1,data=attacker,epochs=15)"] == "disjoint-data"
    assert all(r["family"] == "derived" for r in rows if r["derived"] == "True")
    out = home / "rows.json"
    args = ["results", "export", "--home", str(home), "--format", "json", "-o", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert len(data) == len(rows) and {d["scheme"] for d in data} == {"akh"}
    assert all(isinstance(d["score"], float) and isinstance(d["derived"], bool) for d in data)


def test_export_errors_are_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["results", "export", "--home", str(tmp_path)])
    assert result.exit_code == 2 and "no results in" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_version_and_quiet() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("modelprint ")
    result = runner.invoke(app, ["-q", "list", "presets"])
    assert result.exit_code == 0 and "quick" in result.stdout


def test_a_presets_results_are_read_by_its_pairs_not_by_the_tag_of_who_scored_them(tmp_path: Path) -> None:
    """A user's preset sharing a victim with quick gets quick's cached rows for the pairs they share."""
    from modelprint.results import ResultsDB, ScoreRecord
    from modelprint.zoo.presets import Preset

    victim, b, c = "train(cnn-m,mnist5k,0)", "train(lenet,mnist5k,9)", "x"
    a = f"{victim}->quantize(8)"
    rows = [
        ScoreRecord("akh", "akh()", 0, victim, s, "", "quick", s == a, "t", 0.5, 100, 0.1, "labels")
        for s in (a, b, c)
    ]
    mine = Preset("mine", "mnist5k", (victim,), (a, b))
    with ResultsDB(tmp_path / "r.sqlite") as db:
        db.add_many(rows)
        assert db.records(preset="mine") == []  # by the tag: nothing, though two pairs are scored
        got = db.records(preset="mine", pairs=mine.pair_ids())
    assert sorted(r.suspect for r in got) == sorted([a, b])


def test_report_of_a_preset_reads_its_pairs_whoever_scored_them(
    scored: tuple[Path, str], tiny: TinyZoo, tmp_path: Path
) -> None:
    """Rows tiny's pairs got under another preset's tag are in `report --preset tiny` (and one pair short
    of a full cell is left out, as in `bench run`)."""
    from modelprint.results import ResultsDB

    home, _ = scored
    other = tmp_path / "home"
    shutil.copytree(home / "zoo", other / "zoo")
    with ResultsDB(home / "results.sqlite") as db:
        rows = [replace(r, preset="someone-else") for r in db.records(preset="tiny")]
    with ResultsDB(other / "results.sqlite") as db:
        db.add_many(rows)
        partial = replace(rows[0], fingerprint="zz-partial", config="zz-partial", suspect=tiny.source)
        db.add_many([partial])
    result = runner.invoke(app, ["report", "--preset", "tiny", "--home", str(other)])
    assert result.exit_code == 0, result.output
    assert "akh" in result.output and "zz-partial" not in result.output
