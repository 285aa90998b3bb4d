"""Chained regressions, the partner of the attention imputer."""

from __future__ import annotations

import numpy as np
import pytest

from gristmill.cleaning._chained_regressions import ChainedRegressions


def _linear_table(n: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    group = rng.integers(0, 3, n)
    # y depends on x and on the category; z on y: a missing y is recovered through the chain.
    y = 2 * x + np.array([-1.0, 0.0, 1.0])[group]
    z = -y + 0.5
    numbers = np.column_stack([x, y, z])
    codes = (group + 2)[:, None]  # codes 0/1 are the "missing"/"unknown" slots
    return numbers, codes, rng.random(numbers.shape) >= 0.2


def test_recovers_linear_relations_and_round_trips_through_json() -> None:
    numbers, codes, observed = _linear_table()
    model = ChainedRegressions().fit(np.where(observed, numbers, 0.0), observed, codes)
    predicted, probabilities = model.predict(np.where(observed, numbers, 0.0), observed, codes)
    assert probabilities.shape == (len(numbers), 0)  # no vocabulary: numeric columns only
    # Rows missing one cell are exact (up to a value beyond the observed range, where the
    # prediction stops); rows missing two of the three related cells cannot be.
    single = ~observed & ((~observed).sum(axis=1) == 1)[:, None]
    assert single.sum() > 50
    error = np.abs(predicted[single] - numbers[single])
    assert error.mean() < 0.01
    assert error.max() < 0.1
    again = ChainedRegressions.from_json(model.to_json())
    np.testing.assert_allclose(
        again.predict(numbers, observed, codes)[0], model.predict(numbers, observed, codes)[0]
    )


def test_a_cell_does_not_predict_itself() -> None:
    numbers, codes, observed = _linear_table(200, seed=1)
    model = ChainedRegressions().fit(numbers, np.ones_like(observed), codes)
    changed = numbers.copy()
    changed[0, 1] += 100.0  # the observed y of row 0 is wildly wrong
    predicted, _ = model.predict(changed, np.ones_like(observed), codes)
    assert abs(predicted[0, 1] - numbers[0, 1]) < 0.05


def test_hinges_fit_a_curve_and_predictions_stay_within_the_observed_range() -> None:
    rng = np.random.default_rng(2)
    x = rng.uniform(-2, 2, 600)
    numbers = np.column_stack([x, np.abs(x)])  # a V: no straight line fits it
    observed = rng.random(numbers.shape) >= 0.2
    codes = np.zeros((600, 0), dtype=np.int64)
    model = ChainedRegressions().fit(numbers, observed, codes)
    predicted, _ = model.predict(numbers, observed, codes)
    hidden = ~observed[:, 1] & observed[:, 0]
    assert np.abs(predicted[hidden, 1] - numbers[hidden, 1]).mean() < 0.1
    # An absurd context value is clipped to the column's range, and so is the prediction.
    extreme, _ = model.predict(np.array([[1e6, 0.0]]), np.array([[True, False]]), codes[:1])
    assert extreme[0, 1] <= numbers[observed[:, 1], 1].max()


def test_categorical_columns_get_a_classifier_chained_with_the_rest() -> None:
    rng = np.random.default_rng(3)
    n = 500
    x = rng.normal(size=n)
    size = np.where(x < -0.5, 0, np.where(x < 0.5, 1, 2))  # a category decided by x
    colour = rng.integers(0, 2, n)  # a category unrelated to anything
    numbers = np.column_stack([x, x + 0.1 * rng.normal(size=n)])
    observed = rng.random(numbers.shape) >= 0.2
    codes = np.column_stack([size + 2, colour + 2])
    codes[rng.random(n) < 0.2, 0] = 0  # missing
    model = ChainedRegressions(vocabulary_sizes=[3, 2]).fit(numbers, observed, codes)
    assert model.modelled_columns("categorical") == [0, 1]
    assert model.modelled_columns("numeric") == [0, 1]
    _, probabilities = model.predict(numbers, observed, codes)
    assert probabilities.shape == (n, 5)
    size_probabilities = probabilities[:, model.class_slice(0)]
    np.testing.assert_allclose(size_probabilities.sum(axis=1), 1.0)
    missing = codes[:, 0] == 0
    assert (size_probabilities[missing].argmax(axis=1) == size[missing]).mean() > 0.9
    again = ChainedRegressions.from_json(model.to_json())
    np.testing.assert_allclose(again.predict(numbers, observed, codes)[1], probabilities)


def test_missingness_itself_is_a_feature() -> None:
    # The category is not visible in any value, only in which cell of x is missing.
    rng = np.random.default_rng(4)
    n = 400
    group = rng.integers(0, 2, n)
    numbers = rng.normal(size=(n, 1))
    observed = (group == 0)[:, None] | (rng.random((n, 1)) < 0.1)
    codes = (group + 2)[:, None]
    model = ChainedRegressions(vocabulary_sizes=[2]).fit(numbers, observed, codes)
    _, probabilities = model.predict(numbers, observed, codes)
    assert (probabilities.argmax(axis=1) == group).mean() > 0.85


def test_recurring_values_of_a_number_are_features() -> None:
    # Renters declare their own expenses; everyone else gets one of three standard amounts
    # (a code inside a number, as in credit-scoring data): no smooth function of the amount
    # separates them, an indicator of "holds a standard amount" does.
    rng = np.random.default_rng(5)
    n = 600
    renter = rng.random(n) < 0.3
    expenses = np.where(renter, rng.uniform(0.5, 3.0, n), rng.choice([0.0, 1.0, 2.0], n))
    numbers = np.column_stack([expenses, rng.normal(size=n)])
    observed = np.ones(numbers.shape, dtype=bool)
    codes = (renter.astype(np.int64) + 2)[:, None]
    model = ChainedRegressions(vocabulary_sizes=[2]).fit(numbers, observed, codes)
    np.testing.assert_array_equal(np.sort(model.levels_[0][:3]), [0.0, 1.0, 2.0])
    assert np.isnan(model.levels_[1]).all()  # a continuous column has no recurring value
    _, probabilities = model.predict(numbers, observed, np.zeros_like(codes))
    assert (probabilities.argmax(axis=1) == renter).mean() > 0.95
    again = ChainedRegressions.from_json(model.to_json())
    np.testing.assert_array_equal(again.levels_, model.levels_)
    np.testing.assert_allclose(
        again.predict(numbers, observed, np.zeros_like(codes))[1], probabilities
    )


def test_refit_keeps_each_learnt_penalty_and_uses_the_cells_put_back() -> None:
    numbers, codes, observed = _linear_table(300, seed=6)
    filled = np.where(observed, numbers, 0.0)
    model = ChainedRegressions(n_rounds=2).fit(filled, observed, codes)
    before = [weights.copy() for _, _, weights, _ in model.steps_]
    # On the same cells, a ridge solve with the penalty Bayesian ridge learnt is its fit.
    model.refit(filled, observed, codes)
    for (_, _, weights, _), old in zip(model.steps_, before, strict=True):
        np.testing.assert_allclose(weights, old, rtol=1e-6, atol=1e-7)
    # Fitted with most of y hidden, refitted with it back: the refit predicts the rest of y.
    hidden_y = observed.copy()
    hidden_y[:250, 1] = False
    scarce = ChainedRegressions(n_rounds=2).fit(filled, hidden_y, codes)
    kinds = [(kind, column) for kind, column, _, _ in scarce.steps_]
    error_before = np.abs(scarce.predict(filled, observed, codes)[0] - numbers)[~observed].mean()
    scarce.refit(filled, observed, codes)
    assert [(kind, column) for kind, column, _, _ in scarce.steps_] == kinds
    error_after = np.abs(scarce.predict(filled, observed, codes)[0] - numbers)[~observed].mean()
    assert error_after < error_before
    with pytest.raises(RuntimeError, match="fitted by fit"):
        ChainedRegressions.from_json(model.to_json()).refit(filled, observed, codes)


def test_refit_of_a_classifier_with_a_new_class_starts_afresh() -> None:
    rng = np.random.default_rng(7)
    n = 300
    x = rng.normal(size=n)
    label = np.where(x < -0.7, 0, np.where(x < 0.7, 1, 2))
    numbers, observed = x[:, None], np.ones((n, 1), dtype=bool)
    codes = (label + 2)[:, None]
    two_classes = np.where(label == 2, 0, codes[:, 0])[:, None]  # class 2 never seen in fit
    model = ChainedRegressions(vocabulary_sizes=[3]).fit(numbers, observed, two_classes)
    assert list(model.steps_[-1][3]) == [0, 1]
    model.refit(numbers, observed, codes)
    assert list(model.steps_[-1][3]) == [0, 1, 2]
    _, probabilities = model.predict(numbers, observed, np.zeros_like(codes))
    assert (probabilities.argmax(axis=1) == label).mean() > 0.9


def test_predicting_no_rows_gives_empty_predictions() -> None:
    numbers, codes, observed = _linear_table(100)
    model = ChainedRegressions(vocabulary_sizes=[3]).fit(numbers, observed, codes)
    values, probabilities = model.predict(numbers[:0], observed[:0], codes[:0])
    assert values.shape == (0, 3)
    assert probabilities.shape == (0, 3)
