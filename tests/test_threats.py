"""Deployment-side threats (spec §17 input processing, §18 output defences) on the tiny zoo: what each does to
the suspect's answers, its accuracy cost, determinism, spec parsing, the runner's threat axis and the report's
scheme × threat matrix."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from modelprint.bench.pipeline import resolve_fingerprints
from modelprint.bench.runner import run_benchmark, threat_accuracy
from modelprint.cli import app
from modelprint.models.access import AccessError, Suspect
from modelprint.models.base import Classifier
from modelprint.report import render_html, report_rows
from modelprint.report.threats import (
    format_threat_costs,
    format_threat_matrix,
    threat_costs,
    threat_matrix,
    threat_sections,
)
from modelprint.results import SCHEMA, AccuracyRecord, ResultsDB
from modelprint.testing import TinyZoo
from modelprint.threats import (
    THREATS,
    DPLogits,
    ThreatChain,
    ThreatSpecError,
    jpeg_compress,
    parse_threat,
    parse_threats,
)
from modelprint.types import Output
from modelprint.workspace import Workspace

INPUT_THREATS = [
    "crop",
    "flip",
    "rotate",
    "gaussian-noise",
    "blur",
    "jpeg:q=50",
    "equalize",
    "posterize:bits=3",
]
OUTPUT_THREATS = ["topk", "labels", "dp-logits", "round", "poison", "smoothing"]
RANDOM_THREATS = {"crop", "flip", "rotate", "gaussian-noise", "dp-logits", "poison", "smoothing"}

# Accuracy cost bounds (clean − threatened test accuracy of the tiny source, 0.992 clean) measured on the
# 8×8 digits: geometric processing is far harsher at 8×8 than on CIFAR's 32×32 (a 6×6 crop, σ = 1 blur
# over a 5×5 kernel), the label-preserving output defences cost nothing, DP-Logits σ = 2 about 0.10.
# Measured: crop 0.66, flip 0.32, rotate 0.22, gaussian-noise 0.01, blur 0.89, jpeg:q=50 0.01, equalize 0,
# posterize:bits=3 0.02, dp-logits 0.10, smoothing 0; topk / labels / round / poison 0 exactly.
COST_BOUND = {
    "crop": 0.75,
    "flip": 0.45,
    "rotate": 0.35,
    "gaussian-noise": 0.05,
    "blur": 0.95,
    "jpeg:q=50": 0.05,
    "equalize": 0.05,
    "posterize:bits=3": 0.05,
    "dp-logits": 0.25,
    "smoothing": 0.05,
    "topk": 0.0,
    "labels": 0.0,
    "round": 0.0,
    "poison": 0.0,
}


class Spy:
    """A classifier recording the inputs it is sent."""

    def __init__(self, model: Classifier) -> None:
        self.model, self.num_classes, self.output = model, model.num_classes, model.output
        self.seen: list[torch.Tensor] = []

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.clone())
        return self.model(x)


class LabelsOnly:
    num_classes, output = 10, "labels"

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.zeros(len(x), dtype=torch.long)


def _workspace_with_tiny(tiny: TinyZoo, tmp_path: Path) -> Workspace:
    ws = Workspace(tmp_path / "home")
    shutil.copytree(tiny.store.root / "models", ws.store.root / "models")
    return ws


# ----------------------------------------------------------------------------------------------- parsing


def test_parse_specs_round_trip_with_typed_params() -> None:
    guard = {"guard"}  # the query-detection guard (spec §19): tests/test_query_detectors.py
    assert set(THREATS.names()) == {t.split(":")[0] for t in INPUT_THREATS + OUTPUT_THREATS} | guard
    for name in THREATS.names():
        threat = THREATS.make(name)
        assert parse_threat(threat.spec) == threat and THREATS.describe(name)
    jpeg = parse_threat("jpeg:q=50")
    assert jpeg.spec == "jpeg:q=50" and jpeg.q == 50 and isinstance(jpeg.q, int)  # type: ignore[attr-defined]
    dp = parse_threat(" dp-logits: sigma=2 , mechanism=gaussian ")
    assert dp.spec == "dp-logits:sigma=2,mechanism=gaussian" and dp.sigma == 2.0  # type: ignore[attr-defined]
    noise = parse_threat("gaussian-noise")
    assert noise.spec == "gaussian-noise:sigma=16/255" and noise.sigma == 16 / 255  # type: ignore[attr-defined]
    assert parse_threat("flip:p=1,direction=either").params() == {"p": 1.0, "direction": "either"}
    chain = parse_threat("jpeg:q=50+labels")
    assert isinstance(chain, ThreatChain) and chain.spec == "jpeg:q=50+labels"
    assert [t.spec for t in parse_threats(["labels", "jpeg:q=50", "jpeg:q=50"])] == ["labels", "jpeg:q=50"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty threat spec"),
        ("nope", "unknown threat 'nope'; known: blur, crop"),
        ("jpeg:quality=50", "threat 'jpeg' has no parameter 'quality'; parameters: q"),
        ("jpeg:q=fifty", "q must be a int; got 'fifty'"),
        ("jpeg:q=50.5", "q must be a int"),
        ("jpeg:q=0", "jpeg: q must lie in 1..100"),
        ("jpeg:q", "expected key=value"),
        ("jpeg:q=50,q=60", "given twice"),
        ("dp-logits:mechanism=cauchy", "mechanism must be one of laplace, gaussian"),
        ("labels:k=3", "threat 'labels' has no parameter 'k'; parameters: none"),
        ("blur:kernel=4", "odd"),
        ("labels+labels+jpeg:q=50+nope", "unknown threat 'nope'"),
    ],
)
def test_parse_errors_are_clear(text: str, message: str) -> None:
    with pytest.raises(ThreatSpecError, match=message.replace("(", r"\(").replace("+", r"\+")):
        parse_threat(text)


# ------------------------------------------------------------------------------- effects and accuracy


@pytest.mark.parametrize("spec", INPUT_THREATS)
def test_input_threats_change_what_the_model_sees(tiny: TinyZoo, spec: str) -> None:
    model = tiny.load(tiny.source)
    x = tiny.data("test").images[:64]
    spy = Spy(model)
    served = parse_threat(spec).wrap(spy, seed=3)
    out = served(x)
    assert served.output == model.output == "logits" and out.shape == (64, model.num_classes)
    seen = spy.seen[-1]
    assert seen.shape == x.shape and float(seen.min()) >= 0.0 and float(seen.max()) <= 1.0
    changed = (seen - x).flatten(1).abs().amax(dim=1) > 1e-6
    assert changed.float().mean() > 0.3, f"{spec} changed only {int(changed.sum())} of 64 inputs"
    assert torch.equal(out, model(seen)) and not torch.allclose(out, model(x))


def test_crop_is_cut_out_then_bilinear_resize() -> None:
    gen = torch.Generator().manual_seed(5)
    x = torch.rand(3, 2, 8, 10, generator=gen)
    out = parse_threat("crop:scale=0.5").transform(x, torch.Generator().manual_seed(1))  # type: ignore[attr-defined]
    replay = torch.Generator().manual_seed(1)
    top, left = torch.randint(0, 5, (3,), generator=replay), torch.randint(0, 6, (3,), generator=replay)
    for i in range(3):
        cut = x[i : i + 1, :, top[i] : top[i] + 4, left[i] : left[i] + 5]
        resized = torch.nn.functional.interpolate(cut, size=(8, 10), mode="bilinear", align_corners=False)
        assert torch.allclose(out[i], resized[0], atol=1e-6)


def test_old_results_db_gains_the_accuracy_table(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as conn:  # a results DB written before the threat_accuracy table existed
        conn.executescript(SCHEMA.split("CREATE TABLE IF NOT EXISTS threat_accuracy")[0])
    with ResultsDB(path) as db:
        assert db.accuracies() == [] and db.records() == []
        db.add_accuracy(AccuracyRecord("tiny", "labels", "m", 0.5, 10))
        assert db.accuracies(preset="tiny")[0].accuracy == 0.5


def test_jpeg_equalize_posterize_are_pils_and_bit_stable() -> None:
    """The three 8-bit threats are Pillow's (libjpeg at 4:4:4, ImageOps), identical from run to run, and
    JPEG distorts more at lower quality."""
    pil = pytest.importorskip("PIL.Image")
    ops = pytest.importorskip("PIL.ImageOps")
    gen = torch.Generator().manual_seed(0)
    x = torch.nn.functional.avg_pool2d(torch.rand(4, 3, 32, 48, generator=gen), 2)  # smooth-ish 16×24

    def pil_round_trip(img: np.ndarray, q: int) -> torch.Tensor:
        buf = io.BytesIO()
        mode = "L" if img.ndim == 2 else "RGB"
        pil.fromarray(img, mode).save(buf, "JPEG", quality=q, subsampling=0)
        return torch.from_numpy(np.array(pil.open(io.BytesIO(buf.getvalue())))).float() / 255

    errors = []
    for q in (30, 50, 90):
        mine_grey, mine_rgb = jpeg_compress(x[:, :1], q), jpeg_compress(x, q)
        assert torch.equal(mine_rgb, jpeg_compress(x, q))  # bit-stable
        u8 = (x * 255).round().byte().numpy()
        ref_grey = torch.stack([pil_round_trip(u8[i, 0], q) for i in range(4)])[:, None]
        ref_rgb = torch.stack(
            [pil_round_trip(u8[i].transpose(1, 2, 0), q).permute(2, 0, 1) for i in range(4)]
        )
        assert torch.equal(mine_grey, ref_grey) and torch.equal(mine_rgb, ref_rgb)
        errors.append(float((mine_grey - x[:, :1]).abs().mean()))
    assert errors[0] > errors[1] > errors[2] > 1.0 / 255  # lower quality, larger distortion
    two = jpeg_compress(x[:, :2], 50)  # any other channel count: per channel, as grey
    assert torch.equal(two[:, 1:2], jpeg_compress(x[:, 1:2], 50))
    y = torch.rand(5, 3, 8, 8, generator=gen) ** 2
    eq = parse_threat("equalize").transform(y, gen)  # type: ignore[attr-defined]
    po = parse_threat("posterize:bits=3").transform(y, gen)  # type: ignore[attr-defined]
    u8 = (y * 255).round().byte().numpy()
    for i in range(5):
        img = pil.fromarray(np.ascontiguousarray(u8[i].transpose(1, 2, 0)), "RGB")
        def chw(im: object) -> torch.Tensor:
            return torch.from_numpy(np.array(im)).permute(2, 0, 1).float() / 255

        assert torch.equal(chw(ops.equalize(img)), eq[i]) and torch.equal(chw(ops.posterize(img, 3)), po[i])


def test_output_defences_restrict_the_answers(tiny: TinyZoo) -> None:
    model = tiny.load(tiny.source)
    x = tiny.data("test").images[:64]
    clean = model(x)
    top = parse_threat("topk:k=3").wrap(model)
    assert top.output == "topk" and torch.equal(top(x), clean.topk(3, dim=1).indices)
    labels = parse_threat("labels").wrap(model)
    assert labels.output == "labels" and torch.equal(labels(x), clean.argmax(dim=1))
    for d in (1, 2):
        rounded = parse_threat(f"round:decimals={d}").wrap(model)
        p = rounded(x)
        assert rounded.output == "probs" and p.shape == clean.shape
        assert torch.allclose(p * 10**d, (p * 10**d).round(), atol=1e-4)
        assert (p - clean.softmax(dim=1)).abs().max() <= 0.5 / 10**d + 1e-6
    poisoned = parse_threat("poison:epsilon=0.5").wrap(model, seed=1)
    p = poisoned(x)
    assert poisoned.output == "probs" and torch.allclose(p.sum(dim=1), torch.ones(64), atol=1e-5)
    assert torch.equal(p.argmax(dim=1), clean.argmax(dim=1))
    assert (p - clean.softmax(dim=1)).abs().sum(dim=1).mean() > 0.2
    dp = parse_threat("dp-logits:sigma=2").wrap(model, seed=1)
    assert isinstance(dp, DPLogits) and dp.output == "logits" and dp.sigma == 2.0
    assert dp(x).shape == clean.shape and not torch.allclose(dp(x), clean)
    smooth = parse_threat("smoothing:sigma=0.1,n=20").wrap(model, seed=1)
    votes = smooth(x)
    assert smooth.output == "labels" and votes.shape == (64,) and votes.dtype == torch.long
    assert (votes == clean.argmax(dim=1)).float().mean() > 0.9
    mean = parse_threat("smoothing:sigma=0.1,n=20,mode=mean").wrap(model, seed=1)
    assert mean.output == "logits" and mean(x).shape == clean.shape
    # access: defences leave less than the model gives, and refuse models without scores
    with pytest.raises(AccessError, match="needs 'probs' access but the suspect only gives 'labels'"):
        Suspect(labels, access="probs")
    assert Suspect(top, access="labels")(x).shape == (64,)
    for spec in ("round", "poison", "dp-logits", "topk", "smoothing:mode=mean"):
        with pytest.raises(AccessError):
            parse_threat(spec).wrap(LabelsOnly())
    chain = parse_threat("jpeg:q=50+dp-logits:sigma=1+labels").wrap(model, seed=2)
    assert chain.output == "labels" and chain(x).shape == (64,)


def test_accuracy_cost_within_measured_bounds(tiny: TinyZoo) -> None:
    model, test = tiny.load(tiny.source), tiny.data("test")
    clean = threat_accuracy(model, None, test)
    assert clean > 0.95
    print(f"\nclean accuracy of the tiny source: {clean:.3f}")
    for spec, bound in COST_BOUND.items():
        acc = threat_accuracy(model, parse_threat(spec), test, seed=0)
        print(f"  {spec:<18} accuracy {acc:.3f}  cost {clean - acc:+.3f}  (bound {bound:.2f})")
        assert clean - acc <= bound + 1e-9, spec


@pytest.mark.parametrize("spec", INPUT_THREATS + OUTPUT_THREATS)
def test_threats_are_deterministic_per_seed(tiny: TinyZoo, spec: str) -> None:
    model = tiny.load(tiny.source)
    x = tiny.data("test").images[:32]
    threat = parse_threat(spec if spec != "smoothing" else "smoothing:n=10,sigma=0.5")
    a, b, c = threat.wrap(model, seed=7), threat.wrap(model, seed=7), threat.wrap(model, seed=8)
    first = [a(x), a(x)]
    assert all(torch.equal(u, v) for u, v in zip(first, [b(x), b(x)], strict=True))
    if spec.split(":")[0] in RANDOM_THREATS:
        assert not torch.equal(first[0], first[1])  # fresh randomness per call
        assert not torch.equal(first[0], c(x))
    else:
        assert torch.equal(first[0], first[1]) and torch.equal(first[0], c(x))


# ----------------------------------------------------------------------------- runner, report, CLI


def test_runner_scores_clean_and_threats_skips_what_a_threat_forbids(tiny: TinyZoo, tmp_path: Path) -> None:
    ws = _workspace_with_tiny(tiny, tmp_path)
    fps = resolve_fingerprints(["akh", "modeldiff"], budget=50)
    akh, modeldiff = "akh:budget=50", "modeldiff:budget=50"  # labels carry a non-default budget
    threats = parse_threats(["jpeg:q=50", "labels"])
    n_pairs = len(tiny.preset.pairs())

    def run() -> object:
        with ResultsDB(ws.results_path) as db:
            return run_benchmark(
                tiny.preset,
                fps,
                [0],
                store=ws.store,
                results=db,
                keys=ws.keys,
                ctx=tiny.ctx,
                threats=threats,
            )

    stats = run()
    assert stats.keys_generated == 2  # one key per (scheme, seed, victim), whatever the threats
    assert stats.scored == 5 * n_pairs and stats.unsupported == n_pairs  # modeldiff (probs) behind labels
    with ResultsDB(ws.results_path) as db:
        records = db.records(preset="tiny")
        accuracies = db.accuracies(preset="tiny")
        assert len(db.records(threat="")) == 2 * n_pairs
    cells = {(r.fingerprint, r.threat) for r in records}
    assert cells == {(f, t) for f in (akh, modeldiff) for t in ("", "jpeg:q=50")} | {(akh, "labels")}
    assert {r.queries for r in records} == {50} and {r.access for r in records if r.fingerprint == akh} == {
        "labels"
    }
    clean = {r.suspect: r.score for r in records if r.fingerprint == modeldiff and not r.threat}
    jpeg = {r.suspect: r.score for r in records if r.fingerprint == modeldiff and r.threat == "jpeg:q=50"}
    assert clean.keys() == jpeg.keys() and clean != jpeg
    assert {(a.threat, a.model) for a in accuracies} == {
        (t, tiny.source) for t in ("", "jpeg:q=50", "labels")
    }
    again = run()
    assert again.scored == 0 and again.keys_generated == 0 and again.skipped == 5 * n_pairs

    rows = report_rows(records, ws.store)
    matrix = threat_matrix(rows)
    assert matrix is not None and matrix.threats == ("", "jpeg:q=50", "labels")
    assert "labels" not in matrix.auc[modeldiff] and 0.0 <= matrix.auc[akh]["labels"] <= 1.0
    text = format_threat_matrix(matrix)
    assert "clean" in text and "jpeg:q=50" in text and "TPR@5%FPR under deployment threats" in text
    costs = threat_costs(accuracies)
    assert {c.threat for c in costs} == {"jpeg:q=50", "labels"}
    assert next(c for c in costs if c.threat == "labels").drop == 0.0
    print("\n" + text + format_threat_costs(costs))
    sections = threat_sections(matrix, costs)
    html = render_html(
        [r for r in rows if not r.threat], tmp_path / "r.html", title="t", extra_sections=sections
    )
    page = html.read_text()
    assert "Deployment threats: ROC AUC" in page and "jpeg:q=50" in page and "accuracy cost" in page
    assert threat_matrix([r for r in rows if not r.threat]) is None


def test_cli_threat_option(tiny: TinyZoo, tmp_path: Path) -> None:
    ws = _workspace_with_tiny(tiny, tmp_path)
    runner = CliRunner()
    args = ["bench", "run", "tiny", "-f", "akh", "--seeds", "0", "--budget", "30", "--home", str(ws.home)]
    result = runner.invoke(
        app, [*args, "--threat", "jpeg:q=50", "--threat", "topk:k=2", "--executor", "inline"]
    )
    assert result.exit_code == 0, result.output
    assert "AUC under deployment threats" in result.output and "topk:k=2" in result.output
    assert "Accuracy cost of each threat" in result.output
    page = ws.report_path.read_text()
    assert "Deployment threats: TPR@5%FPR" in page and "jpeg:q=50" in page
    bad = runner.invoke(app, [*args, "--threat", "jpeg:quality=5"])
    assert bad.exit_code == 2 and "has no parameter 'quality'" in bad.output
    listing = runner.invoke(app, ["list", "threats"])
    assert listing.exit_code == 0 and "dp-logits" in listing.output and "smoothing" in listing.output


def test_threat_output_levels_are_declared() -> None:
    levels: dict[str, Output] = {"topk": "topk", "labels": "labels", "round": "probs", "poison": "probs"}
    for spec, level in levels.items():
        assert parse_threat(spec).output_for("logits") == level
    assert parse_threat("smoothing").output_for("probs") == "labels"
    assert parse_threat("dp-logits").output_for("probs") == "probs"
    assert all(parse_threat(s).output_for("labels") == "labels" for s in INPUT_THREATS)


def test_threat_columns_order_parameters_by_value() -> None:
    from modelprint.report.threats import threat_order

    names = ["dp-logits:sigma=10", "blur", "dp-logits:sigma=2", "gaussian-noise:sigma=16/255",
             "dp-logits:sigma=0.5", "gaussian-noise:sigma=8/255"]  # fmt: skip
    assert sorted(names, key=threat_order) == [
        "blur", "dp-logits:sigma=0.5", "dp-logits:sigma=2", "dp-logits:sigma=10",
        "gaussian-noise:sigma=8/255", "gaussian-noise:sigma=16/255",
    ]  # fmt: skip


def test_threat_cells_on_fewer_seeds_name_them() -> None:
    """A threat scored on seed 0 only is not comparable with a clean column averaged over seeds 0 and 1: the
    cell says which seeds it stands on."""
    from modelprint.report import ScoreRow
    from modelprint.report.threats import format_threat_matrix, threat_matrix

    def rows(seed: int, threat: str, gap: float) -> list[ScoreRow]:
        return [
            ScoreRow(
                "akh",
                seed,
                "v",
                f"s{i}",
                i < 2,
                "finetune" if i < 2 else "independent",
                (0.9 if i < 2 else 0.5 + gap * (i - 2)),
                100,
                0.0,
                threat=threat,
            )
            for i in range(4)
        ]

    matrix = threat_matrix(rows(0, "", 0.1) + rows(1, "", 0.1) + rows(0, "blur", 0.5) + rows(1, "crop", 0.1)
                           + rows(0, "crop", 0.1))  # fmt: skip
    assert matrix is not None
    assert matrix.cell_seeds("akh", "blur") == (0,) and matrix.cell_seeds("akh", "crop") is None
    text = format_threat_matrix(matrix)
    assert "(seed 0)" in text and text.count("(seed 0)") == 2  # blur's AUC and TPR cells


def test_accuracy_cost_is_measured_on_every_class_of_a_sorted_split() -> None:
    """mnist5k's test split is sorted by class: the accuracy subset is a seeded random draw, not a prefix
    (the first 256 images held only digits 0–2, and a guard that distrusts zeros looked 4x costlier)."""
    from modelprint.bench.runner import accuracy_subset
    from modelprint.data import Dataset

    labels = torch.arange(10).repeat_interleave(100)
    sorted_split = Dataset("sorted", torch.rand(1000, 1, 4, 4), labels, 10, (0.5,), (0.25,))
    sub = accuracy_subset(sorted_split, 256)
    assert len(sub) == 256 and set(sub.labels.tolist()) == set(range(10))
    assert torch.equal(sub.labels, accuracy_subset(sorted_split, 256).labels)  # fixed seed
    assert accuracy_subset(sorted_split, 5000) is sorted_split
