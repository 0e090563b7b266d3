"""Bad inputs end in one clear line: a card that is not a JSON object, unbounded seed ranges and budgets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from modelprint.cli import app, parse_seeds
from modelprint.fingerprints import FINGERPRINTS
from modelprint.models.access import Suspect
from modelprint.models.base import TorchClassifier
from modelprint.models.io import ModelFileError, load_model, read_card
from modelprint.testing import TinyZoo
from modelprint.zoo.builder import build_zoo
from modelprint.zoo.store import ModelStore


@pytest.mark.parametrize("text", ["[1, 2]", "3", '"card"', "null"])
def test_a_card_that_is_not_an_object_is_corrupt_and_rebuilt(
    tiny: TinyZoo, tmp_path: Path, text: str
) -> None:
    store = ModelStore(tmp_path)
    lineage = tiny.negatives()[0]
    shutil.copytree(tiny.store.path(lineage), store.path(lineage))
    (store.path(lineage) / "card.json").write_text(text)
    with pytest.raises(ModelFileError, match="JSON object"):
        read_card(store.path(lineage))
    assert not store.is_valid(lineage)
    report = build_zoo([lineage], store, tiny.ctx)  # treated as corrupt: rebuilt, not a traceback
    assert report.built == [lineage] and store.is_valid(lineage)
    assert json.loads((store.path(lineage) / "card.json").read_text())["lineage"] == lineage


def test_seed_ranges_are_bounded() -> None:
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4] and parse_seeds("3,1,3") == [3, 1]
    for bad in ("0-99999999999", "5-1", "-1", "a", ",", ",".join(str(i) for i in range(1001))):
        with pytest.raises(Exception, match="seed"):
            parse_seeds(bad)


@pytest.mark.parametrize("budget", ["-1", "0", "1000001"])
def test_budgets_out_of_range_are_refused_in_one_line(budget: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["bench", "run", "tiny", "-f", "akh", "--budget", budget, "--home", str(tmp_path)]
    )
    assert result.exit_code == 2 and "budget" in result.output.lower() and "Traceback" not in result.output
    assert not (tmp_path / "results.sqlite").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["serve", "train(cnn-s,digits,0,epochs=15)", "--port", "99999"],
        ["zoo", "build", "tiny", "--jobs", "0"],
    ],
)
def test_ports_and_worker_counts_are_bounded(args: list[str], tmp_path: Path) -> None:
    result = CliRunner().invoke(app, [*args, "--home", str(tmp_path)])
    assert result.exit_code == 2 and "Traceback" not in result.output and "Invalid value" in result.output


class _NaNNet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.classifier = torch.nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x.flatten(1)) * float("nan")


def test_a_model_with_nan_outputs_is_refused_as_victim_and_as_suspect(tiny: TinyZoo) -> None:
    broken = TorchClassifier(_NaNNet(), num_classes=10, input_shape=(1, 8, 8))
    fp = FINGERPRINTS.make("akh")
    with pytest.raises(ValueError, match="NaN"):
        fp.generate(broken, tiny.data(), seed=0)
    margins = FINGERPRINTS.make("zest")  # probabilities: NaN reaches the representation
    key = margins.generate(tiny.load(tiny.source), tiny.data(), seed=0)
    with pytest.raises(ValueError, match="NaN"):
        margins.verify(key, Suspect(broken, access="probs"))


def test_a_card_asking_for_a_model_larger_than_its_weights_is_refused(tiny: TinyZoo, tmp_path: Path) -> None:
    directory = tmp_path / "model"
    shutil.copytree(tiny.store.path(tiny.source), directory)
    card = json.loads((directory / "card.json").read_text())
    card.update(arch="mlp", image_size=10**6)  # 2.56e14 values: never allocated
    (directory / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelFileError, match=r"needs .* values; the weights file holds"):
        load_model(directory)


BAD_COMMANDS = [
    ["zoo", "show", "nope"],
    ["bench", "run", "nope", "-f", "akh"],
    ["bench", "run", "tiny", "-f", "nope"],
    ["bench", "run", "tiny", "-f", "akh", "--seeds", "a-b"],
    ["bench", "run", "tiny", "-f", "akh:budget=-3"],
    ["bench", "run", "tiny", "-f", "akh", "--threat", "bogus"],
    ["zoo", "build", "tiny", "--recipe", "weird"],
    ["verify", "/nonexistent-key", "--suspect", "x"],
    ["fingerprint", "generate", "akh", "--victim", "/nonexistent.safetensors", "--data", "digits", "-o", "k"],
    ["serve", "/nonexistent-model"],
    ["report"],
]


@pytest.mark.parametrize("args", BAD_COMMANDS, ids=[" ".join(a[:4]) for a in BAD_COMMANDS])
def test_bad_commands_end_in_a_clear_error_not_a_traceback(args: list[str], tmp_path: Path) -> None:
    home = [] if args[0] in ("verify", "fingerprint", "serve") else ["--home", str(tmp_path)]
    result = CliRunner().invoke(app, [*args, *home])
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output and ("error" in result.output.lower())
