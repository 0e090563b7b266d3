"""Verify a real suspect: bring-your-own-model formats, `fingerprint generate` + `verify` end to end over
loopback HTTP, the calibrated p-value on hand-made scores, and hostile model files."""

from __future__ import annotations

import io
import json
import logging
import math
import os
import pickle
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from modelprint.calibration import (
    allowed_false_positives,
    combined_statistics,
    conformal_p_value,
    empirical_fpr,
    flagged,
    fpr_threshold,
    p_value_threshold,
)
from modelprint.cli import app
from modelprint.models.archs import build_arch
from modelprint.models.base import TorchClassifier
from modelprint.models.formats import ExportedModule, load_classifier, parse_input_shape
from modelprint.models.io import ModelFileError
from modelprint.serving import serve
from modelprint.testing import TinyZoo
from modelprint.types import Key
from modelprint.verify import (
    independent_models,
    load_key,
    preset_models,
    verify_suspect,
)

runner = CliRunner()


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class Exploit:
    """Pickles into a call of os.system: what a hostile model file does."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


@dataclass
class Owner:
    """A workspace over the shared tiny zoo, with keys generated through the CLI."""

    tiny: TinyZoo
    home: Path
    keys: Path

    def key(self, scheme: str) -> Path:
        return self.keys / scheme


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def owner(tiny: TinyZoo, tmp_path_factory: pytest.TempPathFactory) -> Owner:
    home = tmp_path_factory.mktemp("owner")
    (home / "zoo").symlink_to(tiny.store.root, target_is_directory=True)
    keys = home / "keys-out"
    for scheme in ("akh", "fbi"):
        code, out, err = invoke(
            "fingerprint", "generate", scheme, "--victim", tiny.source, "--data", "digits", "--seed", "0",
            "-o", str(keys / scheme), "--home", str(home),
        )  # fmt: skip
        assert code == 0, out + err
        assert f"key {keys / scheme}: {scheme}, 100 queries" in out
    return Owner(tiny, home, keys)


def small_module(classes: int = 10) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_arch("cnn-s", in_channels=1, num_classes=classes, image_size=8).eval()


# ---------------------------------------------------------------- end to end over loopback HTTP


def test_generate_then_verify_remote_label_only_suspects(owner: Owner, tmp_path: Path) -> None:
    tiny, akh = owner.tiny, str(owner.key("akh"))
    key = Key.load(akh)
    derived = tiny.positives()[0]  # ->finetune(ftal)
    independent = "train(cnn-s,digits,1,data=attacker,epochs=15)"
    assert independent in tiny.negatives()
    # tiny holds 5 independent models: p >= 1/6, so a verdict at alpha 0.05 is refused; 0.2 it can give
    base = ["verify", akh, "--access", "labels", "--home", str(owner.home), "--json", "--alpha", "0.2"]

    server = serve(tiny.load(derived), access="labels", port=0)
    try:
        # a budget below the key's queries is refused before anything is sent
        code, out, err = invoke(*base, "--suspect", server.url, "--calibrate", "tiny", "--budget", "50",
                                "--no-journal")  # fmt: skip
        assert code == 2 and "query budget exhausted" in err and len(err.strip().splitlines()) == 1
        assert server.images_served == 0
        code, out, err = invoke(*base, "--suspect", server.url, "--calibrate", "tiny", "--budget", "150")
        assert code == 0, out + err
        first = json.loads(out)
        served = server.images_served
        # a rerun (say, after a crash) replays the journal: nothing is sent again
        code, out, err = invoke(*base, "--suspect", server.url, "--calibrate", "tiny", "--budget", "150")
        assert code == 0, out + err
        again = json.loads(out)
        assert server.images_served == served
    finally:
        server.close()
    assert first["decision"] == "derived" and first["keys"][0]["flagged"]
    assert first["n_independent"] == 5 and first["access"] == "labels"
    assert first["queries"] == served > 0  # client and server count the same images
    assert first["queries"] + first["queries_replayed"] == key.num_queries  # repeats in the key go once
    assert first["p_value"] == pytest.approx(1 / 6) and first["min_p_value"] == pytest.approx(1 / 6)
    assert first["statistic"] == first["keys"][0]["score"] > first["threshold"]
    assert again["queries"] == 0 and again["queries_replayed"] == key.num_queries
    assert again["statistic"] == first["statistic"] and again["calibration_cached"] == 5

    # the independent model, calibrated on a folder of the other four independent models
    folder = tmp_path / "independent"
    folder.mkdir()
    for lineage in tiny.negatives():
        if lineage != independent:
            (folder / tiny.store.path(lineage).name).symlink_to(tiny.store.path(lineage))
    server = serve(tiny.load(independent), access="labels", port=0)
    try:
        code, out, err = invoke(*base, "--suspect", server.url, "--calibrate", str(folder), "--no-journal")
        served = server.images_served
    finally:
        server.close()
    assert code == 0, out + err
    verdict = json.loads(out)
    assert verdict["decision"] == "independent" and verdict["n_independent"] == 4
    assert verdict["queries"] == served == key.num_queries  # no journal: every image is sent
    assert verdict["statistic"] <= verdict["threshold"] and verdict["p_value"] > 0.25


def test_verify_prints_score_threshold_p_value_and_queries(owner: Owner) -> None:
    suspect = owner.tiny.positives()[2]  # ->prune(0.5)
    keys = [str(owner.key("akh")), str(owner.key("fbi"))]
    # no --calibrate: the preset whose victim made the keys (tiny)
    code, out, err = invoke("verify", *keys, "--suspect", suspect, "--home", str(owner.home))
    assert code == 2 and "cannot support a calibrated verdict at alpha 0.05" in err and "1/6" in err
    code, out, err = invoke("verify", *keys, "--suspect", suspect, "--home", str(owner.home), "--alpha=0.2")
    assert code == 0, out + err
    assert "verdict: DERIVED — p-value 0.1667 <= alpha 0.2" in out and "Fisher statistic" in out
    assert "preset tiny" in out and "5 independent models" in out and "queries: 200" in out
    assert "the victim's architecture among them: yes, its training data: yes" in out


def test_multi_key_verdict_is_recalibrated_and_cached(owner: Owner) -> None:
    tiny = owner.tiny
    keys = [load_key(owner.key("akh")), load_key(owner.key("fbi"))]
    models = independent_models(preset_models(tiny.preset, tiny.store), [tiny.source])
    assert len(models.models) == 5  # the source and its five positives are not independent
    assert models.skipped == ["6 derived from the victim (same training root)"]
    assert preset_models(tiny.preset, tiny.store, input_shape=(1, 28, 28)).models == []  # filter by shape
    cache = owner.home / "calibration-api"
    verdicts = [
        verify_suspect(keys, tiny.load(s), models, alpha=0.2, cache_root=cache)
        for s in (tiny.positives()[1], tiny.positives()[1], tiny.negatives()[3])
    ]
    first, cached, negative = verdicts
    assert first.decision == "derived" and first.queries == 200
    assert cached.calibration_cached == 10 and cached.statistic == first.statistic
    table = np.array([r.calibration_scores for r in first.keys]).T
    stat, stats = combined_statistics([r.score for r in first.keys], table)
    assert first.statistic == pytest.approx(stat) and first.threshold == pytest.approx(
        p_value_threshold(stats, 0.2)
    )
    assert first.p_value == pytest.approx(conformal_p_value(stat, stats)) and first.p_value <= 0.2
    # a calibration model verified against a set that still holds it is never flagged
    assert negative.decision == "independent" and negative.p_value >= 2 / 5


def test_verify_errors_are_one_clear_line(owner: Owner, tmp_path: Path) -> None:
    akh, fbi = str(owner.key("akh")), str(owner.key("fbi"))
    home = ["--home", str(owner.home), "--calibrate", "tiny"]
    code, _, err = invoke("verify", akh, "--suspect", str(tmp_path / "nope.safetensors"), *home)
    assert code == 2 and "no such model file" in err
    code, _, err = invoke("verify", str(tmp_path), "--suspect", owner.tiny.source, *home)
    assert code == 2 and "not a saved key" in err
    code, _, err = invoke("verify", fbi, "--suspect", owner.tiny.source, "--access", "labels", *home)
    assert code == 2 and "needs 'topk' access" in err
    code, _, err = invoke(
        "fingerprint", "generate", "akh", "--victim", owner.tiny.source, "--data", "mnist5k", "-o",
        str(tmp_path / "k"), "--home", str(owner.home),
    )  # fmt: skip
    assert code == 2 and "seed data" in err and "1x8x8" in err
    export = tmp_path / "five.pt2"  # a suspect with 5 classes against a 10-class key
    torch.export.save(torch.export.export(small_module(5), (torch.zeros(1, 1, 8, 8),)), str(export))
    code, _, err = invoke("verify", akh, "--suspect", str(export), *home)
    assert code == 2 and "outputs 5 classes, expected 10" in err
    server = serve(owner.tiny.load(owner.tiny.source), access="labels", port=0)
    try:
        code, _, err = invoke("verify", fbi, "--suspect", server.url, "--no-journal", *home)
    finally:
        server.close()
    assert code == 2 and "needs 'topk' access" in err and server.images_served == 0
    assert len(err.strip().splitlines()) == 1
    ten = tmp_path / "ten.pt2"  # a fine victim file, but pools are derived from zoo lineages
    torch.export.save(torch.export.export(small_module(), (torch.zeros(1, 1, 8, 8),)), str(ten))
    code, _, err = invoke(
        "fingerprint", "generate", "metafinger", "--victim", str(ten), "--data", "digits", "-o",
        str(tmp_path / "k"), "--home", str(owner.home),
    )  # fmt: skip
    assert code == 2 and "pool-based schemes" in err


# ---------------------------------------------------------------- calibration on hand-made scores


def test_conformal_p_value_and_threshold_on_hand_made_scores() -> None:
    cal = [0.1, 0.5, 0.5, 0.9]
    assert conformal_p_value(0.95, cal) == pytest.approx(1 / 5)
    assert conformal_p_value(0.9, cal) == pytest.approx(2 / 5)  # ties count against the suspect
    assert conformal_p_value(0.5, cal) == pytest.approx(4 / 5)
    assert conformal_p_value(0.0, cal) == pytest.approx(1.0)
    assert conformal_p_value(float("nan"), cal) == pytest.approx(1.0)  # an unscorable suspect is not flagged
    assert allowed_false_positives(4, 0.25) == 1 and allowed_false_positives(20, 0.05) == 1
    assert fpr_threshold(cal, 0.25) == 0.5  # 1 of 4 may score above it
    assert empirical_fpr(0.5, cal) == 0.25 and empirical_fpr(0.4999, cal) == 0.75
    assert fpr_threshold(cal, 0.05) == 0.9 and fpr_threshold(cal, 1.0) == -math.inf
    assert flagged(0.6, cal, 0.25) and not flagged(0.5, cal, 0.25) and not flagged(0.9, cal, 0.05)
    # the decision "score > threshold" is "#{c >= score} <= floor(alpha n)"
    for s in np.linspace(0, 1, 41):
        for alpha in (0.0, 0.05, 0.25, 0.5, 1.0):
            k = allowed_false_positives(len(cal), alpha)
            assert flagged(float(s), cal, alpha) == (sum(c >= s for c in cal) <= k)
    with pytest.raises(ValueError, match="calibration"):
        fpr_threshold([], 0.05)


def test_fisher_combination_on_hand_made_scores() -> None:
    cal = np.array([[0.1, 0.2], [0.3, 0.1], [0.2, 0.3]])
    stat, stats = combined_statistics([0.9, 0.8], cal)
    assert stat == pytest.approx(-2 * 2 * math.log(1 / 4))  # top of both columns among 4 models
    # model 0: column 0 rank 4/4 (everything >= 0.1), column 1 rank 3/4
    assert stats[0] == pytest.approx(-2 * (math.log(1.0) + math.log(3 / 4)))
    assert conformal_p_value(stat, stats) == pytest.approx(1 / 4)
    stat, stats = combined_statistics([0.15, 0.15], cal)  # unremarkable on both keys
    assert conformal_p_value(stat, stats) > 0.5


def test_p_values_are_valid_under_the_null() -> None:
    """Independent suspects exchangeable with 19 calibration models: P(p <= 0.05) <= 0.05 (here = 1/20),
    for one score and for the Fisher combination of three dependent scores."""
    rng = np.random.default_rng(0)
    trials, n = 4000, 19
    single = combined = 0
    for _ in range(trials):
        base = rng.normal(size=(n + 1, 1))
        scores = base + 0.5 * rng.normal(size=(n + 1, 3))  # three schemes, correlated through the model
        single += conformal_p_value(scores[-1, 0], scores[:-1, 0]) <= 0.05
        stat, stats = combined_statistics(scores[-1], scores[:-1])
        combined += conformal_p_value(stat, stats) <= 0.05
    bound = 0.05 + 3 * math.sqrt(0.05 * 0.95 / trials)
    assert single / trials <= bound and combined / trials <= bound


# ---------------------------------------------------------------- bring your own model, hostile files


def test_weights_file_with_arch_loads_and_checks_its_shape(tmp_path: Path) -> None:
    module = small_module()
    path = tmp_path / "w.safetensors"
    save_file(module.state_dict(), str(path))
    x = torch.rand(4, 1, 8, 8)
    model = load_classifier(path, arch="cnn-s", input_shape=parse_input_shape("1x8x8"))
    assert isinstance(model, TorchClassifier) and model.num_classes == 10
    assert torch.allclose(model(x), module(x), atol=1e-6)
    with pytest.raises(ModelFileError, match="--arch"):
        load_classifier(path, input_shape=(1, 8, 8))
    with pytest.raises(ModelFileError, match="outputs 10 classes"):
        load_classifier(path, arch="cnn-s", input_shape=(1, 8, 8), num_classes=5)
    with pytest.raises(ModelFileError, match="do not fit"):  # right head, wrong body
        load_classifier(path, arch="lenet", input_shape=(1, 8, 8))
    torch.save(module.state_dict(), tmp_path / "sd.pt")
    state_dict_model = load_classifier(tmp_path / "sd.pt", arch="cnn-s", input_shape=(1, 8, 8))
    assert torch.allclose(state_dict_model(x), module(x), atol=1e-6)
    with pytest.raises(ValueError, match="1x28x28"):
        parse_input_shape("28x28")


def test_truncated_safetensors_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "w.safetensors"
    save_file(small_module().state_dict(), str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="not a readable safetensors file"):
        load_classifier(path, arch="cnn-s", input_shape=(1, 8, 8))


def test_hostile_pickle_is_refused_and_nothing_runs(owner: Owner, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "model.pt"
    with open(path, "wb") as fh:
        pickle.dump({"weight": Exploit(marker)}, fh)
    with pytest.raises(ModelFileError, match="refused"):
        load_classifier(path, arch="cnn-s", input_shape=(1, 8, 8))
    code, _, err = invoke("verify", str(owner.key("akh")), "--suspect", str(path), "--arch", "cnn-s",
                          "--home", str(owner.home), "--calibrate", "tiny")  # fmt: skip
    assert code == 2 and "refused" in err and len(err.strip().splitlines()) == 1
    assert not marker.exists()


def test_whole_pickled_module_needs_the_loud_opt_in(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    module = small_module()
    torch.save(module, tmp_path / "full.pt")
    with pytest.raises(ModelFileError, match=r"refused.*--unsafe-pickle"):
        load_classifier(tmp_path / "full.pt", input_shape=(1, 8, 8))
    with caplog.at_level(logging.WARNING):
        model = load_classifier(tmp_path / "full.pt", input_shape=(1, 8, 8), allow_pickle=True)
    assert "UNSAFE" in caplog.text
    x = torch.rand(3, 1, 8, 8)
    assert torch.allclose(model(x), module(x), atol=1e-6)


def test_exported_program_round_trip_matches_the_module(tmp_path: Path) -> None:
    module = small_module()
    x = torch.rand(7, 1, 8, 8)
    dynamic = tmp_path / "dynamic.pt2"
    batch = torch.export.Dim("batch")
    torch.export.save(
        torch.export.export(module, (torch.zeros(2, 1, 8, 8),), dynamic_shapes=({0: batch},)), str(dynamic)
    )
    static = tmp_path / "static.pt2"  # exported at batch 1: fed one chunk at a time
    torch.export.save(torch.export.export(module, (torch.zeros(1, 1, 8, 8),)), str(static))
    for path in (dynamic, static):
        model = load_classifier(path)
        assert isinstance(model, TorchClassifier) and isinstance(model.module, ExportedModule)
        assert model.input_shape == (1, 8, 8) and model.num_classes == 10
        assert torch.allclose(model(x), module(x), atol=1e-5)
        xg = x.clone().requires_grad_()
        grad = torch.autograd.grad(model.forward(xg).sum(), xg)[0]  # white-box: usable as a victim too
        assert grad.shape == x.shape and bool(grad.abs().sum() > 0)
    with pytest.raises(ModelFileError, match="takes 1x8x8 inputs, expected 3x8x8"):
        load_classifier(dynamic, input_shape=(3, 8, 8))


def _rewrite(src: Path, dst: Path, replace: dict[str, bytes]) -> None:
    """Copy a .pt2 archive with some members (named after the archive's root folder) replaced."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            inner = info.filename.split("/", 1)[1]
            zout.writestr(info.filename, replace.get(inner, zin.read(info.filename)))


def test_hostile_exported_programs_are_refused_before_loading(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    good = tmp_path / "good.pt2"
    torch.export.save(torch.export.export(small_module(), (torch.zeros(1, 1, 8, 8),)), str(good))
    with zipfile.ZipFile(good) as z:
        root = z.namelist()[0].split("/")[0]
        config = json.loads(z.read(f"{root}/data/weights/model_weights_config.json"))
        program = z.read(f"{root}/models/model.json").decode()
    first = next(iter(config["config"]))
    config["config"][first]["use_pickle"] = True
    evil = io.BytesIO()
    torch.save(Exploit(marker), evil)
    path_name = config["config"][first]["path_name"]
    cases = {
        "pickled weight": {
            "data/weights/model_weights_config.json": json.dumps(config).encode(),
            f"data/weights/{path_name}": evil.getvalue(),
        },
        "pickled sample inputs": {"data/sample_inputs/model.pt": evil.getvalue()},
        "python callable": {
            "models/model.json": program.replace(
                "torch.ops.aten.relu_.default", "torch.os.system", 1
            ).encode()
        },
        "compiled code": {},
    }
    assert "torch.ops.aten.relu_.default" in program
    for what, members in cases.items():
        bad = tmp_path / f"{what.replace(' ', '-')}.pt2"
        _rewrite(good, bad, members)
        if what == "compiled code":
            with zipfile.ZipFile(bad, "a") as z:
                z.writestr(f"{root}/data/aotinductor/model/model.so", b"\x7fELF")
        with pytest.raises(ModelFileError, match="refused"):
            load_classifier(bad)
        assert not marker.exists(), what
    # torch.export.load evaluates symbolic-shape expressions with sympy: one that calls os.system
    dynamic = tmp_path / "dynamic.pt2"
    batch = torch.export.Dim("batch")
    program_of = torch.export.export(small_module(), (torch.zeros(2, 1, 8, 8),), dynamic_shapes=({0: batch},))
    torch.export.save(program_of, str(dynamic))
    with zipfile.ZipFile(dynamic) as z:
        text = z.read(f"{z.namelist()[0].split('/')[0]}/models/model.json").decode()
    symbol = re.search(r"Symbol\('s\d+', positive=True, integer=True\)", text)
    assert symbol is not None
    payload = f"__import__('os').system('touch {marker}')*0+{symbol.group(0)}"
    evil_expr = tmp_path / "expression.pt2"
    _rewrite(dynamic, evil_expr, {"models/model.json": text.replace(symbol.group(0), payload, 1).encode()})
    with pytest.raises(ModelFileError, match="refused — symbolic shape expression"):
        load_classifier(evil_expr)
    assert not marker.exists()
    load_classifier(dynamic)  # the untouched archive passes the same checks


def _onnx_file(path: Path, module: torch.nn.Module, shape: tuple[int, ...]) -> None:
    pytest.importorskip("onnx", reason="torch.onnx.export needs the onnx package")
    torch.onnx.export(
        module,
        (torch.zeros(1, *shape),),
        str(path),
        dynamo=False,
        input_names=["x"],
        dynamic_axes={"x": {0: "n"}},
    )


def test_onnx_suspect_loads_and_a_wrong_input_shape_is_refused(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="the optional 'onnx' extra is not installed")
    module = small_module()
    path = tmp_path / "m.onnx"
    _onnx_file(path, module, (1, 8, 8))
    model = load_classifier(path)
    x = torch.rand(5, 1, 8, 8)
    assert model.num_classes == 10 and model.output == "logits"
    assert torch.allclose(model(x), module(x), atol=1e-4)
    with pytest.raises(ModelFileError, match="takes 1x8x8 inputs, expected 1x28x28"):
        load_classifier(path, input_shape=(1, 28, 28))
    with pytest.raises(ModelFileError, match="outputs 10 classes, expected 7"):
        load_classifier(path, num_classes=7)


def test_missing_onnxruntime_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real = builtins.__import__

    def no_ort(name: str, *args: object, **kwargs: object) -> object:
        if name == "onnxruntime":
            raise ImportError("no onnxruntime")
        return real(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_ort)
    (tmp_path / "m.onnx").write_bytes(b"not really")
    with pytest.raises(ModelFileError, match=r"modelprint\[onnx\]"):
        load_classifier(tmp_path / "m.onnx")


def test_a_budget_spent_mid_verify_keeps_the_keys_scored(owner: Owner) -> None:
    suspect = owner.tiny.positives()[2]
    keys = [str(owner.key("akh")), str(owner.key("fbi"))]
    code, out, err = invoke("verify", *keys, "--suspect", suspect, "--home", str(owner.home), "--alpha=0.2",
                            "--budget", "150", "--json")  # fmt: skip
    assert code == 0, out + err
    verdict = json.loads(out)
    assert [k["scheme"] for k in verdict["keys"]] == ["akh"] and verdict["queries"] == 100
    assert verdict["combination"] == "single key" and verdict["decision"] == "derived"
    (note,) = [n for n in verdict["notes"] if "fbi" in n]
    assert "not scored" in note and "query budget exhausted" in note and "over the 1 keys scored" in note
