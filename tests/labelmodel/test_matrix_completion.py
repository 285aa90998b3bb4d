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


def _solve_with_fresh_arrays(co_votes, rates, mask, balance, start, mu_init, l2, max_iter):
    """_solve_mu's objective as MeTaL writes it, every (d, d) term a fresh array."""
    from scipy.optimize import minimize

    target = np.where(mask, co_votes, 0.0)

    def objective(flat):
        mu = flat.reshape(start.shape)
        scaled = mu * balance[None, :]
        residual = np.where(mask, scaled @ mu.T, 0.0) - target
        marginal = scaled.sum(axis=1) - rates
        drift = mu - mu_init
        value = float(np.sum(residual**2) + np.sum(marginal**2) + l2 * np.sum(drift**2))
        gradient = 4.0 * (residual @ mu) * balance[None, :]
        gradient += 2.0 * marginal[:, None] * balance[None, :]
        gradient += 2.0 * l2 * drift
        return value, gradient.ravel()

    options = {"maxiter": max_iter, "ftol": 1e-15, "gtol": 1e-12}
    bounds = [(0.0, 1.0)] * start.size
    found = minimize(
        objective, start.ravel(), jac=True, method="L-BFGS-B", bounds=bounds, options=options
    )
    return found.x.reshape(start.shape)


def test_objective_on_one_work_array_gives_the_same_solution() -> None:
    # The (d, d) residual is computed in place (a 5,000-worker fit: 45 s and 3.2 GB before).
    values, _ = _one_class_votes(3_000, 12, 3, seed=5)
    values[::3, 1] = (values[::3, 1] + 1) % 3  # sources voting several classes too
    m, k = 12, 3
    votes = to_votes(values, k)
    co_votes = votes.co_votes() / values.shape[0]
    rates = np.diag(co_votes).copy()
    balance = np.array([0.5, 0.3, 0.2])
    start = _initial_mu(rates, balance, m, k, 0.7)
    mask = ~np.kron(np.eye(m), np.ones((k, k))).astype(bool)
    expected = _solve_with_fresh_arrays(co_votes, rates, mask, balance, start, start, 0.01, 50)
    for target in (co_votes, np.where(mask, co_votes, 0.0)):  # with or without own co-votes
        found = _solve_mu(target, rates, mask, balance, start, start, 0.01, 50)
        np.testing.assert_array_equal(found, expected)
