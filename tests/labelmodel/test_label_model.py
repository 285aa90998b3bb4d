"""LabelModel's reported LF accuracies: what its own posteriors imply."""

from __future__ import annotations

import numpy as np

from gristmill.labelmodel import DawidSkene, LabelModel, MatrixCompletion

from .conftest import make_keyword_votes

# (class voted, firing rate on class 0, firing rate on class 1) of keyword-style LFs.
KEYWORDS = [
    (1, 0.02, 0.3),
    (1, 0.05, 0.25),
    (1, 0.03, 0.15),
    (1, 0.1, 0.3),
    (0, 0.2, 0.04),
    (0, 0.15, 0.05),
    (0, 0.3, 0.1),
    (0, 0.1, 0.01),
]


def _keyword_votes(n: int, prior: list[float], seed: int) -> tuple[np.ndarray, np.ndarray]:
    return make_keyword_votes(n, prior, KEYWORDS, seed)


def _gold_accuracies(votes: np.ndarray, gold: np.ndarray) -> np.ndarray:
    return np.array(
        [
            np.mean(votes[votes[:, j] >= 0, j] == gold[votes[:, j] >= 0])
            for j in range(votes.shape[1])
        ]
    )


def test_lf_accuracies_are_what_the_posteriors_imply() -> None:
    votes, gold = _keyword_votes(4000, [0.8, 0.2], seed=0)
    model = LabelModel().fit(votes)
    assert model.learner_ == "matrix_completion" and float(model.mixture_) > 0
    proba = model.predict_proba(votes)
    implied = [np.mean(proba[votes[:, j] >= 0, votes[votes[:, j] >= 0, j]]) for j in range(8)]
    np.testing.assert_allclose(model.lf_accuracies_, implied, atol=1e-9)
    # Matrix completion's own estimates, from confusion matrices that one-class LFs identify
    # weakly, are further from the accuracies on the gold labels here.
    truth = _gold_accuracies(votes, gold)
    learned = MatrixCompletion().fit(votes).lf_accuracies_
    assert np.abs(model.lf_accuracies_ - truth).mean() < np.abs(learned - truth).mean()


def test_dawid_skene_alone_keeps_its_own_accuracies(synth) -> None:
    votes, _, _ = synth(20_000, [0.85, 0.75, 0.7, 0.65, 0.8], k=3, seed=3)
    model = LabelModel().fit(votes)
    assert model.learner_ == "dawid_skene" and float(model.mixture_) == 0.0
    np.testing.assert_allclose(model.lf_accuracies_, DawidSkene().fit(votes).lf_accuracies_)


def test_silent_lf_has_no_accuracy() -> None:
    votes, _ = _keyword_votes(3000, [0.5, 0.5], seed=1)
    votes[:, 2] = -1
    accuracies = LabelModel().fit(votes).lf_accuracies_
    assert np.isnan(accuracies[2]) and np.all(np.isfinite(np.delete(accuracies, 2)))
