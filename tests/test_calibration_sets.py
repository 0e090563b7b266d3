"""Calibration sets a verdict can rest on: refused when they do not resemble the victim, matched sets built
by `modelprint calibrate build`, every skip said, and one decision rule (p <= alpha)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from modelprint.calibration import conformal_p_value, p_value_threshold
from modelprint.cli import app
from modelprint.data import load_dataset
from modelprint.models.base import TorchClassifier
from modelprint.models.formats import load_classifier
from modelprint.models.signature import architecture_signature, card_signature
from modelprint.testing import TinyZoo
from modelprint.verify import matched_set, minimum_models

runner = CliRunner()


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


class OwnNet(nn.Module):
    """A user's own architecture, unknown to modelprint: two convolutions and a head."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 12, 3, padding=1), nn.ReLU(), nn.Conv2d(12, 24, 3, stride=2, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(2), nn.Flatten(),
        )  # fmt: skip
        self.head = nn.Linear(96, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def generate(victim: str | Path, key: Path, home: Path) -> None:
    code, out, err = invoke("fingerprint", "generate", "akh", "--victim", str(victim), "--data", "digits",
                            "-o", str(key), "--home", str(home))  # fmt: skip
    assert code == 0, out + err


def train_own(seed: int, path: Path, split: str = "owner") -> Path:
    """OwnNet trained on the digits ``split`` (20 epochs of Adam), exported as ``.pt2``."""
    net = train_net(seed, split)
    torch.export.save(torch.export.export(net, (torch.zeros(1, 1, 8, 8),)), str(path))
    return path


def train_net(seed: int, split: str = "owner") -> OwnNet:
    data = load_dataset("digits", split)
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = OwnNet()
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(20):
        order = torch.randperm(len(data), generator=gen)
        for i in range(0, len(order), 64):
            idx = order[i : i + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(net(data.images[idx]), data.labels[idx]).backward()
            opt.step()
    return net.eval()


@pytest.fixture(scope="module")
def own(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The user's victim, an independent suspect of the same class, and a folder of 6 more independents."""
    root = tmp_path_factory.mktemp("own")
    matched = root / "matched"
    matched.mkdir()
    for seed in range(11, 17):
        train_own(seed, matched / f"own-{seed}.pt2")
    return {
        "victim": train_own(1, root / "victim.pt2"),
        "suspect": train_own(2, root / "suspect.pt2"),
        "matched": matched,
        "root": root,
    }


def test_signature_is_the_same_for_a_module_and_its_export(own: dict[str, Path]) -> None:
    exported = load_classifier(own["victim"])
    assert isinstance(exported, TorchClassifier)
    assert architecture_signature(exported.module) == architecture_signature(OwnNet())
    from modelprint.models.archs import build_arch

    cnn = build_arch("cnn-s", in_channels=1, num_classes=10, image_size=8)
    assert architecture_signature(cnn) != architecture_signature(OwnNet())


def test_own_architecture_against_the_test_zoo_is_refused_and_matched_set_says_independent(
    own: dict[str, Path], tiny: TinyZoo, tmp_path: Path
) -> None:
    """The new user's case: own class, `--calibrate` a zoo that shares neither architecture nor data."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "zoo").symlink_to(tiny.store.root, target_is_directory=True)
    key = tmp_path / "key"
    generate(own["victim"], key, home)
    base = ["verify", str(key), "--suspect", str(own["suspect"]), "--home", str(home), "--alpha", "0.2"]
    code, out, err = invoke(*base, "--calibrate", "tiny")
    assert code == 2 and len(err.strip().splitlines()) == 1, out + err
    assert "shares neither the victim's architecture" in err
    assert "not recorded: the victim is not a zoo model" in err
    assert "--calibrate DIR" in err and "--force" in err
    # --force: the score alone, never a decision
    code, out, err = invoke(*base, "--calibrate", "tiny", "--force")
    assert code == 0, out + err
    assert "verdict: UNCALIBRATED" in out and "DERIVED" not in out and "INDEPENDENT" not in out
    # the user's own independents of the same class
    code, out, err = invoke(*base, "--calibrate", str(own["matched"]), "--json")
    assert code == 0, out + err
    verdict = json.loads(out)
    assert verdict["decision"] == "independent" and verdict["p_value"] > 0.2
    assert verdict["n_independent"] == 6 and verdict["shares_architecture"] is True
    assert verdict["shares_data"] is None  # a model file records no training data


def test_too_few_models_for_alpha_are_refused(own: dict[str, Path], tmp_path: Path) -> None:
    key = tmp_path / "key"
    generate(own["victim"], key, tmp_path)
    code, _, err = invoke("verify", str(key), "--suspect", str(own["suspect"]), "--home", str(tmp_path),
                          "--calibrate", str(own["matched"]))  # fmt: skip
    assert code == 2 and "6 independent models can give no p-value below 1/7" in err
    assert "at least 19 needed" in err and len(err.strip().splitlines()) == 1
    assert minimum_models(0.05) == 19 and minimum_models(0.2) == 4 and minimum_models(0.01) == 99


def test_folder_skips_are_said(own: dict[str, Path], tmp_path: Path) -> None:
    folder = tmp_path / "cal"
    shutil.copytree(own["matched"], folder)
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in OwnNet().state_dict().items()}, str(folder / "w.safetensors"))
    (folder / "notes.txt").write_text("not a model")
    key = tmp_path / "key"
    generate(own["victim"], key, tmp_path)
    code, out, err = invoke("verify", str(key), "--suspect", str(own["suspect"]), "--home", str(tmp_path),
                            "--calibrate", str(folder), "--alpha", "0.2")  # fmt: skip
    assert code == 0, out + err
    assert "skipped: 1 weights files (.safetensors/.pt) skipped: reading them needs --arch NAME" in out
    assert "1 entries that are not models" in out


def test_calibrate_build_trains_a_matched_set_and_verify_uses_it(tiny: TinyZoo, tmp_path: Path) -> None:
    home = tmp_path / "home"
    victim = tiny.store.path(tiny.source)  # a saved model folder: imported into this workspace
    code, out, err = invoke("calibrate", "build", str(victim), "--per-arch", "4", "--recipe", "cpu-fixed",
                            "--home", str(home), "--executor", "inline", "--name", "mine")  # fmt: skip
    assert code == 0, out + err
    assert "calibration set mine: 12 independent models (12 built" in out
    chosen = matched_set(tiny.source, per_arch=4, recipe="cpu-fixed")
    assert [lin.split(",")[0] for lin in chosen.lineages] == ["train(cnn-s"] * 4 + ["train(lenet"] * 4 + [
        "train(resnet8"
    ] * 4
    assert all(",digits,100" in lin and "epochs=15" in lin for lin in chosen.lineages)  # the victim's step
    again = runner.invoke(app, ["calibrate", "build", str(victim), "--per-arch", "4", "--recipe", "cpu-fixed",
                                "--home", str(home), "--executor", "inline", "--name", "mine"])  # fmt: skip
    assert "(0 built, 13 reused" in again.stdout  # resumable: nothing retrained
    key = tmp_path / "key"
    generate(tiny.source, key, home)
    results = {}
    for suspect in (tiny.positives()[0], *tiny.negatives()):  # no --calibrate: the set built for the victim
        code, out, err = invoke("verify", str(key), "--suspect", str(tiny.store.path(suspect)), "--home",
                                str(home), "--alpha", "0.1", "--json")  # fmt: skip
        assert code == 0, out + err
        results[suspect] = json.loads(out)
    derived = results[tiny.positives()[0]]
    assert derived["decision"] == "derived" and derived["calibration"] == "calibration set mine"
    accused = [s for s in tiny.negatives() if results[s]["decision"] == "derived"]
    # at alpha 0.1 the five innocent models expect 0.5 accusations; the same-data cnn-s (seed 201) scores
    # above all 12 matched models (p = 1/13), the other four are declared independent
    assert len(accused) <= 1, accused
    assert all(results[s]["p_value"] > 0.1 for s in tiny.negatives() if s not in accused)
    assert derived["shares_architecture"] and derived["shares_data"]
    assert derived["architectures"] == {"cnn-s": 4, "lenet": 4, "resnet8": 4}


def test_calibrate_build_refuses_what_it_cannot_match(tmp_path: Path, own: dict[str, Path]) -> None:
    code, _, err = invoke("calibrate", "build", str(own["victim"]), "--home", str(tmp_path))
    assert code == 2 and "does not say how it was trained" in err and len(err.strip().splitlines()) == 1
    assert "--arch package.module:Class" in err and "--dataset NAME" in err
    code, _, err = invoke("calibrate", "build", str(own["victim"]), "--arch", "cnn-s", "--dataset", "digits",
                          "--home", str(tmp_path))  # fmt: skip
    assert code == 2 and "is not a cnn-s" in err and len(err.strip().splitlines()) == 1
    code, _, err = invoke("calibrate", "build", "train(cnn-s,digits,0)", "--dataset", "digits", "--home",
                          str(tmp_path))  # fmt: skip
    assert code == 2 and "--dataset is for a victim file" in err
    code, _, err = invoke("calibrate", "build", str(tmp_path / "typo.pt2"), "--arch", "cnn-s", "--dataset",
                          "digits", "--home", str(tmp_path))  # fmt: skip
    assert code == 2 and "typo.pt2: no such model file" in err
    code, _, err = invoke("calibrate", "build", "train(cnn-s,digits,0)", "--home", str(tmp_path))
    assert code == 2 and "a lineage built in" in err  # the victim must be built (or a saved folder)
    with pytest.raises(ValueError, match="other architectures"):
        matched_set("train(cnn-s,digits,0)", archs=("cnn-s", "lenet"))


def test_decision_is_p_at_most_alpha_and_the_threshold_says_the_same() -> None:
    rng = np.random.default_rng(0)
    for n in (1, 4, 5, 19, 20, 50):
        cal = np.round(rng.normal(size=n), 1)  # ties included
        for alpha in (0.01, 0.05, 0.1, 0.2, 0.5, 0.99):
            t = p_value_threshold(cal, alpha)
            for s in np.concatenate([cal, cal + 0.05, cal - 0.05, [-9.0, 9.0]]):
                assert (s > t) == (conformal_p_value(float(s), cal) <= alpha)


def test_card_signature_matches_the_built_module(tiny: TinyZoo) -> None:
    card = tiny.store.card(tiny.source)
    model = tiny.load(tiny.source)
    assert card_signature(card) == architecture_signature(model.module)


def test_calibration_dead_ends_say_what_to_build(tiny: TinyZoo, tmp_path: Path) -> None:
    """An MNIST key against the digits test zoo, and a preset of which only some models are built."""
    from modelprint.models.archs import build_arch

    torch.manual_seed(0)
    net = build_arch("cnn-s", in_channels=1, num_classes=10, image_size=28).eval()
    victim = tmp_path / "mnist.pt2"
    torch.export.save(torch.export.export(net, (torch.zeros(1, 1, 28, 28),)), str(victim))
    home = tmp_path / "home"
    home.mkdir()
    (home / "zoo").symlink_to(tiny.store.root, target_is_directory=True)
    key = tmp_path / "key"
    code, out, err = invoke("fingerprint", "generate", "akh", "--victim", str(victim), "--data", "mnist5k",
                            "-o", str(key), "--home", str(home))  # fmt: skip
    assert code == 0, out + err
    code, _, err = invoke("verify", str(key), "--suspect", str(victim), "--home", str(home),
                          "--calibrate", "tiny")  # fmt: skip
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "preset tiny on mnist5k gives no calibration model" in err
    assert "`modelprint zoo build tiny --dataset mnist5k`" in err and "--calibrate DIR" in err
    # half of tiny built: what was used and skipped is said, with the command that completes it
    partial = tmp_path / "partial"
    (partial / "zoo" / "models").mkdir(parents=True)
    kept = [tiny.source, *tiny.negatives()[:3]]
    for lineage in kept:
        shutil.copytree(tiny.store.path(lineage), partial / "zoo" / "models" / tiny.store.path(lineage).name)
    key8 = tmp_path / "key8"
    generate(tiny.source, key8, partial)
    suspect = str(tiny.store.path(tiny.negatives()[4]))
    code, _, err = invoke("verify", str(key8), "--suspect", suspect, "--home", str(partial),
                          "--calibrate", "tiny", "--alpha", "0.2")  # fmt: skip
    assert code == 2 and "3 independent models can give no p-value below 1/4" in err
    assert "`modelprint zoo build tiny --dataset digits`" in err


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


def test_own_class_weights_files_from_the_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--arch package.module:Class`: the user's state dict and safetensors files, as victim, suspect and
    calibration models; only the named module is imported."""
    from safetensors.torch import save_file

    (tmp_path / "own_arch.py").write_text(OWN_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    torch.save(train_net(1).state_dict(), tmp_path / "victim.pt")
    save_file(dict(train_net(2).state_dict()), str(tmp_path / "suspect.safetensors"))
    cal = tmp_path / "cal"
    cal.mkdir()
    for seed in range(21, 26):
        save_file(dict(train_net(seed).state_dict()), str(cal / f"own-{seed}.safetensors"))
    arch = ["--arch", "own_arch:OwnNet", "--arch-kwargs", '{"width": 12}']
    key = tmp_path / "key"
    home = ["--home", str(tmp_path)]
    suspect = str(tmp_path / "suspect.safetensors")
    code, out, err = invoke("fingerprint", "generate", "akh", "--victim", str(tmp_path / "victim.pt"), *arch,
                            "--input-shape", "1x8x8", "--data", "digits", "-o", str(key), *home)  # fmt: skip
    assert code == 0, out + err
    code, out, err = invoke("verify", str(key), "--suspect", suspect, *arch, "--calibrate", str(cal),
                            "--alpha", "0.2", *home, "--json")  # fmt: skip
    assert code == 0, out + err
    verdict = json.loads(out)
    assert verdict["n_independent"] == 5 and verdict["shares_architecture"] is True
    assert verdict["queries"] == 100 and list(verdict["architectures"].values()) == [5]  # one class, 5 files
    code, _, err = invoke("verify", str(key), "--suspect", suspect, "--arch", "own_arch:Nope", "--calibrate",
                          str(cal), *home)  # fmt: skip
    assert code == 2 and "own_arch has no nn.Module class Nope" in err and len(err.strip().splitlines()) == 1
    code, _, err = invoke("verify", str(key), "--suspect", suspect, *arch[:2], "--arch-kwargs", "[1]",
                          "--calibrate", str(cal), *home)  # fmt: skip
    assert code == 2 and "--arch-kwargs must be a JSON object" in err


def test_broken_set_files_names_and_user_modules_are_one_line(tmp_path: Path, own: dict[str, Path]) -> None:
    from modelprint.verify import load_set

    sets = tmp_path / "calibration" / "sets"
    sets.mkdir(parents=True)
    (sets / "bad.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a calibration set file"):
        load_set(tmp_path, "bad")
    with pytest.raises(ValueError, match="--name"):
        matched_set("train(cnn-s,digits,0)", name="../escape")
    (tmp_path / "broken_arch.py").write_text("def (:\n")
    import sys

    sys.path.insert(0, str(tmp_path))
    try:
        from modelprint.models.io import ModelFileError
        from modelprint.models.user import user_module

        with pytest.raises(ModelFileError, match=r"cannot import broken_arch \(SyntaxError"):
            user_module("broken_arch:Net")
        with pytest.raises(ModelFileError, match=r"expected package\.module:Class"):
            user_module(".rel:Net")
    finally:
        sys.path.remove(str(tmp_path))


def test_calibrate_build_in_the_users_own_class(
    own: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The new user's case end to end: their class, exported; `calibrate build` trains independents of that
    class (and two built-ins) on their data; `verify` finds the set by itself and clears an independent
    suspect of the same class at alpha 0.05, and imports the class only when named."""
    from modelprint.models.user import ALLOW_ENV

    monkeypatch.setenv(ALLOW_ENV, "")
    (tmp_path / "own_arch.py").write_text(OWN_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    home = tmp_path / "home"
    arch = ["--arch", "own_arch:OwnNet", "--arch-kwargs", '{"width": 12}']
    code, out, err = invoke("calibrate", "build", str(own["victim"]), *arch, "--dataset", "digits",
                            "--archs", "lenet,mlp", "--recipe", "cpu-fixed", "--executor", "inline",
                            "--home", str(home))  # fmt: skip
    assert code == 0, out + err
    assert "21 independent models (21 built" in out
    from modelprint.verify import load_set

    name = out.split("calibration set ")[1].split(":")[0]
    built = load_set(home, name)
    assert built is not None and built.victim == "victim.pt2" and built.preset().victims == ()
    assert built.lineages[0] == "train(own_arch:OwnNet,digits,1001,arch.width=12,data=owner)"
    assert built.victim_architecture == architecture_signature(OwnNet())
    from modelprint.zoo.store import ModelStore

    card = ModelStore(home / "zoo").card(built.lineages[0])
    assert card.arch == "own_arch:OwnNet" and card.config["arch_kwargs"] == {"width": 12}
    assert card.accuracy > 0.8  # the user's class really learnt the digits
    key = tmp_path / "key"
    generate(own["victim"], key, home)
    base = ["verify", str(key), "--suspect", str(own["suspect"]), "--home", str(home), "--json"]
    code, out, err = invoke(*base, *arch)  # no --calibrate: the set built for this victim
    assert code == 0, out + err
    verdict = json.loads(out)
    assert verdict["calibration"] == f"calibration set {name}" and verdict["n_independent"] == 21
    assert verdict["shares_architecture"] is True and verdict["shares_data"] is True
    assert verdict["decision"] == "independent", verdict
    code, out, err = invoke(*base, *arch, "--suspect", str(own["victim"]))
    assert code == 0 and json.loads(out)["decision"] == "derived", out + err
    # without --arch the class is not imported: its 7 models are skipped, and the line says how to fix it
    monkeypatch.setenv(ALLOW_ENV, "")
    code, out, err = invoke(*base)
    assert code == 2 and len(err.strip().splitlines()) == 1, out + err
    assert "7 built from your class own_arch:OwnNet, imported only when named: add --arch own_arch:" in err
    # and --calibrate quick (not built here, MNIST-sized) is refused in one line
    code, _, err = invoke(*base, *arch, "--calibrate", "quick")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "zoo build quick" in err


def test_a_victim_trained_with_named_arguments_gets_the_same_matched_set() -> None:
    """``train(arch,data,seed=k)``, as user lineages are often written, copies like the positional form."""
    positional = matched_set("train(cnn-s,digits,0,epochs=15)", per_arch=2)
    named = matched_set("train(cnn-s,digits,seed=0,epochs=15)", per_arch=2)
    assert named.lineages == positional.lineages and len(named.lineages) == 6
