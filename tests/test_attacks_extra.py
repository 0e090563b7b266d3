import shutil
from pathlib import Path
from typing import ClassVar

import pytest
import torch
from torch import nn

from modelprint.attacks import ATTACKS, Built, datafree, extraction, make_step
from modelprint.attacks.common import match_shape, weight_layers
from modelprint.attacks.quantize import quant_step
from modelprint.attacks.transfer import corrupt
from modelprint.models.access import Suspect
from modelprint.models.archs import build_arch
from modelprint.models.base import TorchClassifier
from modelprint.testing import TinyZoo
from modelprint.zoo.builder import build_zoo
from modelprint.zoo.lineage import join, parse_step
from modelprint.zoo.store import ModelStore

EXTRA = ("noise", "quantize", "half", "advtrain", "advft", "distill", "knockoff", "labelextract")
EXTRA += ("probitextract", "datafree", "transfer")


def run(tiny: TinyZoo, text: str, seed: int = 0) -> Built:
    """Apply one step to a fresh copy of the tiny zoo's source (a cnn-s on digits)."""
    return make_step(parse_step(text)).apply(tiny.load(tiny.source), "cnn-s", tiny.ctx, seed=seed)


def wrap(tiny: TinyZoo, built: Built) -> TorchClassifier:
    d = tiny.data()
    return TorchClassifier(built.module, num_classes=10, input_shape=d.input_shape, mean=d.mean, std=d.std)


def acc(tiny: TinyZoo, model: TorchClassifier) -> float:
    d = tiny.data()
    return model.accuracy(d.images, d.labels)


def flat(module: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in module.state_dict().values() if p.is_floating_point()])


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one intra-op thread (conftest)


@pytest.fixture(scope="module")
def source_acc(tiny: TinyZoo) -> float:
    return acc(tiny, tiny.load(tiny.source))


def test_every_extra_attack_is_registered() -> None:
    assert set(EXTRA) <= set(ATTACKS.names())


# (lineage, allowed accuracy drop from the source) — tolerances stated in each attack's docstring
MODIFICATIONS = [
    ("noise(3,ft=1)", 0.05),
    ("quantize(8)", 0.01),
    ("half()", 0.01),
    ("advtrain(8,epochs=1)", 0.05),
    ("advft(0.5,epochs=1)", 0.05),
    ("transfer(corrupt,epochs=2)", 0.1),
]


@pytest.mark.parametrize(("text", "drop"), MODIFICATIONS)
def test_modifications_change_weights_keep_accuracy_and_are_deterministic(
    tiny: TinyZoo, source_acc: float, text: str, drop: float
) -> None:
    built = run(tiny, text)
    assert built.arch == "cnn-s"
    assert not torch.equal(flat(built.module), flat(tiny.load(tiny.source).module))
    assert acc(tiny, wrap(tiny, built)) >= source_acc - drop, (text, source_acc)
    assert torch.equal(flat(built.module), flat(run(tiny, text).module))


def test_degrading_settings_report_their_damage(tiny: TinyZoo, source_acc: float) -> None:
    noised = run(tiny, "noise(1,ft=0)").config
    assert noised["ft"] == 0 and isinstance(noised["noised_acc"], float)
    assert noised["noised_acc"] < source_acc - 0.2  # v=1: noise as large as the weights themselves
    coarse, fine = run(tiny, "quantize(2)").config, run(tiny, "quantize(8)").config
    assert isinstance(coarse["max_abs_change"], float) and isinstance(fine["max_abs_change"], float)
    assert coarse["max_abs_change"] > 10 * fine["max_abs_change"] > 0
    animal = run(tiny, "transfer(animal,epochs=2,size=1000)")
    assert animal.config["train_size"] == 1000
    assert isinstance(animal.config["task_acc"], float) and animal.config["task_acc"] > 0.3  # new task learnt
    assert acc(tiny, wrap(tiny, animal)) < 0.5  # ... and the digit task is gone (new label space)


def test_quantize_8_moves_weights_by_at_most_one_step(tiny: TinyZoo) -> None:
    parent = tiny.load(tiny.source)
    before = [layer.weight.detach().clone() for layer in weight_layers(parent.module)]
    built = run(tiny, "quantize(8)")
    after = [layer.weight.detach() for layer in weight_layers(built.module)]
    worst = 0.0
    for w0, w1 in zip(before, after, strict=True):
        step = quant_step(w0, 8).view(-1, *([1] * (w0.ndim - 1)))
        assert torch.all((w1 - w0).abs() <= step / 2 + 1e-7)  # rounding: half a step, so within one step
        levels = (w1 / step).flatten(1)
        assert torch.allclose(levels, levels.round(), atol=1e-3)  # on the integer grid
        assert int(levels.round().abs().max()) <= 127
        worst = max(worst, float((w1 - w0).abs().max()))
    assert built.config["max_abs_change"] == pytest.approx(worst)
    assert run(tiny, "quantize(8,layers=linear)").config["layers"] == "linear"


def test_half_rounds_every_weight_to_fp16(tiny: TinyZoo) -> None:
    built = run(tiny, "half()")
    for t in built.module.state_dict().values():
        if t.is_floating_point():
            assert torch.equal(t, t.half().float())
    assert 0 < float(built.config["max_abs_change"]) < 1e-2  # type: ignore[arg-type]


class CountingSuspect(Suspect):
    """Records every Suspect an attack creates, to compare its reported queries with what was counted."""

    made: ClassVar[list[Suspect]] = []

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        CountingSuspect.made.append(self)


# (lineage, student arch, access, minimum accuracy on digits as stated in the docstring)
EXTRACTIONS = [
    ("distill(epochs=5)", "cnn-s", "probs", 0.6),
    ("distill(mlp,T=2,epochs=5)", "mlp", "probs", 0.6),
    ("knockoff(cnn-s)", "cnn-s", "probs", 0.4),
    ("labelextract(mlp,epochs=5)", "mlp", "labels", 0.6),
    ("labelextract(epochs=4,adv=1,adv_epochs=1,adv_steps=3)", "cnn-s", "labels", 0.6),
    ("probitextract(epochs=5)", "cnn-s", "probs", 0.6),
    ("datafree(rounds=100,gan_steps=200)", "cnn-s", "labels", 0.3),
]


@pytest.mark.parametrize(("text", "arch", "access", "floor"), EXTRACTIONS)
def test_extraction_builds_a_working_student_and_reports_its_queries(
    tiny: TinyZoo, monkeypatch: pytest.MonkeyPatch, text: str, arch: str, access: str, floor: float
) -> None:
    CountingSuspect.made = []
    monkeypatch.setattr(extraction, "Suspect", CountingSuspect)
    monkeypatch.setattr(datafree, "Suspect", CountingSuspect)
    built = run(tiny, text)
    assert built.arch == arch and built.config["arch"] == arch
    assert type(built.module) is type(build_arch(arch, in_channels=1, num_classes=10, image_size=8))
    parent = tiny.load(tiny.source).module
    assert built.module is not parent
    if arch == "cnn-s":
        assert not torch.equal(flat(built.module), flat(parent))
    assert [s.output for s in CountingSuspect.made] == [access]
    counted = CountingSuspect.made[0].queries_spent
    assert built.config["queries"] == counted > 0 and built.config["access"] == access
    assert acc(tiny, wrap(tiny, built)) >= floor, text


def test_extraction_query_counts_match_the_data_used(tiny: TinyZoo) -> None:
    owner, attacker = len(tiny.data("owner")), len(tiny.data("attacker"))
    assert run(tiny, "distill(mlp,epochs=1)").config["queries"] == owner
    assert run(tiny, "knockoff(mlp,budget=300,epochs=1)").config["queries"] == 300
    assert run(tiny, "labelextract(mlp,epochs=1)").config["queries"] == attacker
    adv = run(tiny, "labelextract(mlp,epochs=1,adv=1,adv_epochs=1,adv_steps=1)").config
    assert adv["queries"] == 2 * attacker  # clean labels once, then one adversarial label per image
    lite = run(tiny, "datafree(mlp,rounds=3,gan_steps=1,proxy=64,epochs=1)").config
    assert lite["setting"] == "lite" and lite["queries"] == 64 + 64 + 3 * 64


def test_extraction_is_deterministic_for_a_seed(tiny: TinyZoo) -> None:
    a, b = run(tiny, "labelextract(mlp,epochs=2)"), run(tiny, "labelextract(mlp,epochs=2)")
    c = run(tiny, "labelextract(mlp,epochs=2)", seed=1)
    assert torch.equal(flat(a.module), flat(b.module)) and not torch.equal(flat(a.module), flat(c.module))
    text = "datafree(mlp,rounds=5,gan_steps=5,proxy=128,epochs=1)"
    assert torch.equal(flat(run(tiny, text).module), flat(run(tiny, text).module))


def test_extra_attacks_build_through_the_zoo_builder(tiny: TinyZoo, tmp_path: Path) -> None:
    store = ModelStore(tmp_path)
    shutil.copytree(tiny.store.path(tiny.source), store.path(tiny.source))
    half, stolen = join(tiny.source, "half()"), join(tiny.source, "labelextract(mlp,epochs=3)")
    report = build_zoo([half, stolen], store, tiny.ctx)
    assert sorted(report.built) == sorted([half, stolen])
    assert store.card(half).fidelity == pytest.approx(1.0, abs=0.01)
    card = store.card(stolen)
    assert card.arch == "mlp" and card.config["queries"] == len(tiny.data("attacker"))
    assert card.accuracy >= 0.6 and type(store.load(stolen).module).__name__ == "MLP"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("quantize(1)", "bits must be an integer in 2..16"),
        ("quantize(17)", "bits must be an integer in 2..16"),
        ("quantize(eight)", "bits must be a number"),
        ("quantize(8,layers=conv)", "layers must be one of"),
        ("advtrain(-1)", "eps"),
        ("advtrain(300)", "1/255 units"),
        ("advft(0)", "r must be a fraction"),
        ("advft(1.5)", "r must be a fraction"),
        ("noise(0)", "v must be a positive number"),
        ("noise(2,ft=-1)", "ft must be >= 0"),
        ("distill(resnet99)", "unknown architecture 'resnet99'"),
        ("distill(data=test)", "data must be one of"),
        ("distill(T=0)", "T must be a positive number"),
        ("knockoff(budget=1)", "budget must be >= 2"),
        ("knockoff(queryset=nope)", "unknown query set"),
        ("labelextract(adv=2)", "adv must be 0 or 1"),
        ("labelextract(epochs=0)", "epochs must be >= 1"),
        ("probitextract(alpha=2)", "alpha must be in"),
        ("datafree(dl=-1)", "dl must be >= 0"),
        ("datafree(nope)", "unknown architecture"),
        ("transfer(cifar)", "task must be one of"),
        ("half(1)", "too many positional arguments"),
        ("distill(temperature=2)", "unexpected keyword"),
    ],
)
def test_invalid_arguments_raise_clear_value_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_step(parse_step(text))


def test_knockoff_budget_beyond_the_query_set_is_refused(tiny: TinyZoo) -> None:
    with pytest.raises(ValueError, match="holds 10000 images, fewer than 20000"):
        run(tiny, "knockoff(budget=20000)")


def test_corruptions_keep_range_and_are_seeded(tiny: TinyZoo) -> None:
    x = tiny.data("attacker").images[:64]
    a, b, c = corrupt(x, seed=0), corrupt(x, seed=0), corrupt(x, seed=1)
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert (a - x).abs().flatten(1).amax(1).min() > 0  # every image is corrupted


def test_query_images_are_matched_to_the_victim_input() -> None:
    grey = torch.rand(4, 1, 28, 28)
    small = match_shape(grey, (1, 8, 8))
    assert small.shape == (4, 1, 8, 8)
    assert torch.allclose(small.mean((1, 2, 3)), grey.mean((1, 2, 3)), atol=0.05)  # area keeps the mean
    halved = match_shape(grey[:, :, :16, :16], (1, 8, 8))
    assert torch.allclose(halved[:, 0, 0, 0], grey[:, 0, :2, :2].mean((1, 2)))  # area = block average
    colour = match_shape(grey, (3, 32, 32))
    assert colour.shape == (4, 3, 32, 32) and torch.equal(colour[:, 0], colour[:, 2])
    assert match_shape(torch.rand(2, 3, 8, 8), (1, 8, 8)).shape == (2, 1, 8, 8)
