"""How often a calibrated verdict accuses an innocent model: leave-one-out over a preset's negatives.

For every scheme and seed, each negative (independent of the victim) is held out in turn and treated as the
suspect; the others are the calibration set, exactly as ``modelprint verify --calibrate PRESET`` would use
them. Its conformal p-value ``(1 + #{others >= s}) / (1 + n)`` accuses it when ``p <= alpha``. The same is
done for the Fisher combination of all schemes (ranks recomputed among the n + 1 models, as ``verify``).
Printed: the empirical false-accusation rate at each alpha beside the nominal one, with its Clopper–Pearson
95 % interval, overall and for each negative family (a calibration set mixing families is only valid for
suspects exchangeable with it: the same-data family shows what happens when they are not).

With ``--calibrate SET`` (a matched set from ``modelprint calibrate build``) the calibration set is that
set instead: each of the preset's negatives — independents never used for calibration — is tested
against all of the set, and each model of the set is also held out in turn (family ``matched set``).
The set's scores are computed once (the preset's keys, cached in the workspace) and stored.
``verify`` refuses a calibrated verdict when the set is smaller than α needs (p >= 1/(n+1) > α): those
cells are printed as ``refused``.

Scores are read from the workspace (``modelprint bench run PRESET -f ...`` first).

    python bench/false_accusation.py --preset quick --home modelprint-data --alphas 0.05,0.01
    python bench/false_accusation.py --preset quick --calibrate matched-cnn-m-mnist5k-... --alphas 0.05,0.01
"""

from __future__ import annotations

import argparse
import math
from collections import defaultdict

import numpy as np

from modelprint.bench.pipeline import resolve_fingerprints, run_preset
from modelprint.calibration import combined_statistics, conformal_p_value
from modelprint.results import ResultsDB, ScoreRecord
from modelprint.verify import load_set, minimum_models
from modelprint.workspace import Workspace
from modelprint.zoo.families import family_of
from modelprint.zoo.preset_files import resolve_preset

MATCHED = "matched set (leave-one-out)"
Scores = dict[tuple[str, int], dict[str, dict[str, float]]]
"""scores[(victim, seed)][scheme][suspect]"""


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


def p_values(suspect: np.ndarray, calibration: np.ndarray, schemes: list[str]) -> dict[str, float]:
    """Per-scheme conformal p-values of one held-out model and that of the Fisher combination."""
    ps = {s: conformal_p_value(suspect[j], calibration[:, j]) for j, s in enumerate(schemes)}
    stat, cal = combined_statistics(suspect, calibration)
    ps["fisher (all schemes)"] = (1 + int(np.sum(cal >= stat))) / (1 + len(cal))
    return ps


def collect(records: list[ScoreRecord], pairs: set[tuple[str, str]]) -> Scores:
    scores: Scores = defaultdict(lambda: defaultdict(dict))
    for r in records:
        if (r.victim, r.suspect) in pairs:
            scores[(r.victim, r.seed)][r.fingerprint][r.suspect] = r.score
    return scores


def trials_of(
    negatives: Scores, calibration: Scores | None, alphas: list[float]
) -> tuple[dict[tuple[str, str], dict[float, list[int]]], list[int]]:
    """[accused, total, refused] per (scheme, family) and alpha, and the calibration sizes used. A trial
    whose calibration has fewer models than ``verify`` needs for that alpha is refused, as ``verify``
    would refuse it (the set's own models, held out in turn, are calibrated on one model fewer)."""
    trials: dict[tuple[str, str], dict[float, list[int]]] = defaultdict(
        lambda: {a: [0, 0, 0] for a in alphas}
    )
    sizes: set[int] = set()

    def count(scheme_ps: dict[str, float], family: str, n_cal: int) -> None:
        sizes.add(n_cal)
        for scheme, p in scheme_ps.items():
            for key in ((scheme, "all"), (scheme, family)):
                for a in alphas:
                    if n_cal < minimum_models(a):
                        trials[key][a][2] += 1
                        continue
                    trials[key][a][0] += int(p <= a + 1e-12)
                    trials[key][a][1] += 1

    for cell, by_scheme in negatives.items():
        victim = cell[0]
        cal_scores = calibration.get(cell) if calibration is not None else None
        schemes = sorted(s for s in by_scheme if cal_scores is None or s in cal_scores)
        if not schemes:
            continue
        held = sorted(set.intersection(*(set(by_scheme[s]) for s in schemes)))
        matrix = np.array([[by_scheme[s][m] for s in schemes] for m in held], dtype=np.float64)
        if cal_scores is None:  # leave-one-out over the preset's negatives
            for i, model in enumerate(held):
                rest = np.delete(matrix, i, axis=0)
                count(p_values(matrix[i], rest, schemes), family_of(victim, model), len(rest))
            continue
        members = sorted(set.intersection(*(set(cal_scores[s]) for s in schemes)))
        cal = np.array([[cal_scores[s][m] for s in schemes] for m in members], dtype=np.float64)
        for i, model in enumerate(held):  # never used for calibration: against the whole set
            count(p_values(matrix[i], cal, schemes), family_of(victim, model), len(cal))
        for i in range(len(members)):  # and the set's own models, each held out in turn
            rest = np.delete(cal, i, axis=0)
            count(p_values(cal[i], rest, schemes), MATCHED, len(rest))
    return trials, sorted(sizes)


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    parser.add_argument("--preset", default="quick")
    parser.add_argument("--recipe", default=None)
    parser.add_argument("--home", default=None)
    parser.add_argument("--alphas", default="0.05,0.01")
    parser.add_argument("--calibrate", default=None, help="a set from `modelprint calibrate build`")
    args = parser.parse_args()
    preset = resolve_preset(args.preset, None, args.recipe)
    ws = Workspace.at(args.home)
    alphas = [float(a) for a in args.alphas.split(",")]
    negatives = {(p.victim, p.suspect) for p in preset.pairs() if not p.positive}
    with ResultsDB(ws.results_path) as db:
        records = db.records(threat="")
    scores = collect(records, negatives)
    if not scores:
        raise SystemExit(
            f"no negative scores of {args.preset} in the workspace: run `modelprint bench run` first"
        )
    calibration = None
    label = f"leave-one-out over {len(negatives)} negatives per (victim, seed)"
    if args.calibrate:
        chosen = load_set(ws.home, args.calibrate)
        if chosen is None:
            raise SystemExit(f"no calibration set {args.calibrate!r} in {ws.home}: see `calibrate build`")
        members = {(chosen.victim, m) for m in chosen.lineages}
        calibration = collect(records, members)
        labels = {r.fingerprint for r in records if (r.victim, r.suspect) in negatives}
        seeds = sorted({seed for _, seed in scores})
        scored = {r.fingerprint for r in records if (r.victim, r.suspect) in members}
        if labels - scored:  # score the set with the preset's keys (cached in the workspace), once
            run_preset(chosen.preset(), resolve_fingerprints(sorted(labels)), seeds, ws, progress=True)
            with ResultsDB(ws.results_path) as db:
                calibration = collect(db.records(threat=""), members)
        label = (
            f"the preset's {len(negatives)} negatives against {args.calibrate}, and the set's models "
            "held out in turn"
        )
    trials, sizes = trials_of(scores, calibration, alphas)
    said = " or ".join(f"{n} (smallest p = 1/{n + 1})" for n in sizes)
    print(f"{args.preset}: {label}; {len(scores)} (victim, seed) cells; calibrated on {said} models")
    head = "".join(f"  {'α=' + str(a):>8} {'rate':>6} {'95% CI':>15}" for a in alphas)
    print(f"{'scheme':24} {'family':28} {'trials':>6}{head}")
    for (scheme, family), by_alpha in sorted(trials.items(), key=lambda kv: (kv[0][0], kv[0][1] != "all")):
        total = sum(next(iter(by_alpha.values()))[1:])
        cells = ""
        for a in alphas:
            k, n, refused = by_alpha[a]
            if not n:
                cells += f"  {'refused (n < ' + str(minimum_models(a)) + ')':>31}"
                continue
            lo, hi = clopper_pearson(k, n)
            mark = "!" if lo > a else " "
            cells += f"  {k:>4}/{n:<3} {k / n:6.3f} [{lo:5.3f},{hi:5.3f}]{mark}"
            cells += f" ({refused} refused)" if refused else ""
        print(f"{scheme:24} {family:28} {total:6d}{cells}")
    print("! : the interval lies above α — this calibration set accuses that family more often than it says")
    print("refused: `modelprint verify` refuses a calibrated verdict at that α with this few models")


if __name__ == "__main__":
    main()
