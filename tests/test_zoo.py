import shutil
from pathlib import Path

import pytest
import torch

from modelprint.attacks.prune import prunable_weights
from modelprint.testing import TinyZoo
from modelprint.zoo.builder import build_zoo
from modelprint.zoo.lineage import join, step
from modelprint.zoo.presets import PRESETS
from modelprint.zoo.store import ModelStore


def params(model) -> torch.Tensor:  # type: ignore[no-untyped-def]
    return torch.cat([p.detach().flatten() for p in model.module.parameters()])


def test_cards_record_full_lineage_and_accuracy(tiny: TinyZoo) -> None:
    for lin in tiny.preset.lineages():
        card = tiny.store.card(lin)
        assert card.lineage == lin and len(card.sha256) == 64
        assert 0.85 < card.accuracy <= 1.0, (lin, card.accuracy)
        if "->" in lin:
            assert card.parent is not None and lin.startswith(card.parent)
            assert card.fidelity is not None and card.fidelity > 0.85


@pytest.mark.parametrize("attack", ["finetune(ftal)", "finetune(rtll)", "prune(0.5)", "prune(0.7,ft=2)"])
def test_attacks_change_the_model_and_keep_it_working(tiny: TinyZoo, attack: str) -> None:
    source = tiny.load(tiny.source)
    derived = tiny.load(join(tiny.source, attack))
    assert not torch.equal(params(source), params(derived))
    test = tiny.data()
    src_acc, acc = source.accuracy(test.images, test.labels), derived.accuracy(test.images, test.labels)
    assert acc >= src_acc - 0.05, (attack, src_acc, acc)  # spec tolerance: a few points at most


def test_pruning_reaches_its_sparsity_and_the_recovery_keeps_the_mask(tiny: TinyZoo) -> None:
    for lin, rate in [(join(tiny.source, "prune(0.5)"), 0.5), (join(tiny.source, "prune(0.7,ft=2)"), 0.7)]:
        weights = prunable_weights(tiny.load(lin).module)
        zeros = sum(int((w == 0).sum()) for w in weights) / sum(w.numel() for w in weights)
        assert abs(zeros - rate) < 0.01, (lin, zeros)


def test_finetune_last_layer_leaves_features_untouched(tiny: TinyZoo) -> None:
    src = tiny.load(tiny.source).module.state_dict()
    ft = tiny.load(join(tiny.source, "finetune(rtll)")).module.state_dict()
    changed = {k for k in src if not torch.equal(src[k], ft[k])}
    assert changed and all(k.startswith("classifier.") for k in changed), changed


def test_rebuild_is_deterministic(tiny: TinyZoo, tmp_path: Path) -> None:
    lin = join(tiny.source, step("prune", 0.7, ft=2))
    store = ModelStore(tmp_path)
    shutil.copytree(tiny.store.path(tiny.source), store.path(tiny.source))
    build_zoo([lin], store, tiny.ctx)
    assert store.card(lin).sha256 == tiny.store.card(lin).sha256


def test_resumed_build_retrains_nothing_and_rebuilds_corrupt_artifacts(tiny: TinyZoo, tmp_path: Path) -> None:
    again = build_zoo(tiny.preset.lineages(), tiny.store, tiny.ctx)
    assert again.built == [] and len(again.reused) == len(tiny.preset.lineages())

    store = ModelStore(tmp_path / "zoo")
    shutil.copytree(tiny.store.root / "models", store.root / "models")
    victim = join(tiny.source, "prune(0.5)")
    missing = join(tiny.source, "finetune(rtll)")
    (store.path(victim) / "weights.safetensors").write_bytes(b"garbage")
    shutil.rmtree(store.path(missing))
    report = build_zoo(tiny.preset.lineages(), store, tiny.ctx)
    assert sorted(report.built) == sorted([victim, missing])
    assert store.is_valid(victim) and store.card(victim).sha256 == tiny.store.card(victim).sha256


def test_interrupted_build_resumes_where_it_stopped(tiny: TinyZoo, tmp_path: Path) -> None:
    store = ModelStore(tmp_path / "zoo")
    shutil.copytree(tiny.store.path(tiny.source), store.path(tiny.source))
    lineages = [join(tiny.source, "prune(0.5)"), join(tiny.source, "finetune(ftal)", "prune(0.3)")]
    built: list[str] = []

    def stop_after_first(lin: str, was_built: bool) -> None:
        if was_built:
            built.append(lin)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_zoo(lineages, store, tiny.ctx, on_model=stop_after_first)
    assert built == [lineages[0]]
    report = build_zoo(lineages, store, tiny.ctx)
    assert lineages[0] not in report.built and lineages[1] in report.built


def test_quick_preset_shape() -> None:
    preset = PRESETS.make("quick")
    pairs = preset.pairs()
    positives = [p for p in pairs if p.positive and p.task != "same"]
    negatives = [p for p in pairs if not p.positive]
    archs = {p.suspect.split("(")[1].split(",")[0] for p in negatives}
    assert len(positives) >= 16 and len(negatives) >= 16 and len(archs) >= 4
    assert {"finetune", "prune"} <= {p.task for p in positives}
