"""Plugins: a tiny distribution (a package plus its ``.dist-info`` with entry points), installed on a path
of the test environment, adds an architecture, a fingerprint and a preset; the CLI lists and uses them, and
local worker processes build the plugin's architecture."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from modelprint.cli import app
from modelprint.registry import refresh_plugins

PLUGIN = '''
"""A modelprint plugin: one architecture, one fingerprint, one preset."""
from dataclasses import replace

from torch import nn

from modelprint.fingerprints.akh import akh
from modelprint.zoo.presets import Preset


def plug_mlp(*, in_channels, num_classes, image_size):
    """A two-layer perceptron, from a plugin."""
    return nn.Sequential(nn.Flatten(), nn.Linear(in_channels * image_size * image_size, 32), nn.ReLU(),
                         nn.Linear(32, num_classes))


def plug_akh(*, budget: int = 50):
    """AKH at 50 queries, from a plugin."""
    return replace(akh(budget=budget), name="plug-akh")


def plug_zoo(dataset: str = "digits", recipe: str | None = None):
    """The plugin's zoo: a plug-mlp source, a fine-tune, two independents."""
    source = "train(plug-mlp,digits,0,epochs=5)"
    return Preset("plug-zoo", dataset, (source,), (
        source + "->finetune(ftal,epochs=2)",
        "train(plug-mlp,digits,1,data=attacker,epochs=5)",
        "train(lenet,digits,2,data=attacker,epochs=5)",
    ), description="a plugin's zoo")
'''

ENTRY_POINTS = """
[modelprint.architectures]
plug-mlp = mp_demo_plugin:plug_mlp

[modelprint.fingerprints]
plug-akh = mp_demo_plugin:plug_akh

[modelprint.presets]
plug-zoo = mp_demo_plugin:plug_zoo
broken-zoo = mp_demo_plugin:does_not_exist
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    site = tmp_path / "site"
    (site / "mp_demo_plugin").mkdir(parents=True)
    (site / "mp_demo_plugin" / "__init__.py").write_text(PLUGIN)
    info = site / "mp_demo_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mp-demo-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]))
    refresh_plugins()
    from joblib.externals.loky import get_reusable_executor

    get_reusable_executor().shutdown(wait=True)  # fresh workers, started with the plugin on their path
    yield site
    refresh_plugins()
    get_reusable_executor().shutdown(wait=True)


def test_a_plugin_extends_the_cli_and_the_local_workers(
    plugin: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runner = CliRunner()
    with caplog.at_level(logging.WARNING, logger="modelprint.registry"):
        listed = runner.invoke(app, ["list", "all"])
    assert listed.exit_code == 0, listed.output
    assert "plug-mlp" in listed.output and "plug-akh" in listed.output and "plug-zoo" in listed.output
    assert "broken-zoo" not in listed.output  # a plugin that fails to load is left out, not fatal
    failed = [r.getMessage() for r in caplog.records if "broken-zoo" in r.getMessage()]
    assert len(failed) == 1 and "failed to load" in failed[0]  # said once, in one line
    home = ["--home", str(tmp_path / "home")]
    built = runner.invoke(app, ["zoo", "build", "plug-zoo", "--jobs", "2", *home])  # local worker processes
    assert built.exit_code == 0, built.output
    assert "4 built" in built.output
    run = runner.invoke(app, ["bench", "run", "plug-zoo", "-f", "plug-akh", "--seeds", "0", "--no-report",
                              "--json", "--jobs", "2", *home])  # fmt: skip
    assert run.exit_code == 0, run.output
    summary = json.loads(run.stdout.strip().splitlines()[-1])
    scheme = summary["schemes"][0]
    assert scheme["fingerprint"] == "plug-akh" and scheme["queries_mean"] <= 50
    assert (scheme["n_positives"], scheme["n_negatives"]) == (2, 2)
