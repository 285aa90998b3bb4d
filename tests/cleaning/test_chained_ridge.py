"""Chained ridge regressions, the linear partner of the attention imputer."""

from __future__ import annotations

import numpy as np

from gristmill.cleaning._chained_ridge import ChainedRidge


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
    model = ChainedRidge().fit(np.where(observed, numbers, 0.0), observed, codes)
    predicted = model.predict(np.where(observed, numbers, 0.0), observed, codes)
    # Rows missing one cell are exact; rows missing two of the three related cells cannot be.
    single = ~observed & ((~observed).sum(axis=1) == 1)[:, None]
    assert single.sum() > 50
    assert np.abs(predicted[single] - numbers[single]).max() < 0.05
    again = ChainedRidge.from_json(model.to_json())
    np.testing.assert_allclose(
        again.predict(numbers, observed, codes), model.predict(numbers, observed, codes)
    )


def test_a_cell_does_not_predict_itself() -> None:
    numbers, codes, observed = _linear_table(200, seed=1)
    model = ChainedRidge().fit(numbers, np.ones_like(observed), codes)
    changed = numbers.copy()
    changed[0, 1] += 100.0  # the observed y of row 0 is wildly wrong
    predicted = model.predict(changed, np.ones_like(observed), codes)
    assert abs(predicted[0, 1] - numbers[0, 1]) < 0.05
