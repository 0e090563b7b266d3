"""Query images side by side: how natural do a scheme's queries look (docs/naturalfinger.md,
docs/query-detectors.md#naturalfinger-detector)?

:func:`query_grid` draws the first queries of several keys as one matplotlib Figure (one block of rows per
key, each image titled with the victim's label); :func:`query_sections` finds the benchmark's stored keys
of NaturalFinger, IPGuard and MetaFinger for one victim and seed and returns the figure as a report
section."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Sequence

import torch
from matplotlib.figure import Figure

from modelprint.keys import KeyStore
from modelprint.report.rows import ScoreRow
from modelprint.types import Key

log = logging.getLogger(__name__)

COMPARED: tuple[str, ...] = ("naturalfinger", "ipguard", "metafinger")
"""The schemes :func:`query_sections` compares: the GAN's natural queries next to boundary and
meta-trained ones."""


def _image(x: torch.Tensor) -> tuple[torch.Tensor, str | None]:
    """(H, W) for one channel (grey colour map) or (H, W, C) for colour, clipped to [0,1]."""
    x = x.detach().float().clamp(0.0, 1.0)
    if x.shape[0] == 1:
        return x[0], "gray"
    return x[:3].permute(1, 2, 0), None


def query_grid(keys: Sequence[tuple[str, Key]], *, per_key: int = 16, columns: int = 8) -> Figure:
    """A Figure with the first ``per_key`` query images of every (label, key), ``columns`` per row; each
    image is titled with the key's reference label when the reference is one label per query."""
    if not keys:
        raise ValueError("no keys to draw")
    if per_key < 1 or columns < 1:
        raise ValueError("per_key and columns must be positive")
    rows_per_key = [max(1, math.ceil(min(per_key, len(key.queries)) / columns)) for _, key in keys]
    fig = Figure(figsize=(1.1 * columns, 1.25 * sum(rows_per_key) + 0.45 * len(keys)), layout="constrained")
    subfigs = fig.subfigures(len(keys), 1, height_ratios=[r + 0.4 for r in rows_per_key], squeeze=False)
    for (label, key), sub, n_rows in zip(keys, subfigs[:, 0], rows_per_key, strict=True):
        inputs = key.queries.inputs[:per_key]
        reference = key.reference if key.reference.ndim == 1 else None
        sub.suptitle(f"{label}: {len(key.queries)} queries", fontsize=9)
        axes = sub.subplots(n_rows, columns, squeeze=False)
        for i, ax in enumerate(axes.flat):
            ax.set_axis_off()
            if i >= len(inputs):
                continue
            image, cmap = _image(inputs[i])
            ax.imshow(image.numpy(), cmap=cmap, vmin=0.0, vmax=1.0, interpolation="nearest")
            if reference is not None and i < len(reference):
                ax.set_title(str(int(reference[i])), fontsize=7, pad=1)
    return fig


def _base(label: str) -> str:
    return label.partition(":")[0].partition("@")[0]


def stored_keys(
    keys: KeyStore, victim: str, seed: int, labels: Iterable[str] = COMPARED
) -> list[tuple[str, Key]]:
    """The stored keys of each fingerprint label for ``victim`` and ``seed``; labels without one are left
    out, the first config (by path) is used."""
    found: list[tuple[str, Key]] = []
    for label in labels:
        first = next(keys.stored([label], victims=[victim], seeds=[seed]), None)
        if first is not None:
            found.append((label, first.load()))
    return found


def compared_labels(rows: Sequence[ScoreRow], schemes: Sequence[str] = COMPARED) -> list[str]:
    """Per scheme, the label whose keys to draw: when its default settings were not scored but others
    were, the scored label with the fewest settings (``naturalfinger:epochs=200`` before its ablations),
    else the scheme's own name."""
    scored = list(dict.fromkeys(r.fingerprint for r in rows))
    chosen = []
    for scheme in schemes:
        mine = [label for label in scored if _base(label) == scheme]
        fewest = min(mine, key=lambda label: (label.count(","), len(label)), default=scheme)
        chosen.append(scheme if scheme in mine else fewest)
    return chosen


def query_sections(
    rows: Sequence[ScoreRow], keys: KeyStore, *, schemes: Sequence[str] = COMPARED, per_key: int = 16
) -> dict[str, Figure]:
    """``extra_sections`` for :func:`~modelprint.report.render_html`: the query grid of ``schemes`` (one
    label each, see :func:`compared_labels`) for the first victim and the lowest seed that the first
    scheme was scored on; empty when it was not run."""
    labels = compared_labels(rows, schemes)
    scored = sorted({(r.seed, r.victim) for r in rows if labels and r.fingerprint == labels[0]})
    if not scored:
        return {}
    seed, victim = scored[0]
    found = stored_keys(keys, victim, seed, labels)
    if not found:
        return {}
    log.info("query grid: %s for seed %d", ", ".join(k for k, _ in found), seed)
    return {f"Query images (seed {seed})": query_grid(found, per_key=per_key)}
