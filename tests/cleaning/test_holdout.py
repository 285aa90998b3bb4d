"""Held-out cells that mimic where cells are missing."""

from __future__ import annotations

import numpy as np

from gristmill.cleaning._holdout import MAX_PROBABILITY, driver_bins, held_out_probabilities


def _table(n: int = 2000, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    numbers = rng.normal(size=(n, 3))
    codes = rng.integers(2, 5, size=(n, 1))  # one categorical column, three values
    return codes, numbers, np.ones(numbers.shape, dtype=bool)


def test_missing_at_random_keeps_uniform_held_out_cells() -> None:
    codes, numbers, observed = _table()
    rng = np.random.default_rng(1)
    observed &= rng.random(observed.shape) >= 0.2
    codes[rng.random(len(codes)) < 0.2, 0] = 0
    missing = np.hstack([codes == 0, ~observed])
    chance = held_out_probabilities(missing, driver_bins(codes, numbers, observed), 0.1)
    np.testing.assert_array_equal(chance, 0.1)


def test_systematic_missingness_moves_held_out_cells_to_where_cells_are_missing() -> None:
    codes, numbers, observed = _table()
    rng = np.random.default_rng(2)
    # Column 2 (numeric) is missing where column 0 (numeric) is in its top 40 %, half of the
    # time (the region is two of the five bins of column 0).
    region = numbers[:, 0] > np.quantile(numbers[:, 0], 0.6)
    observed[:, 2] = ~(region & (rng.random(len(region)) < 0.5))
    # The categorical column is missing where it holds its first value: nothing else
    # explains that, so it stays uniform.
    codes[(codes[:, 0] == 2) & (rng.random(len(codes)) < 0.3), 0] = 0
    missing = np.hstack([codes == 0, ~observed])
    bins = driver_bins(codes, numbers, observed)
    assert bins.shape == missing.shape and bins.min() == 0
    chance = held_out_probabilities(missing, bins, 0.1)
    seen = observed[:, 2]
    inside, outside = chance[seen & region, 3], chance[seen & ~region, 3]
    assert inside.min() > 5 * outside.max()
    assert chance[:, 3].max() <= MAX_PROBABILITY
    # On average over the observed cells, about the requested fraction (less where capped).
    assert 0.05 < chance[seen, 3].mean() <= 0.1 + 1e-9
    np.testing.assert_array_equal(chance[:, [0, 1, 2]], 0.1)
