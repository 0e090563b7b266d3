"""How often a calibrated verdict accuses an innocent model: leave-one-out over a preset's negatives.

For every scheme and seed, each negative (independent of the victim) is held out in turn and treated as the
suspect; the others are the calibration set, exactly as ``modelprint verify --calibrate PRESET`` would use
them. Its conformal p-value ``(1 + #{others >= s}) / (1 + n)`` accuses it when ``p <= alpha``. The same is
done for the Fisher combination of all schemes (ranks recomputed among the n + 1 models, as ``verify``).
Printed: the empirical false-accusation rate at each alpha beside the nominal one, with its Clopper–Pearson
95 % interval, overall and for each negative family (a calibration set mixing families is only valid for
suspects exchangeable with it: the same-data family shows what happens when they are not).

Scores are read from the workspace (``modelprint bench run PRESET -f ...`` first); nothing is recomputed.

    python bench/false_accusation.py --preset quick --home modelprint-data --alphas 0.05,0.01
"""

from __future__ import annotations

import argparse
import math
from collections import defaultdict

import numpy as np

from modelprint.bench.pipeline import resolve_preset
from modelprint.bench.results import ResultsDB
from modelprint.calibration import combined_statistics, conformal_p_value
from modelprint.workspace import Workspace
from modelprint.zoo.families import family_of


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


def clopper_pearson(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Exact two-sided interval of a binomial proportion k/n (bisection on the binomial tails)."""
    tail = (1 - level) / 2

    def solve(f: object, want: float, increasing: bool) -> float:
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = (lo + hi) / 2
            value = f(mid)  # type: ignore[operator]
            if (value < want) == increasing:
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    lower = 0.0 if k == 0 else solve(lambda p: 1 - binomial_cdf(k - 1, n, p), tail, True)
    upper = 1.0 if k == n else solve(lambda p: binomial_cdf(k, n, p), tail, False)
    return lower, upper


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--recipe", default=None)
    parser.add_argument("--home", default=None)
    parser.add_argument("--alphas", default="0.05,0.01")
    args = parser.parse_args()
    preset = resolve_preset(args.preset, None, args.recipe)
    alphas = [float(a) for a in args.alphas.split(",")]
    negatives = {(p.victim, p.suspect) for p in preset.pairs() if not p.positive}
    with ResultsDB(Workspace.at(args.home).results_path) as db:
        records = [r for r in db.records(threat="") if (r.victim, r.suspect) in negatives]
    # scores[(victim, seed)][scheme][suspect]
    scores: dict[tuple[str, int], dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    for r in records:
        scores[(r.victim, r.seed)][r.fingerprint][r.suspect] = r.score
    if not scores:
        raise SystemExit(
            f"no negative scores of {args.preset} in the workspace: run `modelprint bench run` first"
        )
    # trials[(scheme, family)][alpha] = [accused, total]
    trials: dict[tuple[str, str], dict[float, list[int]]] = defaultdict(lambda: {a: [0, 0] for a in alphas})
    for (victim, _seed), by_scheme in scores.items():
        schemes = sorted(by_scheme)
        models = sorted(set.intersection(*(set(by_scheme[s]) for s in schemes)))
        matrix = np.array([[by_scheme[s][m] for s in schemes] for m in models], dtype=np.float64)
        for i, model in enumerate(models):
            family = family_of(victim, model)
            others = np.delete(matrix, i, axis=0)
            ps = {s: conformal_p_value(matrix[i, j], others[:, j]) for j, s in enumerate(schemes)}
            stat, cal = combined_statistics(matrix[i], others)
            ps["fisher (all schemes)"] = (1 + int(np.sum(cal >= stat))) / (1 + len(cal))
            for scheme, p in ps.items():
                for key in ((scheme, "all"), (scheme, family)):
                    for a in alphas:
                        trials[key][a][0] += int(p <= a + 1e-12)
                        trials[key][a][1] += 1
    n_cal = len(negatives) - 1
    print(f"{args.preset}: leave-one-out over {len(negatives)} negatives per (victim, seed), {len(scores)} "
          f"(victim, seed) cells; calibration sets of {n_cal} (smallest p = 1/{n_cal + 1})")  # fmt: skip
    head = "".join(f"  {'α=' + str(a):>8} {'rate':>6} {'95% CI':>15}" for a in alphas)
    print(f"{'scheme':24} {'family':28} {'trials':>6}{head}")
    for (scheme, family), by_alpha in sorted(trials.items(), key=lambda kv: (kv[0][0], kv[0][1] != "all")):
        total = next(iter(by_alpha.values()))[1]
        cells = ""
        for a in alphas:
            k, n = by_alpha[a]
            lo, hi = clopper_pearson(k, n)
            mark = "!" if lo > a else " "
            cells += f"  {k:>4}/{n:<3} {k / n:6.3f} [{lo:5.3f},{hi:5.3f}]{mark}"
        print(f"{scheme:24} {family:28} {total:6d}{cells}")
    print("! : the interval lies above α — this calibration set accuses that family more often than it says")


if __name__ == "__main__":
    main()
