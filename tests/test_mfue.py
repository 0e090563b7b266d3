"""MFUE (Xu et al., KDD'26; spec §1) on the tiny zoo, both variants, and the DP-Logits output defence of the
paper's adaptive-attack experiment (spec §18). A small mimic pool (3 adversarial fine-tunes) and 30 × 10
trigger steps instead of 2000 × 10 keep the file well under a minute at one thread."""

from __future__ import annotations

import logging
import math
from pathlib import Path

import pytest
import torch

from modelprint.attacks import AttackContext
from modelprint.detectors.interval import IntervalMatch
from modelprint.fingerprints import FINGERPRINTS, Fingerprint
from modelprint.models.access import Suspect
from modelprint.models.base import Classifier
from modelprint.pools import Pool, PoolSpec, build_pool, check_disjoint
from modelprint.queries.mfue import MFUE_POOL, PREFIX, mix
from modelprint.representations.losses import TrueLabelLoss, true_label_loss
from modelprint.testing import TinyZoo
from modelprint.threats import DPLogits
from modelprint.types import Key, Queries
from modelprint.zoo.store import ModelStore

log = logging.getLogger(__name__)

SMALL_POOL = PoolSpec(tuple(f"advtrain(4,data=owner,epochs={k},lr=0.001)" for k in (1, 2, 3)), ("same",))
FAST = {"outer": 30, "pool_spec": SMALL_POOL}
WIDE = 64 / 255
"""ε for the MFUE-w ranking test: the spec's 8/255 is an eighth of the digits' 1/16 grey step, and at 8/255
the interval test barely separates the tiny zoo (scores printed by the ranking test, numbers in its doc)."""
SCHEMES: dict[str, dict[str, object]] = {
    "mfue-w": {**FAST, "budget": 100, "eps": WIDE, "step": WIDE / 5},
    "mfue-b": {**FAST, "budget": 5000},  # 50 triggers × 100 probes, spec's ε = 8/255
}


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one intra-op thread (conftest)


@pytest.fixture(scope="module")
def pool(tiny: TinyZoo, tmp_path_factory: pytest.TempPathFactory) -> Pool:
    store = ModelStore(tmp_path_factory.mktemp("mfue-pool"))
    return build_pool(SMALL_POOL, tiny.source, store, AttackContext(tiny.ctx.dataset))


def scheme(name: str, **kwargs: object) -> Fingerprint:
    return FINGERPRINTS.make(name, **{**SCHEMES[name], **kwargs})


_KEYS: dict[str, Key] = {}


def key_of(tiny: TinyZoo, pool: Pool, name: str) -> Key:
    if name not in _KEYS:
        _KEYS[name] = scheme(name).generate(tiny.load(tiny.source), tiny.data(), seed=0, pool=pool)
    return _KEYS[name]


def suspect(tiny: TinyZoo, lineage: str, access: str) -> Suspect:
    return Suspect(tiny.load(lineage), access=access)  # type: ignore[arg-type]


def auc(pos: list[float], neg: list[float]) -> float:
    return sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))


def ranks(v: torch.Tensor) -> torch.Tensor:
    """Ranks 0..n−1 with ties averaged (+inf ranks last)."""
    v = v.double()
    _, inverse, counts = torch.unique(v, sorted=True, return_inverse=True, return_counts=True)
    first = torch.cumsum(counts, 0) - counts
    return (first + (counts - 1) / 2).double()[inverse]


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    ra, rb = ranks(a.flatten()), ranks(b.flatten())
    ra, rb = ra - ra.mean(), rb - rb.mean()
    return float((ra * rb).sum() / (ra.norm() * rb.norm()))


def scores(tiny: TinyZoo, fp: Fingerprint, key: Key) -> tuple[float, list[float], list[float]]:
    def one(lineage: str) -> float:
        return fp.verify(key, suspect(tiny, lineage, fp.needs))

    return one(tiny.source), [one(x) for x in tiny.positives()], [one(x) for x in tiny.negatives()]


def test_defaults_follow_the_spec(tiny: TinyZoo) -> None:
    w, b = FINGERPRINTS.make("mfue-w"), FINGERPRINTS.make("mfue-b")
    assert (w.needs, w.budget, b.needs, b.budget) == ("probs", 100, "labels", 10_000)
    assert w.pool_spec == b.pool_spec == MFUE_POOL and len(MFUE_POOL.positives) == 10
    assert all(
        s.startswith("advtrain(4,") and "data=owner" in s and "lr=0.001" in s for s in MFUE_POOL.positives
    )
    sampler = w.sampler
    assert (sampler.eps, sampler.step, sampler.outer, sampler.inner) == (8 / 255, 1.6 / 255, 2000, 10)  # type: ignore[attr-defined]
    assert (b.sampler.probes, b.sampler.halvings, b.sampler.band) == (100, 8, (0.4, 0.6))  # type: ignore[attr-defined]
    assert (w.detector.tau, w.detector.one_sided) == (0.5, False)  # type: ignore[attr-defined]
    assert FINGERPRINTS.make("mfue-w", one_sided=True).detector.one_sided  # type: ignore[attr-defined]
    assert FINGERPRINTS.describe("mfue-w") and FINGERPRINTS.describe("mfue-b")
    for spec in (MFUE_POOL, SMALL_POOL):
        members = [lin for side in spec.lineages(tiny.source) for lin in side]
        check_disjoint(members, [*tiny.preset.victims, *tiny.preset.suspects])
    with pytest.raises(ValueError, match="pool"):
        w.generate(tiny.load(tiny.source), tiny.data(), seed=0)


def test_mfue_w_ranks_derived_models_above_independent_ones(tiny: TinyZoo, pool: Pool) -> None:
    """Seen (seed 0, ε 64/255, τ 0.5): source 1.00; FTAL 0.32, RTLL 0.00, prune(0.5) 0.15, prune(0.7,ft=2)
    0.00, FTAL→prune(0.3) 0.23; independent 0.03 / 0.01 / 0.01 / 0.06. RTLL and the heavy prune move the
    trigger losses by 10–1000×, out of any ±50 % interval. At the spec's 8/255 the separation is weak
    (AUC ≈ 0.55: FTAL 0.39 vs independent up to 0.29), so only the source's self-match is asserted there."""
    fp = scheme("mfue-w")
    key = key_of(tiny, pool, "mfue-w")
    assert key.num_queries == 100 and key.reference.shape == (100,)
    own, pos, neg = scores(tiny, fp, key)
    log.info("mfue-w ε=64/255: source %.2f derived %s independent %s", own, pos, neg)
    print(f"mfue-w ε=64/255: source {own:.2f} derived {pos} independent {neg} AUC {auc(pos, neg):.2f}")
    assert own == 1.0
    mild = [pos[i] for i, lin in enumerate(tiny.positives()) if "rtll" not in lin and "prune(0.7" not in lin]
    assert len(mild) == 3 and min(mild) > max(neg)  # FTAL, prune(0.5), FTAL→prune(0.3)
    assert sum(pos) / len(pos) > sum(neg) / len(neg) and auc(pos, neg) >= 0.6

    faithful = scheme("mfue-w", eps=8 / 255, step=1.6 / 255)
    fkey = faithful.generate(tiny.load(tiny.source), tiny.data(), seed=0, pool=pool)
    f_own, f_pos, f_neg = scores(tiny, faithful, fkey)
    print(
        f"mfue-w ε=8/255: source {f_own:.2f} derived {f_pos} independent {f_neg} AUC {auc(f_pos, f_neg):.2f}"
    )
    one = FINGERPRINTS.make("mfue-w", **{**SCHEMES["mfue-w"], "one_sided": True})
    o_own, o_pos, o_neg = scores(tiny, one, key)
    print(f"mfue-w one-sided ε=64/255: source {o_own:.2f} derived {o_pos} independent {o_neg}")
    assert f_own == 1.0 and o_own == 1.0
    assert all(o >= t for o, t in zip(o_pos + o_neg, pos + neg, strict=True))  # one-sided ⊇ two-sided


def test_mfue_b_ranks_derived_models_above_independent_ones(tiny: TinyZoo, pool: Pool) -> None:
    """Seen (seed 0): source 1.00; derived 0.90 / 1.00 / 0.96 / 0.94 / 0.76; independent 0.24 / 0.58 / 0.70 /
    0.74 (AUC 1.00; 0.95–1.00 over seeds 0–3, so the margin is not asserted)."""
    fp = scheme("mfue-b")
    key = key_of(tiny, pool, "mfue-b")
    own, pos, neg = scores(tiny, fp, key)
    print(f"mfue-b: source {own:.2f} derived {pos} independent {neg} AUC {auc(pos, neg):.2f}")
    assert own == 1.0
    assert auc(pos, neg) >= 0.9 and sum(pos) / len(pos) > sum(neg) / len(neg) + 0.2
    s = suspect(tiny, tiny.positives()[0], "labels")
    fp.verify(key, s)
    assert s.queries_spent == key.num_queries  # what is charged is what the key holds


def test_triggers_are_error_minimising_and_in_the_ball(tiny: TinyZoo, pool: Pool) -> None:
    for name, eps in (("mfue-w", WIDE), ("mfue-b", 8 / 255)):
        key, data = key_of(tiny, pool, name), tiny.data()
        index = key.queries.extras[PREFIX + "index"]
        triggers = key.queries.inputs if name == "mfue-w" else key.queries.extras[PREFIX + "triggers"]
        seeds, labels = data.images[index], data.labels[index]
        assert float((triggers - seeds).abs().max()) <= eps + 1e-6
        assert triggers.min() >= 0 and triggers.max() <= 1
        victim = tiny.load(tiny.source)
        assert torch.equal(victim.predict(seeds), labels)  # correctly classified seeds [D]
        clean = true_label_loss(victim.probs(seeds), labels)
        trig = true_label_loss(victim.probs(triggers), labels)
        print(f"{name}: source CE on seeds {float(clean.mean()):.2e}, on triggers {float(trig.mean()):.2e}")
        assert float(trig.mean()) < 0.5 * float(clean.mean()) and float(trig.median()) < float(clean.median())
        q_labels = key.queries.labels
        assert q_labels is not None
        assert torch.equal(q_labels if name == "mfue-w" else q_labels[::100], labels)  # ground truth kept


def test_mfue_b_probes_replay_and_estimate_the_loss(tiny: TinyZoo, pool: Pool) -> None:
    """The label-frequency estimate −log p̂_y tracks the probability-access CE over the same probes
    (−log mean_j p(y|x'_j); seen ρ ≈ 0.92 pooled over the zoo's 10 models × 50 triggers). It does not track
    MFUE-w's loss at x_UF itself (seen ρ ≈ 0.04–0.10): the probes sit near the source's decision boundary,
    far from the triggers' tiny losses, so that correlation is printed, not asserted."""
    key = key_of(tiny, pool, "mfue-b")
    q, extras, m = key.queries, key.queries.extras, 100
    t = len(extras[PREFIX + "alpha"])
    assert key.num_queries == t * m <= 5000 and t >= 40
    assert torch.equal(extras[PREFIX + "trigger"], torch.arange(t).repeat_interleave(m))
    # the stored noise seed regenerates the probe draws exactly
    seed = int(extras[PREFIX + "noise_seed"])
    generated = int(extras[PREFIX + "kept"].max()) + 1
    shape = (generated, m, *q.inputs.shape[1:])
    noise = torch.randn(shape, generator=torch.Generator().manual_seed(seed))[extras[PREFIX + "kept"]]
    assert torch.equal(
        mix(extras[PREFIX + "triggers"], noise, extras[PREFIX + "alpha"]).flatten(0, 1), q.inputs
    )
    # α* puts 40–60 % of the source's probes on y
    assert (
        -math.log(0.6) - 1e-9
        <= float(key.reference.min())
        <= float(key.reference.max())
        <= -math.log(0.4) + 1e-9
    )

    fp = scheme("mfue-b")
    assert q.labels is not None
    labels = q.labels[::m]
    estimate, soft, at_trigger = [], [], []
    for lineage in [tiny.source, *tiny.positives(), *tiny.negatives()]:
        estimate.append(fp.representation(suspect(tiny, lineage, "labels"), q))
        probs = suspect(tiny, lineage, "probs")(q.inputs).double()
        soft.append(-probs.gather(1, q.labels[:, None]).view(t, m).mean(1).log())
        at_trigger.append(
            TrueLabelLoss()(suspect(tiny, lineage, "probs"), Queries(extras[PREFIX + "triggers"], labels))
        )
    rho_soft = spearman(torch.stack(soft), torch.stack(estimate))
    rho_w = spearman(torch.stack(at_trigger), torch.stack(estimate))
    print(f"Spearman(MFUE-b estimate, CE over its probes) {rho_soft:.3f}; vs MFUE-w loss at x_UF {rho_w:.3f}")
    assert rho_soft >= 0.8


@pytest.mark.parametrize("name", sorted(SCHEMES))
def test_key_round_trip(tiny: TinyZoo, pool: Pool, name: str, tmp_path: Path) -> None:
    key = key_of(tiny, pool, name)
    loaded = Key.load(key.save(tmp_path / "key"))
    assert loaded.scheme == name and loaded.config == key.config
    assert torch.equal(loaded.queries.inputs, key.queries.inputs) and torch.equal(
        loaded.reference, key.reference
    )
    assert set(loaded.queries.extras) == set(key.queries.extras)
    assert all(torch.equal(loaded.queries.extras[k], v) for k, v in key.queries.extras.items())
    fp = scheme(name)
    for lineage in (tiny.source, tiny.positives()[0], tiny.negatives()[0]):
        s1, s2 = suspect(tiny, lineage, fp.needs), suspect(tiny, lineage, fp.needs)
        assert fp.verify(loaded, s1) == fp.verify(key, s2)


@pytest.mark.parametrize("name", sorted(SCHEMES))
def test_generation_is_deterministic_for_a_seed(tiny: TinyZoo, pool: Pool, name: str) -> None:
    fp = scheme(name, outer=3, budget=20 if name == "mfue-w" else 1000)
    victim, data = tiny.load(tiny.source), tiny.data()
    a, b = (fp.generate(victim, data, seed=3, pool=pool) for _ in range(2))
    c = fp.generate(victim, data, seed=4, pool=pool)
    assert torch.equal(a.queries.inputs, b.queries.inputs) and torch.equal(a.reference, b.reference)
    assert all(torch.equal(a.queries.extras[k], b.queries.extras[k]) for k in a.queries.extras)
    assert a.queries.inputs.shape != c.queries.inputs.shape or not torch.equal(
        a.queries.inputs, c.queries.inputs
    )


def test_mfue_b_budget_is_the_label_query_count(tiny: TinyZoo, pool: Pool) -> None:
    victim, data = tiny.load(tiny.source), tiny.data()
    for budget, probes, most in ((250, 100, 200), (50, 100, 50)):  # n = budget // M triggers; M ≤ budget
        key = scheme("mfue-b", outer=2, budget=budget, probes=probes).generate(
            victim, data, seed=0, pool=pool
        )
        assert 0 < key.num_queries <= most and key.num_queries % min(probes, budget) == 0


def test_mean_draw_uses_the_whole_ensemble(tiny: TinyZoo, pool: Pool) -> None:
    """Eq. 4's exact expectation (one batched PoolEnsemble call per step) also lowers the source loss."""
    fp = scheme("mfue-w", outer=3, budget=20, draw="mean", eps=8 / 255, step=1.6 / 255)
    key = fp.generate(tiny.load(tiny.source), tiny.data(), seed=0, pool=pool)
    victim, index = tiny.load(tiny.source), key.queries.extras[PREFIX + "index"]
    seeds, labels = tiny.data().images[index], tiny.data().labels[index]
    assert float((key.queries.inputs - seeds).abs().max()) <= 8 / 255 + 1e-6
    assert float(key.reference.mean()) < float(true_label_loss(victim.probs(seeds), labels).mean())


def test_interval_match_and_loss_precision() -> None:
    ref = torch.tensor([1e-3, 1e-3, 1e-3, 1e-3, 0.0, 2.0], dtype=torch.float64)
    sus = torch.tensor([1e-3, 1.4e-3, 0.4e-3, float("inf"), 0.0, float("nan")], dtype=torch.float64)
    two, one = IntervalMatch(0.5), IntervalMatch(0.5, one_sided=True)
    assert two.matches(ref, sus).tolist() == [True, True, False, False, True, False]
    assert one.matches(ref, sus).tolist() == [True, True, True, False, True, False]
    assert two.score(ref, sus) == pytest.approx(0.5)
    # p_y rounds to 1 in float32, the loss does not vanish
    logits = torch.tensor([[20.0, 0.0, 0.0]])
    loss = true_label_loss(logits.softmax(1), torch.tensor([0]))
    assert float(loss) == pytest.approx(2 * math.exp(-20), rel=1e-4)
    assert float(true_label_loss(torch.tensor([[0.0, 1.0]]), torch.tensor([0]))) == math.inf


# --- DP-Logits (spec §18) --------------------------------------------------------------------------------


def test_dp_logits_identity_noise_and_determinism(tiny: TinyZoo) -> None:
    model, x = tiny.load(tiny.source), tiny.data().images[:64]
    clean = model(x)
    assert torch.equal(DPLogits(model, 0.0)(x), clean)
    for mechanism in ("laplace", "gaussian"):
        a, b = DPLogits(model, 2.0, mechanism, seed=1), DPLogits(model, 2.0, mechanism, seed=1)
        first = a(x)
        assert not torch.equal(first, clean) and torch.equal(first, b(x))  # deterministic per seed
        assert not torch.equal(a(x), first)  # fresh noise per query
        assert not torch.equal(DPLogits(model, 2.0, mechanism, seed=2)(x), first)
        a.reset()
        assert torch.equal(a(x), first)
    # Laplace(0, b = σ): mean |η| = σ; Gaussian: std σ
    lap = DPLogits(model, 2.0, "laplace").noise(torch.Size([200_000]))
    gau = DPLogits(model, 2.0, "gaussian").noise(torch.Size([200_000]))
    assert float(lap.abs().mean()) == pytest.approx(2.0, rel=0.02)
    assert float(gau.std()) == pytest.approx(2.0, rel=0.02)
    # probability-only API: noise on log-probabilities, answers stay probabilities
    probs_api = Suspect(model, access="probs")
    assert torch.equal(DPLogits(probs_api, 0.0)(x), clean.softmax(1))
    noisy = DPLogits(probs_api, 1.0)
    out = noisy(x)
    assert noisy.output == "probs" and torch.allclose(out.sum(1), torch.ones(64), atol=1e-5)
    assert not torch.allclose(out, clean.softmax(1))
    with pytest.raises(ValueError, match="logits or probs"):
        DPLogits(Suspect(model, access="labels"), 1.0)
    with pytest.raises(ValueError):
        DPLogits(model, -1.0)


def test_dp_logits_accuracy_degrades_with_sigma(tiny: TinyZoo, pool: Pool) -> None:
    data = tiny.data()
    model = tiny.load(tiny.source)

    def accuracy(api: Classifier) -> float:
        labels = Suspect(api, access="labels")(data.images)
        return float((labels == data.labels).double().mean())

    acc = {s: accuracy(DPLogits(model, s, seed=0)) for s in (0.0, 1.0, 5.0, 20.0)}
    print("accuracy under DP-Logits (Laplace):", acc)
    assert acc[0.0] == pytest.approx(model.accuracy(data.images, data.labels))
    assert acc[0.0] >= acc[1.0] >= acc[5.0] >= acc[20.0] and acc[20.0] < acc[0.0] - 0.3
    # the adaptive attack of MFUE §6: noisy probabilities break the source's self-match
    fp, key = scheme("mfue-w"), key_of(tiny, pool, "mfue-w")
    noisy = fp.verify(key, Suspect(DPLogits(model, 2.0, seed=0), access="probs"))
    print(f"mfue-w source score under DP-Logits σ=2: {noisy:.2f}")
    assert noisy < 0.5


def test_trigger_optimisation_is_shared_and_exact(tiny: TinyZoo, pool: Pool) -> None:
    """MFUE-w and MFUE-b (or MFUE-b at another probe count) with the same trigger settings and count reuse one
    trigger optimisation within a process; the memoised result equals a fresh run bit for bit."""
    import modelprint.queries.mfue as mfue_queries

    victim, data = tiny.load(tiny.source), tiny.data()
    probed = FINGERPRINTS.make("mfue-b", budget=1000, probes=20, outer=30, pool_spec=SMALL_POOL,
                               eps=WIDE, step=WIDE / 5)  # fmt: skip
    white = FINGERPRINTS.make("mfue-w", budget=50, outer=30, pool_spec=SMALL_POOL, eps=WIDE, step=WIDE / 5)
    mfue_queries._MEMO.clear()
    w_key = white.generate(victim, data, seed=3, pool=pool)
    assert len(mfue_queries._MEMO) == 1
    b_key = probed.generate(victim, data, seed=3, pool=pool)
    assert len(mfue_queries._MEMO) == 1  # 1000 // 20 = 50 triggers: the same optimisation, reused
    kept = b_key.queries.extras[PREFIX + "kept"]
    assert torch.equal(b_key.queries.extras[PREFIX + "triggers"], w_key.queries.inputs[kept])
    mfue_queries._MEMO.clear()
    fresh = probed.generate(victim, data, seed=3, pool=pool)
    assert torch.equal(fresh.queries.inputs, b_key.queries.inputs)
    seed_key = PREFIX + "noise_seed"
    assert torch.equal(fresh.queries.extras[seed_key], b_key.queries.extras[seed_key])


def test_trigger_optimisation_stops_once_the_source_loss_has_converged(tiny: TinyZoo, pool: Pool) -> None:
    victim, data = tiny.load(tiny.source), tiny.data()
    cap = 400
    ruled = scheme("mfue-w", outer=cap, stop_window=5).generate(victim, data, seed=0, pool=pool)
    run = int(ruled.queries.extras[PREFIX + "outer_run"])
    assert 6 <= run < cap  # the rule needs window + 1 checks, and stops long before the cap
    full = scheme("mfue-w", outer=run + 20, stop_window=0).generate(victim, data, seed=0, pool=pool)
    assert int(full.queries.extras[PREFIX + "outer_run"]) == run + 20  # window 0: every iteration runs
    capped = scheme("mfue-w", outer=run, stop_window=0).generate(victim, data, seed=0, pool=pool)
    assert torch.equal(capped.queries.inputs, ruled.queries.inputs)  # the rule draws no random numbers
    # what the extra iterations would have bought: the source's losses barely move
    later = true_label_loss(victim.probs(full.queries.inputs), full.queries.labels)
    now = true_label_loss(victim.probs(ruled.queries.inputs), ruled.queries.labels)
    assert float(later.mean()) >= 0.9 * float(now.mean())
    assert repr(scheme("mfue-w", stop_window=5)) != repr(scheme("mfue-w"))  # part of the key's config
    assert "stop_window=5" in repr(scheme("mfue-w", stop_window=5))


def test_rank_correlation_of_trigger_losses_separates_the_tiny_zoo(tiny: TinyZoo, pool: Pool) -> None:
    """Ours (``mfue-w-rank``): MFUE-w's triggers and losses, Spearman's ρ instead of the interval. It is
    the same ρ as a plain rank computation, the source scores 1, and derived copies rank above the
    independent models (AUC printed beside the interval test's)."""
    settings = SCHEMES["mfue-w"]
    rank = FINGERPRINTS.make("mfue-w-rank", **settings)
    key = rank.generate(tiny.load(tiny.source), tiny.data(), seed=0, pool=pool)
    interval_key = key_of(tiny, pool, "mfue-w")
    assert torch.equal(key.queries.inputs, interval_key.queries.inputs)  # the same triggers
    own, pos, neg = scores(tiny, rank, key)
    _, ipos, ineg = scores(tiny, scheme("mfue-w"), interval_key)
    log.info("mfue-w-rank AUC %.3f (interval %.3f): %s / %s", auc(pos, neg), auc(ipos, ineg), pos, neg)
    sus = rank.representation(tiny.load(tiny.positives()[0]), key.queries)
    assert rank.detector.score(key.reference, sus) == pytest.approx(spearman(key.reference, sus))
    assert own == 1.0 and auc(pos, neg) >= 0.9
