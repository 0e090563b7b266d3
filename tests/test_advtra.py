"""ADV-TRA (Xu et al., NeurIPS'24; spec §8): trajectories, two-level matching and the registered scheme."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from modelprint.detectors.trajectory import (
    TrajectoryLabels,
    TrajectoryMatch,
    group_rows,
    mutation_rates,
)
from modelprint.fingerprints import FINGERPRINTS, Fingerprint
from modelprint.models.access import Suspect
from modelprint.ops.threads import intra_op_threads
from modelprint.queries import TrajectoryQueries
from modelprint.queries.trajectory import signed_step
from modelprint.testing import TinyZoo
from modelprint.types import Key, Queries
from modelprint.zoo.lineage import join

log = logging.getLogger(__name__)

SMALL = 720  # 10 trajectories of the registered config (8 legs × 9 points)
_KEYS: dict[tuple[int, int], Key] = {}


@pytest.fixture(autouse=True)
def _one_intra_op_thread() -> Iterator[None]:
    with intra_op_threads():
        yield


def _key(tiny: TinyZoo, seed: int, budget: int = 4000) -> Key:
    """Keys of the registered scheme, generated once per session."""
    if (seed, budget) not in _KEYS:
        fp = FINGERPRINTS.make("adv-tra", budget=budget)
        _KEYS[seed, budget] = fp.generate(tiny.load(tiny.source), tiny.data(), seed=seed)
    return _KEYS[seed, budget]


def _score(tiny: TinyZoo, key: Key, lineage: str, fp: Fingerprint | None = None) -> float:
    fp = fp or FINGERPRINTS.make("adv-tra", budget=key.num_queries)
    return fp.verify(key, Suspect(tiny.load(lineage), access="labels"))


# ------------------------------------------------------------------------------------ the scheme on the zoo


@pytest.mark.parametrize("seed", [0, 1])
def test_source_first_then_every_derived_model_above_every_independent_one(tiny: TinyZoo, seed: int) -> None:
    """Default config, full 4,000-query budget: the source scores 1.0, all five derived models (fine-tune,
    prune, both) outscore all four independent ones. Observed: derived 1.0, independent ≤ 0.18."""
    key = _key(tiny, seed)
    own = _score(tiny, key, tiny.source)
    derived = [_score(tiny, key, lin) for lin in tiny.positives()]
    independent = [_score(tiny, key, lin) for lin in tiny.negatives()]
    log.info("adv-tra seed %d: self %.3f derived %s independent %s", seed, own, derived, independent)
    assert own == 1.0
    assert own >= max(derived)
    assert min(derived) > max(independent), (derived, independent)


def test_spec_config_also_separates_on_digits(tiny: TinyZoo) -> None:
    """The spec's own §8.4 values (L = 4, −z_t, accept after epoch 75) on 10 trajectories: fine-tuned and
    pruned copies above the independent models (observed 1.0 vs 0.3–0.7; coarser with 10 trajectories)."""
    fp = FINGERPRINTS.make("adv-tra", length=4, loss="logit", accept_after=0.25, budget=400)
    key = fp.generate(tiny.load(tiny.source), tiny.data(), seed=0)
    assert len(key.queries) == 400 and tuple(key.reference.shape) == (10, 40)
    derived = [_score(tiny, key, join(tiny.source, a), fp) for a in ("finetune(ftal)", "prune(0.5)")]
    independent = [_score(tiny, key, lin, fp) for lin in tiny.negatives()]
    assert _score(tiny, key, tiny.source, fp) == 1.0
    assert min(derived) > max(independent), (derived, independent)


def test_generation_is_deterministic_for_a_seed(tiny: TinyZoo) -> None:
    fp = FINGERPRINTS.make("adv-tra", budget=SMALL)
    victim, data = tiny.load(tiny.source), tiny.data()
    a, b, c = (fp.generate(victim, data, seed=s) for s in (5, 5, 6))
    assert torch.equal(a.queries.inputs, b.queries.inputs) and torch.equal(a.reference, b.reference)
    assert all(torch.equal(a.queries.extras[k], b.queries.extras[k]) for k in a.queries.extras)
    assert not torch.equal(a.queries.inputs, c.queries.inputs)


def test_key_round_trip_gives_the_same_scores(tiny: TinyZoo, tmp_path: Path) -> None:
    key = _key(tiny, 0, SMALL)
    loaded = Key.load(key.save(tmp_path / "key"))
    assert loaded.config == key.config and torch.equal(loaded.reference, key.reference)
    assert set(loaded.queries.extras) == set(key.queries.extras)
    assert torch.equal(loaded.queries.extras["trajectory"], key.queries.extras["trajectory"])
    for lineage in (tiny.source, join(tiny.source, "prune(0.5)"), tiny.negatives()[0]):
        assert _score(tiny, loaded, lineage) == _score(tiny, key, lineage)


# ------------------------------------------------------------------------------------ trajectory structure


def test_points_and_step_sizes_stay_in_the_unit_interval(tiny: TinyZoo) -> None:
    key = _key(tiny, 0, SMALL)
    x, steps = key.queries.inputs, key.queries.extras["step_size"]
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    starts = key.queries.extras["step_size"].view(10, 8, 9)[:, :, 0]
    assert torch.all(starts == 0)  # a leg's start is reached by no step
    moved = steps.view(10, 8, 9)[:, :, 1:]
    assert float(moved.min()) > 0.0 and float(moved.max()) <= 1.0
    assert torch.equal(moved, moved.flip(2))  # bilateral: [s_0 … s_{h−1}, s_{h−1} … s_0]


def test_legs_chain_and_cross_into_their_target_exactly_at_step_h(tiny: TinyZoo) -> None:
    """Each leg starts at the previous leg's end; the victim labels x_h with the leg's target and the
    points before it not (spec §8.2 acceptance), up to batch-order float effects (≥ 95% of legs)."""
    key, victim = _key(tiny, 0, SMALL), tiny.load(tiny.source)
    pts = key.queries.inputs.view(10, 8, 9, *key.queries.inputs.shape[1:])
    assert torch.equal(pts[:, 1:, 0], pts[:, :-1, -1])
    target = key.queries.extras["target"].view(10, 8, 9)[:, :, 0]
    labels = key.reference.view(10, 8, 9)
    assert torch.all(target != key.queries.labels.view(10, 8, 9)[:, :, 0])  # targets ≠ the seed's label
    assert all(len(set(row.tolist())) == 8 for row in target)  # 8 distinct targets per trajectory
    exact = (labels[:, :, 4] == target) & (labels[:, :, 1:4] != target[:, :, None]).all(dim=2)
    assert float(exact.float().mean()) >= 0.95
    assert torch.equal(victim.predict(pts[:, 0, 0]), key.queries.labels.view(10, 72)[:, 0])  # clean seeds


def test_budget_is_split_into_whole_trajectories_and_one_cut_one(tiny: TinyZoo) -> None:
    fp = FINGERPRINTS.make("adv-tra", budget=100)  # 72 + 28 points
    key = fp.generate(tiny.load(tiny.source), tiny.data(), seed=0)
    assert len(key.queries) == 100
    assert torch.equal(torch.bincount(key.queries.extras["trajectory"]), torch.tensor([72, 28]))
    assert tuple(key.reference.shape) == (2, 72) and torch.all(key.reference[1, 28:] == -1)
    assert _score(tiny, key, tiny.source) == 1.0


def test_sampler_refuses_more_traversed_classes_than_the_victim_has(tiny: TinyZoo) -> None:
    sampler = TrajectoryQueries(tra_classes=11)
    with pytest.raises(ValueError, match="classes"):
        sampler.sample(tiny.load(tiny.source), tiny.data(), 55, generator=torch.Generator())
    with pytest.raises(ValueError, match="even"):
        TrajectoryQueries(length=3)


def test_masked_step_leaves_coordinates_that_would_leave_the_box() -> None:
    x = torch.tensor([[[[0.0, 0.5, 0.98, 1.0]]]])
    sign = torch.tensor([[[[1.0, 1.0, -1.0, -1.0]]]])  # steps go −s·sign
    masked = signed_step(x, torch.tensor([0.05]), sign, bound="mask")
    clipped = signed_step(x, torch.tensor([0.05]), sign, bound="clip")
    assert torch.allclose(masked, torch.tensor([[[[0.0, 0.45, 0.98, 1.0]]]]))
    assert torch.allclose(clipped, torch.tensor([[[[0.0, 0.45, 1.0, 1.0]]]]))


# ------------------------------------------------------------------------------------ two-level matching


def test_group_rows_pads_short_trajectories() -> None:
    rows = group_rows(torch.tensor([5, 6, 7, 8, 9]), torch.tensor([0, 0, 1, 1, 1]))
    assert torch.equal(rows, torch.tensor([[5, 6, -1], [7, 8, 9]]))


def test_detection_rate_counts_trajectories_under_half_mutated() -> None:
    ref = torch.tensor([[1, 1, 1, 1], [2, 2, 2, 2], [3, 3, -1, -1]])
    sus = torch.tensor([[1, 1, 1, 0], [2, 2, 0, 0], [3, 0, -1, -1]])  # mutation 1/4, 1/2, 1/2
    assert torch.allclose(mutation_rates(ref, sus), torch.tensor([0.25, 0.5, 0.5]))
    assert TrajectoryMatch().score(ref, sus) == pytest.approx(1 / 3)  # 0.5 is not < 0.5
    assert TrajectoryMatch(0.6).score(ref, sus) == 1.0
    assert TrajectoryMatch().score(ref, ref) == TrajectoryMatch.perfect
    with pytest.raises(ValueError, match="shapes"):
        TrajectoryMatch().score(ref, sus[:2])


def test_labels_without_trajectory_ids_are_one_point_trajectories(tiny: TinyZoo) -> None:
    model = tiny.load(tiny.source)
    q = Queries(tiny.data().images[:6])
    rep = TrajectoryLabels()(Suspect(model, access="labels"), q)
    assert tuple(rep.shape) == (6, 1) and TrajectoryLabels.needs == "labels"


def test_registered_with_label_access_and_the_spec_budget() -> None:
    assert "adv-tra" in FINGERPRINTS.names() and FINGERPRINTS.describe("adv-tra")
    fp = FINGERPRINTS.make("adv-tra")
    assert (fp.needs, fp.budget) == ("labels", 4000)
    assert isinstance(fp.sampler, TrajectoryQueries) and fp.sampler.points_per_trajectory == 72
