"""The plateau rule: a model trained until its held-out loss stops improving stops by the rule, records
why, keeps its best epoch; the fixed schedule is unchanged; recipes put the rule in the lineage."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from modelprint.attacks import AttackContext
from modelprint.attacks.training import PLATEAU, Plateau, fit, schedule
from modelprint.models.archs import build_arch
from modelprint.models.base import TorchClassifier
from modelprint.zoo.builder import build_one
from modelprint.zoo.presets import PRESETS
from modelprint.zoo.store import ModelStore

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny_ctx() -> AttackContext:
    return AttackContext("digits")


def _model(seed: int = 0) -> TorchClassifier:
    torch.manual_seed(seed)
    module = build_arch("cnn-s", in_channels=1, num_classes=10, image_size=8)
    return TorchClassifier(module, num_classes=10, input_shape=(1, 8, 8))


def test_plateau_stops_by_its_rule_and_keeps_the_best_epoch(tiny_ctx: AttackContext) -> None:
    data = tiny_ctx.split("owner")
    model = _model()
    rule = Plateau(patience=2, tol=1e-3, cap=10.0)
    record = fit(model, data.images, data.labels, epochs=10, lr=0.05, seed=0, until=rule)
    assert record.stopped in ("plateau", "cap") and 1 <= record.epochs <= 100
    if record.stopped == "plateau":  # patience epochs after the last drop without improvement
        assert record.epochs < 100 and record.best_epoch is not None
        assert record.epochs - record.best_epoch >= rule.patience
    assert record.holdout_loss is not None and record.holdout_loss > 0
    assert model.accuracy(tiny_ctx.split("test").images, tiny_ctx.split("test").labels) > 0.8
    config = record.config()
    assert config["stopped"] == record.stopped and config["epochs_run"] == record.epochs


def test_a_short_cap_is_recorded_as_the_reason(tiny_ctx: AttackContext) -> None:
    data = tiny_ctx.split("owner")
    record = fit(_model(), data.images, data.labels, epochs=1, lr=0.05, seed=0, until=Plateau(cap=2.0))
    assert record.epochs == 2 and record.stopped == "cap"


def test_fixed_schedule_is_bit_identical_to_before(tiny_ctx: AttackContext) -> None:
    data = tiny_ctx.split("owner")
    a, b = _model(), _model()
    fit(a, data.images, data.labels, epochs=2, lr=0.05, seed=3)
    record = fit(b, data.images, data.labels, epochs=2, lr=0.05, seed=3, until=None)
    assert record.stopped == "epochs" and record.epochs == 2
    for p, q in zip(a.module.state_dict().values(), b.module.state_dict().values(), strict=True):
        assert torch.equal(p, q)


def test_until_is_checked() -> None:
    assert schedule("epochs", "train") is None and schedule("plateau", "train") is PLATEAU
    with pytest.raises(ValueError, match="until must be one of"):
        schedule("forever", "train")


def test_card_records_the_rule_the_log_loss_and_why_it_stopped(
    tiny_ctx: AttackContext, tmp_path: Path
) -> None:
    store = ModelStore(tmp_path)
    lineage = "train(cnn-s,digits,7,epochs=5,until=plateau)"
    card = build_one(lineage, store, tiny_ctx, threads=1)
    assert card.config["until"] == "plateau" and card.config["stopped"] in ("plateau", "cap")
    assert card.logloss is not None and card.logloss >= 0
    child = build_one(lineage + "->finetune(rtal,epochs=2,until=plateau)", store, tiny_ctx, threads=1)
    assert child.config["stopped"] in ("plateau", "cap") and child.fidelity is not None


def test_recipes_put_the_schedule_in_the_lineage() -> None:
    converged, fixed = PRESETS.make("quick"), PRESETS.make("quick", recipe="cpu-fixed")
    assert converged.victims == ("train(cnn-m,mnist5k,0,until=plateau)",)
    assert fixed.victims == ("train(cnn-m,mnist5k,0)",)
    assert not any("until" in s for s in fixed.suspects)
    no_training = [s for s in converged.suspects if s.endswith(("prune(0.1)", "quantize(8)", "half()"))]
    assert no_training and not any(s.rsplit("->", 1)[1].count("until") for s in no_training)
    assert PRESETS.make("fingerbench").victims[0].endswith("until=plateau)")
    assert "until" not in PRESETS.make("fingerbench", dataset="cifar10").victims[0]  # the paper's schedule
