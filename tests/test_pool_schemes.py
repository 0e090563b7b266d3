"""Pool-based schemes on the tiny zoo: CAE (spec §6) and MetaFinger (spec §7), each with a small pool built
from the tiny source on the owner's data (3 surrogates + 3 references; 4 positives + 3 negatives) and
few optimisation steps, so the file stays well under a minute on two busy cores."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from modelprint.attacks import AttackContext
from modelprint.fingerprints import FINGERPRINTS, Fingerprint
from modelprint.models.access import Suspect
from modelprint.pools import Pool, PoolSpec, build_pool, check_disjoint
from modelprint.queries.cae import CAE_POOL
from modelprint.queries.metafinger import METAFINGER_POOL, metafinger_transforms
from modelprint.testing import TinyZoo
from modelprint.types import Key
from modelprint.zoo.lineage import join
from modelprint.zoo.store import ModelStore

log = logging.getLogger(__name__)

NEGATIVES = ("same", "mlp", "same")  # shared by both pools, so they are trained once
SPECS = {
    "cae": PoolSpec(
        ("labelextract(same,data=owner)", "distill(same,data=owner)", "distill(mlp,data=owner)"), NEGATIVES
    ),
    "metafinger": PoolSpec(
        (
            "finetune(ftal,data=owner)",
            "finetune(rtll,data=owner)",
            "prune(0.5,ft=1,data=owner)",
            "noise(3,data=owner)",
        ),
        NEGATIVES,
    ),
}
FAST = {  # few steps / seeds / rounds: the schemes' logic, not their paper-scale cost
    "cae": {"budget": 30, "max_seeds": 256},
    "metafinger": {"budget": 30, "max_rounds": 2},
}
NAMES = sorted(SPECS)


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one intra-op thread (conftest)


@pytest.fixture(scope="module")
def pools(tiny: TinyZoo, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Pool]:
    store = ModelStore(tmp_path_factory.mktemp("pools"))
    ctx = AttackContext(tiny.ctx.dataset)
    return {name: build_pool(spec, tiny.source, store, ctx) for name, spec in SPECS.items()}


def scheme(name: str) -> Fingerprint:
    return FINGERPRINTS.make(name, pool_spec=SPECS[name], **FAST[name])


_KEYS: dict[str, Key] = {}


def key_of(tiny: TinyZoo, pools: dict[str, Pool], name: str) -> Key:
    """Seed-0 key of a scheme, generated once per module."""
    if name not in _KEYS:
        _KEYS[name] = scheme(name).generate(tiny.load(tiny.source), tiny.data(), seed=0, pool=pools[name])
    return _KEYS[name]


def score(tiny: TinyZoo, name: str, key: Key, lineage: str) -> float:
    fp = scheme(name)
    return fp.verify(key, Suspect(tiny.load(lineage), access=fp.needs))


def test_defaults_follow_the_spec() -> None:
    for name, spec, sizes in (("cae", CAE_POOL, (10, 10)), ("metafinger", METAFINGER_POOL, (20, 20))):
        fp = FINGERPRINTS.make(name)
        assert (fp.needs, fp.budget, fp.pool_spec) == ("labels", 100, spec)
        assert (len(spec.positives), len(spec.negatives)) == sizes
        assert all("data=owner" in step for step in spec.positives)  # derived on the owner's data
        assert len(set(spec.positives)) == len(spec.positives)
        assert FINGERPRINTS.describe(name)


@pytest.mark.parametrize("spec", [*SPECS.values(), CAE_POOL, METAFINGER_POOL])
def test_pools_are_disjoint_from_the_benchmark(tiny: TinyZoo, spec: PoolSpec) -> None:
    members = [lin for side in spec.lineages(tiny.source) for lin in side]
    check_disjoint(members, [*tiny.preset.victims, *tiny.preset.suspects])
    assert not set(members) & {*tiny.preset.victims, *tiny.preset.suspects}


@pytest.mark.parametrize("name", NAMES)
def test_generation_needs_a_pool(tiny: TinyZoo, name: str) -> None:
    with pytest.raises(ValueError, match="pool"):
        scheme(name).generate(tiny.load(tiny.source), tiny.data(), seed=0)


@pytest.mark.parametrize("name", NAMES)
def test_source_first_and_derived_copies_above_independent_models(
    tiny: TinyZoo, pools: dict[str, Pool], name: str
) -> None:
    """Seed 0, tiny zoo: the source matches itself perfectly; every derived suspect (fine-tune, prune,
    fine-tune+prune) scores above every independent one (the margin is logged)."""
    key = key_of(tiny, pools, name)
    own = score(tiny, name, key, tiny.source)
    derived = {lin.split("->", 1)[1]: score(tiny, name, key, lin) for lin in tiny.positives()}
    independent = {lin.split("(", 1)[1]: score(tiny, name, key, lin) for lin in tiny.negatives()}
    log.info("%s: %d queries, self %.3f", name, len(key.queries), own)
    log.info("derived %s independent %s", derived, independent)
    assert own == 1.0
    assert own >= max(derived.values()) and own > max(independent.values())
    assert min(derived.values()) > max(independent.values()), (derived, independent)


@pytest.mark.parametrize("name", NAMES)
def test_generation_is_deterministic_for_a_seed(tiny: TinyZoo, pools: dict[str, Pool], name: str) -> None:
    victim, data = tiny.load(tiny.source), tiny.data()
    a = key_of(tiny, pools, name)
    b = scheme(name).generate(victim, data, seed=0, pool=pools[name])
    c = scheme(name).generate(victim, data, seed=1, pool=pools[name])
    assert torch.equal(a.queries.inputs, b.queries.inputs) and torch.equal(a.reference, b.reference)
    assert a.config == b.config
    assert len(a.queries) != len(c.queries) or not torch.equal(a.queries.inputs, c.queries.inputs)
    assert 0 < len(a.queries) <= FAST[name]["budget"]
    assert int(a.queries.extras["num_selected"]) == len(a.queries)


@pytest.mark.parametrize("name", NAMES)
def test_key_round_trip(tiny: TinyZoo, pools: dict[str, Pool], name: str, tmp_path: Path) -> None:
    key = key_of(tiny, pools, name)
    loaded = Key.load(key.save(tmp_path / "key"))
    assert loaded.scheme == name and loaded.config == key.config
    assert torch.equal(loaded.queries.inputs, key.queries.inputs)
    assert torch.equal(loaded.reference, key.reference)
    assert set(loaded.queries.extras) == set(key.queries.extras)
    suspect = join(tiny.source, "prune(0.5)")
    assert score(tiny, name, loaded, suspect) == score(tiny, name, key, suspect)


def test_cae_queries_are_conferrable_adversarial_examples_in_the_ball(
    tiny: TinyZoo, pools: dict[str, Pool]
) -> None:
    key = key_of(tiny, pools, "cae")
    q, data = key.queries, tiny.data()
    seeds = data.images[q.extras["index"]]
    assert float((q.inputs - seeds).abs().max()) <= 0.15 + 1e-6  # grayscale default ε
    assert torch.all(key.reference != q.extras["source_label"])  # adversarial for the source
    assert torch.all(q.extras["conferrability"] >= 0.85)
    assert torch.equal(q.labels, data.labels[q.extras["index"]])


def test_metafinger_transforms_keep_shape_range_and_gradients() -> None:
    x = torch.rand(4, 1, 8, 8, requires_grad=True)
    for name, transform in metafinger_transforms(8):
        a = transform(x, torch.Generator().manual_seed(0))
        b = transform(x, torch.Generator().manual_seed(0))
        assert a.shape == x.shape and torch.equal(a, b), name
        assert float(a.detach().min()) >= -1e-6 and float(a.detach().max()) <= 1 + 1e-6, name
        (grad,) = torch.autograd.grad(a.sum(), x)
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0, name
