"""AnaFP (spec §2, reconstructed): the bound formulas against hand-computed values on linear two-class
models, where margins, slopes and distances to the boundary are known in closed form; then the scheme on
the tiny zoo with a small pool (4 pirated + 4 independent surrogates, a 100-point grid, q = 0.75, at most
128 seeds), its keys, the fixed-λ ablation and the report diagnostics."""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from modelprint.attacks import AttackContext
from modelprint.fingerprints import FINGERPRINTS, Fingerprint, parse_fingerprint
from modelprint.keys import KeyStore
from modelprint.models.access import Suspect
from modelprint.models.base import TorchClassifier
from modelprint.pools import Pool, PoolEnsemble, PoolSpec, build_pool, check_disjoint
from modelprint.queries import anafp_bounds as ab
from modelprint.queries.anafp import ANAFP_POOL, PREFIX, AnaFPQueries
from modelprint.report import ScoreRow, render_html, summarise
from modelprint.report.anafp import anafp_runs, anafp_sections, lambda_curve, run_of
from modelprint.specs import canonical
from modelprint.testing import TinyZoo
from modelprint.types import Key
from modelprint.zoo.lineage import join
from modelprint.zoo.store import ModelStore

log = logging.getLogger(__name__)


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one intra-op thread (conftest)


# --------------------------------------------------------------------------- linear models, closed form
#
# Inputs are 1×1×2 images (u, v). The victim f has logits (0, u − 0.5): at the seed x = (0.3, 0.5) it
# says class 0 with margin m_f(x) = −0.2 toward t = 1, the boundary is u = 0.5, so r = (0.2, 0), d = 0.2,
# and along the ray m_f(x + λr) = 0.2(λ − 1): slope κ_f = 0.2 (no clipping before λ = 3.5).


def linear(w1: tuple[float, float], b: tuple[float, float]) -> TorchClassifier:
    """Two-class linear model with logits (b₀, w1·(u, v) + b₁) on 1×1×2 inputs."""
    layer = nn.Linear(2, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.0, 0.0], list(w1)]))
        layer.bias.copy_(torch.tensor(b))
    return TorchClassifier(nn.Sequential(nn.Flatten(), layer), num_classes=2, input_shape=(1, 1, 2))


VICTIM = ((1.0, 0.0), (0.0, -0.5))
SEED = torch.tensor([[[[0.3, 0.5]]]])
# pirated copies: the victim with its logits shifted by a constant, Δ_g = 0.05, 0.1, 0.02
PIRATED = [(VICTIM[0], (0.05, -0.55)), (VICTIM[0], (0.0, -0.4)), (VICTIM[0], (-0.02, -0.5))]
# independent models: m_h(x) = −1, −1, −2; ∇m_h = (2,0), (0,1), (3,0)
INDEPENDENT = [((2.0, 0.0), (0.0, -1.6)), ((0.0, 1.0), (0.0, -1.5)), ((3.0, 0.0), (0.0, -2.9))]
# Δ_P = 0.9-quantile of (0.02, 0.05, 0.1) = 0.05 + 0.8·0.05 = 0.09, so λ_lower = 1 + 2·0.09/0.2 = 1.9.
# λ_h = −m_h(x)/ρ_h: with the ray slope ρ_h = ⟨∇m_h, r⟩: 1/0.4 = 2.5, +∞ (orthogonal), 2/0.6 = 10/3; with
# ρ_h = L_h·d ("ball"): 2.5, 1/0.2 = 5, 10/3. Either way the 0.1-quantile is 2.5 + 0.2·(10/3 − 2.5) = 8/3,
# and the most feasible λ balances λ − 1.9 = 8/3 − λ: λ* = (1.9 + 8/3)/2.
LOWER, UPPER = 1.9, 8 / 3


def analyse_linear(pirated: list = PIRATED, **kwargs: object) -> dict[str, torch.Tensor]:
    sampler = AnaFPQueries(**{"quantile": 0.9, **kwargs})  # type: ignore[arg-type]
    victim = linear(*VICTIM)
    positives = PoolEnsemble([linear(*m) for m in pirated])
    negatives = PoolEnsemble([linear(*m) for m in INDEPENDENT])
    result = sampler.analyse(
        victim, positives, negatives, SEED, torch.tensor([0]), generator=torch.Generator().manual_seed(0)
    )
    extras = result.extras()
    extras["inputs"] = result.inputs
    return {k: v.squeeze(0) if v.ndim else v for k, v in extras.items()}


def test_bound_formulas_by_hand() -> None:
    logits = torch.tensor([[1.0, 3.0, 2.5], [0.0, -1.0, 4.0]])
    assert torch.allclose(ab.margin(logits, torch.tensor([1, 1])), torch.tensor([0.5, -5.0]))
    assert torch.allclose(
        ab.logit_shift(logits[:1] + torch.tensor([0.1, -0.3, 0.2]), logits[:1]), torch.tensor([0.3])
    )
    per_model = ab.uniqueness_stretch(
        torch.tensor([[-1.0], [-1.0], [0.5]]), torch.tensor([[0.4], [0.0], [0.0]])
    )
    assert per_model.flatten().tolist() == [2.5, math.inf, 0.0]  # no growth: never (m < 0) / already (m ≥ 0)
    assert float(ab.upper_bound(torch.tensor([[2.5], [10 / 3], [math.inf]]), 0.9)) == pytest.approx(UPPER)
    assert float(ab.relaxed(torch.tensor([0.05, 0.1, 0.02]), 0.9)) == pytest.approx(0.09)
    lower = ab.lower_bound(torch.tensor([0.09, 0.09]), torch.tensor([0.2, -0.1]))
    assert lower[0] == pytest.approx(LOWER) and math.isinf(lower[1])
    assert ab.candidate_grid(torch.tensor([3.0, 0.5]), 10.0, 4).tolist() == [
        [1.5, 2.0, 2.5, 3.0],
        [3.25, 5.5, 7.75, 10.0],
    ]
    assert ab.probe_stretches(1.0, 10.0, 4).tolist() == pytest.approx([1.0, 2.0, 5.0, 10.0])


@pytest.mark.parametrize("lipschitz", ["ray", "ball"])
@pytest.mark.parametrize("slope", ["secant", "probes"])
def test_bounds_on_a_linear_model_match_the_closed_form(lipschitz: str, slope: str) -> None:
    e = analyse_linear(lipschitz=lipschitz, slope=slope)
    step = (UPPER - 1) / 500  # grid spacing
    assert int(e["target"]) == 1
    assert float(e["distance"]) == pytest.approx(0.2, abs=1e-4)
    assert float(e["upper"]) == pytest.approx(UPPER, abs=1e-3)
    assert float(e["lower_at"]) == pytest.approx(LOWER, abs=1e-3)
    assert LOWER - 1e-3 < float(e["lower"]) <= LOWER + step + 1e-3  # smallest robust candidate
    assert float(e["lambda"]) == pytest.approx((LOWER + UPPER) / 2, abs=step + 1e-3)
    assert float(e["slack"]) == pytest.approx((UPPER - LOWER) / (LOWER + UPPER), abs=2e-3)
    assert not bool(e["empty"]) and bool(e["inside"])
    lam = float(e["lambda"])
    assert torch.allclose(e["inputs"], torch.tensor([[[0.3 + 0.2 * lam, 0.5]]]), atol=1e-4)


def test_quantile_relaxes_both_bounds_on_a_linear_model() -> None:
    e = analyse_linear(quantile=0.5)  # Δ_P = median 0.05 → λ_lower = 1.5; λ_upper = median 10/3
    assert float(e["lower_at"]) == pytest.approx(1.5, abs=1e-3)
    assert float(e["upper"]) == pytest.approx(10 / 3, abs=1e-3)
    assert float(e["lambda"]) == pytest.approx((1.5 + 10 / 3) / 2, abs=5e-3)


def test_empty_interval_and_fixed_lambda_on_a_linear_model() -> None:
    far = [*PIRATED[:2], (VICTIM[0], (0.5, -0.5))]  # Δ = 0.05, 0.1, 0.5 → Δ_P = 0.42, λ_lower = 5.2 > 8/3
    e = analyse_linear(far)
    assert bool(e["empty"]) and not bool(e["inside"]) and math.isinf(float(e["lower"]))
    assert float(e["lower_at"]) == pytest.approx(5.2, abs=1e-2)
    assert float(e["lambda"]) == pytest.approx(UPPER, abs=1e-3)  # least infeasible: the top of the grid
    for fixed, inside in ((2.0, True), (3.0, False)):
        e = analyse_linear(fixed_lambda=fixed)
        assert float(e["lambda"]) == fixed and bool(e["inside"]) is inside
        assert float(e["lower_at"]) == pytest.approx(LOWER, abs=1e-3)
        assert not bool(e["empty"]) and float(e["upper"]) == pytest.approx(UPPER, abs=1e-3)


# --------------------------------------------------------------------------- the scheme on the tiny zoo

SPEC = PoolSpec(
    (
        "finetune(ftal,data=owner)",
        "finetune(rtll,data=owner)",
        "prune(0.5,ft=1,data=owner)",
        "noise(3,data=owner)",
    ),
    ("same", "mlp", "same", "lenet"),
)
FAST = {"budget": 16, "grid": 100, "quantile": 0.75, "max_seeds": 128, "lipschitz_points": 16}


@pytest.fixture(scope="module")
def pool(tiny: TinyZoo, tmp_path_factory: pytest.TempPathFactory) -> Pool:
    return build_pool(
        SPEC, tiny.source, ModelStore(tmp_path_factory.mktemp("anafp-pool")), AttackContext(tiny.ctx.dataset)
    )


def scheme(fixed_lambda: float | None = None) -> Fingerprint:
    fp = FINGERPRINTS.make("anafp", pool_spec=SPEC, fixed_lambda=fixed_lambda, **FAST)
    return (
        fp
        if fixed_lambda is None
        else dataclasses.replace(fp, name=canonical("anafp", {"fixed_lambda": fixed_lambda}))
    )


_KEYS: dict[tuple[float | None, int], Key] = {}


def key_of(tiny: TinyZoo, pool: Pool, fixed_lambda: float | None = None, seed: int = 0) -> Key:
    if (fixed_lambda, seed) not in _KEYS:
        fp = scheme(fixed_lambda)
        _KEYS[fixed_lambda, seed] = fp.generate(tiny.load(tiny.source), tiny.data(), seed=seed, pool=pool)
    return _KEYS[fixed_lambda, seed]


def score(tiny: TinyZoo, key: Key, lineage: str, fixed_lambda: float | None = None) -> float:
    fp = scheme(fixed_lambda)
    return fp.verify(key, Suspect(tiny.load(lineage), access=fp.needs))


def test_defaults(tiny: TinyZoo) -> None:
    fp = FINGERPRINTS.make("anafp")
    sampler = fp.sampler
    assert isinstance(sampler, AnaFPQueries)
    assert (fp.needs, fp.budget, fp.pool_spec) == ("labels", 100, ANAFP_POOL)
    settings = (sampler.quantile, sampler.grid, sampler.lambda_clip, sampler.fixed_lambda, sampler.max_seeds)
    assert settings == (0.5, 500, 10.0, None, 256)  # spec §2.2, with q = 0.5 [D] (the spec proposes 0.9)
    assert (sampler.lipschitz, sampler.slope) == ("ray", "secant")
    assert len(ANAFP_POOL.positives) == len(ANAFP_POOL.negatives) == 10
    assert all("data=owner" in s for s in ANAFP_POOL.positives)
    check_disjoint(
        [lin for side in ANAFP_POOL.lineages(tiny.source) for lin in side],
        [*tiny.preset.victims, *tiny.preset.suspects],
    )
    ablation = parse_fingerprint("anafp:fixed_lambda=1.5")
    assert ablation.name == "anafp:fixed_lambda=1.5" and ablation.sampler.fixed_lambda == 1.5  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="exceed 1"):
        FINGERPRINTS.make("anafp", fixed_lambda=1.0)
    with pytest.raises(ValueError, match="pool"):
        fp.generate(tiny.load(tiny.source), tiny.data(), seed=0)


def test_chosen_lambda_lies_in_the_admissible_interval(tiny: TinyZoo, pool: Pool) -> None:
    key = key_of(tiny, pool)
    e = {k.removeprefix(PREFIX): v for k, v in key.queries.extras.items()}
    ok = ~e["empty"]
    log.info("tiny zoo: %s", run_of(key))
    assert len(key.queries) == FAST["budget"] and ok.any()
    assert (e["lambda"] > 1).all()
    assert torch.equal(ok, e["inside"])  # analytic choice: feasible exactly when the interval is non-empty
    lam, lower, upper = e["lambda"][ok], e["lower"][ok], e["upper"][ok]
    assert (lower <= lam).all() and (lam < upper).all() and (e["lower_at"][ok] < lam).all()
    assert (e["slack"][ok] > 0).all() and (e["slack"][~ok] <= 0).all()
    assert int(e["admissible"]) >= int(ok.sum()) and int(e["examined"]) <= FAST["max_seeds"]
    # the victim labels every admissible fingerprint with its target class, beyond its boundary
    assert torch.equal(key.reference[ok], e["target"][ok])
    seeds = tiny.data().images[e["index"]]
    assert (key.reference != tiny.load(tiny.source).predict(seeds))[ok].all()


def test_source_first_and_derived_copies_above_independent_models(tiny: TinyZoo, pool: Pool) -> None:
    key = key_of(tiny, pool)
    own = score(tiny, key, tiny.source)
    derived = {lin.split("->", 1)[1]: score(tiny, key, lin) for lin in tiny.positives()}
    independent = {lin.split("(", 1)[1]: score(tiny, key, lin) for lin in tiny.negatives()}
    log.info("anafp: self %.3f derived %s independent %s", own, derived, independent)
    assert own == 1.0
    assert min(derived.values()) > max(independent.values()), (derived, independent)


def test_generation_is_deterministic_for_a_seed(tiny: TinyZoo, pool: Pool) -> None:
    a = key_of(tiny, pool)
    b = scheme().generate(tiny.load(tiny.source), tiny.data(), seed=0, pool=pool)
    c = key_of(tiny, pool, seed=1)
    assert torch.equal(a.queries.inputs, b.queries.inputs) and torch.equal(a.reference, b.reference)
    assert a.config == b.config
    assert all(torch.equal(v, b.queries.extras[k]) for k, v in a.queries.extras.items())
    assert not torch.equal(a.queries.extras[PREFIX + "index"], c.queries.extras[PREFIX + "index"])


def test_key_round_trip(tiny: TinyZoo, pool: Pool, tmp_path: Path) -> None:
    key = key_of(tiny, pool)
    loaded = Key.load(key.save(tmp_path / "key"))
    assert loaded.scheme == "anafp" and loaded.config == key.config
    assert torch.equal(loaded.queries.inputs, key.queries.inputs) and torch.equal(
        loaded.reference, key.reference
    )
    assert set(loaded.queries.extras) == set(key.queries.extras)
    assert all(torch.equal(v, loaded.queries.extras[k]) for k, v in key.queries.extras.items())
    assert run_of(loaded) == run_of(key)
    suspect = join(tiny.source, "prune(0.5)")
    assert score(tiny, loaded, suspect) == score(tiny, key, suspect)


def test_fixed_lambda_keeps_seeds_and_bounds(tiny: TinyZoo, pool: Pool) -> None:
    analytic, fixed = key_of(tiny, pool), key_of(tiny, pool, fixed_lambda=1.5)
    a, f = analytic.queries.extras, fixed.queries.extras
    same = (
        "index",
        "target",
        "upper",
        "lower",
        "empty",
        "distance",
        "interval_slack",
        "admissible",
        "examined",
    )
    for name in same:
        assert torch.equal(a[PREFIX + name], f[PREFIX + name]), name
    assert (f[PREFIX + "lambda"] == 1.5).all()
    assert fixed.scheme == "anafp:fixed_lambda=1.5"
    assert score(tiny, fixed, tiny.source, 1.5) == 1.0


def test_report_reads_the_keys_and_draws_auc_against_lambda(
    tiny: TinyZoo, pool: Pool, tmp_path: Path
) -> None:
    root = KeyStore(tmp_path / "keys")
    rows = []
    for fixed in (None, 1.5):
        fp, key = scheme(fixed), key_of(tiny, pool, fixed)
        root.save(fp, tiny.source, 0, key)
        for pair in tiny.preset.pairs():
            s = fp.verify(key, Suspect(tiny.load(pair.suspect), access="labels"))
            rows.append(
                ScoreRow(
                    fp.name, 0, pair.victim, pair.suspect, pair.positive, pair.task, s, len(key.queries), 0.0
                )
            )
    runs = anafp_runs(root, victims=[tiny.source])
    assert [r.fingerprint for r in runs] == ["anafp", "anafp:fixed_lambda=1.5"]
    assert runs[0] == run_of(key_of(tiny, pool)) and runs[1].lam_median == 1.5
    assert runs[0].empty == float(key_of(tiny, pool).queries.extras[PREFIX + "empty"].float().mean())
    assert runs[0].inside == 1.0 - runs[0].empty  # analytic λ: feasible iff interval open
    assert 0.0 <= runs[1].inside <= 1.0
    assert anafp_runs(root, victims=["other"]) == []
    summary = summarise(rows)
    fig = lambda_curve(summary, runs)
    assert fig is not None and len(fig.axes[0].lines) >= 3  # the fixed-λ curve, the analytic AUC, its λ
    sections = anafp_sections(summary, rows, root)
    assert [h for h, _ in sections] == [
        "AnaFP: admissible intervals and chosen λ",
        "AnaFP: AUC against a fixed stretch factor",
    ]
    html = render_html(rows, tmp_path / "report.html", title="t", extra_sections=sections).read_text()
    assert "empty intervals" in html and "anafp:fixed_lambda=1.5" in html
    assert lambda_curve(summarise([r for r in rows if r.fingerprint == "anafp"]), runs) is None


def test_fixed_lambda_ablation_reuses_the_geometry_exactly(tiny: TinyZoo, pool: Pool) -> None:
    """The analytic run and a fixed-λ run of one victim share steps 1–2 (memoised on their exact inputs): the
    second run adds no geometry, examines the same seeds with the same bounds, and a fresh computation of
    the fixed-λ key equals the recalled one bit for bit."""
    import modelprint.queries.anafp as anafp_queries

    victim, data = tiny.load(tiny.source), tiny.data()
    analytic, fixed = scheme(), scheme(1.5)
    anafp_queries._ANALYTIC.clear()
    a = analytic.generate(victim, data, seed=4, pool=pool)
    stored = len(anafp_queries._ANALYTIC)
    assert stored >= 1
    f = fixed.generate(victim, data, seed=4, pool=pool)
    assert len(anafp_queries._ANALYTIC) == stored
    for name in ("index", "upper", "distance", "target"):
        assert torch.equal(a.queries.extras[PREFIX + name], f.queries.extras[PREFIX + name])
    assert torch.allclose(f.queries.extras[PREFIX + "lambda"], torch.tensor(1.5))
    anafp_queries._ANALYTIC.clear()
    fresh = fixed.generate(victim, data, seed=4, pool=pool)
    assert torch.equal(fresh.queries.inputs, f.queries.inputs)
