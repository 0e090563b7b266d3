"""``modelprint`` command line: zoo | bench | report | list."""

from __future__ import annotations

import datetime as _dt
import logging
import platform
from pathlib import Path
from typing import Annotated

import torch
import typer

from modelprint.bench.pipeline import (
    build_preset,
    report_rows,
    resolve_fingerprints,
    resolve_preset,
    run_preset,
)
from modelprint.bench.results import ResultsDB
from modelprint.fingerprints.base import Fingerprint
from modelprint.registry import UnknownNameError
from modelprint.threats import parse_threats
from modelprint.workspace import Workspace
from modelprint.zoo.executors import make_executor
from modelprint.zoo.presets import PRESETS

app = typer.Typer(
    help="Fingerprint image classifiers and benchmark fingerprinting schemes.", no_args_is_help=True
)
zoo_app = typer.Typer(help="Build and inspect model zoos.", no_args_is_help=True)
bench_app = typer.Typer(help="Run benchmarks.", no_args_is_help=True)
app.add_typer(zoo_app, name="zoo")
app.add_typer(bench_app, name="bench")

HomeOpt = Annotated[
    Path | None,
    typer.Option("--home", help="Artifact folder (default $MODELPRINT_HOME or ./modelprint-data)."),
]
DatasetOpt = Annotated[str | None, typer.Option("--dataset", help="Build the preset on another dataset.")]
ExecutorOpt = Annotated[str, typer.Option("--executor", help="inline | local (worker processes) | dask.")]
JobsOpt = Annotated[int | None, typer.Option("--jobs", help="Worker processes (default: CPU count).")]
SchedulerOpt = Annotated[str | None, typer.Option("--scheduler", help="Dask scheduler, tcp://host:port.")]
DataRootOpt = Annotated[
    str | None, typer.Option("--data-root", help="Local folder/file for cifar10/cifar100/npz/imagefolder.")
]
RecipeOpt = Annotated[
    str | None,
    typer.Option(help="cpu (scaled) | paper (the papers' sizes); default: paper on CIFAR, cpu otherwise."),
]


def _fail(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    return typer.Exit(code=2)


def combo_fingerprints(limit: int | None, *, budget: int | None = None) -> list[Fingerprint]:
    """Every compatible QuRD combination, or a seeded random sample of ``limit`` of them."""
    import random

    from modelprint.fingerprints.combos import compatible_combos, make_combo

    chosen = compatible_combos()
    if limit is not None and limit < len(chosen):
        chosen = sorted(random.Random(0).sample(chosen, limit), key=lambda c: c.name)
    return [make_combo(c, budget=budget or 100) for c in chosen]


def parse_seeds(text: str) -> list[int]:
    """``"0,1,2"`` or ``"0-4"`` -> list of ints."""
    seeds: list[int] = []
    try:
        for part in text.split(","):
            part = part.strip()
            if "-" in part:
                lo, hi = part.split("-", 1)
                seeds += list(range(int(lo), int(hi) + 1))
            elif part:
                seeds.append(int(part))
    except ValueError:
        raise typer.BadParameter(f"seeds must look like 0,1,2 or 0-4, got {text!r}") from None
    if not seeds:
        raise typer.BadParameter("no seeds given")
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


@zoo_app.command("show")
def zoo_show(
    preset: str,
    dataset: DatasetOpt = None,
    recipe: RecipeOpt = None,
    home: HomeOpt = None,
    tree: Annotated[bool, typer.Option(help="Print every model in its lineage tree.")] = True,
) -> None:
    """PRESET's lineage tree with each model's accuracy and fidelity, then per-task means."""
    from modelprint.zoo.summary import format_summary, zoo_summary

    try:
        p = resolve_preset(preset, dataset, recipe)
    except (UnknownNameError, ValueError) as exc:
        raise _fail(str(exc)) from None
    store = Workspace.at(home).store
    if tree:
        for lin in p.lineages():
            depth = lin.count("->")
            if store.is_valid(lin):
                card = store.card(lin)
                fid = f"  fidelity {card.fidelity:.3f}" if card.fidelity is not None else ""
                info = f"acc {card.accuracy:.3f}{fid}  [{card.arch}]"
            else:
                info = "(not built)"
            typer.echo(f"{'  ' * depth}{lin.split('->')[-1] if depth else lin}  {info}")
        typer.echo("")
    typer.echo(format_summary(zoo_summary(p, store)))


def _preset_notes(name: str | None) -> dict[str, str]:
    """A preset's description and what it scaled, for the report's header."""
    if name is None or name not in PRESETS:
        return {}
    p = PRESETS.make(name)
    notes = {"zoo": " ".join(p.description.split())}
    notes.update({f"scaled: {k}": v for k, v in p.scaled.items()})
    return notes


def _write_report(
    ws: Workspace, preset: str | None, fingerprints: list[str] | None, out: Path | None
) -> Path:
    from modelprint.report import ExtraSection, format_table, render_html, summarise
    from modelprint.report.budget import budget_curves
    from modelprint.report.html import plotted
    from modelprint.report.sweeps import sweep_sections
    from modelprint.report.threats import (
        format_threat_costs,
        format_threat_matrix,
        threat_costs,
        threat_matrix,
        threat_sections,
    )

    with ResultsDB(ws.results_path) as db:
        records = db.records(preset=preset, fingerprints=fingerprints)
        accuracies = db.accuracies(preset=preset)
    all_rows = report_rows(records, ws.store)
    rows = [r for r in all_rows if not r.threat]  # the main tables: the clean API
    if not rows:
        raise _fail(f"no results in {ws.results_path}; run `modelprint bench run PRESET -f NAME` first")
    summary = summarise(rows, rank=True)
    typer.echo(format_table(summary))
    extra: dict[str, ExtraSection] = {}
    curves = budget_curves(summary)
    if curves is not None:
        extra["Query-budget curves"] = curves
    matrix = threat_matrix(all_rows, fpr=summary.fpr)
    costs = threat_costs(accuracies) if matrix is not None else []
    if matrix is not None:
        typer.echo(format_threat_matrix(matrix))
    if costs:
        typer.echo(format_threat_costs(costs))
    extra.update(threat_sections(matrix, costs))
    extra.update(
        sweep_sections(rows, summary, plotted([f.fingerprint for f in summary.fingerprints]), matrix, costs)
    )
    meta = {
        "preset": preset or ", ".join(sorted({r.preset for r in records})),
        **_preset_notes(preset),
        "seeds": ", ".join(str(s) for s in sorted({r.seed for r in records})),
        "pairs scored": str(len(records)),
        **({"threats": ", ".join(t for t in matrix.threats if t)} if matrix is not None else {}),
        "generated": _dt.datetime.now(_dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}",
    }
    path = render_html(
        rows,
        out or ws.report_path,
        title="modelprint benchmark report",
        meta=meta,
        extra_sections=extra or None,
    )
    typer.echo(f"report: {path}")
    return path


@bench_app.command("run")
def bench_run(
    preset: str,
    fingerprint: Annotated[
        list[str] | None,
        typer.Option(
            "--fingerprint", "-f", help="NAME or NAME:key=value,..., e.g. cae:max_seeds=512 (repeatable)."
        ),
    ] = None,
    seeds: Annotated[str, typer.Option(help="Seeds, e.g. 0,1,2 or 0-4.")] = "0,1,2",
    budget: Annotated[
        int | None, typer.Option(help="Queries per fingerprint (default: each scheme's).")
    ] = None,
    dataset: DatasetOpt = None,
    data_root: DataRootOpt = None,
    recipe: RecipeOpt = None,
    home: HomeOpt = None,
    report: Annotated[bool, typer.Option(help="Print the table and write the HTML report.")] = True,
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
            fps += combo_fingerprints(max_combos, budget=budget)
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
    if report:
        labels = [f"{fp.name}@{b}" for fp in fps for b in sweep] if sweep else [fp.name for fp in fps]
        _write_report(ws, p.name, labels, None)


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
    from modelprint.zoo.presets import PRESETS

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
    model: Annotated[str, typer.Argument(help="A zoo lineage in HOME's store, or a saved model folder.")],
    access: Annotated[str, typer.Option(help="Clients get: labels | topk:K | probs | logits.")] = "labels",
    port: Annotated[int, typer.Option(help="TCP port (0 = any free port).")] = 8000,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    token: Annotated[
        str | None, typer.Option(envvar="MODELPRINT_TOKEN", help="Require 'Authorization: Bearer TOKEN'.")
    ] = None,
    max_batch: Annotated[int, typer.Option(help="Most images in one request.")] = 1024,
    home: HomeOpt = None,
) -> None:
    """Serve MODEL over HTTP (POST /v1/predict, GET /v1/info) until Ctrl-C."""
    import signal

    from modelprint.models.io import ModelFileError, load_model
    from modelprint.serving import AccessSpec, serve

    try:
        spec = AccessSpec.parse(access)
        folder = Path(model)
        if (folder / "card.json").is_file():
            classifier = load_model(folder)
        else:
            store = Workspace.at(home).store
            if not store.is_valid(model):
                raise ValueError(
                    f"{model!r} is neither a saved model folder nor a built model in {store.root}; "
                    "build it with `modelprint zoo build PRESET`"
                )
            classifier = store.load(model)
        server = serve(
            classifier, access=spec, host=host, port=port, token=token, max_batch=max_batch, start=False
        )
    except (ModelFileError, ValueError, KeyError, OSError) as exc:
        raise _fail(str(exc)) from None
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


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    app()


if __name__ == "__main__":
    main()
