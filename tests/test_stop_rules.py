"""Stop rules of the iterative samplers on the tiny zoo: with the default rule the loop ends before its cap
and the key still ranks derived copies above independent models; with the window at 0 it runs to the cap."""

from __future__ import annotations

import pytest
import torch

from modelprint.attacks import AttackContext
from modelprint.fingerprints import FINGERPRINTS, Fingerprint
from modelprint.models.access import Suspect
from modelprint.ops.convergence import StopRule
from modelprint.pools import Pool, PoolSpec, build_pool
from modelprint.testing import TinyZoo
from modelprint.types import Key
from modelprint.zoo.store import ModelStore

pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one intra-op thread (conftest)

POOL = PoolSpec(
    (
        "finetune(ftal,data=owner)",
        "finetune(rtll,data=owner)",
        "prune(0.5,ft=1,data=owner)",
        "noise(3,data=owner)",
    ),
    ("same", "mlp", "same", "lenet"),
)


@pytest.fixture(scope="module")
def pool(tiny: TinyZoo, tmp_path_factory: pytest.TempPathFactory) -> Pool:
    store = ModelStore(tmp_path_factory.mktemp("stop-pool"))
    return build_pool(POOL, tiny.source, store, AttackContext(tiny.ctx.dataset))


def generate(tiny: TinyZoo, fp: Fingerprint, pool: Pool | None = None) -> Key:
    return fp.generate(tiny.load(tiny.source), tiny.data(), seed=0, pool=pool)


def separates(tiny: TinyZoo, fp: Fingerprint, key: Key) -> bool:
    def score(lineage: str) -> float:
        return fp.verify(key, Suspect(tiny.load(lineage), access=fp.needs))

    derived = [score(lin) for lin in tiny.positives()]
    independent = [score(lin) for lin in tiny.negatives()]
    return score(tiny.source) >= max(derived) and min(derived) > max(independent)


def test_a_plateau_stops_after_its_window_and_never_when_off() -> None:
    rule = StopRule(tol=0.1, window=2)
    p = rule.plateau()
    assert [p.update(v) for v in (10.0, 5.0, 4.9, 4.8)] == [False, False, False, True]
    assert p.stopped_at == 4 and float(p.best) == pytest.approx(4.8)
    per_point = rule.plateau()
    for v in ([10.0, 10.0], [5.0, 10.0], [1.0, 10.0]):
        per_point.update(torch.tensor(v))
    assert per_point.converged.tolist() == [False, True]
    off = StopRule(0.1, 0).plateau()
    assert not any(off.update(1.0) for _ in range(50))
    with pytest.raises(ValueError, match="non-negative"):
        StopRule(-1.0, 3)


def test_ipguard_points_stop_on_a_plateau_and_qurd_at_the_first_label_change(tiny: TinyZoo) -> None:
    paper = FINGERPRINTS.make("ipguard", budget=20, max_iter=300)
    cap = FINGERPRINTS.make("ipguard", budget=20, max_iter=300, stop_window=0)
    qurd = FINGERPRINTS.make("ipguard-qurd", budget=20, max_iter=300)
    keys = {fp.name + repr(fp.sampler): generate(tiny, fp) for fp in (paper, cap, qurd)}
    steps = [int(k.queries.extras["iterations"].sum()) for k in keys.values()]
    assert steps[2] < steps[0] <= steps[1], steps
    for fp, key in zip((paper, cap, qurd), keys.values(), strict=True):
        assert key.num_queries == 20 and separates(tiny, fp, key)


def test_metafinger_epochs_stop_early_when_asked_and_run_all_when_off(tiny: TinyZoo, pool: Pool) -> None:
    on = FINGERPRINTS.make("metafinger", pool_spec=POOL, budget=20, max_rounds=2, stop_window=2)
    off = FINGERPRINTS.make(
        "metafinger", pool_spec=POOL, budget=20, max_rounds=2, stop_window=0, round_window=0
    )
    key_on, key_off = generate(tiny, on, pool), generate(tiny, off, pool)
    assert key_off.queries.extras["epochs_run"].tolist() == [10, 10]
    assert int(key_on.queries.extras["epochs_run"].max()) < 10
    assert separates(tiny, on, key_on) and separates(tiny, off, key_off)


def test_metav_training_stops_on_its_block_loss(tiny: TinyZoo, pool: Pool) -> None:
    kw = {"budget": 10, "iterations": 600, "pool": POOL, "stop_block": 25}
    on, off = FINGERPRINTS.make("metav", **kw), FINGERPRINTS.make("metav", **kw, stop_window=0)
    key_on, key_off = generate(tiny, on, pool), generate(tiny, off, pool)
    assert int(key_off.queries.extras["iterations_run"]) == 600
    assert int(key_on.queries.extras["iterations_run"]) < 600
    assert separates(tiny, on, key_on)


def test_anafp_coarse_to_fine_grid_evaluates_few_candidates_and_keeps_the_ranking(
    tiny: TinyZoo, pool: Pool
) -> None:
    kw = {
        "pool_spec": POOL,
        "budget": 16,
        "grid": 100,
        "quantile": 0.75,
        "max_seeds": 128,
        "lipschitz_points": 16,
    }
    on = FINGERPRINTS.make("anafp", **kw)
    off = FINGERPRINTS.make("anafp", **kw, grid_coarse=0, batch_window=0)
    key_on, key_off = generate(tiny, on, pool), generate(tiny, off, pool)
    assert key_off.queries.extras["anafp.evaluated"].eq(100).all()
    assert key_on.queries.extras["anafp.evaluated"].float().mean() < 50
    assert separates(tiny, on, key_on) and separates(tiny, off, key_off)
