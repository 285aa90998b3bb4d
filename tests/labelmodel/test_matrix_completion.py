"""MatrixCompletion fits only the (source, vote) pairs that occur."""

from __future__ import annotations

import numpy as np

from gristmill.labelmodel import MajorityVote, MatrixCompletion
from gristmill.labelmodel._matrix_completion import _initial_mu, _solve_mu
from gristmill.labelmodel._votes import to_votes


def _one_class_votes(n: int, m: int, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Keyword-like sources: source j votes class j % k only, more often on rows of that class.

    Returns the votes and the classes of the rows.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    values = np.full((n, m), -1)
    for j in range(m):
        fires = rng.random(n) < np.where(y == j % k, 0.4, 0.05)
        values[fires, j] = j % k
    return values, y


def test_one_class_sources_give_the_solution_of_the_whole_problem() -> None:
    m, k = 8, 4
    values, _ = _one_class_votes(4_000, m, k, seed=3)
    balance = np.full(k, 1.0 / k)
    model = MatrixCompletion(cardinality=k).fit(values, class_balance=balance)
    # The whole (m k) x (m k) problem, as MeTaL states it: pairs that never occur included.
    votes = to_votes(values, k)
    co_votes = votes.co_votes() / values.shape[0]
    rates = np.diag(co_votes).copy()
    start = _initial_mu(rates, balance, m, k, 0.7)
    mask = ~np.kron(np.eye(m), np.ones((k, k))).astype(bool)
    whole = _solve_mu(co_votes, rates, mask, balance, start, start, 0.01, 50)
    np.testing.assert_allclose(model.mu_, whole, atol=1e-9)
    never = np.ones((m, k), dtype=bool)
    never[np.arange(m), np.arange(m) % k] = False
    assert not model.mu_[never.ravel()].any()


def test_many_classes_of_one_class_sources_are_told_apart() -> None:
    values, y = _one_class_votes(3_000, 120, 30, seed=1)
    model = MatrixCompletion().fit(values)
    assert model.mu_.shape == (120 * 30, 30)
    covered = (values >= 0).any(axis=1)
    accuracy = np.mean(model.predict(values[covered]) == y[covered])
    vote = np.mean(MajorityVote().fit(values).predict(values[covered]) == y[covered])
    assert accuracy > vote + 0.05 and vote > 0.3  # chance: 1 in 30
