"""The new user's path end to end, from the command line only: their own class in their own module, a
state-dict victim and a safetensors suspect; a key; the suspect file served over HTTP by `modelprint serve`
in its own process; verify over HTTP with a calibrated verdict; the verdict written out as JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn
from typer.testing import CliRunner

from modelprint.cli import app
from modelprint.data import load_dataset

OWN_MODULE = """
from torch import nn


class TinyNet(nn.Module):
    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4), nn.Flatten()
        )
        self.head = nn.Linear(16 * width, 10)

    def forward(self, x):
        return self.head(self.body(x))
"""


def _train(module: nn.Module, seed: int, split: str) -> dict[str, torch.Tensor]:
    data = load_dataset("digits", split)
    torch.manual_seed(seed)
    opt = torch.optim.Adam(module.parameters(), lr=5e-3)
    for _ in range(15):
        for idx in torch.randperm(len(data)).split(64):
            opt.zero_grad()
            nn.functional.cross_entropy(module(data.images[idx]), data.labels[idx]).backward()
            opt.step()
    return {k: v.contiguous() for k, v in module.state_dict().items()}


def test_own_class_generate_serve_verify_over_http_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "my_nets.py").write_text(OWN_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    import my_nets  # the user's module, as their own code would import it

    def fresh(seed: int) -> nn.Module:
        torch.manual_seed(seed)
        return my_nets.TinyNet(width=8)

    torch.save(_train(fresh(1), 1, "owner"), tmp_path / "victim.pt")  # a plain state dict
    suspect_weights = _train(fresh(1), 1, "owner")  # the owner's model, leaked...
    with torch.no_grad():  # ...and disguised with weight noise
        for v in suspect_weights.values():
            v.add_(0.01 * torch.randn_like(v))
    save_file(suspect_weights, str(tmp_path / "stolen.safetensors"))
    calibration = tmp_path / "innocent"
    calibration.mkdir()
    for seed in range(10, 14):  # the owner's own independents of the same class
        save_file(_train(fresh(seed), seed, "owner"), str(calibration / f"ind-{seed}.safetensors"))

    runner = CliRunner()
    arch = ["--arch", "my_nets:TinyNet", "--arch-kwargs", '{"width": 8}']
    home = ["--home", str(tmp_path / "home")]
    key = tmp_path / "key"
    victim = ["--victim", str(tmp_path / "victim.pt"), *arch, "--input-shape", "1x8x8"]
    result = runner.invoke(app, ["fingerprint", "generate", "akh", *victim, "--data", "digits", "-o",
                                 str(key), *home])  # fmt: skip
    assert result.exit_code == 0, result.output

    server = subprocess.Popen(  # `modelprint serve` of the suspect file, in its own process
        [sys.executable, "-c", "from modelprint.cli import main; main()", "serve",
         str(tmp_path / "stolen.safetensors"), *arch, "--input-shape", "1x8x8", "--access", "labels",
         "--port", "0", *home],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )  # fmt: skip
    try:
        url = ""
        deadline = time.monotonic() + 120
        while not url and time.monotonic() < deadline and server.poll() is None:
            line = server.stdout.readline() if server.stdout else ""
            if "POST " in line:
                url = line.split("POST ")[1].split("/v1/predict")[0].strip()
        assert url.startswith("http://127.0.0.1:"), server.stderr.read() if server.stderr else ""
        result = runner.invoke(app, ["verify", str(key), "--suspect", url, "--calibrate", str(calibration),
                                     *arch, "--alpha", "0.2", "--json", *home])  # fmt: skip
        assert result.exit_code == 0, result.output
    finally:
        server.terminate()
        server.wait(timeout=30)
    verdict = json.loads(result.stdout)
    out = tmp_path / "verdict.json"
    out.write_text(json.dumps(verdict, indent=2))  # the user's export: one JSON object
    assert json.loads(out.read_text())["decision"] == "derived", verdict
    assert verdict["n_independent"] == 4 and verdict["shares_architecture"] is True
    assert 0 < verdict["queries"] <= 100  # AKH's key (at most its budget), every query sent over HTTP
    served = server.stdout.read() if server.stdout else ""
    assert f"{verdict['queries']} images answered" in served, served
