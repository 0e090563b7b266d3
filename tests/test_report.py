"""Benchmark report: summarise on synthetic rows with hand-computed metrics, text table, HTML page."""

from __future__ import annotations

import base64
import math
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from markupsafe import Markup

from modelprint.report import ScoreRow, format_table, render_html, summarise

NEG = [0.5, 0.4, 0.1, 0.0]
SAME = [0.9, 0.8]
# beta's finetune positives per seed; against NEG they give per-seed AUC .75 / .875 / .8125 overall
BETA_FT = {0: [0.3, 0.2], 1: [0.6, 0.2], 2: [0.45, 0.2]}
EVIL = "<script>alert(1)</script>"


def _rows() -> list[ScoreRow]:
    rows = []
    for seed in range(3):
        for fp in ("alpha", "beta"):
            ft = [0.95, 0.85] if fp == "alpha" else BETA_FT[seed]
            queries = 100 if fp == "alpha" else 10 * (seed + 1)
            for i, (task, score) in enumerate(
                [("same", SAME[0]), ("same", SAME[1]), *(("finetune", x) for x in ft)]
            ):
                rows.append(
                    ScoreRow(fp, seed, "victim", f"pos{i}", True, task, score, queries, 0.002, 0.9 - i / 100)
                )
            for i, score in enumerate(NEG):
                name = EVIL if i == 0 else f"neg{i}"
                rows.append(ScoreRow(fp, seed, "victim", name, False, "independent", score, queries, 0.004))
    return rows


def test_summarise_expected_numbers():
    summary = summarise(_rows())
    assert [f.fingerprint for f in summary.fingerprints] == ["alpha", "beta"]
    assert summary.tasks == ("same", "finetune")
    assert summary.negative_tasks == ("independent",)
    alpha, beta = summary.fingerprints

    assert (alpha.auc_mean, alpha.auc_std, alpha.tpr_mean, alpha.tpr_std) == (1.0, 0.0, 1.0, 0.0)
    assert alpha.queries_mean == 100
    assert (alpha.n_seeds, alpha.n_positives, alpha.n_negatives) == (3, 12, 12)

    assert [s.auc for s in beta.per_seed] == pytest.approx([0.75, 0.875, 0.8125])
    # with 4 negatives FPR <= 5% means no false positive: thresholds 0.8 / 0.6 / 0.8
    assert [s.tpr for s in beta.per_seed] == pytest.approx([0.5, 0.75, 0.5])
    assert beta.auc_mean == pytest.approx(0.8125)
    assert beta.auc_std == pytest.approx(0.0625 * math.sqrt(2 / 3))  # population std (ddof=0)
    assert beta.tpr_mean == pytest.approx(7 / 12)
    assert beta.tpr_std == pytest.approx(np.std([0.5, 0.75, 0.5]))
    assert beta.queries_mean == pytest.approx(20.0)
    assert beta.seconds_mean == pytest.approx(0.003)

    # per task: that task's positives vs all negatives of the seed, mean over seeds
    assert summary.per_task_tpr["alpha"] == {"same": 1.0, "finetune": 1.0}
    assert summary.per_task_tpr["beta"]["same"] == 1.0
    assert summary.per_task_tpr["beta"]["finetune"] == pytest.approx((0 + 0.5 + 0) / 3)
    assert summary.per_task_auc["beta"]["finetune"] == pytest.approx((0.5 + 0.75 + 0.625) / 3)

    assert summarise(_rows(), ddof=1).fingerprints[1].auc_std == pytest.approx(0.0625)

    # ARUC (IPGuard): integral over beta in [0, 1] of min(R, U). alpha's positives {.8, .85, .9, .95} and
    # negatives {0, .1, .4, .5}: U on (0, .5] is 1/4, 2/4, 3/4 (area .25), min = 1 on (.5, .8] (.3),
    # R on (.8, 1] is 3/4, 2/4, 1/4, 0 (area .075): .625 for every seed.
    assert alpha.aruc_mean == pytest.approx(0.625) and alpha.aruc_std == pytest.approx(0.0)
    assert [s.aruc for s in alpha.per_seed] == pytest.approx([0.625] * 3)
    assert summary.per_task_aruc["alpha"]["same"] == pytest.approx(0.25 + 0.3 + 0.1 * 0.5)


def test_aruc_is_undefined_for_scores_outside_the_unit_interval():
    rows = [r for r in _rows() if r.fingerprint == "alpha"]
    shifted = [replace(r, fingerprint="cosine", score=2 * r.score - 1.5) for r in rows]
    summary = summarise(rows + shifted)
    alpha, cosine = summary.fingerprints
    assert alpha.aruc_mean == pytest.approx(0.625)
    assert math.isnan(cosine.aruc_mean) and cosine.auc_mean == pytest.approx(1.0)
    assert math.isnan(summary.per_task_aruc["cosine"]["same"])
    assert "n/a" in format_table(summary).splitlines()[3]


def test_summarise_task_order_and_partial_tasks():
    rows = _rows()
    # a task present in seed 0 only: averaged over that seed alone
    rows.append(ScoreRow("beta", 0, "victim", "pruned", True, "prune", 0.45, 10, 0.002))
    summary = summarise(rows, task_order=["finetune", "unknown", "same"])
    assert summary.tasks == ("finetune", "same", "prune")
    assert summary.per_task_tpr["beta"]["prune"] == 0.0
    assert summary.per_task_auc["beta"]["prune"] == pytest.approx(0.75)
    assert math.isnan(summary.per_task_auc["alpha"]["prune"])
    with pytest.raises(ValueError):
        summarise([])


def test_format_table():
    text = format_table(summarise(_rows()))
    main, per_task = text.strip().split("\n\n")
    main_lines = main.splitlines()
    assert main_lines[0].split() == [
        "fingerprint",
        "AUC",
        "TPR@5%FPR",
        "ARUC",
        "queries",
        "ms/verification",
        "seeds",
    ]
    assert "1.000 ± 0.000" in main_lines[2] and main_lines[2].startswith("alpha")
    beta_line = main_lines[3]
    assert beta_line.startswith("beta")
    assert "0.812 ± 0.051" in beta_line and "0.583 ± 0.118" in beta_line
    assert beta_line.split()[-3:] == ["20", "3.0", "3"]
    assert len({len(line) for line in main_lines}) == 1  # aligned columns
    task_lines = per_task.splitlines()
    assert "TPR@5%FPR per task" in task_lines[0]
    assert task_lines[1].split() == ["fingerprint", "same", "finetune"]
    assert task_lines[4].split() == ["beta", "1.000", "0.167"]
    assert len({len(line) for line in task_lines[1:]}) == 1


def test_render_html(tmp_path: Path):
    import matplotlib.pyplot as plt

    figs_before = plt.get_fignums()
    out = render_html(
        _rows(),
        tmp_path / "sub" / "report.html",
        title="Bench <b>tiny</b>",
        meta={"preset": "tiny", "machine": "ci & co"},
        extra_sections={"notes": "a < b", "raw": Markup("<em>trusted</em>")},
    )
    assert out == tmp_path / "sub" / "report.html"
    html = out.read_text(encoding="utf-8")
    assert sorted(p.name for p in out.parent.iterdir()) == ["report.html"]  # no temp file left

    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) >= 2
    assert all(base64.b64decode(img).startswith(b"\x89PNG\r\n\x1a\n") for img in images)
    assert plt.get_fignums() == figs_before

    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "http://" not in html and "https://" not in html
    assert "<link" not in html and "<script" not in html
    assert "Bench &lt;b&gt;tiny&lt;/b&gt;" in html and "ci &amp; co" in html and ">date<" in html
    assert "<pre>a &lt; b</pre>" in html and "<em>trusted</em>" in html

    assert "0.812 ± 0.051" in html  # summary table
    assert "<h3>TPR@5%FPR</h3>" in html and "<h3>ROC AUC</h3>" in html
    assert '<td class="num">0.167</td>' in html  # beta finetune TPR
    assert '<td class="num">0.625</td>' in html  # beta finetune AUC
    assert '<td>pos0</td><td>positive</td><td>same</td><td class="num">0.900</td>' in html

    # a report a person can read: a table of contents whose every entry exists, tables that scroll in
    # their own box, long ones collapsed, one date row
    links = re.findall(r'<li><a href="#([a-z0-9-]+)">', html)
    assert links[:3] == ["summary", "per-task", "per-seed"] and "notes" in links and "raw" in links
    assert all(f'id="{ident}"' in html for ident in links)
    assert html.count('<div class="scroll"><table>') == html.count("<table>") > 3
    assert html.count(">date<") == 1
    long = render_html([*_rows(), *(ScoreRow("alpha", 0, "victim", f"extra{i}", False, "independent", 0.1,
                                             100, 0.001) for i in range(40))], tmp_path / "long.html",
                       title="long").read_text()  # fmt: skip
    assert "<details><summary>" in long and "rows</summary>" in long


def test_render_html_failure_keeps_old_file(tmp_path: Path):
    path = tmp_path / "report.html"
    path.write_text("old", encoding="utf-8")
    with pytest.raises(ValueError):
        render_html([], path, title="empty")
    assert path.read_text(encoding="utf-8") == "old"
    render_html(_rows(), path, title="new")
    assert "<h1>new</h1>" in path.read_text(encoding="utf-8")


def test_rank_orders_fingerprints_best_first() -> None:
    from modelprint.report import ScoreRow, summarise

    rows = []
    for name, pos_score in (("weak", 0.4), ("strong", 0.9)):
        for i in range(5):
            rows.append(ScoreRow(name, 0, "v", f"p{i}", True, "finetune", pos_score, 10, 0.0))
            rows.append(ScoreRow(name, 0, "v", f"n{i}", False, "independent", 0.5, 10, 0.0))
    assert [f.fingerprint for f in summarise(rows).fingerprints] == ["weak", "strong"]
    assert [f.fingerprint for f in summarise(rows, rank=True).fingerprints] == ["strong", "weak"]


def test_plots_keep_named_schemes_and_the_best_combinations() -> None:
    from modelprint.report.html import PLOTTED, plotted

    names = ["q=a", "akh", "q=b", "random", *[f"q=c{i}" for i in range(30)]]
    drawn = plotted(names)
    assert len(drawn) == PLOTTED and {"akh", "random", "q=a", "q=b"} <= set(drawn)
    assert drawn == [n for n in names if n in drawn]  # table (rank) order kept
    assert plotted(["akh", "random"]) == ["akh", "random"]


def test_naturalfinger_ablation_table_reads_the_trick_settings():
    """The trick table of NaturalFinger's ablation (paper Table 3): one row per label, tricks read from
    the typed settings, all tricks on first; no table unless some trick is off."""
    from modelprint.report.ablation import ablation_records, ablation_sections, format_ablation

    base = [r for r in _rows() if r.fingerprint == "alpha"]
    ablated = "naturalfinger:adversarial_label=false,epochs=200"
    labels = ["naturalfinger:transform=false", "naturalfinger", ablated]
    rows = [replace(r, fingerprint=label) for label in labels for r in base]
    assert ablation_records(summarise(base)) is None
    assert ablation_records(summarise([r for r in rows if r.fingerprint == "naturalfinger"])) is None
    assert ablation_sections(summarise(base)) == {} and format_ablation(summarise(base)) == ""
    records = ablation_records(summarise(rows + base))
    assert records is not None
    headers, cells = records
    tricks = ["adversarial label", "input transformation", "discriminator loss"]
    assert headers[1:5] == [*tricks, "other settings"]
    assert [c[:5] for c in cells] == [
        ["naturalfinger", "on", "on", "on", "defaults"],
        ["naturalfinger:transform=false", "on", "off", "on", "defaults"],
        [ablated, "off", "on", "on", "epochs=200"],
    ]
    assert cells[0][headers.index("ARUC")] == "0.625 ± 0.000"
    assert "NaturalFinger ablation" in ablation_sections(summarise(rows))
    with pytest.raises(Exception, match="no parameter"):
        ablation_records(summarise([replace(r, fingerprint="naturalfinger:bogus=1") for r in base]))


def test_per_architecture_tables_split_attacks_by_the_architecture_they_build():
    """Distillation/knockoff positives are broken down by the architecture of their last step (the
    paper's per-architecture figures); attacks that keep the parent's architecture are not."""
    from modelprint.report.architectures import architecture_of, architecture_records, architecture_sections

    src = "train(cnn-m,mnist5k,0)"
    assert architecture_of(f"{src}->knockoff(lenet)") == "lenet"
    assert architecture_of(f"{src}->distill(resnet8,data=owner)") == "resnet8"
    assert architecture_of(f"{src}->finetune(ftal)") is None and architecture_of(src) is None
    rows = []
    for seed in (0, 1):
        for i, score in enumerate((0.9, 0.2)):  # lenet copy scores high, mlp copy low
            arch = ("lenet", "mlp")[i]
            suspect = f"{src}->knockoff({arch})"
            rows.append(ScoreRow("mr", seed, src, suspect, True, "knockoff", score, 10, 0.0))
            rows.append(ScoreRow("cos", seed, src, suspect, True, "knockoff", 2 * score - 1, 10, 0.0))
        rows.append(ScoreRow("mr", seed, src, f"{src}->finetune(ftal)", True, "finetune", 1.0, 10, 0.0))
        for j, score in enumerate((0.1, 0.5)):
            neg = f"train(lenet,mnist5k,{j},data=attacker)"
            rows.append(ScoreRow("mr", seed, src, neg, False, "independent", score, 10, 0.0))
            rows.append(ScoreRow("cos", seed, src, neg, False, "independent", 2 * score - 1, 10, 0.0))
    auc = architecture_records(rows, ["mr", "cos"], "auc")
    area = architecture_records(rows, ["mr", "cos"], "aruc")
    assert auc is not None and area is not None
    assert auc[0] == ["attack / architecture", "mr", "cos"]
    assert auc[1] == [["knockoff / lenet", "1.000", "1.000"], ["knockoff / mlp", "0.500", "0.500"]]
    # ARUC of 0.9 against {0.1, 0.5}: U = 1/2 on (.1, .5], 1 on (.5, .9]: .2 + .4 = .6; n/a for "cos"
    assert area[1][0] == ["knockoff / lenet", "0.600", "n/a"]
    assert architecture_records([r for r in rows if r.task != "knockoff"], ["mr"]) is None
    assert list(architecture_sections(rows, ["mr"])) == [
        "ROC AUC per attack and architecture",
        "ARUC per attack and architecture",
    ]


def test_roc_curves_of_many_schemes_are_told_apart() -> None:
    """Up to ten schemes keep matplotlib's default colours; sixteen (tiny's named schemes) get sixteen
    different colours, and forty still differ in colour or line style."""
    from modelprint.report.html import curve_styles

    assert len(set(curve_styles(16))) == 16 and len({c for c, _ in curve_styles(16)}) == 16
    assert len(set(curve_styles(40))) == 40
    assert {s for _, s in curve_styles(10)} == {"-"}
