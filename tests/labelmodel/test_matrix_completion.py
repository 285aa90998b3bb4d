"""MatrixCompletion fits only the (source, vote) pairs that occur, and on many of them never
holds their dense co-votes."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp

from gristmill.labelmodel import MajorityVote, MatrixCompletion
from gristmill.labelmodel import _matrix_completion as matrix_completion
from gristmill.labelmodel._matrix_completion import (
    _dense_term,
    _initial_mu,
    _solve_mu,
    _sparse_term,
)
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
    source = np.arange(m * k) // k
    whole = _solve_mu(_dense_term(co_votes, source), rates, balance, start, start, 0.01, 50)
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
    source = np.arange(m * k) // k
    for target in (co_votes, np.where(mask, co_votes, 0.0)):  # with or without own co-votes
        term = _dense_term(target.copy(), source)
        found = _solve_mu(term, rates, balance, start, start, 0.01, 50)
        np.testing.assert_array_equal(found, expected)


def _co_votes_of_voted_pairs(values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Dense co-vote rates of the (source, vote) pairs that occur, and the source of each."""
    votes = to_votes(values, k)
    voted = np.flatnonzero(votes.source_class_counts().ravel() > 0)
    return votes.co_votes(voted) / values.shape[0], voted // k


def test_the_sparse_term_equals_the_dense_one() -> None:
    values, _ = _one_class_votes(3_000, 12, 3, seed=5)
    values[::3, 1] = (values[::3, 1] + 1) % 3  # sources voting several classes too
    values[::5, 7] = (values[::5, 7] + 2) % 3
    co_votes, source = _co_votes_of_voted_pairs(values, 3)
    dense = _dense_term(co_votes.copy(), source)
    sparse = _sparse_term(sp.csr_matrix(co_votes), source)
    rng = np.random.default_rng(0)
    for _ in range(3):
        mu = rng.random((source.size, 3)) * 0.5
        scaled = mu * rng.dirichlet(np.ones(3))[None, :]
        (dense_value, dense_product), (value, product) = dense(mu, scaled), sparse(mu, scaled)
        np.testing.assert_allclose(value, dense_value, rtol=1e-12)
        np.testing.assert_allclose(product, dense_product, rtol=1e-12, atol=1e-15)


def test_a_fit_on_the_sparse_term_equals_the_dense_fit(monkeypatch) -> None:
    values, _ = _one_class_votes(4_000, 30, 4, seed=2)
    values[::4, :10] = (values[::4, :10] + 1) % 4
    dense, sparse = MatrixCompletion(), MatrixCompletion()
    dense.fit(values)
    monkeypatch.setattr(matrix_completion, "_DENSE_MAX_PAIRS", 0)
    sparse.fit(values)
    np.testing.assert_allclose(sparse.mu_, dense.mu_, atol=1e-8)
    np.testing.assert_allclose(sparse.class_balance_, dense.class_balance_, atol=1e-8)
    np.testing.assert_allclose(sparse.predict_proba(values), dense.predict_proba(values), atol=1e-6)


@pytest.mark.parametrize("k", [2, 4])
def test_thousands_of_workers_fit_without_dense_pair_arrays(k: int) -> None:
    # 1,200 crowd workers on tasks of 20 rows, 5 workers each: the dense co-votes of their
    # d = 1,200 k (worker, class) pairs and the residual took 100 MB (k = 2) and 400 MB
    # (k = 4); at 5,000 workers over 5 classes, two arrays of 4.7 GB.
    rng = np.random.default_rng(0)
    n, workers = 24_000, 1_200
    gold = rng.integers(0, k, n)
    chosen = np.array([rng.choice(workers, 5, replace=False) for _ in range(n // 20)])
    rows, worker = np.repeat(np.arange(n), 5), chosen[np.arange(n) // 20].ravel()
    right = rng.random(rows.size) < rng.uniform(0.55, 0.95, workers)[worker]
    labels = np.where(right, gold[rows], (gold[rows] + 1) % k)
    votes = sp.csr_matrix((labels + 1, (rows, worker)), shape=(n, workers))
    model = MatrixCompletion()
    tracemalloc.start()
    try:
        model.fit(votes)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40_000_000
    assert model.mu_.shape == (workers * k, k)
    # Each worker votes on about 100 rows in 24,000: the fitted P(vote) matches its coverage.
    coverage = votes.getnnz(axis=0) / n
    propensity = model.mu_.reshape(workers, k, k).sum(axis=1) @ model.class_balance_
    np.testing.assert_allclose(propensity, coverage, rtol=0.05)
