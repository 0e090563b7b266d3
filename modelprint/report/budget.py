"""Query-budget curves: TPR@5%FPR against the number of queries, per scheme (QuRD, Figure 4)."""

from __future__ import annotations

from matplotlib.figure import Figure

from modelprint.report.summary import Summary


def split_label(label: str) -> tuple[str, int | None]:
    """``"akh@50"`` -> ("akh", 50); a label without a budget -> (label, None)."""
    name, at, budget = label.rpartition("@")
    if at and budget.isdigit():
        return name, int(budget)
    return label, None


def budget_curves(summary: Summary) -> Figure | None:
    """One line per scheme evaluated at two or more budgets (mean ± std over seeds), else None."""
    curves: dict[str, list[tuple[int, float, float]]] = {}
    for fp in summary.fingerprints:
        name, budget = split_label(fp.fingerprint)
        if budget is not None:
            curves.setdefault(name, []).append((budget, fp.tpr_mean, fp.tpr_std))
    curves = {k: sorted(v) for k, v in curves.items() if len(v) >= 2}
    if not curves:
        return None
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.add_subplot()
    for name, pts in sorted(curves.items()):
        xs, ys, es = zip(*pts, strict=True)
        ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=name)
    ax.set_xscale("log")
    ax.set_xticks(sorted({x for pts in curves.values() for x, _, _ in pts}))
    ax.get_xaxis().set_major_formatter("{x:.0f}")
    ax.set_xlabel("query budget (queries per verification)")
    ax.set_ylabel(f"TPR@{summary.fpr:.0%}FPR")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("TPR at fixed FPR against query budget")
    fig.tight_layout()
    return fig
