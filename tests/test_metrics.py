"""Metrics on hand-made scores with known answers (QuRD AUC / TPR@5%FPR, IPGuard ARUC, matching rates)."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest

from modelprint.metrics import (
    UndefinedMetricWarning,
    aruc,
    conditioned_hamming,
    matching_rate,
    matching_rate_margin,
    robustness_uniqueness,
    roc_auc,
    roc_curve,
    tpr_at_fpr,
)


def _labelled(pos: list[float], neg: list[float]) -> tuple[np.ndarray, np.ndarray]:
    return np.r_[np.ones(len(pos), bool), np.zeros(len(neg), bool)], np.r_[pos, neg].astype(float)


def _brute_auc(y: np.ndarray, s: np.ndarray) -> float:
    pairs = list(itertools.product(s[y], s[~y]))
    return sum(1.0 if p > n else 0.5 if p == n else 0.0 for p, n in pairs) / len(pairs)


# ---------------------------------------------------------------- ROC AUC


def test_auc_perfect_reversed_ties():
    assert roc_auc(*_labelled([0.9, 0.8], [0.1, 0.2, 0.3])) == 1.0
    assert roc_auc(*_labelled([0.1, 0.2], [0.8, 0.9, 0.7])) == 0.0
    assert roc_auc(*_labelled([0.5, 0.5], [0.5, 0.5, 0.5])) == 0.5


def test_auc_hand_case():
    y, s = _labelled([0.9, 0.6, 0.4], [0.5, 0.3])
    assert roc_auc(y, s) == pytest.approx(5 / 6)
    # 0/1 integer labels, lists and bool arrays agree
    assert roc_auc(y.astype(int).tolist(), s.tolist()) == pytest.approx(5 / 6)


def test_auc_partial_tie_counts_half():
    # pairs: (0.5, 0.5) tie -> 0.5, (0.5, 0.1) win, (0.2, 0.5) loss, (0.2, 0.1) win -> 2.5 / 4
    assert roc_auc(*_labelled([0.5, 0.2], [0.5, 0.1])) == pytest.approx(0.625)


def test_auc_matches_pairwise_definition_with_ties_and_inf():
    rng = np.random.default_rng(0)
    for _ in range(20):
        y = rng.random(40) < 0.4
        y[:2] = [True, False]
        s = np.round(rng.normal(size=40), 1)  # many ties
        s[3] = np.inf
        assert roc_auc(y, s) == pytest.approx(_brute_auc(y, s), abs=1e-12)


def test_auc_undefined_is_nan_with_warning():
    with pytest.warns(UndefinedMetricWarning, match="positives"):
        assert math.isnan(roc_auc([1, 1, 1], [0.1, 0.2, 0.3]))
    with pytest.warns(UndefinedMetricWarning):
        assert math.isnan(roc_auc([0, 0], [0.1, 0.2]))
    assert issubclass(UndefinedMetricWarning, RuntimeWarning)


def test_input_validation():
    with pytest.raises(ValueError, match="0/1"):
        roc_auc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="NaN"):
        roc_auc([0, 1], [0.1, float("nan")])
    with pytest.raises(ValueError, match="length"):
        roc_auc([0, 1, 1], [0.1, 0.2])


# ---------------------------------------------------------------- ROC curve


def test_roc_curve_hand_case():
    y, s = _labelled([0.9, 0.6, 0.4], [0.5, 0.3])
    fpr, tpr, thr = roc_curve(y, s)
    np.testing.assert_allclose(thr, [np.inf, 0.9, 0.6, 0.5, 0.4, 0.3])
    np.testing.assert_allclose(fpr, [0, 0, 0, 0.5, 0.5, 1.0])
    np.testing.assert_allclose(tpr, [0, 1 / 3, 2 / 3, 2 / 3, 1.0, 1.0])
    # trapezoidal area under the curve equals the rank AUC
    assert np.trapezoid(tpr, fpr) == pytest.approx(roc_auc(y, s))


def test_roc_curve_ties_make_one_point():
    fpr, tpr, thr = roc_curve([1, 0, 1, 0], [0.5, 0.5, 0.5, 0.2])
    np.testing.assert_allclose(thr, [np.inf, 0.5, 0.2])
    np.testing.assert_allclose(fpr, [0, 0.5, 1.0])
    np.testing.assert_allclose(tpr, [0, 1.0, 1.0])
    assert np.all(np.diff(thr) < 0)


def test_roc_curve_one_class_warns():
    with pytest.warns(UndefinedMetricWarning, match="negatives"):
        fpr, tpr, _ = roc_curve([1, 1], [0.2, 0.3])
    assert np.isnan(fpr).all()
    np.testing.assert_allclose(tpr, [0, 0.5, 1.0])


# ---------------------------------------------------------------- TPR @ FPR


def test_tpr_at_fpr_tie_at_threshold_within_budget():
    # 20 negatives: the one tied with a positive at 0.5 costs FPR 1/20 = 0.05, which is allowed
    y, s = _labelled([0.9, 0.5, 0.05], [0.5] + [0.1] * 19)
    assert tpr_at_fpr(y, s) == pytest.approx(2 / 3)


def test_tpr_at_fpr_tie_at_threshold_over_budget():
    # two negatives tied at 0.5 -> FPR 0.1 > 0.05: the whole tie group is excluded
    y, s = _labelled([0.9, 0.5, 0.05], [0.5, 0.5] + [0.1] * 18)
    assert tpr_at_fpr(y, s) == pytest.approx(1 / 3)
    assert tpr_at_fpr(y, s, fpr=0.1) == pytest.approx(2 / 3)
    assert tpr_at_fpr(y, s, fpr=1.0) == 1.0


def test_tpr_at_fpr_top_negative_gives_zero():
    y, s = _labelled([0.8, 0.7], [0.95, 0.1, 0.0])
    assert tpr_at_fpr(y, s) == 0.0
    assert tpr_at_fpr(*_labelled([0.8, 0.7], [0.1, 0.0])) == 1.0


def test_tpr_at_fpr_nan_and_bad_fpr():
    with pytest.warns(UndefinedMetricWarning):
        assert math.isnan(tpr_at_fpr([0, 0, 0], [0.1, 0.2, 0.3]))
    with pytest.warns(UndefinedMetricWarning):
        assert math.isnan(tpr_at_fpr([], []))
    with pytest.raises(ValueError):
        tpr_at_fpr([0, 1], [0.1, 0.2], fpr=1.5)


# ---------------------------------------------------------------- ARUC


def test_aruc_examples_from_ipguard_definition():
    assert aruc(*_labelled([1.0, 1.0], [0.0, 0.0])) == pytest.approx(1.0)
    assert aruc(*_labelled([0.6], [0.4])) == pytest.approx(0.2)
    # reversed: R and U never both positive
    assert aruc(*_labelled([0.2], [0.9])) == pytest.approx(0.0)


def test_aruc_overlapping_hand_case():
    # (0, .5]: R=1, U=.5 -> .25; (.5, .7]: R=.5, U=.5 -> .1; (.7, 1]: R=.5, U=1 -> .15
    y, s = _labelled([0.5, 1.0], [0.0, 0.7])
    assert aruc(y, s) == pytest.approx(0.5)
    r, u = robustness_uniqueness(y, s, [0.0, 0.5, 0.6, 0.7, 0.8])
    np.testing.assert_allclose(r, [1.0, 1.0, 0.5, 0.5, 0.5])
    np.testing.assert_allclose(u, [0.0, 0.5, 0.5, 0.5, 1.0])


def test_aruc_exact_matches_grid():
    rng = np.random.default_rng(1)
    for _ in range(25):
        y = rng.random(60) < 0.5
        y[:2] = [True, False]
        s = np.clip(np.round(rng.normal(0.5 + 0.2 * y, 0.2), 2), 0, 1)
        exact = aruc(y, s)
        assert 0.0 <= exact <= 1.0
        assert abs(exact - aruc(y, s, grid=1001)) <= 1e-3 + 1e-12


def test_aruc_errors_and_nan():
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        aruc([1, 0], [1.5, 0.2])
    with pytest.raises(ValueError, match="grid"):
        aruc([1, 0], [0.5, 0.2], grid=1)
    with pytest.warns(UndefinedMetricWarning):
        assert math.isnan(aruc([1, 1], [0.5, 0.2]))


# ---------------------------------------------------------------- matching rates


def test_matching_rate_and_margin():
    assert matching_rate([1, 2, 3, 4], [1, 2, 0, 4]) == 0.75
    assert matching_rate(np.array([[1, 2], [3, 4]]), np.array([[1, 0], [3, 0]])) == 0.5
    with pytest.raises(ValueError, match="shape"):
        matching_rate([1, 2], [1, 2, 3])
    assert matching_rate_margin(0.9, 0.3) == pytest.approx(0.6)
    assert isinstance(matching_rate_margin(0.9, 0.3), float)
    np.testing.assert_allclose(matching_rate_margin([0.9, 0.5], [0.1, 0.7]), [0.8, -0.2])


def test_conditioned_hamming_hand_case():
    # source wrong at 1 and 3; suspect agrees with source at 1, not at 3 -> delta_c = 1/2
    res = conditioned_hamming([0, 1, 2, 3], [0, 1, 1, 0], [0, 0, 2, 0])
    assert res["delta_c"] == pytest.approx(0.5)
    assert res["delta"] == pytest.approx(0.5)  # differ at 2 and 3
    assert res["acc_source"] == pytest.approx(0.5)
    assert res["acc_suspect"] == pytest.approx(0.5)
    assert res["bound"] == pytest.approx((0.5 - 0.5) / 0.5)


def test_conditioned_hamming_bound_holds():
    # QuRD Prop. 1: delta_c >= (delta - (1 - acc')) / (1 - acc) for any predictions
    rng = np.random.default_rng(2)
    for _ in range(50):
        c = rng.integers(0, 4, 100)
        h = np.where(rng.random(100) < 0.7, c, rng.integers(0, 4, 100))
        hp = np.where(rng.random(100) < 0.6, h, rng.integers(0, 4, 100))
        h[0] = (c[0] + 1) % 4
        res = conditioned_hamming(h, hp, c)
        assert res["delta_c"] >= res["bound"] - 1e-12


def test_conditioned_hamming_perfect_source_is_nan():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = conditioned_hamming([0, 1, 2], [0, 2, 2], [0, 1, 2])
    assert any(issubclass(w.category, UndefinedMetricWarning) for w in caught)
    assert math.isnan(res["delta_c"]) and math.isnan(res["bound"])
    assert res["delta"] == pytest.approx(1 / 3)
