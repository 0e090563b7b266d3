"""Stop rules of the CAE and NaturalFinger samplers (modelprint.ops.convergence): the paper's step / epoch
count is the cap, the default rule ends the optimisation earlier on the tiny zoo and the keys still rank
derived above independent models; with every ``*_window`` = 0 the loops run to their caps. Small pools as
in tests/test_pool_schemes.py and tests/test_naturalfinger.py."""

from __future__ import annotations

import inspect
import logging

import pytest
import torch

from modelprint.attacks import AttackContext
from modelprint.fingerprints import FINGERPRINTS, Fingerprint
from modelprint.gan import GanSpec
from modelprint.models.access import Suspect
from modelprint.pools import Pool, PoolSpec, build_pool
from modelprint.queries import cae, naturalfinger
from modelprint.queries.cae import ConferrableQueries
from modelprint.queries.naturalfinger import NaturalFingerQueries
from modelprint.testing import TinyZoo
from modelprint.types import Key
from modelprint.zoo.store import ModelStore

log = logging.getLogger(__name__)

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one intra-op thread (conftest)

GAN = GanSpec(epochs=30, lr_g=1e-3, lr_d=1e-3)  # tests/test_naturalfinger.py's cheap 8×8 GAN
SPECS = {
    "cae": PoolSpec(
        ("labelextract(same,data=owner)", "distill(same,data=owner)", "distill(mlp,data=owner)"),
        ("same", "mlp", "same"),
    ),
    "naturalfinger": PoolSpec(
        ("finetune(ftal,data=owner)", "prune(0.5,ft=1,data=owner)"), ("same", "mlp"), gan=GAN
    ),
}
FAST = {
    "cae": {"budget": 30, "max_seeds": 256},  # two seed batches of the registered 100-step CEM
    # 200 epochs at lr 1 (see tests/test_naturalfinger.py); a check every 10 epochs, the registered
    # 1000-epoch cap's share (a check every 50), so the 4-check window fits under the cap
    "naturalfinger": {"budget": 20, "epochs": 200, "lr": 1.0, "stop_block": 10},
}
RUN = {"cae": "steps_run", "naturalfinger": "epochs_run"}
NAMES = sorted(SPECS)


@pytest.fixture(scope="module")
def pools(tiny: TinyZoo, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Pool]:
    store = ModelStore(tmp_path_factory.mktemp("stop-rule-pools"))
    ctx = AttackContext(tiny.ctx.dataset)
    return {name: build_pool(spec, tiny.source, store, ctx) for name, spec in SPECS.items()}


def scheme(name: str, **kw: object) -> Fingerprint:
    return FINGERPRINTS.make(name, pool_spec=SPECS[name], **{**FAST[name], **kw})


def cap(fp: Fingerprint) -> int:
    """The sampler's step (CAE) or epoch (NaturalFinger) count: the cap of its stop rule."""
    return int(getattr(fp.sampler, "steps" if fp.name == "cae" else "epochs"))


def generate(tiny: TinyZoo, pools: dict[str, Pool], fp: Fingerprint, name: str, seed: int = 0) -> Key:
    return fp.generate(tiny.load(tiny.source), tiny.data(), seed=seed, pool=pools[name])


def _window_settings(name: str) -> list[str]:
    return [p for p in inspect.signature(FINGERPRINTS.get(name)).parameters if p.endswith("_window")]


def test_window_settings_reach_the_samplers() -> None:
    for name, module, cls in (
        ("cae", cae, ConferrableQueries),
        ("naturalfinger", naturalfinger, NaturalFingerQueries),
    ):
        assert _window_settings(name) == ["stop_window", "batch_window"]
        s = FINGERPRINTS.make(name).sampler
        assert isinstance(s, cls)
        assert (s.stop_tol, s.stop_window, s.stop_block) == (
            module.STOP_TOL,
            module.STOP_WINDOW,
            module.STOP_BLOCK,
        )
        assert (s.batch_tol, s.batch_window) == (module.BATCH_TOL, module.BATCH_WINDOW)
        off = FINGERPRINTS.make(name, stop_window=0, batch_window=0)
        assert "stop_window=0" in repr(off) and repr(off) != repr(FINGERPRINTS.make(name))
        with pytest.raises(ValueError, match="non-negative"):
            cls(stop_window=-1)
        with pytest.raises(ValueError, match="non-negative"):
            cls(batch_tol=-1.0)
        with pytest.raises(ValueError, match="positive"):
            cls(stop_block=0)


@pytest.mark.parametrize("name", NAMES)
def test_default_rule_stops_before_the_cap_and_still_separates(
    tiny: TinyZoo, pools: dict[str, Pool], name: str
) -> None:
    """Seed 0: the block-mean loss plateaus before the cap (observed: CAE's two seed batches 90 and 100 of
    100 steps; NaturalFinger's batch 140 of 200 epochs), and the key still ranks the source and every
    derived suspect above every independent one."""
    fp = scheme(name)
    key = generate(tiny, pools, fp, name)
    runs = key.queries.extras[RUN[name]]
    log.info("%s: %s %s of %d, %d queries", name, RUN[name], runs.tolist(), cap(fp), len(key.queries))
    assert len(runs) == int(key.queries.extras["batches_run"]) >= 1
    assert int(runs.min()) < cap(fp) and int(runs.max()) <= cap(fp)

    def score(lineage: str) -> float:
        return fp.verify(key, Suspect(tiny.load(lineage), access=fp.needs))

    own = score(tiny.source)
    derived = {lin.split("->", 1)[1]: score(lin) for lin in tiny.positives()}
    independent = {lin.split("(", 1)[1]: score(lin) for lin in tiny.negatives()}
    log.info("derived %s independent %s", derived, independent)
    assert own == 1.0 and own >= max(derived.values())
    assert min(derived.values()) > max(independent.values()), (derived, independent)


@pytest.mark.parametrize("name", NAMES)
def test_window_zero_runs_to_the_cap(tiny: TinyZoo, pools: dict[str, Pool], name: str) -> None:
    fp = scheme(name, stop_window=0, batch_window=0)
    key = generate(tiny, pools, fp, name)
    runs = key.queries.extras[RUN[name]]
    assert len(runs) == int(key.queries.extras["batches_run"]) >= 1
    assert torch.all(runs == cap(fp)), runs


def test_cae_batch_rule_ends_seed_batches_that_pass_nothing(tiny: TinyZoo, pools: dict[str, Pool]) -> None:
    """τ > 1: no candidate can pass, so after 3 empty seed batches the rule gives up (the most conferrable
    candidate is returned); without it all 128 / 16 = 8 batches run."""
    kw = {"tau": 1.01, "steps": 3, "batch_size": 16, "max_seeds": 128, "stop_window": 0}
    ruled = generate(tiny, pools, scheme("cae", **kw), "cae")
    plain = generate(tiny, pools, scheme("cae", **kw, batch_window=0), "cae")
    assert int(ruled.queries.extras["batches_run"]) == cae.BATCH_WINDOW
    assert int(plain.queries.extras["batches_run"]) == 8
    assert len(ruled.queries) == len(plain.queries) == 1
    assert int(ruled.queries.extras["num_selected"]) == 0


def test_naturalfinger_batch_rule_ends_batches_that_pass_nothing(
    tiny: TinyZoo, pools: dict[str, Pool], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With screening passing nothing, the rule stops after 3 batches; without it every batch of the
    candidates runs (budget 8 × 10 candidates = 80 latents, batches of 10)."""
    real_screen = NaturalFingerQueries.screen

    def none_pass(self: NaturalFingerQueries, x: torch.Tensor, *args: object, **kw: object):
        kept, met = real_screen(self, x, *args, **kw)  # type: ignore[arg-type]
        return torch.zeros_like(kept), met

    monkeypatch.setattr(NaturalFingerQueries, "screen", none_pass)
    kw = {"budget": 8, "epochs": 2, "batch": 10, "stop_window": 0}
    ruled = generate(tiny, pools, scheme("naturalfinger", **kw), "naturalfinger")
    plain = generate(tiny, pools, scheme("naturalfinger", **kw, batch_window=0), "naturalfinger")
    assert int(ruled.queries.extras["batches_run"]) == naturalfinger.BATCH_WINDOW
    assert int(plain.queries.extras["batches_run"]) == 8
    assert torch.all(ruled.queries.extras["epochs_run"] == 2)
