"""Blend weights of the attention network against its chained-regression partner."""

from __future__ import annotations

import numpy as np

from gristmill.cleaning._blend import (
    BLEND_PRIOR,
    CLASS_PRIOR,
    class_blend_weight,
    numeric_blend_weight,
)


def test_numeric_weight_follows_the_better_prediction_and_is_shrunk() -> None:
    rng = np.random.default_rng(0)
    truth = rng.normal(size=200)
    noisy = truth + rng.normal(size=200)
    assert numeric_blend_weight(truth, noisy, truth) > 0.9
    assert numeric_blend_weight(noisy, truth, truth) < 0.1
    # Equal and independent errors: an even blend.
    other = truth + rng.normal(size=200)
    assert 0.35 < numeric_blend_weight(noisy, other, truth) < 0.65
    # Few cells: the perfect member gets less than full weight.
    few = numeric_blend_weight(truth[:5], noisy[:5], truth[:5])
    assert few == 0.5 + 0.5 * 5 / (5 + BLEND_PRIOR)
    assert numeric_blend_weight(np.zeros(0), np.zeros(0), np.zeros(0)) == 0.5


def test_class_weight_goes_to_the_member_with_the_lower_log_loss() -> None:
    truth = np.array([0, 1, 2, 1] * 100)
    sure = np.eye(3)[truth] * 0.9 + 0.1 / 3
    unsure = np.full((len(truth), 3), 1 / 3)
    assert class_blend_weight(sure, unsure, truth) > 0.9
    assert class_blend_weight(unsure, sure, truth) < 0.1
    wrong = np.eye(3)[(truth + 1) % 3] * 0.9 + 0.1 / 3
    assert class_blend_weight(wrong, sure, truth) < 0.1
    assert class_blend_weight(sure[:0], unsure[:0], truth[:0]) == 0.0


def test_class_weight_is_shrunk_towards_the_partner_on_few_cells() -> None:
    truth = np.array([0, 1] * 15)
    sure = np.eye(2)[truth] * 0.9 + 0.05
    unsure = np.full((len(truth), 2), 0.5)
    # The network is best on all 30 cells, yet gets only half of its weight: 30 cells are
    # worth as much as the prior that the partner alone predicts the column.
    assert class_blend_weight(sure, unsure, truth) == 30 / (30 + CLASS_PRIOR)
    assert class_blend_weight(unsure, sure, truth) == 0.0
