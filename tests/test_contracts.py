"""Contracts over every registry: each registered fingerprint (pool-based ones through a tiny pool), sampler,
seed set, representation, detector, attack, threat and query detector is enumerated here, so a new entry
is tested without touching the tests. ``example_scheme`` (a pool-based scheme written in one file) is
imported first: it is enumerated and tested like the built-in schemes, and run from the CLI below."""

from __future__ import annotations

import math
from pathlib import Path

import example_scheme
import pytest
import torch
from typer.testing import CliRunner

from modelprint.attacks import ATTACKS, make_step
from modelprint.cli import app
from modelprint.detectors.base import DETECTORS
from modelprint.fingerprints import FINGERPRINTS
from modelprint.gan import GanSpec
from modelprint.gan.train import train_gan
from modelprint.keys import KeyMaker
from modelprint.models.access import AccessError, Suspect
from modelprint.models.base import TorchClassifier
from modelprint.pools import Pool
from modelprint.queries.base import SAMPLERS, QuerySampler
from modelprint.queries.seeds import SEED_SETS, structure_of
from modelprint.representations.base import REPRESENTATIONS
from modelprint.testing import TinyZoo
from modelprint.threats import THREATS
from modelprint.threats.detection.base import QUERY_DETECTORS
from modelprint.types import Key, Queries
from modelprint.zoo.lineage import join, parse_step
from modelprint.zoo.presets import PRESETS

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one intra-op thread (conftest)

SCHEMES = FINGERPRINTS.names()
POOL_BUDGET = 8
"""Pool-based schemes learn their queries; eight keep their keys cheap on the tiny zoo."""


@pytest.fixture(scope="module")
def pool(tiny: TinyZoo) -> Pool:
    """A tiny owner-side pool from the tiny zoo's own models (two derived, two independent) and a GAN of one
    epoch: enough to exercise every pool-based sampler, not to make good keys."""
    positives = tuple(tiny.load(lin) for lin in tiny.positives()[:2])
    negatives = tuple(tiny.load(lin) for lin in tiny.negatives()[:2])
    return Pool(positives, negatives, gan=train_gan(GanSpec(epochs=1, seed=3), tiny.data("owner")))


def scheme(name: str):  # type: ignore[no-untyped-def]
    fp = FINGERPRINTS.make(name)
    return FINGERPRINTS.make(name, budget=POOL_BUDGET) if fp.pool_spec is not None else fp


_KEYS: dict[tuple[str, int], Key] = {}


def make_key(tiny: TinyZoo, pool: Pool, name: str, seed: int = 0, *, cached: bool = True) -> Key:
    if not cached or (name, seed) not in _KEYS:
        maker = KeyMaker(tiny.load(tiny.source), tiny.data(), seed, pool_for=lambda spec: pool)
        key = maker.make(scheme(name))
        if not cached:
            return key
        _KEYS[(name, seed)] = key
    return _KEYS[(name, seed)]


def verify(tiny: TinyZoo, name: str, key: Key, lineage: str) -> float:
    fp = scheme(name)
    return fp.verify(key, Suspect(tiny.load(lineage), access=fp.needs))


# --------------------------------------------------------------------------- fingerprints


def test_the_one_file_scheme_is_enumerated() -> None:
    assert "example-agree" in SCHEMES and scheme("example-agree").pool_spec is not None


@pytest.mark.parametrize("name", SCHEMES)
def test_generation_is_deterministic_for_a_seed(tiny: TinyZoo, pool: Pool, name: str) -> None:
    a = make_key(tiny, pool, name, 0)
    b = make_key(tiny, pool, name, 0, cached=False)
    c = make_key(tiny, pool, name, 1)
    assert torch.equal(a.queries.inputs, b.queries.inputs) and torch.equal(a.reference, b.reference)
    assert not torch.equal(a.queries.inputs, c.queries.inputs)
    assert 1 <= len(a.queries) <= scheme(name).budget


@pytest.mark.parametrize("name", SCHEMES)
def test_key_round_trip_without_pickles(tiny: TinyZoo, pool: Pool, name: str, tmp_path: Path) -> None:
    key = make_key(tiny, pool, name)
    loaded = Key.load(key.save(tmp_path / "key"))
    assert loaded.scheme == key.scheme and loaded.config == key.config
    assert torch.equal(loaded.queries.inputs, key.queries.inputs)
    assert torch.equal(loaded.reference, key.reference)
    assert set(loaded.queries.extras) == set(key.queries.extras)
    assert not any(p.suffix in {".pt", ".pkl", ".pickle"} for p in (tmp_path / "key").iterdir())
    suspect = join(tiny.source, "finetune(ftal)")
    assert verify(tiny, name, loaded, suspect) == verify(tiny, name, key, suspect)


@pytest.mark.parametrize("name", SCHEMES)
def test_victim_scores_its_own_key_at_least_as_high_as_any_model(
    tiny: TinyZoo, pool: Pool, name: str
) -> None:
    """The victim scores its detector's perfect value where that is a constant (1.0 for match rate and
    cosine, 0.0 for −distance), and at least as high as any model of the tiny zoo."""
    key = make_key(tiny, pool, name)
    own = verify(tiny, name, key, tiny.source)
    perfect = scheme(name).detector.perfect
    if perfect is not None:
        assert own == pytest.approx(perfect)
    others = [verify(tiny, name, key, lin) for lin in [*tiny.positives(), *tiny.negatives()]]
    assert all(math.isfinite(s) for s in others)
    assert own >= max(others) - 1e-9, (own, others)


@pytest.mark.parametrize("name", SCHEMES)
def test_too_little_access_and_a_wrong_class_count_are_refused(tiny: TinyZoo, pool: Pool, name: str) -> None:
    fp, key = scheme(name), make_key(tiny, pool, name)
    if fp.needs != "labels":
        with pytest.raises(AccessError):
            fp.verify(key, Suspect(tiny.load(tiny.source), access="labels"))
    wrong = Key(key.scheme, {**key.config, "num_classes": 7}, key.queries, key.reference)
    with pytest.raises(ValueError, match="classes"):
        fp.verify(wrong, Suspect(tiny.load(tiny.source), access=fp.needs))


@pytest.mark.parametrize("name", [n for n in SCHEMES if scheme(n).pool_spec is not None])
def test_a_pool_based_scheme_without_its_pool_says_so(tiny: TinyZoo, name: str) -> None:
    with pytest.raises(ValueError, match="pool"):
        scheme(name).sample(tiny.load(tiny.source), tiny.data(), seed=0)


def test_the_one_file_scheme_runs_from_the_cli(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        [
            "bench",
            "run",
            "tiny",
            "-f",
            "example-agree",
            "--seeds",
            "0",
            "--jobs",
            "1",
            "--home",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "example-agree" in result.output and (tmp_path / "report.html").is_file()
    from modelprint.results import ResultsDB
    from modelprint.workspace import Workspace

    ws = Workspace(tmp_path)
    with ResultsDB(ws.results_path) as db:
        rows = db.records(fingerprints=["example-agree"])
    pairs = {(p.victim, p.suspect) for p in PRESETS.make("tiny").pairs()}
    assert {(r.victim, r.suspect) for r in rows} == pairs  # every pair of tiny scored
    positives, negatives = example_scheme.EXAMPLE_POOL.lineages(PRESETS.make("tiny").victims[0])
    assert all(ws.store.is_valid(lin) for lin in [*positives, *negatives])  # its pool built in the zoo
    listed = CliRunner().invoke(app, ["list", "fingerprints"])
    assert "example-agree" in listed.output


# --------------------------------------------------------------------------- parts


def _pool_for(sampler: QuerySampler, pool: Pool) -> Pool | None:
    return pool if sampler.pool_spec is not None else None


@pytest.mark.parametrize("name", SAMPLERS.names())
@pytest.mark.parametrize("seeds", SEED_SETS.names())
def test_samplers_give_budget_queries_in_range_deterministically(
    tiny: TinyZoo, pool: Pool, name: str, seeds: str
) -> None:
    from modelprint.queries.seeds import Seeded

    sampler = Seeded(SAMPLERS.make(name, fast=True), SEED_SETS.make(seeds))
    victim, data = tiny.load(tiny.source), tiny.data()
    kw = {"pool": _pool_for(sampler, pool)}
    a = sampler.sample(victim, data, 12, generator=torch.Generator().manual_seed(0), **kw)
    b = sampler.sample(victim, data, 12, generator=torch.Generator().manual_seed(0), **kw)
    assert a.inputs.shape[1:] == data.input_shape and 1 <= len(a) <= 12
    assert a.inputs.dtype == torch.float32 and 0.0 <= float(a.inputs.min()) <= float(a.inputs.max()) <= 1.0
    assert torch.equal(a.inputs, b.inputs) and a.extras.keys() == b.extras.keys()
    assert structure_of(sampler) in ("points", "pairs", "lime")


def _queries_for(tiny: TinyZoo, pool: Pool, accepts: frozenset[str]) -> Queries:
    """Queries of the first registered sampler whose structure the representation reads."""
    for name in SAMPLERS.names():
        sampler = SAMPLERS.make(name, fast=True)
        if structure_of(sampler) in accepts:
            gen = torch.Generator().manual_seed(0)
            return sampler.sample(
                tiny.load(tiny.source), tiny.data(), 10, generator=gen, pool=_pool_for(sampler, pool)
            )
    raise AssertionError(f"no registered sampler makes {sorted(accepts)} queries")


@pytest.mark.parametrize("name", REPRESENTATIONS.names())
def test_representations_declare_their_parts_and_are_deterministic(
    tiny: TinyZoo, pool: Pool, name: str
) -> None:
    rep = REPRESENTATIONS.make(name)
    assert rep.needs in ("labels", "topk", "probs", "logits") and rep.kind and rep.accepts
    queries = _queries_for(tiny, pool, rep.accepts)
    victim = tiny.load(tiny.source)
    a, b = rep(victim, queries), rep(victim, queries)
    assert torch.equal(a, b) and (not a.is_floating_point() or bool(torch.isfinite(a).all()))
    if rep.needs != "labels":
        with pytest.raises(AccessError):
            rep(Suspect(victim, access="labels"), queries)


@pytest.mark.parametrize("name", DETECTORS.names())
def test_detectors_score_a_copy_perfectly_and_a_stranger_lower(tiny: TinyZoo, pool: Pool, name: str) -> None:
    detector = DETECTORS.make(name)
    assert detector.accepts, f"{name} declares no representation kinds"
    rep_name = next(n for n in REPRESENTATIONS.names() if REPRESENTATIONS.make(n).kind in detector.accepts)
    rep = REPRESENTATIONS.make(rep_name)
    queries = _queries_for(tiny, pool, rep.accepts)
    reference = rep(tiny.load(tiny.source), queries)
    own = detector.score(reference, rep(tiny.load(tiny.source), queries))
    stranger = detector.score(reference, rep(tiny.load(tiny.negatives()[0]), queries))
    if detector.perfect is not None:
        assert own == pytest.approx(detector.perfect)
    assert math.isfinite(stranger) and own >= stranger


# --------------------------------------------------------------------------- attacks, threats, detectors


@pytest.mark.parametrize("name", ATTACKS.names())
def test_every_attack_changes_the_model_and_it_still_works(tiny: TinyZoo, name: str) -> None:
    cls = ATTACKS.get(name)
    assert cls.example.startswith(f"{name}("), f"{name}: declare a cheap `example` step"
    step = make_step(parse_step(cls.example))
    d = tiny.data()
    before = tiny.load(tiny.source)(d.images)
    parent = tiny.load(tiny.source) if cls.needs_parent else None  # a fresh copy: steps may train it in place
    built = step.apply(parent, "cnn-s", tiny.ctx, seed=0)

    model = TorchClassifier(built.module, num_classes=10, input_shape=d.input_shape, mean=d.mean, std=d.std)
    accuracy = model.accuracy(d.images, d.labels)
    assert accuracy >= 0.3, (name, accuracy)  # chance is 0.1
    if cls.needs_parent:
        assert not torch.equal(model(d.images), before), f"{name} left the model as it was"


@pytest.mark.parametrize("name", THREATS.names())
def test_every_threat_wraps_a_model_that_still_answers(tiny: TinyZoo, name: str) -> None:
    threat = THREATS.make(name)
    source = tiny.load(tiny.source)
    wrapped = threat.wrap(source, seed=0)
    x = tiny.data().images[:32]
    out = wrapped(x)
    assert out.shape[0] == 32 and wrapped.num_classes == source.num_classes
    assert wrapped.output == threat.output_for(source.output)
    assert not out.is_floating_point() or bool(torch.isfinite(out).all())


@pytest.mark.parametrize("name", QUERY_DETECTORS.names())
def test_every_query_detector_fits_and_flags_a_fraction(tiny: TinyZoo, name: str) -> None:
    detector = QUERY_DETECTORS.make(name).fit(tiny.load(tiny.source), tiny.data("owner"))
    x = tiny.data().images[:40]
    flags, scores = detector.flag(x), detector.score(x)
    assert flags.shape == (40,) and flags.dtype == torch.bool
    assert scores.shape == (40,) and bool(torch.isfinite(scores).all())
    assert 0.0 <= float(flags.float().mean()) <= 1.0
