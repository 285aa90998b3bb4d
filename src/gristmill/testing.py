"""Conformance checks anyone can run on a plug-in (like scikit-learn's ``check_estimator``)."""

from __future__ import annotations

import tempfile
from typing import Any

import numpy as np
import scipy.sparse as sp

from gristmill.exceptions import NotFittedError

__all__ = ["check_label_model"]


def _synthetic_votes(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n, m, k = 600, 6, 3
    gold = rng.integers(0, k, n)
    accuracy = np.linspace(0.6, 0.9, m)
    right = rng.random((n, m)) < accuracy
    wrong = (gold[:, None] + rng.integers(1, k, (n, m))) % k
    votes = np.where(right, gold[:, None], wrong)
    votes[rng.random((n, m)) < 0.3] = -1
    votes[:5] = -1  # rows without any vote
    return votes, gold


def check_label_model(model: Any) -> None:
    """Check that ``model`` honours the gristmill label-model contract.

    Fits clones of ``model`` on a small synthetic label matrix and checks: using it before
    ``fit`` raises :class:`~gristmill.NotFittedError`; ``fit`` returns the model; the fitted
    attributes ``cardinality_``, ``class_balance_`` (k,) and ``lf_accuracies_`` (m,) exist;
    ``predict_proba`` returns rows that sum to 1; ``predict`` returns classes (or -1 with
    ``tie_break="abstain"``); fitting twice with one seed gives identical results; dense and
    sparse inputs agree; the global NumPy random state is untouched; and ``save`` / ``load``
    reproduce the predictions.

    Raises
    ------
    AssertionError
        Naming the first broken promise.
    """
    votes, _ = _synthetic_votes()
    n, m = votes.shape
    k = 3
    fresh = type(model)(**model.get_params())
    try:
        fresh.predict_proba(votes)
    except NotFittedError:
        pass
    else:
        raise AssertionError(
            f"{type(model).__name__}.predict_proba before fit must raise NotFittedError"
        )

    # The legacy global generator is what careless code reseeds; check it is left alone.
    state: Any = np.random.get_state()  # noqa: NPY002
    fitted = type(model)(**model.get_params())
    returned = fitted.fit(votes, seed=3)
    assert returned is fitted, "fit must return self"
    after: Any = np.random.get_state()  # noqa: NPY002
    assert state[0] == after[0] and np.array_equal(state[1], after[1]) and state[2:] == after[2:], (
        "fit must not touch the global NumPy random state"
    )
    assert fitted.cardinality_ == k, f"cardinality_ should be {k}, got {fitted.cardinality_}"
    assert np.shape(fitted.class_balance_) == (k,), "class_balance_ must have shape (k,)"
    assert np.isclose(np.sum(fitted.class_balance_), 1.0), "class_balance_ must sum to 1"
    assert np.shape(fitted.lf_accuracies_) == (m,), "lf_accuracies_ must have shape (m,)"

    proba = fitted.predict_proba(votes)
    assert proba.shape == (n, k), f"predict_proba must return shape {(n, k)}, got {proba.shape}"
    assert np.all(proba >= 0) and np.allclose(proba.sum(axis=1), 1.0), "probabilities must sum to 1"
    predicted = fitted.predict(votes, tie_break="prior")
    assert predicted.shape == (n,) and set(np.unique(predicted)) <= set(range(k)), (
        "predict(tie_break='prior') must return one class per row"
    )
    abstained = fitted.predict(votes, tie_break="abstain")
    assert set(np.unique(abstained)) <= set(range(-1, k)), "predict may only return classes or -1"

    again = type(model)(**model.get_params()).fit(votes, seed=3)
    assert np.array_equal(again.predict_proba(votes), proba), "fit must be deterministic for a seed"

    sparse = sp.csr_matrix(votes + 1)
    from_sparse = type(model)(**model.get_params()).fit(sparse, seed=3).predict_proba(sparse)
    assert np.allclose(from_sparse, proba, atol=1e-8), "sparse and dense inputs must agree"

    with tempfile.TemporaryDirectory() as directory:
        fitted.save(directory)
        loaded = type(model).load(directory)
    assert np.allclose(loaded.predict_proba(votes), proba), "save/load must reproduce predict_proba"
