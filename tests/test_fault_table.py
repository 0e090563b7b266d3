"""A table of hostile and bad inputs run through the CLI: every one ends in exit 2 and a clear error, never
a traceback; an error of modelprint's own is one line; no code in a hostile file runs and no file the user
gave is changed."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from modelprint.cli import app
from modelprint.models.archs import build_arch
from modelprint.testing import TinyZoo

runner = CliRunner()


class _Hostile:
    """Unpickling this object would create ``marker``: it must never happen."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.marker), "w"))


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def files(tiny: TinyZoo, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A workspace on the tiny zoo, a real key, and hostile or broken files of every kind."""
    root = tmp_path_factory.mktemp("faults")
    home = root / "home"
    home.mkdir()
    (home / "zoo").symlink_to(tiny.store.root, target_is_directory=True)
    key = root / "key"
    args = ["fingerprint", "generate", "akh", "--victim", tiny.source, "--data", "digits", "-o", str(key)]
    result = runner.invoke(app, [*args, "--home", str(home)])
    assert result.exit_code == 0, result.output
    model = tiny.store.path(tiny.negatives()[0])
    weights = (model / "weights.safetensors").read_bytes()
    marker = root / "PWNED"
    out: dict[str, str] = {"home": str(home), "key": str(key), "marker": str(marker), "model": str(model)}

    def write(name: str, data: bytes | str) -> str:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode())
        return str(path)

    torch.save({"conv.weight": _Hostile(marker)}, root / "evil.pt")
    out["evil.pt"] = str(root / "evil.pt")
    torch.save(_Hostile(marker), root / "evil-module.pt")
    out["evil-module.pt"] = str(root / "evil-module.pt")
    out["trunc.safetensors"] = write("trunc.safetensors", weights[:100])
    out["empty.safetensors"] = write("empty.safetensors", b"")
    out["garbage.onnx"] = write("garbage.onnx", b"\x08\x07not an onnx model" * 50)
    out["garbage.pt2"] = write("garbage.pt2", b"PK\x03\x04 not a zip" * 50)
    out["model.txt"] = write("model.txt", "hello")
    wide = build_arch("cnn-s", in_channels=1, num_classes=10, image_size=28).eval()
    torch.export.save(torch.export.export(wide, (torch.zeros(1, 1, 28, 28),)), str(root / "mnist.pt2"))
    out["mnist.pt2"] = str(root / "mnist.pt2")
    torch.export.save(torch.export.export(tiny.load(tiny.source).module, (torch.zeros(1, 1, 8, 8),)),
                      str(root / "digits.pt2"))  # fmt: skip
    out["digits.pt2"] = str(root / "digits.pt2")
    out["weights.safetensors"] = write("weights.safetensors", weights)
    for name, card in {"card-list": "[1]", "card-format": '{"format": "other"}', "card-huge": None}.items():
        folder = root / name
        shutil.copytree(model, folder)
        if card is None:
            body = json.loads((folder / "card.json").read_text())
            body.update(arch="mlp", image_size=10**6)
            card = json.dumps(body)
        (folder / "card.json").write_text(card)
        out[name] = str(folder)
    for name, change in {"key-json": "{", "key-list": "[]"}.items():
        folder = root / name
        shutil.copytree(key, folder)
        (folder / "key.json").write_text(change)
        out[name] = str(folder)
    folder = root / "key-trunc"
    shutil.copytree(key, folder)
    (folder / "key.safetensors").write_bytes((key / "key.safetensors").read_bytes()[:64])
    out["key-trunc"] = str(folder)
    np.savez(root / "flat.npz", images=np.zeros((10, 3), np.float32), labels=np.zeros(10, np.int64))
    out["flat.npz"] = str(root / "flat.npz")
    np.savez(root / "nolabels.npz", images=np.zeros((10, 1, 8, 8), np.float32))
    out["nolabels.npz"] = str(root / "nolabels.npz")
    (root / "empty-folder").mkdir()
    out["empty-folder"] = str(root / "empty-folder")
    garbage = root / "garbage-cal"
    garbage.mkdir()
    (garbage / "a.onnx").write_bytes(b"nope")
    (garbage / "b.pt2").write_bytes(b"nope")
    out["garbage-cal"] = str(garbage)
    sets = home / "calibration" / "sets"
    sets.mkdir(parents=True)
    (sets / "broken.json").write_text('{"format": "modelprint-calibration-set/1"}')
    out["digests"] = json.dumps({name: _digest(Path(out[name])) for name in ("key", "model")})
    return out


# each row: the arguments (``{name}`` is a file of the fixture), and a word the error must contain
FAULTS: list[tuple[str, str]] = [
    # verify: keys
    ("verify /nonexistent-key --suspect {model}", "not a saved key"),
    ("verify {key-json} --suspect {model}", "unreadable key"),
    ("verify {key-list} --suspect {model}", "key"),
    ("verify {key-trunc} --suspect {model}", "key"),
    ("verify {model} --suspect {model}", "not a saved key"),
    # verify: hostile or broken suspects
    ("verify {key} --suspect /nonexistent.safetensors", "nonexistent"),
    ("verify {key} --suspect {evil.pt} --arch cnn-s", "refused"),
    ("verify {key} --suspect {evil-module.pt}", "pt"),
    ("verify {key} --suspect {evil-module.pt} --arch cnn-s", "refused"),
    ("verify {key} --suspect {trunc.safetensors} --arch cnn-s", "safetensors"),
    ("verify {key} --suspect {empty.safetensors} --arch cnn-s", "safetensors"),
    ("verify {key} --suspect {trunc.safetensors}", "safetensors"),
    ("verify {key} --suspect {weights.safetensors}", "--arch"),
    ("verify {key} --suspect {garbage.onnx}", "onnx"),
    ("verify {key} --suspect {garbage.pt2}", "not a torch.export archive"),
    ("verify {key} --suspect {model.txt}", "unknown model format"),
    ("verify {key} --suspect {mnist.pt2}", "1x28x28"),
    ("verify {key} --suspect {card-list}", "JSON object"),
    ("verify {key} --suspect {card-format}", "card"),
    ("verify {key} --suspect {card-huge}", "values"),
    ("verify {key} --suspect {weights.safetensors} --arch nope --input-shape 1x8x8", "nope"),
    ("verify {key} --suspect {weights.safetensors} --arch lenet --input-shape 1x8x8", "fit"),
    ("verify {key} --suspect {weights.safetensors} --arch nomodule_xyz:Net", "cannot import"),
    ("verify {key} --suspect {model} --arch-kwargs {bad", "JSON"),
    # verify: options out of range or malformed
    ("verify {key} --suspect {model} --alpha 0", "alpha"),
    ("verify {key} --suspect {model} --alpha 1.5", "alpha"),
    ("verify {key} --suspect {model} --access bogus", "access"),
    ("verify {key} --suspect {model} --access topk:0", "top"),
    ("verify {key} --suspect {model} --budget 0", "budget"),
    ("verify {key} --suspect {model} --budget -5", "budget"),
    ("verify {key} --suspect {model} --budget 99999999999", "budget"),
    ("verify {key} --suspect {model} --input-shape 1x8", "shape"),
    ("verify {key} --suspect {model} --input-shape axbxc", "shape"),
    ("verify {key} --suspect {model} --mean abc", "numbers"),
    ("verify {key} --suspect {model} --calibrate nonexistent-set", "calibrate"),
    ("verify {key} --suspect {model} --calibrate ../escape", "calibrate"),
    ("verify {key} --suspect {model} --calibrate broken", "not a calibration set file"),
    ("verify {key} --suspect {model} --calibrate {garbage-cal}", "2 unreadable models"),
    ("verify {key} --suspect {model} --calibrate {empty-folder}", "calibrat"),
    ("verify {key} --suspect http://127.0.0.1:9/v1 --no-journal", "127.0.0.1"),
    ("verify {key} --suspect ftp://example.invalid/model", "ftp"),
    # fingerprint generate
    ("fingerprint generate nope --victim {model} --data digits -o {out}", "nope"),
    ("fingerprint generate akh:budget=abc --victim {model} --data digits -o {out}", "budget"),
    ("fingerprint generate akh:nonsense=1 --victim {model} --data digits -o {out}", "nonsense"),
    ("fingerprint generate akh --victim {evil.pt} --arch cnn-s --input-shape 1x8x8 --data digits -o {out}",
     "refused"),
    ("fingerprint generate akh --victim {trunc.safetensors} --arch cnn-s --input-shape 1x8x8 --data digits "
     "-o {out}", "safetensors"),
    ("fingerprint generate akh --victim {garbage.onnx} --data digits -o {out}", "onnx"),
    ("fingerprint generate akh --victim {model} --data {flat.npz} -o {out}", "images must be"),
    ("fingerprint generate akh --victim {model} --data {nolabels.npz} -o {out}", "labels"),
    ("fingerprint generate akh --victim {model} --data {empty-folder} -o {out}", "class sub-folders"),
    ("fingerprint generate akh --victim {model} --data nope -o {out}", "nope"),
    ("fingerprint generate akh --victim {model} --data digits --split weird -o {out}", "split"),
    ("fingerprint generate akh --victim {model} --data mnist5k -o {out}", "1x28x28"),
    ("fingerprint generate akh --victim {model} --data digits --budget 0 -o {out}", "budget"),
    ("fingerprint generate akh --victim {model} --data digits -o {model}/card.json", "card.json"),
    # zoo
    ("zoo build nope", "nope"),
    ("zoo build tiny --recipe weird", "recipe"),
    ("zoo build tiny --dataset nope", "nope"),
    ("zoo build tiny --executor weird", "executor"),
    ("zoo build tiny --jobs 0", "jobs"),
    ("zoo build tiny --jobs 100000", "jobs"),
    ("zoo show nope", "nope"),
    ("zoo show tiny --dataset nope", "nope"),
    # bench run
    ("bench run nope -f akh", "nope"),
    ("bench run tiny -f nope", "nope"),
    ("bench run tiny -f akh --seeds a-b", "seed"),
    ("bench run tiny -f akh --seeds 5-1", "seed"),
    ("bench run tiny -f akh --seeds 0-99999999999", "seed"),
    ("bench run tiny -f akh:budget=-3", "budget"),
    ("bench run tiny -f akh --budget 0", "budget"),
    ("bench run tiny -f akh --threat bogus", "bogus"),
    ("bench run tiny -f akh --threat gaussian-noise:sigma=-1", "sigma"),
    ("bench run tiny -f akh --access bogus", "access"),
    ("bench run tiny -f akh --executor weird", "executor"),
    # serve
    ("serve /nonexistent-model", "nonexistent"),
    ("serve {model} --port 99999", "port"),
    ("serve {model} --port -1", "port"),
    ("serve {evil-module.pt}", "pt"),
    ("serve {trunc.safetensors}", "safetensors"),
    ("serve {garbage.onnx}", "onnx"),
    ("serve {model} --access bogus", "access"),
    # calibrate build
    ("calibrate build /nonexistent-victim", "nonexistent"),
    ("calibrate build {model} --archs nope", "nope"),
    ("calibrate build {model} --per-arch 0", "per-arch"),
    ("calibrate build {model} --recipe weird", "recipe"),
    ("calibrate build {model} --name ../escape", "name"),
    ("calibrate build {digits.pt2} --arch nomodule_xyz:Net --dataset digits", "cannot import"),
    ("calibrate build {digits.pt2} --arch cnn-s --dataset nope", "nope"),
    ("calibrate build {mnist.pt2} --arch cnn-s --dataset digits", "1x28x28"),
    ("calibrate build {digits.pt2} --arch-kwargs {bad --arch x:Y --dataset digits", "JSON"),
    # results, report, list
    ("results export --format xml", "format"),
    ("report --preset nope", "results"),
    ("list nope", "nope"),
]


def fill(command: str, names: dict[str, str]) -> str:
    """``command`` with each ``{name}`` replaced by that fixture file."""
    for name, value in names.items():
        command = command.replace("{" + name + "}", value)
    return command


@pytest.mark.parametrize(("command", "word"), FAULTS, ids=[c[:60] for c, _ in FAULTS])
def test_a_bad_input_ends_in_one_clear_error(
    command: str, word: str, files: dict[str, str], tmp_path: Path
) -> None:
    args = fill(command, {**files, "out": str(tmp_path / "key-out")}).split()
    if "--home" not in args and args[0] not in ("list",):
        args += ["--home", files["home"]]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    shown = result.output
    for value in sorted((*files.values(), str(tmp_path)), key=len, reverse=True):
        shown = shown.replace(value, "<file>")  # the word must come from the message, not from a path
    assert word.lower() in shown.lower(), result.output
    if result.stderr.lstrip().startswith("error:"):  # modelprint's own errors are one line
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not Path(files["marker"]).exists(), "a hostile file's code ran"


def test_the_table_changed_no_file_it_was_given(files: dict[str, str]) -> None:
    """The key and model the table used are byte-identical (run after the table, it checks every row; alone,
    the fixture's own digests)."""
    for command, _ in FAULTS:  # whatever the order tests run in, every row has run before this check
        args = fill(command, {**files, "out": files["home"] + "/key-out"}).split()
        home = [] if "--home" in args or args[0] == "list" else ["--home", files["home"]]
        runner.invoke(app, [*args, *home])
    before = json.loads(files["digests"])
    assert {name: _digest(Path(files[name])) for name in before} == before
    assert not Path(files["marker"]).exists()
