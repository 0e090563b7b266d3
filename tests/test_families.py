"""Negative families come from lineage; every preset holds same-data negatives; the family table's numbers."""

from __future__ import annotations

import math

import pytest

from modelprint.report.families import ALL, family_stats, format_family_table
from modelprint.report.rows import ScoreRow
from modelprint.zoo.families import (
    DERIVED,
    DISJOINT_DATA,
    DISTILLED_FROM_INDEPENDENT,
    MIRROR,
    SAME_DATA_OTHER_ARCH,
    SAME_DATA_SAME_ARCH,
    arch_of,
    family_of,
)
from modelprint.zoo.lineage import parse_lineage
from modelprint.zoo.presets import PRESETS, SAME_DATA_SEEDS

SOURCE = "train(cnn-m,mnist5k,0)"


@pytest.mark.parametrize(
    ("suspect", "family"),
    [
        (SOURCE, DERIVED),
        (SOURCE + "->finetune(ftal)->prune(0.5,ft=2)", DERIVED),
        ("train(cnn-m,mnist5k,101)", SAME_DATA_SAME_ARCH),
        ("train(cnn-m,mnist5k,101,data=owner)", SAME_DATA_SAME_ARCH),
        ("train(resnet8,mnist5k,101)", SAME_DATA_OTHER_ARCH),
        ("train(cnn-m,mnist5k,1,data=attacker)", DISJOINT_DATA),
        ("train(cnn-m,mnist5k,1,data=attacker)->finetune(ftal)", MIRROR),
        ("train(cnn-m,mnist5k,1,data=attacker)->distill(resnet8)->finetune(ftal)", MIRROR),
        ("train(cnn-s,mnist5k,1,data=attacker)->distill(cnn-m,data=attacker)", DISTILLED_FROM_INDEPENDENT),
        ("train(cnn-s,mnist5k,1,data=attacker)->knockoff(cnn-m)", DISTILLED_FROM_INDEPENDENT),
    ],
)
def test_family_is_read_from_lineage(suspect: str, family: str) -> None:
    assert family_of(SOURCE, suspect) == family


def test_architecture_is_read_from_lineage() -> None:
    assert arch_of(SOURCE) == "cnn-m"
    assert arch_of(SOURCE + "->distill(resnet8)->finetune(ftal)") == "resnet8"
    assert arch_of(SOURCE + "->distill(same)") == "cnn-m"
    assert arch_of(SOURCE + "->prune(0.3)") == "cnn-m"


@pytest.mark.parametrize("name", ["tiny", "quick", "mfue", "fingerbench", "qurd"])
def test_every_preset_has_same_data_negatives_of_three_architectures(name: str) -> None:
    preset = PRESETS.make(name)
    victim = preset.victims[0]
    source_arch = arch_of(victim)
    same = [p.suspect for p in preset.pairs() if family_of(p.victim, p.suspect).startswith("same-data")]
    archs = {arch_of(s) for s in same}
    assert source_arch in archs and len(archs - {source_arch}) >= 2
    # seeds no other preset uses, and the rule is written in the description
    seed0 = SAME_DATA_SEEDS[name]
    assert all(seed0 <= int(parse_lineage(s)[0].args[2]) < seed0 + 100 for s in same)
    assert "same-data negatives" in preset.description
    assert name == "tiny" or "chains" in preset.description


@pytest.mark.parametrize("name", ["quick", "mfue", "fingerbench", "qurd"])
def test_presets_hold_chains_and_students_outside_the_source_architecture(name: str) -> None:
    preset = PRESETS.make(name)
    victim = preset.victims[0]
    positives = [p for p in preset.pairs() if p.positive]
    assert sum("+" in p.task for p in positives) >= 4
    assert any(arch_of(p.suspect) != arch_of(victim) for p in positives)


def _row(suspect: str, score: float, seed: int = 0, positive: bool = False) -> ScoreRow:
    return ScoreRow("fp", seed, SOURCE, suspect, positive, "x", score, 100, 0.0)


def test_family_table_counts_and_rates() -> None:
    rows = [_row(SOURCE + f"->prune(0.{k})", 0.9 + k / 100, positive=True) for k in range(1, 5)]
    rows += [
        _row(f"train(cnn-m,mnist5k,{s},data=attacker)", 0.1 + s / 100) for s in range(1, 20)
    ]  # 19 disjoint
    rows += [_row("train(cnn-m,mnist5k,101)", 0.925)]  # a same-data twin above two positives
    stats = {s.family: s for s in family_stats(rows)}
    # 20 negatives: 5% allows one above the threshold, which is the second-highest negative (0.29)
    assert stats[ALL].models == 20 and stats[ALL].fpr_at_threshold == pytest.approx(0.05)
    same = stats[SAME_DATA_SAME_ARCH]
    assert same.models == 1 and same.max_score == pytest.approx(0.925) and same.fpr_at_threshold == 1.0
    assert same.auc == pytest.approx(0.5)  # two of four positives above it
    far = stats[DISJOINT_DATA]
    assert far.fpr_at_threshold == 0.0 and far.auc == 1.0 and far.tpr == 1.0
    text = format_family_table(list(stats.values()))
    assert "same-data same-arch" in text and "disjoint-data" in text


def test_family_table_averages_seeds() -> None:
    rows = []
    for seed, twin in ((0, 0.2), (1, 0.8)):
        rows += [_row(SOURCE, 0.5, seed, positive=True), _row("train(cnn-m,mnist5k,101)", twin, seed)]
    (all_row, same) = family_stats(rows)
    assert all_row.family == ALL and same.family == SAME_DATA_SAME_ARCH
    assert same.max_score == pytest.approx(0.5) and same.auc == pytest.approx(0.5)
    assert not math.isnan(same.fpr_at_threshold)
