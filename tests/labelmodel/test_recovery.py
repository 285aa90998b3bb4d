"""Learned accuracies match the truth on conditionally independent synthetic sources."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

import gristmill.labelmodel._dawid_skene as dawid_skene
from gristmill.labelmodel import (
    DawidSkene,
    LabelModel,
    MatrixCompletion,
    Triplet,
    WeightedMajorityVote,
)
from gristmill.labelmodel._votes import to_votes

ACCURACIES = np.array([0.9, 0.8, 0.75, 0.7, 0.65, 0.85, 0.6, 0.78])


@pytest.mark.parametrize(
    "model", [DawidSkene(), MatrixCompletion(), Triplet(), LabelModel()], ids=repr
)
def test_recovers_known_binary_accuracies_at_100k(model, synth) -> None:
    votes, gold, truth = synth(100_000, ACCURACIES, coverage=np.linspace(0.3, 0.9, 8), seed=21)
    model.fit(votes)
    np.testing.assert_allclose(model.lf_accuracies_, truth, atol=0.02)
    np.testing.assert_allclose(model.class_balance_, [0.5, 0.5], atol=0.02)
    assert model.score(votes, gold) > 0.85


@pytest.mark.parametrize("model", [DawidSkene(), Triplet(), LabelModel()], ids=repr)
def test_multiclass_imbalance_does_not_collapse(model, synth) -> None:
    balance = np.array([0.6, 0.25, 0.1, 0.05])
    votes, gold, truth = synth(100_000, ACCURACIES, k=4, balance=balance, seed=22)
    model.fit(votes)
    if isinstance(model, DawidSkene):
        np.testing.assert_allclose(model.lf_accuracies_, truth, atol=0.02)
        np.testing.assert_allclose(model.class_balance_, balance, atol=0.02)
    predicted = model.predict(votes, tie_break="prior")
    for c in range(4):  # no collapse to the majority class: every class keeps good recall
        assert np.mean(predicted[gold == c] == c) > 0.6


def test_class_balance_given_is_kept(synth) -> None:
    votes, _, _ = synth(5000, ACCURACIES, seed=23)
    for model in (DawidSkene(), MatrixCompletion(), Triplet(), LabelModel()):
        model.fit(votes, class_balance=[0.3, 0.7])
        np.testing.assert_allclose(model.class_balance_, [0.3, 0.7])


def test_crowdsourcing_sparse_many_workers() -> None:
    rng = np.random.default_rng(24)
    n, m, k = 8_000, 250, 3
    gold = rng.integers(0, k, n)
    accuracy = rng.uniform(0.45, 0.95, m)
    per_row = rng.integers(3, 11, n)
    rows = np.repeat(np.arange(n), per_row)
    workers = np.concatenate([rng.choice(m, size=c, replace=False) for c in per_row])
    right = rng.random(rows.size) < accuracy[workers]
    labels = np.where(right, gold[rows], (gold[rows] + rng.integers(1, k, rows.size)) % k)
    matrix = sp.csr_matrix((labels + 1, (rows, workers)), shape=(n, m))
    mv_accuracy = None
    for model in (DawidSkene(), LabelModel(), WeightedMajorityVote()):
        model.fit(matrix)
        score = model.score(matrix, gold)
        if isinstance(model, DawidSkene):
            assert np.abs(model.lf_accuracies_ - accuracy).mean() < 0.03
            mv_accuracy = score
        assert score > 0.85
    assert mv_accuracy is not None and mv_accuracy > 0.93


@pytest.mark.slow
def test_fifty_classes(synth) -> None:
    votes, gold, truth = synth(20_000, np.full(6, 0.7), k=50, seed=25)
    for model in (DawidSkene(), LabelModel(), Triplet()):
        model.fit(votes)
        assert model.predict_proba(votes).shape == (20_000, 50)
        assert model.score(votes, gold) > 0.8
    # 50 x 50 confusion cells per source: the Dirichlet smoothing pulls accuracies down a little.
    estimated = DawidSkene().fit(votes).lf_accuracies_
    assert np.all((estimated > 0.6) & (estimated <= truth + 0.02))


@pytest.mark.parametrize("k", [2, 3])
def test_em_warm_start_on_a_pattern_sample_reaches_the_full_data_optimum(
    synth, monkeypatch, k: int
) -> None:
    # Many distinct patterns, so the warm start fits a real sample (not every row).
    accuracies = np.linspace(0.55, 0.9, 14)
    votes, gold, _ = synth(60_000, accuracies, k=k, coverage=0.5, seed=21)
    monkeypatch.setattr(dawid_skene, "PATTERN_SAMPLE", 5_000)
    warm = DawidSkene().fit(votes)  # 60,000 rows > 4 x 5,000: warm start
    monkeypatch.setattr(dawid_skene, "_WARM_START_FACTOR", 1_000)
    cold = DawidSkene().fit(votes)
    assert warm.n_iter_ < cold.n_iter_
    # Both stop at the same log-likelihood tolerance; 1e-3 is a third of the standard error of
    # these estimates (about 30,000 votes per source).
    np.testing.assert_allclose(warm.confusion_, cold.confusion_, atol=1e-3)
    np.testing.assert_allclose(warm.class_balance_, cold.class_balance_, atol=1e-3)
    agree = np.mean(
        warm.predict(votes, tie_break="prior") == cold.predict(votes, tie_break="prior")
    )
    assert agree > 0.999


def test_em_stops_on_small_gains_or_on_aitken_extrapolation() -> None:
    converged, tol = dawid_skene._converged, 1e-6
    assert converged(5e-7, np.inf, tol)  # below tol
    assert not converged(5e-6, np.inf, tol)  # no earlier gain: no extrapolation
    assert converged(5e-6, 5e-4, tol)  # r = 0.01: about 5e-8 still to come
    assert not converged(5e-6, 6e-6, tol)  # r = 0.83: about 2.5e-5 still to come
    assert not converged(5e-5, 5e-1, tol)  # r tiny, but the gain is above 10 * tol
    assert not converged(5e-6, -5e-4, tol)  # the likelihood went down before: no rate


def test_extrapolated_stop_waits_for_slow_convergence(synth, monkeypatch) -> None:
    votes, _, truth = synth(100_000, ACCURACIES, coverage=0.5, seed=3)
    limit = DawidSkene(tol=0.0, max_iter=300).fit(votes)  # runs to the iteration limit
    model = DawidSkene().fit(votes)
    monkeypatch.setattr(dawid_skene, "_AITKEN_MARGIN", 0.0)  # the plain rule alone
    plain = DawidSkene().fit(votes)
    # EM converges slowly here (each gain ~0.4 of the one before): no early stop.
    assert model.converged_ and model.n_iter_ == plain.n_iter_ < limit.n_iter_
    # Stopped within a small fraction of the standard error (~0.0013 at 50,000 votes).
    np.testing.assert_allclose(model.lf_accuracies_, limit.lf_accuracies_, atol=1e-3)
    np.testing.assert_allclose(model.lf_accuracies_, truth, atol=0.02)


def test_warm_started_fit_of_weighted_patterns_equals_the_expanded_fit(synth, monkeypatch) -> None:
    votes, _, _ = synth(30_000, ACCURACIES[:5], coverage=0.5, seed=12)
    patterns, counts = np.unique(votes, axis=0, return_counts=True)
    monkeypatch.setattr(dawid_skene, "PATTERN_SAMPLE", 100)  # both forms warm-start
    expanded = DawidSkene().fit(votes)
    weighted = DawidSkene().fit(patterns, sample_weight=counts)
    assert expanded.n_iter_ == weighted.n_iter_
    np.testing.assert_allclose(weighted.confusion_, expanded.confusion_, atol=1e-9)
    np.testing.assert_allclose(weighted.class_balance_, expanded.class_balance_, atol=1e-9)


def test_matrix_completion_confusion_rows_sum_to_one_for_one_class_sources() -> None:
    """A class the fit says a source never votes on gets a distribution, not a row of zeros.

    Two near-copies of a weak keyword LF (its votes on 90% of rows) pull the three LFs'
    propensity on class 0 to the bound 0; a row of zeros there would tell LabelModel's mixture
    criterion that their votes rule class 0 out, and it would pick a blend on that alone.
    """
    rng = np.random.default_rng(0)
    n = 4000
    gold = rng.integers(0, 2, n)
    votes = np.full((n, 9), -1)
    for j in range(6):  # independent keyword LFs, three per class
        target = j % 2
        votes[rng.random(n) < np.where(gold == target, 0.3, 0.05), j] = target
    votes[rng.random(n) < np.where(gold == 1, 0.3, 0.15), 6] = 1
    for j in (7, 8):
        own = rng.random(n) < np.where(gold == 1, 0.3, 0.15)
        votes[:, j] = np.where(rng.random(n) < 0.9, votes[:, 6], np.where(own, 1, -1))
    model = MatrixCompletion().fit(votes)
    np.testing.assert_allclose(model.confusion_.sum(axis=2), 1.0)
    assert float(LabelModel().fit(votes).mixture_) == 0.5


@pytest.mark.parametrize("k", [2, 3])
def test_bounded_gain_brackets_each_em_step_of_the_log_posterior(synth, k: int) -> None:
    votes_array, _, _ = synth(20_000, np.linspace(0.55, 0.85, 8), k=k, coverage=0.5, seed=5)
    votes = to_votes(votes_array, k)
    totals, n, smoothing = votes.source_class_counts(), votes.total_weight, 1.0
    pseudo = smoothing * (1.0 + (k - 1) * np.eye(k))

    def log_prior(result: dawid_skene.EMResult) -> float:
        return float(np.sum(pseudo.T[None] * result.weights) + smoothing * result.bias.sum())

    rest = votes.vote_shares(np.full(k, 1.0 / k), first_class=1)
    fitted, previous = None, 0.0
    for _ in range(10):
        counts = dawid_skene._expected_counts(votes, rest, totals)
        rest_totals = votes.row_total(rest)
        class_totals = np.concatenate([[n - rest_totals.sum()], rest_totals])
        balance = dawid_skene._estimate_balance(class_totals, smoothing)
        result = dawid_skene._m_step(counts.transpose(0, 2, 1), balance, pseudo)
        rest, log_likelihood = dawid_skene._e_step(votes, result.weights, result.bias, totals)
        if fitted is not None:
            bound = dawid_skene._bounded_gain(
                fitted, result, counts, class_totals, pseudo, smoothing
            )
            gain = log_likelihood - previous + log_prior(result) - log_prior(fitted)
            assert bound / 2 <= gain <= bound  # at least Q's gain (EM); at most (1 + r) times it
        fitted, previous = result, log_likelihood


def test_em_stops_on_the_bounded_gain_without_a_last_e_step(synth, monkeypatch) -> None:
    votes, _, _ = synth(20_000, np.linspace(0.55, 0.85, 8), coverage=0.5, seed=5)
    e_steps = []
    measure = dawid_skene._e_step

    def counting(*args):
        e_steps.append(1)
        return measure(*args)

    monkeypatch.setattr(dawid_skene, "_e_step", counting)
    model = DawidSkene().fit(votes)
    assert model.converged_
    assert len(e_steps) == model.n_iter_ - 1  # the last M-step's gain was bounded, not measured
