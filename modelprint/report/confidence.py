"""How confident each attack family's models are compared with their source: the per-query log-loss ratio.

MFUE's verification accepts a suspect whose loss on each trigger lies within ±50 % of the source's (ratio
0.5–1.5). A family whose models are systematically more or less confident than the source on clean data
(heads retrained for a few epochs, students, independent models of another recipe) cannot match by
construction, whatever the triggers. Per group (positives by attack, negatives by family), over the first
``images`` test images: the median over models of the median per-image ratio loss_model / loss_source of
the true-label cross-entropy, and the share of (model, image) ratios inside MFUE's interval."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from markupsafe import Markup

from modelprint.data import Dataset
from modelprint.report.summary import fmt_value
from modelprint.report.tables import html_table
from modelprint.zoo.families import family_of
from modelprint.zoo.presets import Preset
from modelprint.zoo.store import ModelStore

__all__ = ["LossRatio", "confidence_sections", "format_loss_ratios", "loss_ratios"]

INTERVAL = (0.5, 1.5)
"""MFUE's acceptance interval of the per-trigger loss ratio (±50 %)."""
FLOOR = 1e-6
"""Source losses below this (nats) are raised to it, so near-certain images do not divide by zero."""


@dataclass(frozen=True)
class LossRatio:
    """One group: ``models`` built, median clean log-loss, median per-query ratio to the source and the share
    of ratios inside :data:`INTERVAL`."""

    group: str
    positive: bool
    models: int
    logloss: float
    ratio: float
    inside: float


def _losses(store: ModelStore, lineage: str, data: Dataset) -> np.ndarray:
    logits = store.load(lineage)(data.images)
    return F.cross_entropy(logits, data.labels, reduction="none").double().numpy()


def loss_ratios(preset: Preset, store: ModelStore, test: Dataset, images: int = 500) -> list[LossRatio]:
    """Per group of ``preset`` (its first victim as the source), the statistics above; groups with no built
    model are left out."""
    data = Dataset(
        test.name, test.images[:images], test.labels[:images], test.num_classes, test.mean, test.std
    )
    victim = preset.victims[0]
    if not store.is_valid(victim):
        return []
    with torch.no_grad():
        source = np.maximum(_losses(store, victim, data), FLOOR)
        groups: dict[tuple[bool, str], list[np.ndarray]] = {}
        logloss: dict[tuple[bool, str], list[float]] = {}
        for pair in preset.pairs():
            if pair.victim != victim or pair.suspect == victim or not store.is_valid(pair.suspect):
                continue
            label = pair.task if pair.positive else family_of(pair.victim, pair.suspect)
            losses = _losses(store, pair.suspect, data)
            groups.setdefault((pair.positive, label), []).append(losses / source)
            logloss.setdefault((pair.positive, label), []).append(float(np.median(losses)))
    out = []
    for (positive, label), ratios in groups.items():
        flat = np.concatenate(ratios)
        inside = float(np.mean((flat >= INTERVAL[0]) & (flat <= INTERVAL[1])))
        out.append(
            LossRatio(
                label, positive, len(ratios), float(np.median(logloss[(positive, label)])),
                float(np.median([np.median(r) for r in ratios])), inside,
            )
        )  # fmt: skip
    return sorted(out, key=lambda r: (not r.positive, r.group))


def format_loss_ratios(rows: list[LossRatio]) -> str:
    """Plain-text table, positives first."""
    head = f"{'group':30} {'models':>6} {'log-loss':>9} {'ratio':>8} {'in 0.5–1.5':>10}"
    lines = [head]
    for r in rows:
        kind = "" if r.positive else "negative: "
        lines.append(
            f"{kind + r.group:30} {r.models:6d} {fmt_value(r.logloss, 4):>9} {fmt_value(r.ratio):>8} "
            f"{fmt_value(r.inside):>10}"
        )
    return "\n".join(lines)


def confidence_sections(rows: list[LossRatio]) -> dict[str, Markup]:
    """``extra_sections``: the log-loss-ratio table (none when nothing is built)."""
    if not rows:
        return {}
    note = Markup(
        '<p class="note">Clean test images, true labels. Log-loss: median over the group\'s models of the '
        "median per-image cross-entropy; ratio: median per-image loss over the source's (median over "
        "models); in 0.5–1.5: share of (model, image) ratios inside MFUE's ±50 % interval. A group far "
        "from 1 cannot pass MFUE's interval test by construction, whichever triggers are drawn.</p>"
    )
    cells = [
        [("" if r.positive else "negative: ") + r.group, str(r.models), fmt_value(r.logloss, 4),
         fmt_value(r.ratio), fmt_value(r.inside)]
        for r in rows
    ]  # fmt: skip
    headers = ["group", "models", "log-loss", "ratio to source", "in 0.5–1.5"]
    return {"Confidence: log-loss ratio to the source": note + html_table(headers, cells)}
