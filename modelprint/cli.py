"""``modelprint`` command line: zoo | bench | report | list."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import torch
import typer

from modelprint.attacks.base import AttackContext
from modelprint.bench.pipeline import build_preset, resolve_fingerprints, run_preset
from modelprint.gan import GanSpec, GanStore
from modelprint.registry import UnknownNameError
from modelprint.report.build import summary_json
from modelprint.threats import parse_threats
from modelprint.workspace import Workspace
from modelprint.zoo.executors import make_executor
from modelprint.zoo.preset_files import resolve_preset
from modelprint.zoo.presets import PRESETS, Preset

app = typer.Typer(
    help="Fingerprint image classifiers and benchmark fingerprinting schemes.", no_args_is_help=True
)
zoo_app = typer.Typer(help="Build and inspect model zoos.", no_args_is_help=True)
bench_app = typer.Typer(help="Run benchmarks.", no_args_is_help=True)
fingerprint_app = typer.Typer(help="Generate fingerprint keys of your own model.", no_args_is_help=True)
gan_app = typer.Typer(help="Train the GANs NaturalFinger draws its queries from.", no_args_is_help=True)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            typer.echo(f"modelprint {version('modelprint')} (torch {torch.__version__})")
        except PackageNotFoundError:
            typer.echo(f"modelprint (not installed; torch {torch.__version__})")
        raise typer.Exit()


@app.callback()
def _options(
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More log lines (-vv: debug).")
    ] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Errors only.")] = False,
    show_version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
    allow_arch: Annotated[
        list[str] | None,
        typer.Option(
            "--allow-arch",
            help="Your class package.module:Class that a zoo file's lineages may import (repeatable).",
        ),
    ] = None,
) -> None:
    """Fingerprint image classifiers and benchmark fingerprinting schemes."""
    level = logging.ERROR if quiet else {0: logging.WARNING, 1: logging.INFO}.get(verbose, logging.DEBUG)
    logging.getLogger().setLevel(level)
    for arch in allow_arch or []:
        _allow_arch(arch)


app.add_typer(zoo_app, name="zoo")
app.add_typer(bench_app, name="bench")
app.add_typer(fingerprint_app, name="fingerprint")
app.add_typer(gan_app, name="gan")

HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", help="Artifact folder (default $MODELPRINT_HOME or ./modelprint-data)."),
]
DatasetOpt = Annotated[str | None, typer.Option("--dataset", help="Build the preset on another dataset.")]
BudgetOpt = Annotated[
    int | None,
    typer.Option(
        min=1, max=1_000_000, help="Queries per fingerprint (default: each scheme's), 1 to 1,000,000."
    ),
]
FingerprintsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--fingerprint", "-f", help="NAME or NAME:key=value,..., e.g. cae:max_seeds=512 (repeatable)."
    ),
]
ExecutorOpt = Annotated[str, typer.Option("--executor", help="inline | local (worker processes) | dask.")]
JobsOpt = Annotated[
    int | None, typer.Option("--jobs", min=1, max=1024, help="Worker processes (default: CPU count).")
]
SchedulerOpt = Annotated[str | None, typer.Option("--scheduler", help="Dask scheduler, tcp://host:port.")]
DataRootOpt = Annotated[
    str | None, typer.Option("--data-root", help="Local folder/file for cifar10/cifar100/npz/imagefolder.")
]
RecipeOpt = Annotated[
    str | None,
    typer.Option(
        help="cpu (scaled, converged training) | cpu-fixed (scaled, the fixed short epochs) | paper (the "
        "papers' sizes); default: paper on CIFAR, cpu otherwise (tiny: cpu-fixed)."
    ),
]


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=2)


MAX_SEEDS = 1000
"""The most seeds one run takes (a range like 0-99999999999 would otherwise be expanded in memory)."""


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` or ``"0-4"`` -> list of ints."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part:
                lo, hi = (int(v) for v in part.split("-", 1))
                if hi < lo or hi - lo + 1 > MAX_SEEDS:
                    raise typer.BadParameter(f"seed range {part!r}: at most {MAX_SEEDS} seeds, low to high")
                seeds += list(range(lo, hi + 1))
            elif part:
                seeds.append(int(part))
            if len(seeds) > MAX_SEEDS:
                raise typer.BadParameter(f"at most {MAX_SEEDS} seeds, got more in {text!r}")
    except ValueError:
        raise typer.BadParameter(f"seeds must look like 0,1,2 or 0-4, got {text!r}") from None
    if not seeds:
        raise typer.BadParameter("no seeds given")
    if min(seeds) < 0:
        raise typer.BadParameter(f"seeds must be non-negative, got {min(seeds)}")
    return list(dict.fromkeys(seeds))


@zoo_app.command("build")
def zoo_build(
    preset: str,
    dataset: DatasetOpt = None,
    data_root: DataRootOpt = None,
    recipe: RecipeOpt = None,
    home: HomeOpt = None,
    executor: ExecutorOpt = "local",
    jobs: JobsOpt = None,
    scheduler: SchedulerOpt = None,
) -> None:
    """Build (or resume building) the zoo of PRESET."""
    try:
        p = resolve_preset(preset, dataset, recipe)
        ex = make_executor(executor, n_jobs=jobs, scheduler=scheduler)
    except (UnknownNameError, ValueError, RuntimeError) as exc:
        raise _fail(str(exc)) from None
    try:
        report = build_preset(p, Workspace.at(home), data_root=data_root, executor=ex)
    finally:
        ex.close()
    typer.echo(
        f"zoo {p.name} on {p.dataset}: {len(report.built)} built, {len(report.reused)} reused, "
        f"{report.seconds:.1f}s"
    )


@gan_app.command("train")
def gan_train(
    dataset: str,
    epochs: Annotated[int, typer.Option(help="Passes over the owner's split.")] = GanSpec.epochs,
    seed: Annotated[int, typer.Option(help="Seed of the initialisation, batch order and latents.")] = 0,
    width: Annotated[int | None, typer.Option(help="Base channel width (default: by image size).")] = None,
    split_seed: Annotated[int, typer.Option(help="Seed of the owner/attacker/test split.")] = 0,
    data_root: DataRootOpt = None,
    home: HomeOpt = None,
) -> None:
    """Train (or reuse) the class-conditional hinge GAN of DATASET's owner split
    (docs/naturalfinger.md#gan)."""
    try:
        spec = GanSpec(epochs=epochs, seed=seed, width=width)
        ctx = AttackContext(dataset, split_seed=split_seed, data_root=data_root)
        ctx.split(spec.data)
    except (UnknownNameError, ValueError, OSError) as exc:
        raise _fail(str(exc)) from None
    store = GanStore(Workspace.at(home).store.root)

    def progress(epoch: int, row: dict[str, float]) -> None:
        losses = "  ".join(f"{k} {v:.3f}" for k, v in row.items() if k != "seconds")
        typer.echo(f"epoch {epoch + 1}/{epochs}  {losses}  ({row['seconds']:.0f}s)")

    gan = store.get(spec, ctx, on_epoch=progress)
    last = gan.card.history[-1] if gan.card.history else {}
    losses = "  ".join(f"{k} {last[k]:.3f}" for k in ("d_loss", "g_loss") if k in last)
    typer.echo(f"{gan.gan_id}: {gan.card.seconds:.1f}s training, final {losses}")
    typer.echo(f"stored at {store.path(gan.gan_id)}")


@zoo_app.command("show")
def zoo_show(
    preset: str,
    dataset: DatasetOpt = None,
    recipe: RecipeOpt = None,
    home: HomeOpt = None,
    tree: Annotated[bool, typer.Option(help="Print every model in its lineage tree.")] = True,
) -> None:
    """PRESET's lineage tree with each model's accuracy and fidelity, then per-task means."""
    from modelprint.zoo.summary import format_summary, format_tree, zoo_summary

    try:
        p = resolve_preset(preset, dataset, recipe)
    except (UnknownNameError, ValueError) as exc:
        raise _fail(str(exc)) from None
    store = Workspace.at(home).store
    if tree:
        typer.echo(format_tree(p, store) + "\n")
    typer.echo(format_summary(zoo_summary(p, store)))


def _write_report(
    ws: Workspace, preset: str | Preset | None, fingerprints: list[str] | None, out: Path | None
) -> Path:
    """Print the tables and write the HTML report of ``preset``'s rows (:func:`build_report`)."""
    from modelprint.report.build import NoResultsError, build_report

    try:
        built = build_report(ws, preset, fingerprints, out)
    except NoResultsError as exc:
        raise _fail(str(exc)) from None
    except (ValueError, KeyError) as exc:  # a preset that cannot be resolved
        raise _fail(_one_line(exc)) from None
    for text in built.text:
        typer.echo(text)
    typer.echo(f"report: {built.path}")
    return built.path


@bench_app.command("run")
def bench_run(
    preset: str,
    fingerprint: FingerprintsOpt = None,
    seeds: Annotated[str, typer.Option(help="Seeds, e.g. 0,1,2 or 0-4.")] = "0,1,2",
    budget: BudgetOpt = None,
    dataset: DatasetOpt = None,
    data_root: DataRootOpt = None,
    recipe: RecipeOpt = None,
    home: HomeOpt = None,
    report: Annotated[bool, typer.Option(help="Print the table and write the HTML report.")] = True,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print the summary table as one JSON object (no text report).")
    ] = False,
    budgets: Annotated[
        str | None, typer.Option(help="Evaluate each scheme at these budgets, e.g. 10,20,50,100,200,400.")
    ] = None,
    combos: Annotated[
        bool, typer.Option("--combos", help="Also run QuRD combinations (`modelprint list combos`).")
    ] = False,
    max_combos: Annotated[
        int | None, typer.Option(help="With --combos: a seeded random sample of this many combinations.")
    ] = None,
    threat: Annotated[
        list[str] | None,
        typer.Option(
            "--threat",
            help="Also score behind this deployment threat, e.g. jpeg:q=50 or dp-logits:sigma=2 (repeatable; "
            "`modelprint list threats`).",
        ),
    ] = None,
    executor: ExecutorOpt = "local",
    jobs: JobsOpt = None,
    scheduler: SchedulerOpt = None,
) -> None:
    """Build PRESET's zoo if needed, score every pair with each fingerprint and seed (clean, then behind
    each --threat), then report."""
    try:
        p = resolve_preset(preset, dataset, recipe)
        threats = parse_threats(threat or [])
        fps = resolve_fingerprints(fingerprint or [], budget=budget)
        if combos:
            from modelprint.fingerprints.combos import sample_combos

            fps += sample_combos(max_combos, budget=budget)
        if not fps:
            raise ValueError("name at least one fingerprint (-f NAME) or pass --combos")
        ex = make_executor(executor, n_jobs=jobs, scheduler=scheduler)
    except (UnknownNameError, ValueError, RuntimeError) as exc:
        raise _fail(str(exc)) from None
    ws = Workspace.at(home)
    try:
        sweep = parse_seeds(budgets) if budgets else None
        result = run_preset(
            p, fps, parse_seeds(seeds), ws, data_root=data_root, executor=ex, budgets=sweep, threats=threats
        )
    finally:
        ex.close()
    typer.echo(
        f"zoo: {len(result.build.built)} built, {len(result.build.reused)} reused "
        f"({result.build.seconds:.1f}s); scores: {result.stats.scored} new, {result.stats.skipped} cached "
        f"({result.stats.seconds:.1f}s)"
        + (
            f"; {result.stats.unsupported} not scored under a threat (access)"
            if result.stats.unsupported
            else ""
        )
    )
    labels = [f"{fp.name}@{b}" for fp in fps for b in sweep] if sweep else [fp.name for fp in fps]
    if json_out:
        typer.echo(summary_json(ws, p, labels))
    elif report:
        _write_report(ws, p, labels, None)


@bench_app.command("detect")
def bench_detect(
    preset: str,
    fingerprint: FingerprintsOpt = None,
    detector: Annotated[
        list[str] | None,
        typer.Option(
            "--detector",
            "-d",
            help="Query detector NAME or NAME:key=value,... (repeatable; default daeit, she, scadn, "
            "naturalfinger; also daeit-vote).",
        ),
    ] = None,
    seeds: Annotated[str, typer.Option(help="Seeds, e.g. 0,1,2 or 0-4.")] = "0",
    budget: BudgetOpt = None,
    dataset: DatasetOpt = None,
    data_root: DataRootOpt = None,
    recipe: RecipeOpt = None,
    home: HomeOpt = None,
    report: Annotated[bool, typer.Option(help="Rewrite the HTML report when PRESET has scores.")] = True,
    executor: ExecutorOpt = "local",
    jobs: JobsOpt = None,
    scheduler: SchedulerOpt = None,
) -> None:
    """Stealthiness (docs/query-detectors.md): the fraction of each fingerprint's queries that query
    detectors, fitted on each victim as deployed, flag when mixed with as many clean test images (MFUE
    protocol)."""
    from modelprint.bench.pipeline import detect_preset
    from modelprint.report.detection import detection_matrix, format_detection_matrix
    from modelprint.threats.detection import parse_query_detector

    try:
        p = resolve_preset(preset, dataset, recipe)
        fps = resolve_fingerprints(fingerprint or [], budget=budget)
        if not fps:
            raise ValueError("name at least one fingerprint (-f NAME)")
        specs = detector or ["daeit", "she", "scadn", "naturalfinger"]
        detectors = list({d.label: d for d in map(parse_query_detector, specs)}.values())
        ex = make_executor(executor, n_jobs=jobs, scheduler=scheduler)
    except (UnknownNameError, ValueError, RuntimeError) as exc:
        raise _fail(str(exc)) from None
    ws = Workspace.at(home)
    seed_list = parse_seeds(seeds)
    try:
        done = detect_preset(p, fps, seed_list, detectors, ws, data_root=data_root, executor=ex)
    finally:
        ex.close()
    stats = done.stats
    typer.echo(
        f"detection rates: {stats.measured} new, {stats.skipped} cached, {stats.keys_generated} keys made "
        f"({stats.seconds:.1f}s)"
    )
    if report and done.scored:
        _write_report(ws, p, None, None)
    elif (matrix := detection_matrix(done.rates)) is not None:
        typer.echo(format_detection_matrix(matrix))


@app.command("report")
def report_cmd(
    preset: Annotated[str | None, typer.Option(help="Only this preset's results.")] = None,
    fingerprint: Annotated[list[str] | None, typer.Option("--fingerprint", "-f")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="HTML path (default HOME/report.html).")
    ] = None,
    home: HomeOpt = None,
) -> None:
    """Print the results table and write the self-contained HTML report."""
    _write_report(Workspace.at(home), preset, fingerprint or None, out)


@app.command("list")
def list_cmd(
    what: Annotated[
        str,
        typer.Argument(help="fingerprints | attacks | threats | presets | datasets | archs | combos | all"),
    ] = "all",
) -> None:
    """List what modelprint knows."""
    import modelprint.attacks as attacks
    import modelprint.fingerprints as fingerprints
    from modelprint.data import DATASETS
    from modelprint.models.archs import ARCHS
    from modelprint.threats import THREATS

    if what == "combos":
        from modelprint.fingerprints.combos import compatible_combos

        found = compatible_combos()
        for combo in found:
            typer.echo(f"  {combo.name:<58} needs {combo.needs}")
        typer.echo(f"{len(found)} compatible combinations (sampler, seed set, representation, detector)")
        return
    registries = {
        "fingerprints": fingerprints.FINGERPRINTS,
        "attacks": attacks.ATTACKS,
        "threats": THREATS,
        "presets": PRESETS,
        "datasets": DATASETS,
        "archs": ARCHS,
    }
    chosen = registries if what == "all" else {what: registries.get(what)}
    if None in chosen.values():
        raise _fail(f"unknown list {what!r}; choose from {', '.join(registries)} or all")
    for title, reg in chosen.items():
        assert reg is not None
        typer.echo(f"{title}:")
        for name in reg.names():
            typer.echo(f"  {name:<16} {reg.describe(name)}")


@app.command("serve")
def serve_cmd(
    model: Annotated[
        str,
        typer.Argument(
            help="A zoo lineage in HOME's store, a saved model folder, or a model file (.pt2, .onnx, "
            ".safetensors/.pt with --arch), as verify reads them."
        ),
    ],
    access: Annotated[str, typer.Option(help="Clients get: labels | topk:K | probs | logits.")] = "labels",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port (0 = any free port).")] = 8000,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    token: Annotated[
        str | None, typer.Option(envvar="MODELPRINT_TOKEN", help="Require 'Authorization: Bearer TOKEN'.")
    ] = None,
    max_batch: Annotated[int, typer.Option(min=1, max=1_000_000, help="Most images in one request.")] = 1024,
    home: HomeOpt = None,
    arch: ArchOpt = None,
    arch_kwargs: ArchKwargsOpt = None,
    num_classes: NumClassesOpt = None,
    input_shape: InputShapeOpt = None,
    mean: MeanOpt = None,
    std: StdOpt = None,
    unsafe_pickle: UnsafePickleOpt = False,
) -> None:
    """Serve MODEL over HTTP (POST /v1/predict, GET /v1/info) until Ctrl-C."""
    import signal

    from modelprint.models.formats import parse_input_shape
    from modelprint.models.io import ModelFileError
    from modelprint.models.user import parse_arch_kwargs
    from modelprint.serving import AccessSpec, is_url, serve
    from modelprint.verify import resolve_model

    _allow_arch(arch)
    try:
        spec = AccessSpec.parse(access)
        if is_url(model):
            raise ValueError(f"{model}: serve answers for a model held here; a URL is served already")
        shape = parse_input_shape(input_shape) if input_shape else None
        classifier = resolve_model(
            model, Workspace.at(home).store, input_shape=shape, num_classes=num_classes, arch=arch,
            arch_kwargs=parse_arch_kwargs(arch_kwargs), mean=_floats(mean), std=_floats(std),
            allow_pickle=unsafe_pickle,
        )  # fmt: skip
        server = serve(
            classifier, access=spec, host=host, port=port, token=token, max_batch=max_batch, start=False
        )
    except (ModelFileError, ValueError, KeyError, OSError) as exc:
        raise _fail(_one_line(exc)) from None
    shape = "x".join(map(str, classifier.input_shape))
    typer.echo(f"serving {classifier.name or model} ({shape}, {classifier.num_classes} classes) at {spec}")
    typer.echo(f"  POST {server.url}/v1/predict   GET {server.url}/v1/info   (Ctrl-C stops)")

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM (docker stop, kill) stops as cleanly as Ctrl-C

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        typer.echo("stopped")
    finally:
        signal.signal(signal.SIGTERM, previous)
        typer.echo(f"{server.images_served} images answered in {server.requests_served} requests")


ArchOpt = Annotated[
    str | None,
    typer.Option(
        "--arch",
        help="Architecture of a bare .safetensors/.pt weights file: a built-in name, or package.module:Class "
        "for your own (only that module is imported).",
    ),
]
ArchKwargsOpt = Annotated[
    str | None,
    typer.Option("--arch-kwargs", help='Keyword arguments of --arch CLASS as JSON, e.g. {"width": 2}.'),
]
NumClassesOpt = Annotated[
    int | None, typer.Option("--num-classes", min=1, max=100_000, help="Class count of a weights file.")
]
InputShapeOpt = Annotated[
    str | None, typer.Option("--input-shape", help="C x H x W of a weights file, e.g. 1x28x28.")
]
MeanOpt = Annotated[
    str | None, typer.Option(help="Per-channel input mean of a model file, e.g. 0.5,0.5,0.5.")
]
StdOpt = Annotated[str | None, typer.Option(help="Per-channel input std of a model file.")]
UnsafePickleOpt = Annotated[
    bool,
    typer.Option(
        "--unsafe-pickle",
        help="Unpickle a whole nn.Module from a .pt file: RUNS ANY CODE IN IT. Own files only.",
    ),
]


def _allow_arch(arch: str | None) -> None:
    """A user class named with --arch may be imported in this run (and its workers), and no other."""
    from modelprint.models.user import allow_user_arch, is_user_arch

    if is_user_arch(arch):
        allow_user_arch(str(arch))


def _floats(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise typer.BadParameter(f"expected numbers like 0.5,0.5,0.5, got {text!r}") from None


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


@fingerprint_app.command("generate")
def fingerprint_generate(
    scheme: Annotated[
        str, typer.Argument(help="NAME or NAME:key=value,... (`modelprint list fingerprints`).")
    ],
    victim: Annotated[
        str, typer.Option(help="Your model: a zoo lineage in HOME, a saved model folder or a model file.")
    ],
    data: Annotated[str, typer.Option(help="Seed data: a dataset name, an .npz file or an image folder.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to write the key to.")],
    seed: Annotated[int, typer.Option(help="Seed of the query sampler.")] = 0,
    budget: Annotated[
        int | None, typer.Option(min=1, max=1_000_000, help="Queries in the key (default: the scheme's).")
    ] = None,
    split: Annotated[str | None, typer.Option(help="Split of --data (default test; all for files).")] = None,
    data_root: DataRootOpt = None,
    home: HomeOpt = None,
    arch: ArchOpt = None,
    arch_kwargs: ArchKwargsOpt = None,
    num_classes: NumClassesOpt = None,
    input_shape: InputShapeOpt = None,
    mean: MeanOpt = None,
    std: StdOpt = None,
    unsafe_pickle: UnsafePickleOpt = False,
) -> None:
    """Generate a SCHEME key of your victim model and write it to --out (safetensors + JSON)."""
    import time

    from modelprint.fingerprints import parse_fingerprint
    from modelprint.keys.owner import owner_key
    from modelprint.models.formats import parse_input_shape
    from modelprint.models.user import parse_arch_kwargs
    from modelprint.verify import resolve_model, seed_data

    ws = Workspace.at(home)
    _allow_arch(arch)
    try:
        fp = parse_fingerprint(scheme, budget=budget)
        seeds = seed_data(data, split, data_root)
        model = resolve_model(
            victim, ws.store, input_shape=parse_input_shape(input_shape) if input_shape else None,
            arch=arch, arch_kwargs=parse_arch_kwargs(arch_kwargs), num_classes=num_classes,
            mean=_floats(mean), std=_floats(std), allow_pickle=unsafe_pickle,
        )  # fmt: skip
        t0 = time.perf_counter()
        key = owner_key(fp, victim, model, seeds, seed, store=ws.store, data_root=data_root)
        key.save(out)
    except (ValueError, KeyError, RuntimeError, OSError) as exc:
        raise _fail(_one_line(exc)) from None
    typer.echo(
        f"key {out}: {fp.name}, {key.num_queries} queries from {seeds.name} ({len(seeds)} images), "
        f"victim {model.name or victim}, suspect access needed: {fp.needs}, {time.perf_counter() - t0:.1f}s"
    )


@app.command("verify")
def verify_cmd(
    keys: Annotated[list[Path], typer.Argument(help="Key folders from `modelprint fingerprint generate`.")],
    suspect: Annotated[
        str, typer.Option(help="A model file or folder, a zoo lineage in HOME, or an http(s):// URL.")
    ],
    access: Annotated[
        str | None,
        typer.Option(help="Read the suspect at labels | topk:K | probs | logits (default: least)."),
    ] = None,
    budget: Annotated[
        int | None, typer.Option(min=1, max=10**9, help="Most queries the suspect may be sent.")
    ] = None,
    calibrate: Annotated[
        str | None,
        typer.Option(
            help="A calibration set from `modelprint calibrate build`, a zoo preset built in HOME, or a "
            "folder of independent models (default: the set built for the keys' victim, else the preset "
            "holding it)."
        ),
    ] = None,
    alpha: Annotated[
        float, typer.Option(help="Accuse only when the calibrated p-value is at most this.")
    ] = 0.05,
    force: Annotated[
        bool,
        typer.Option("--force", help="Print the uncalibrated scores when the calibration set is refused."),
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    token: Annotated[
        str | None, typer.Option(envvar="MODELPRINT_TOKEN", help="Bearer token of a URL.")
    ] = None,
    journal: Annotated[
        Path | None, typer.Option(help="Answer journal of a URL (default HOME/journals/<url hash>).")
    ] = None,
    no_journal: Annotated[
        bool, typer.Option("--no-journal", help="Send every query of a URL again (no answer journal).")
    ] = False,
    rate_limit: Annotated[float | None, typer.Option(help="Most images per second sent to a URL.")] = None,
    home: HomeOpt = None,
    arch: ArchOpt = None,
    arch_kwargs: ArchKwargsOpt = None,
    input_shape: InputShapeOpt = None,
    mean: MeanOpt = None,
    std: StdOpt = None,
    unsafe_pickle: UnsafePickleOpt = False,
) -> None:
    """Is SUSPECT derived from the victim of KEY(s)? Scores, calibrated p-values, the decision p <= alpha."""
    import hashlib
    import json

    from modelprint.models.base import Classifier
    from modelprint.models.formats import load_classifier, parse_input_shape
    from modelprint.models.user import parse_arch_kwargs
    from modelprint.serving import AccessSpec, RemoteClassifier, is_url
    from modelprint.verify import (
        find_calibration,
        format_verdict,
        independent_models,
        load_key,
        resolve_model,
        verify_suspect,
    )

    ws = Workspace.at(home)
    model = None
    _allow_arch(arch)
    try:
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"--alpha must lie strictly between 0 and 1, got {alpha}")
        loaded = [load_key(k) for k in keys]
        spec = AccessSpec.parse(access) if access else None
        shape = parse_input_shape(input_shape) if input_shape else loaded[0].input_shape
        means, stds = _floats(mean), _floats(std)
        kwargs = parse_arch_kwargs(arch_kwargs)

        def load_file(path: Path) -> Classifier:
            return load_classifier(
                path, input_shape=shape, arch=arch, mean=means, std=stds, allow_pickle=unsafe_pickle,
                num_classes=loaded[0].num_classes, arch_kwargs=kwargs,
            )  # fmt: skip

        found = find_calibration(
            calibrate, loaded, ws.store, ws.home, load_file, with_weights=arch is not None
        )
        if is_url(suspect) and not no_journal and journal is None:
            journal = ws.home / "journals" / hashlib.sha256(suspect.encode()).hexdigest()[:16]
        model = resolve_model(
            suspect, ws.store, input_shape=shape, num_classes=loaded[0].num_classes, arch=arch,
            arch_kwargs=kwargs, mean=means, std=stds, allow_pickle=unsafe_pickle, access=access, token=token,
            budget=budget, journal=None if no_journal else journal, rate_limit=rate_limit,
        )  # fmt: skip
        victims = [k.victim for k in loaded]
        calibration = independent_models(found, victims, getattr(model, "name", "") or None)
        verdict = verify_suspect(
            loaded, model, calibration, alpha=alpha, access=spec, cache_root=ws.home / "calibration",
            suspect_name=suspect, force=force,
        )  # fmt: skip
    except (ValueError, KeyError, RuntimeError, OSError) as exc:
        raise _fail(_one_line(exc)) from None
    finally:
        if isinstance(model, RemoteClassifier):
            model.close()
    typer.echo(json.dumps(verdict.to_json()) if json_out else format_verdict(verdict))


calibrate_app = typer.Typer(help="Calibration sets matched to your victim.", no_args_is_help=True)
app.add_typer(calibrate_app, name="calibrate")


@calibrate_app.command("build")
def calibrate_build(
    victim: Annotated[
        str, typer.Argument(help="The victim: a zoo lineage in HOME, a saved model folder, or a model file.")
    ],
    archs: Annotated[
        str | None,
        typer.Option(help="Other architectures, comma-separated (default: two built-ins not the victim's)."),
    ] = None,
    per_arch: Annotated[
        int, typer.Option(min=1, max=500, help="Models per architecture (the victim's and each other).")
    ] = 7,
    name: Annotated[str | None, typer.Option(help="Name of the set (default: from the victim).")] = None,
    recipe: Annotated[
        str, typer.Option(help="cpu (until the held-out loss stops improving) | cpu-fixed.")
    ] = "cpu",
    arch: Annotated[
        str | None,
        typer.Option(
            "--arch",
            help="A victim file's architecture, trained anew: a built-in name or package.module:Class.",
        ),
    ] = None,
    arch_kwargs: ArchKwargsOpt = None,
    dataset: Annotated[
        str | None, typer.Option("--dataset", help="The data a victim file was trained on (e.g. mnist5k).")
    ] = None,
    split: Annotated[
        str, typer.Option(help="Its split: owner | attacker | train (the whole training half).")
    ] = "owner",
    data_root: DataRootOpt = None,
    home: HomeOpt = None,
    executor: ExecutorOpt = "local",
    jobs: JobsOpt = None,
    scheduler: SchedulerOpt = None,
) -> None:
    """Train (or resume) independent models matched to VICTIM — trained as it was, in its architecture and
    others, with new seeds — and save them as a calibration set for `modelprint verify --calibrate NAME`.
    A victim held as a file (your own class) needs --arch and --dataset: a file does not say how it was
    trained, so the set is trained on that data with the zoo's recipe."""
    from modelprint.models.archs import ARCHS
    from modelprint.verify import is_model_file, matched_set, matched_set_of_file, pool_victim, save_set

    ws = Workspace.at(home)
    _allow_arch(arch)
    try:
        others = tuple(a.strip() for a in archs.split(",") if a.strip()) if archs else ()
        for a in others:
            ARCHS.get(a)
        if is_model_file(victim):
            chosen = matched_set_of_file(
                victim, arch, arch_kwargs, dataset, split, data_root,
                archs=others, per_arch=per_arch, recipe=recipe, name=name,
            )  # fmt: skip
        else:
            if dataset is not None:  # --arch may name the user class a zoo victim is built from
                raise ValueError("--dataset is for a victim file; a zoo lineage says its data")
            lineage = pool_victim(victim, ws.store, why="a matched set copies the victim's training step")
            chosen = matched_set(lineage, archs=others, per_arch=per_arch, recipe=recipe, name=name)
        ex = make_executor(executor, n_jobs=jobs, scheduler=scheduler)
    except (UnknownNameError, ValueError, RuntimeError, OSError) as exc:
        raise _fail(_one_line(exc)) from None
    try:
        report = build_preset(chosen.preset(), ws, data_root=data_root, executor=ex)
    except (ValueError, RuntimeError, OSError) as exc:
        raise _fail(_one_line(exc)) from None
    finally:
        ex.close()
    path = save_set(ws.home, chosen)
    typer.echo(
        f"calibration set {chosen.name}: {len(chosen.lineages)} independent models "
        f"({len(report.built)} built, {len(report.reused)} reused, {report.seconds:.1f}s); {chosen.rule}"
    )
    typer.echo(f"saved {path}; use it with `modelprint verify KEY --suspect S --calibrate {chosen.name}`")


results_app = typer.Typer(help="Results of the benchmark, out of results.sqlite.", no_args_is_help=True)
app.add_typer(results_app, name="results")


@results_app.command("export")
def results_export(
    fmt: Annotated[
        str, typer.Option("--format", help="csv | json | parquet (parquet needs pyarrow).")
    ] = "csv",
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="File to write (default: standard output).")
    ] = None,
    preset: Annotated[str | None, typer.Option(help="Only the rows of this preset's pairs.")] = None,
    home: HomeOpt = None,
) -> None:
    """One row per victim, suspect, scheme, seed and threat (columns: `modelprint.results.export`)."""
    from modelprint.results.export import FORMATS, export_rows, stored_records, write_export

    ws = Workspace.at(home)
    try:
        if fmt not in FORMATS:
            raise ValueError(f"--format {fmt!r}: expected one of {', '.join(FORMATS)}")
        pairs = resolve_preset(preset).pair_ids() if preset is not None else None
        rows = export_rows(stored_records(ws.results_path, pairs))
        text = write_export(rows, fmt, out)
    except (UnknownNameError, ValueError, OSError) as exc:
        raise _fail(_one_line(exc)) from None
    if text is not None:
        typer.echo(text, nl=False)
    else:
        typer.echo(f"{len(rows)} rows written to {out}", err=True)


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()


if __name__ == "__main__":
    main()
