"""Paper presets under the ``cpu`` and ``paper`` recipes, the extended ``quick`` preset, and CIFAR-100 as
a local out-of-domain set (knockoff queries, transfer task)."""

import pickle
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from modelprint.attacks import ATTACKS, AttackContext, make_step
from modelprint.cli import app
from modelprint.models.base import TorchClassifier
from modelprint.testing import TinyZoo
from modelprint.zoo.lineage import is_derived, parse_lineage, parse_step
from modelprint.zoo.preset_files import resolve_preset
from modelprint.zoo.presets import PRESETS
from modelprint.zoo.recipes import choose_recipe

PAPER_PRESETS = ("fingerbench", "mfue", "qurd")


def steps_of(lineage: str) -> list[str]:
    return [st.name for st in parse_lineage(lineage)]


def kwargs_of(lineage: str, index: int) -> dict[str, str]:
    return dict(parse_lineage(lineage)[index].kwargs)


@pytest.mark.parametrize("name", PAPER_PRESETS)
def test_paper_recipe_keeps_the_structure_with_the_papers_sizes(name: str) -> None:
    scaled, paper = resolve_preset(name), resolve_preset(name, "cifar10")
    assert len(paper.lineages()) == len(scaled.lineages())
    assert [steps_of(x) for x in paper.lineages()] == [steps_of(x) for x in scaled.lineages()]
    assert all(len(p.suspect) > 0 for p in paper.pairs())
    assert sum(p.positive for p in paper.pairs()) == sum(p.positive for p in scaled.pairs())
    source = kwargs_of(paper.victims[0], 0)
    assert source["epochs"] == "150" and source["lr"] == "0.1"
    assert "train(cnn-m" not in paper.victims[0] and paper.scaled["recipe"] == "paper"
    assert scaled.scaled["recipe"] == "cpu"
    for lin in paper.lineages():  # every step parses into its attack with the recipe's arguments
        for text in lin.split("->"):
            make_step(parse_step(text))


def test_paper_recipe_values_per_suite() -> None:
    fb = resolve_preset("fingerbench", "cifar10")
    ft = next(x for x in fb.suspects if "finetune(ftal" in x)
    assert kwargs_of(ft, 1) == {"epochs": "10", "lr": "0.005"}
    knock = next(x for x in fb.suspects if "knockoff(" in x)
    assert kwargs_of(knock, 1)["queryset"] == "cifar100"
    assert kwargs_of(knock, 1)["budget"] == "50000"
    mfue = resolve_preset("mfue", "cifar10")
    adv = next(x for x in mfue.suspects if "advtrain(" in x)
    assert kwargs_of(adv, 1)["epochs"] == "30"
    qurd = resolve_preset("qurd", "cifar10")
    assert any("transfer(cifar100" in x for x in qurd.suspects)
    label = next(x for x in qurd.suspects if "labelextract(" in x)
    assert kwargs_of(label, 1)["batch"] == "512"
    # the scaled recipe can still be asked for on CIFAR, and the paper one on the bundled data
    assert resolve_preset("qurd", "cifar10", "cpu").lineages()[0] == "train(vgg16-bn,cifar10,0,until=plateau)"
    assert resolve_preset("qurd", "cifar10", "cpu-fixed").lineages()[0] == "train(vgg16-bn,cifar10,0)"
    assert "epochs=150" in resolve_preset("qurd", "mnist5k", "paper").lineages()[0]


def test_recipe_choice_and_errors() -> None:
    assert choose_recipe("cifar10", None) == "paper" and choose_recipe("mnist5k", None) == "cpu"
    with pytest.raises(ValueError, match="unknown recipe"):
        choose_recipe("mnist5k", "fast")
    with pytest.raises(ValueError, match="scaled preset"):
        resolve_preset("quick", recipe="paper")


def test_quick_preset_holds_every_attack_and_every_kind_of_negative() -> None:
    preset = PRESETS.make("quick")
    source = preset.victims[0]
    positive_steps = {
        name for lin in preset.suspects if is_derived(lin, source) for name in steps_of(lin)[1:]
    }
    assert positive_steps == set(ATTACKS.names()) - {"train"}
    negatives = [lin for lin in preset.suspects if not is_derived(lin, source)]
    independent = [lin for lin in negatives if len(steps_of(lin)) == 1]
    attacked = [parse_lineage(lin) for lin in negatives if len(steps_of(lin)) > 1]
    twin_arch = parse_lineage(source)[0].args[0]
    mirror = [lin for lin in attacked if lin[0].args[0] == twin_arch]
    distilled = [lin for lin in attacked if lin[0].args[0] != twin_arch and lin[1].name == "distill"]
    assert len(independent) >= 16 and len({parse_lineage(x)[0].args[0] for x in independent}) >= 6
    assert len(mirror) >= 4 and len(distilled) >= 2
    tasks = {p.task for p in preset.pairs() if p.positive}
    assert {"knockoff", "labelextract", "advlabelextract", "probitextract", "datafree", "transfer"} <= tasks


def test_zoo_show_lists_a_cifar_preset_without_building(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["zoo", "show", "qurd", "--dataset", "cifar10", "--home", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert "train(vgg16-bn,cifar10,0,batch=128,epochs=150,lr=0.1)  (not built)" in result.output
    bad = CliRunner().invoke(app, ["zoo", "show", "quick", "--recipe", "paper", "--home", str(tmp_path)])
    assert bad.exit_code != 0 and "scaled preset" in bad.output


def write_cifar100(root: Path, n: int = 200) -> None:
    """A CIFAR-100 folder in the python-batch format, random pixels, labels 0..99 in turn."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("train", "test"):
        labels = [int(v) for v in np.arange(n) % 100]
        batch = {b"fine_labels": labels, b"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8)}
        (folder / name).write_bytes(pickle.dumps(batch, protocol=2))


def test_knockoff_and_transfer_read_cifar100_from_the_data_root(tiny: TinyZoo, tmp_path: Path) -> None:
    write_cifar100(tmp_path, n=1000)
    ctx = AttackContext(tiny.ctx.dataset, data_root=str(tmp_path))
    source = tiny.load(tiny.source)

    knock = make_step(parse_step("knockoff(budget=300,epochs=1,queryset=cifar100)"))
    built = knock.apply(source, "cnn-s", ctx, seed=0)
    assert built.config["queries"] == 300 and built.config["queryset"] == "cifar100"
    with pytest.raises(ValueError, match="root="):
        knock.apply(tiny.load(tiny.source), "cnn-s", AttackContext(tiny.ctx.dataset), seed=0)

    parent = tiny.load(tiny.source)
    before = [p.detach().clone() for p in parent.module.parameters()]
    moved = make_step(parse_step("transfer(cifar100,epochs=1,size=50)")).apply(parent, "cnn-s", ctx, seed=0)
    assert moved.config["train_size"] == 50  # CIFAR-100 images of the first 10 classes only
    model = TorchClassifier(moved.module, num_classes=10, input_shape=source.input_shape)
    assert any(not b.equal(a) for b, a in zip(before, model.module.parameters(), strict=True))
