"""Held-out cells that look like the missing ones (AimNet's point on systematic missingness).

An imputer's early stopping and blend weights are chosen on observed cells hidden from training.
When a column is missing at random those can be drawn uniformly; when it is missing where another
column lies in some range or category (systematic missingness), uniform held-out cells measure
the model where the column is usually observed, not where it must be imputed. Here each column's
chance to be missing is estimated from the one other column that explains it best (its values
cut into a few bins), and observed cells are held out with probability proportional to the odds
of being missing, ``p / (1 - p)``: the importance weight that turns the distribution of observed
rows into that of missing rows (under missingness that depends on the other columns, Rubin's
MAR). A column whose missingness no other column explains (a chi-square test over the bins,
which MCAR passes) keeps uniform held-out cells.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import chi2

#: Bins per driver column: quantile bins of a numeric one, most frequent values of a categorical
#: one (the rest share a bin); missing cells get a bin of their own.
N_BINS = 5
#: A driver must explain the missingness at this significance level (over all candidate drivers).
_SIGNIFICANCE = 1e-3
#: Pseudo-rows of the column's overall missing rate added to every bin (smoothing).
_PRIOR_ROWS = 10
#: No cell is held out with a higher probability, so the model still trains where cells are held.
MAX_PROBABILITY = 0.3


def driver_bins(codes: np.ndarray, numbers: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """(n, n_columns) bin of every cell, categorical columns first: 0 for a missing cell.

    Parameters
    ----------
    codes : numpy.ndarray
        (n, n_categorical) codes, 0 missing, ``2 + k`` the k-th most frequent value.
    numbers, observed : numpy.ndarray
        (n, n_numeric) standardised values and the mask of observed cells.
    """
    categorical = np.clip(codes - 1, 0, N_BINS)  # missing 0, unknown and rarer values N_BINS
    numeric = np.zeros(numbers.shape, dtype=np.int64)
    for k in range(numbers.shape[1]):
        seen = observed[:, k]
        if seen.any():
            edges = np.quantile(numbers[seen, k], np.linspace(0, 1, N_BINS + 1)[1:-1])
            numeric[seen, k] = 1 + np.searchsorted(edges, numbers[seen, k], side="right")
    return np.hstack([categorical, numeric]).astype(np.int64)


def held_out_probabilities(missing: np.ndarray, bins: np.ndarray, fraction: float) -> np.ndarray:
    """Probability that each observed cell is held out, mimicking where cells are missing.

    Parameters
    ----------
    missing : numpy.ndarray
        (n, n_columns) bool, the cells missing in the table.
    bins : numpy.ndarray
        (n, n_columns) bins of :func:`driver_bins`, in the same column order.
    fraction : float
        Mean probability over a column's observed cells (as with uniform held-out cells);
        per cell capped at :data:`MAX_PROBABILITY`.

    Returns
    -------
    numpy.ndarray
        (n, n_columns) float; ``fraction`` everywhere for a column without an explaining driver.
    """
    n, n_columns = missing.shape
    out = np.full((n, n_columns), float(fraction))
    n_bins = N_BINS + 1
    rows_per_bin = np.zeros((n_columns, n_bins))
    # missing_per_bin[d, b, c]: cells of column c missing among the rows in bin b of driver d.
    missing_per_bin = np.zeros((n_columns, n_bins, n_columns))
    as_float = missing.astype(np.float32)
    for d in range(n_columns):
        one_hot = np.eye(n_bins, dtype=np.float32)[bins[:, d]]
        rows_per_bin[d] = one_hot.sum(axis=0)
        missing_per_bin[d] = one_hot.T @ as_float
    rate = missing.mean(axis=0)
    threshold = chi2.ppf(1 - _SIGNIFICANCE / max(n_columns - 1, 1), n_bins - 1)
    for c in range(n_columns):
        if not 0 < rate[c] < 1:
            continue
        expected = rows_per_bin * rate[c]
        statistic = ((missing_per_bin[:, :, c] - expected) ** 2 / np.maximum(expected, 1e-9)).sum(
            axis=1
        ) / (1 - rate[c])
        statistic[c] = 0.0  # a column cannot explain itself
        driver = int(np.argmax(statistic))
        if statistic[driver] < threshold:
            continue
        smoothed = (missing_per_bin[driver, :, c] + _PRIOR_ROWS * rate[c]) / (
            rows_per_bin[driver] + _PRIOR_ROWS
        )
        odds = (smoothed / (1 - smoothed))[bins[:, driver]]
        seen = ~missing[:, c]
        out[:, c] = np.minimum(fraction * odds / odds[seen].mean(), MAX_PROBABILITY)
    return out
