"""A user's zoo as a TOML file, with their own class in its lineages: checked when read, built by local
worker processes, benchmarked and used for calibration from the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelprint.cli import app
from modelprint.models.user import ALLOW_ENV
from modelprint.zoo.preset_files import load_preset_file

runner = CliRunner()

OWN_MODULE = """
from torch import nn


class OwnNet(nn.Module):
    def __init__(self, width: int = 12) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.Conv2d(width, 2 * width, 3, stride=2, padding=1),
            nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
        )
        self.head = nn.Linear(8 * width, 10)

    def forward(self, x):
        return self.head(self.body(x))
"""

OWN = "own_arch_toml:OwnNet"
SOURCE = f"train({OWN},digits,0,arch.width=6,epochs=15)"
ZOO = f"""
name = "mine"
dataset = "digits"
description = "my class, three disguises, four independents"
victims = ["{SOURCE}"]
suspects = [
    "{SOURCE}->finetune(ftal)",
    "{SOURCE}->prune(0.5)",
    "{SOURCE}->distill(epochs=3)",
    "train({OWN},digits,1,arch.width=6,data=attacker,epochs=15)",
    "train({OWN},digits,2,arch.width=6,data=attacker,epochs=15)",
    "train({OWN},digits,3,arch.width=6,data=attacker,epochs=15)",
    "train({OWN},digits,4,arch.width=6,data=attacker,epochs=15)",
    "train(lenet,digits,5,data=attacker,epochs=15)",
]
"""


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("name = 'x'\ndataset = 'digits'\nvictims = ['train(cnn-s,digits,0)']\nextra = 1", "keys extra"),
        ("name = 'x'\ndataset = 'nope'\nvictims = ['train(cnn-s,nope,0)']", "unknown dataset 'nope'"),
        ("name = 'x'\ndataset = 'digits'\nvictims = ['train(cnn-s,digits,0)->bogus(1)']", "victims[0]"),
        ("name = 'x'\ndataset = 'digits'\nvictims = ['train(cnn-s,mnist5k,0)']", "trains on 'mnist5k'"),
        ("name = 'x'\ndataset = 'digits'\nvictims = []", "victims is empty"),
        ("name = 'x'\ndataset = 'digits'\nrecipe = 'paper'\nvictims = ['train(cnn-s,digits,0)']", "recipe"),
        ("name = 'x'\ndataset = 'digits'\nvictims = 'train(cnn-s,digits,0)'", "list of lineage strings"),
        ("name = \ndataset", "not a readable TOML preset"),
        ("dataset = 'digits'\nvictims = ['train(cnn-s,digits,0)']", "name must be a non-empty string"),
    ],
)
def test_a_bad_preset_file_is_one_line_naming_the_entry(text: str, error: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    code, out, err = invoke("zoo", "show", str(path), "--home", str(tmp_path))
    assert code == 2 and error in err and len(err.strip().splitlines()) == 1, out + err
    assert "Traceback" not in out + err


def test_the_cpu_recipe_adds_its_schedule_to_training_steps_only(tmp_path: Path) -> None:
    path = tmp_path / "z.toml"
    path.write_text(
        "name = 'z'\ndataset = 'digits'\nrecipe = 'cpu'\nvictims = ['train(cnn-s,digits,0)']\n"
        "suspects = ['train(cnn-s,digits,0)->prune(0.5)',\n"
        "            'train(cnn-s,digits,0)->finetune(ftal,until=epochs)']"
    )
    preset = load_preset_file(path)
    assert preset.victims == ("train(cnn-s,digits,0,until=plateau)",)
    assert preset.suspects == (
        "train(cnn-s,digits,0,until=plateau)->prune(0.5)",  # pruning without fine-tuning does not train
        "train(cnn-s,digits,0,until=plateau)->finetune(ftal,until=epochs)",  # a stated schedule is kept
    )


def test_a_toml_zoo_of_the_users_class_is_built_benchmarked_and_calibrates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ALLOW_ENV, "")
    (tmp_path / "own_arch_toml.py").write_text(OWN_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)  # local worker processes find the user's module from the working directory
    zoo = tmp_path / "mine.toml"
    zoo.write_text(ZOO)
    home = ["--home", str(tmp_path / "home")]
    code, out, err = invoke("zoo", "build", str(zoo), *home)  # the file alone does not make us import it
    assert code == 2 and f"run `modelprint --allow-arch {OWN}" in err and len(err.strip().splitlines()) == 1
    assert "arch.width=6" not in out  # nothing was built
    code, out, err = invoke("--allow-arch", OWN, "zoo", "build", str(zoo), "--jobs", "2", *home)  # 2 workers
    assert code == 0, out + err
    assert "9 built" in out
    code, out, err = invoke("--allow-arch", OWN, "zoo", "show", str(zoo), *home)
    assert code == 0 and "same-data" not in out and OWN.split(":")[1].lower() in out.lower(), out + err
    allow = ["--allow-arch", OWN]
    code, out, err = invoke(*allow, "bench", "run", str(zoo), "-f", "akh", "--seeds", "0", "--no-report",
                            "--json", "--executor", "inline", *home)  # fmt: skip
    assert code == 0, out + err
    summary = json.loads(out.strip().splitlines()[-1])
    akh = summary["schemes"][0]
    assert summary["preset"] == "mine" and (akh["n_positives"], akh["n_negatives"]) == (4, 5), akh
    assert akh["auc_mean"] >= 0.75, akh  # the source and 3 disguises (distillation is AKH's hard one) vs 5
    from modelprint.zoo.store import ModelStore

    store = ModelStore(tmp_path / "home" / "zoo")
    for lineage in (f"{SOURCE}->finetune(ftal)", f"{SOURCE}->distill(epochs=3)"):  # children keep width 6
        card = store.card(lineage)
        assert card.config["arch_kwargs"] == {"width": 6} and store.load(lineage).num_classes == 10
    csv = tmp_path / "results.csv"
    code, out, err = invoke(*allow, "results", "export", "--format", "csv", "-o", str(csv), "--preset",
                            str(zoo), *home)  # fmt: skip
    assert code == 0, out + err
    lines = csv.read_text().strip().splitlines()
    assert len(lines) == 1 + 9 and "victim" in lines[0] and all(OWN in line for line in lines[1:])
    key = tmp_path / "key"
    code, out, err = invoke("fingerprint", "generate", "akh", "--victim", SOURCE, "--data", "digits", "-o",
                            str(key), "--arch", OWN, *home)  # fmt: skip
    assert code == 0, out + err
    suspect = f"train({OWN},digits,4,arch.width=6,data=attacker,epochs=15)"
    code, out, err = invoke("verify", str(key), "--suspect", suspect, "--calibrate", str(zoo), "--alpha",
                            "0.2", "--json", "--arch", OWN, *home)  # fmt: skip
    assert code == 0, out + err
    verdict = json.loads(out)
    assert verdict["n_independent"] == 4 and verdict["architectures"] == {OWN: 3, "lenet": 1}
    assert verdict["shares_architecture"] is True and verdict["decision"] == "independent", verdict
