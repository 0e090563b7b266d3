"""Per-task statistics of a built zoo: how many models, their accuracy, fidelity and build time."""

from __future__ import annotations

from dataclasses import dataclass

from modelprint.zoo.families import arch_of, family_of
from modelprint.zoo.presets import Preset
from modelprint.zoo.store import ModelStore


@dataclass(frozen=True)
class TaskStats:
    task: str
    count: int
    built: int
    accuracy: float
    fidelity: float | None
    seconds: float


def zoo_summary(preset: Preset, store: ModelStore) -> list[TaskStats]:
    """One row per task of ``preset``: positives by attack, negatives by family and architecture (e.g.
    ``same-data same-arch (cnn-m)``, see :func:`~modelprint.zoo.families.family_of`); missing models are
    counted but not averaged. Fidelity is agreement with the model's own root on the test split."""
    groups: dict[str, list[str]] = {}
    for pair in preset.pairs():
        label = (
            pair.task
            if pair.positive
            else f"{family_of(pair.victim, pair.suspect)} ({arch_of(pair.suspect)})"
        )
        groups.setdefault(label, []).append(pair.suspect)
    rows = []
    for task, lineages in groups.items():
        cards = [store.card(lin) for lin in lineages if store.is_valid(lin)]
        fids = [c.fidelity for c in cards if c.fidelity is not None]
        rows.append(
            TaskStats(
                task,
                len(lineages),
                len(cards),
                sum(c.accuracy for c in cards) / len(cards) if cards else float("nan"),
                sum(fids) / len(fids) if fids else None,
                sum(c.seconds for c in cards),
            )
        )
    return rows


def format_summary(rows: list[TaskStats]) -> str:
    width = max([22, *(len(r.task) for r in rows)])
    lines = [f"{'task':<{width}} {'models':>6} {'built':>5} {'accuracy':>8} {'fidelity':>8} {'train s':>8}"]
    for r in rows:
        fid = f"{r.fidelity:8.3f}" if r.fidelity is not None else f"{'-':>8}"
        lines.append(f"{r.task:<{width}} {r.count:>6} {r.built:>5} {r.accuracy:8.3f} {fid} {r.seconds:8.1f}")
    return "\n".join(lines)


def format_tree(preset: Preset, store: ModelStore) -> str:
    """Every model of ``preset`` in its lineage tree (one line each, indented by depth), with its accuracy,
    fidelity and architecture, or ``(not built)``."""
    lines = []
    for lin in preset.lineages():
        depth = lin.count("->")
        if store.is_valid(lin):
            card = store.card(lin)
            fid = f"  fidelity {card.fidelity:.3f}" if card.fidelity is not None else ""
            info = f"acc {card.accuracy:.3f}{fid}  [{card.arch}]"
        else:
            info = "(not built)"
        lines.append(f"{'  ' * depth}{lin.split('->')[-1] if depth else lin}  {info}")
    return "\n".join(lines)
