"""Builds a zoo: every lineage in dependency order, cached on disk, resumable, written atomically."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

from modelprint.attacks import AttackContext, make_step
from modelprint.models.io import ModelCard, save_model
from modelprint.zoo.lineage import canonical, parent_of, parse_lineage, root_of, step_seed
from modelprint.zoo.store import ModelStore

log = logging.getLogger(__name__)


@dataclass
class BuildReport:
    built: list[str]
    reused: list[str]
    seconds: float


def closure(lineages: Iterable[str]) -> list[str]:
    """All lineages plus their ancestors, parents before children, each once."""
    ordered: list[str] = []
    seen: set[str] = set()

    def visit(lin: str) -> None:
        lin = canonical(lin)
        if lin in seen:
            return
        parent = parent_of(lin)
        if parent is not None:
            visit(parent)
        seen.add(lin)
        ordered.append(lin)

    for lin in lineages:
        visit(lin)
    return ordered


def build_one(lineage: str, store: ModelStore, ctx: AttackContext) -> ModelCard:
    """Build a single model whose parent is already stored; returns its card."""
    steps = parse_lineage(lineage)
    attack = make_step(steps[-1])
    parent_lin = parent_of(lineage)
    parent = store.load(parent_lin, device=ctx.device) if parent_lin else None
    parent_card = store.card(parent_lin) if parent_lin else None
    seed = step_seed(lineage)
    start = time.perf_counter()
    built = attack.apply(parent, parent_card.arch if parent_card else None, ctx, seed=seed)
    seconds = time.perf_counter() - start
    test = ctx.split("test")
    from modelprint.models.base import TorchClassifier

    model = TorchClassifier(
        built.module,
        num_classes=test.num_classes,
        input_shape=test.input_shape,
        mean=test.mean,
        std=test.std,
        device=ctx.device,
    )
    preds = model.predict(test.images)
    fidelity = None
    root = root_of(lineage)
    if root != lineage and store.is_valid(root):
        fidelity = float((store.load(root).predict(test.images) == preds).float().mean())
    c, h, _ = test.input_shape
    card = ModelCard(
        lineage=lineage,
        arch=built.arch,
        dataset=ctx.dataset,
        in_channels=c,
        image_size=h,
        num_classes=test.num_classes,
        mean=list(test.mean),
        std=list(test.std),
        seed=seed,
        accuracy=float((preds == test.labels).float().mean()),
        parent=parent_lin,
        fidelity=fidelity,
        config=built.config,
        seconds=round(seconds, 3),
    )
    return save_model(built.module, card, store.path(lineage))


def build_zoo(
    lineages: Iterable[str],
    store: ModelStore,
    ctx: AttackContext,
    *,
    on_model: Callable[[str, bool], None] | None = None,
) -> BuildReport:
    """Build every missing model (and missing ancestors). Existing valid models are reused, not retrained;
    an interrupted build resumes where it stopped; a corrupt artifact (hash mismatch) is rebuilt."""
    torch.set_num_threads(max(1, torch.get_num_threads()))
    start = time.perf_counter()
    built: list[str] = []
    reused: list[str] = []
    for lin in closure(lineages):
        if store.is_valid(lin):
            reused.append(lin)
            if on_model:
                on_model(lin, False)
            continue
        card = build_one(lin, store, ctx)
        log.info("built %s (acc %.3f)", lin, card.accuracy)
        built.append(lin)
        if on_model:
            on_model(lin, True)
    return BuildReport(built, reused, time.perf_counter() - start)
