"""Rows without votes: P(y | no source fires) instead of the class balance."""

from __future__ import annotations

import json
import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp

from gristmill.exceptions import IdentifiabilityWarning
from gristmill.labelmodel import LabelModel, load_label_model
from gristmill.labelmodel import _uncovered as uncovered
from gristmill.labelmodel._uncovered import uncovered_balance
from gristmill.labelmodel._votes import to_votes

from .conftest import make_keyword_votes

# Keyword LFs: rows (target class, firing rate on class 0, firing rate on class 1). The class-1
# LFs fire often, the class-0 LFs rarely, so most rows without votes are of class 0.
KEYWORD_LFS = [(1, 0.05, 0.4)] * 6 + [(0, 0.1, 0.02)] * 6


def _keyword_votes(n: int, prior: list[float], seed: int) -> tuple[np.ndarray, np.ndarray]:
    return make_keyword_votes(n, prior, KEYWORD_LFS, seed)


def _true_uncovered(prior: list[float]) -> np.ndarray:
    """P(y | no LF fires) under the process above."""
    rates = np.array([[r0, r1] for _, r0, r1 in KEYWORD_LFS])
    joint = np.array(prior) * np.prod(1 - rates, axis=0)
    return joint / joint.sum()


def test_rows_without_votes_lean_to_the_class_whose_lfs_fire_least() -> None:
    votes, gold = _keyword_votes(40_000, [0.5, 0.5], seed=0)
    model = LabelModel().fit(votes)
    uncovered = ~(votes >= 0).any(axis=1)
    proba = model.predict_proba(votes[uncovered])
    np.testing.assert_allclose(proba, np.tile(model.uncovered_balance_, (uncovered.sum(), 1)))
    # The truth is about [0.90, 0.10]; the class balance estimated with keyword LFs leans to
    # class 1 (whose LFs fire more) and would call every such row wrong.
    assert model.uncovered_balance_[0] > 0.7 > model.class_balance_[0]
    assert np.mean(model.predict(votes[uncovered]) == gold[uncovered]) > 0.85


def test_a_known_class_balance_fixes_the_class_masses() -> None:
    votes, _ = _keyword_votes(40_000, [0.7, 0.3], seed=1)
    model = LabelModel().fit(votes, class_balance=[0.7, 0.3])
    np.testing.assert_array_equal(model.class_balance_, [0.7, 0.3])
    truth = _true_uncovered([0.7, 0.3])  # about [0.96, 0.04]
    assert abs(model.uncovered_balance_[0] - truth[0]) < abs(0.7 - truth[0]) / 4


def test_estimated_without_a_single_row_without_votes() -> None:
    # Only the firing rates of the rows with votes: the shares are extrapolated from them.
    votes, _ = _keyword_votes(40_000, [0.5, 0.5], seed=2)
    covered = votes[(votes >= 0).any(axis=1)]
    model = LabelModel().fit(covered)
    assert model.uncovered_balance_[0] > model.class_balance_[0] + 0.2


def test_em_recovers_the_classes_of_rows_without_votes_from_exact_posteriors() -> None:
    votes, gold = _keyword_votes(60_000, [0.4, 0.6], seed=3)
    posteriors = np.eye(2)[gold]  # exact on the rows with votes; unused on the others
    fitted = to_votes(votes, 2)
    shares = uncovered_balance(fitted, fitted, posteriors, np.array([0.5, 0.5]))
    uncovered = ~(votes >= 0).any(axis=1)
    observed = np.bincount(gold[uncovered], minlength=2) / uncovered.sum()
    np.testing.assert_allclose(shares, observed, atol=0.02)


def test_no_row_with_votes_keeps_the_start() -> None:
    fitted = to_votes(np.full((10, 3), -1), 2)
    start = np.array([0.3, 0.7])
    shares = uncovered_balance(fitted, fitted, np.full((10, 2), 0.5), start)
    np.testing.assert_array_equal(shares, start)


def test_weighted_distinct_rows_equal_the_expanded_rows() -> None:
    votes, _ = _keyword_votes(20_000, [0.5, 0.5], seed=4)
    distinct, counts = np.unique(votes, axis=0, return_counts=True)
    expanded = LabelModel().fit(votes)
    weighted = LabelModel().fit(distinct, sample_weight=counts)
    np.testing.assert_allclose(weighted.uncovered_balance_, expanded.uncovered_balance_, atol=1e-8)


def test_saved_and_loaded_and_older_saves_fall_back_to_the_class_balance(tmp_path) -> None:
    votes, _ = _keyword_votes(10_000, [0.5, 0.5], seed=5)
    model = LabelModel().fit(votes)
    path = model.save(tmp_path / "model")
    loaded = load_label_model(path)
    np.testing.assert_array_equal(loaded.uncovered_balance_, model.uncovered_balance_)
    none = np.full((1, votes.shape[1]), -1)
    np.testing.assert_allclose(loaded.predict_proba(none)[0], model.uncovered_balance_)
    meta_file = path / "label_model.json"
    meta = json.loads(meta_file.read_text())
    del meta["extra"]["uncovered_balance_"]
    meta_file.write_text(json.dumps(meta))
    older = load_label_model(path)
    np.testing.assert_allclose(older.predict_proba(none)[0], model.class_balance_)


def test_rules_that_split_the_rows_get_even_shares_or_the_known_balance() -> None:
    # Two rules for class 1 that never fire together (stars >= 4; stars == 3 with praise) and one
    # for class 0 (stars <= 2): nothing tells how many rows all three miss, and independent
    # firing would read the missing overlap as a huge class 1. Those rows are class 0.
    rng = np.random.default_rng(0)
    stars, praise = rng.integers(1, 6, 3000), rng.random(3000) < 0.3
    votes = np.full((3000, 3), -1)
    votes[stars >= 4, 0] = 1
    votes[stars <= 2, 1] = 0
    votes[(stars == 3) & praise, 2] = 1
    # The rules never vote on the same row: nothing identifies their accuracies either.
    with pytest.warns(IdentifiabilityWarning, match="only 0 of the 3 voting"):
        model = LabelModel().fit(votes)
    np.testing.assert_array_equal(model.uncovered_balance_, [0.5, 0.5])
    assert not np.array_equal(model.class_balance_, [0.5, 0.5])
    with pytest.warns(IdentifiabilityWarning):
        given = LabelModel().fit(votes, class_balance=[0.6, 0.4])
    np.testing.assert_allclose(given.uncovered_balance_, [0.6, 0.4])
    fitted = to_votes(votes, 2)
    posteriors = np.eye(2)[(stars >= 4).astype(int)]  # even from the true labels
    start = np.array([0.45, 0.55])
    np.testing.assert_array_equal(uncovered_balance(fitted, fitted, posteriors, start), [0.5, 0.5])


def test_exclusive_one_class_rules_of_many_classes_get_even_shares() -> None:
    # Question-word rules (trec-like): each fires on a part of its own class only and no two
    # fire together, so the co-firing says nothing about the unvoted rows. The estimated class
    # balance leans towards the classes the rules catch most, the classes least common among
    # the unvoted rows; even shares do not.
    rng = np.random.default_rng(3)
    n, k = 6000, 4
    gold = rng.integers(0, k, n)
    caught = [0.7, 0.6, 0.2, 0.1]  # share of each class its two rules catch between them
    votes = np.full((n, 2 * k), -1)
    draw = rng.random(n)
    for c in range(k):
        rows = gold == c
        votes[rows & (draw < caught[c] / 2), 2 * c] = c
        votes[rows & (draw >= caught[c] / 2) & (draw < caught[c]), 2 * c + 1] = c
    with pytest.warns(IdentifiabilityWarning, match="almost never vote on the same row"):
        model = LabelModel().fit(votes)
    np.testing.assert_array_equal(model.uncovered_balance_, np.full(k, 1 / k))
    unvoted = (votes < 0).all(axis=1)
    assert np.argmax(np.bincount(gold[unvoted])) == 3
    assert np.argmax(model.class_balance_) in (0, 1)


def test_dev_rows_without_votes_choose_between_the_estimate_and_the_class_balance() -> None:
    votes, _ = _keyword_votes(20_000, [0.5, 0.5], seed=6)
    dev_votes, dev_gold = _keyword_votes(400, [0.5, 0.5], seed=7)
    unvoted = ~(dev_votes >= 0).any(axis=1)
    estimated = LabelModel().fit(votes)
    assert np.argmax(estimated.uncovered_balance_) != np.argmax(estimated.class_balance_)
    # The dev rows without votes are mostly class 0, as the estimate says: it is kept.
    kept = LabelModel().fit(votes, L_dev=dev_votes, y_dev=dev_gold)
    assert np.mean(dev_gold[unvoted] == 0) > 0.8
    assert not np.array_equal(kept.uncovered_balance_, kept.class_balance_)
    assert np.argmax(kept.uncovered_balance_) == 0
    # Dev labels that say otherwise make those rows take the class balance.
    flipped = np.where(unvoted, 1, dev_gold)
    chosen = LabelModel().fit(votes, L_dev=dev_votes, y_dev=flipped)
    np.testing.assert_array_equal(chosen.uncovered_balance_, chosen.class_balance_)


def test_invariant_to_permuting_sources_and_relabeling_classes() -> None:
    votes, _ = _keyword_votes(20_000, [0.5, 0.5], seed=8)
    base = LabelModel().fit(votes)
    order = np.random.default_rng(0).permutation(votes.shape[1])
    permuted = LabelModel().fit(votes[:, order])
    np.testing.assert_allclose(permuted.uncovered_balance_, base.uncovered_balance_, atol=1e-6)
    swapped = LabelModel().fit(np.where(votes >= 0, 1 - votes, -1))
    np.testing.assert_allclose(swapped.uncovered_balance_[::-1], base.uncovered_balance_, atol=1e-4)


def _score_rules(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Rules on a hidden 1-5 score (5 and 4 vote high, never together; <= 2 votes low) plus
    three keyword LFs per class; the rows nothing votes on are mostly score 3, mostly low."""
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, 2, n)
    given_low, given_high = [0.3, 0.3, 0.3, 0.08, 0.02], [0.02, 0.08, 0.2, 0.3, 0.4]
    score = np.where(gold == 1, rng.choice(5, n, p=given_high), rng.choice(5, n, p=given_low)) + 1
    votes = np.full((n, 9), -1)
    votes[score == 5, 0] = 1
    votes[score == 4, 1] = 1
    votes[score <= 2, 2] = 0
    for j, target in enumerate([0, 0, 0, 1, 1, 1], start=3):
        rate = np.where(gold == target, 0.2, 0.04)
        votes[rng.random(n) < rate, j] = target
    return votes, gold


def test_rules_of_one_class_that_never_fire_together_count_as_one(monkeypatch) -> None:
    votes, gold = _score_rules(20_000, seed=9)
    unvoted = ~(votes >= 0).any(axis=1)
    assert np.mean(gold[unvoted] == 0) > 0.6
    model = LabelModel().fit(votes)
    assert np.argmax(model.uncovered_balance_) == 0
    # Read as independent, the two high rules' missing overlap looks like unseen high rows.
    monkeypatch.setattr("gristmill.labelmodel._uncovered._EXCLUSIVE_ROWS", np.inf)
    assert np.argmax(LabelModel().fit(votes).uncovered_balance_) == 1


def _exclusive_groups_of_every_pair(votes, sample, firing, class_mass, fired_mass, scale):
    """_exclusive_rule_groups on dense (m, m) arrays of every pair of sources."""
    totals = votes.source_class_counts()
    one_class = np.count_nonzero(totals, axis=1) == 1
    target = np.argmax(totals, axis=1)
    pairs = one_class[:, None] & one_class[None, :] & (target[:, None] == target[None, :])
    np.fill_diagonal(pairs, False)
    rates = uncovered._firing_rates(class_mass, fired_mass)
    expected = (rates * class_mass) @ rates.T / scale
    weights = np.ones(sample.n_rows) if sample.row_weights is None else sample.row_weights
    together = (firing.T @ sp.diags(weights) @ firing).toarray()
    exclusive = pairs & (together == 0) & (expected >= uncovered._EXCLUSIVE_ROWS)
    if not exclusive.any():
        return None
    return sp.csgraph.connected_components(sp.csr_matrix(exclusive), directed=False)[1]


def test_exclusive_rules_found_among_few_candidates_equal_those_of_every_pair(
    monkeypatch,
) -> None:
    # The score rules, and 300 keyword LFs firing too rarely to be expected together anywhere.
    votes, _ = _score_rules(20_000, seed=9)
    rng = np.random.default_rng(1)
    rare = np.where(rng.random((20_000, 300)) < 0.002, np.arange(300) % 2, -1)
    calls = []

    def spy(*args):
        found = exclusive_rule_groups(*args)
        calls.append((found, _exclusive_groups_of_every_pair(*args)))
        return found

    exclusive_rule_groups = uncovered._exclusive_rule_groups
    monkeypatch.setattr(uncovered, "_exclusive_rule_groups", spy)
    for matrix in (votes, np.hstack([votes, rare]), rare):
        for weights in (None, rng.uniform(0.5, 2.0, matrix.shape[0])):
            LabelModel().fit(matrix, sample_weight=weights)
    assert len(calls) == 6 and calls[0][0] is not None and calls[4][0] is None
    for found, expected in calls:
        np.testing.assert_array_equal(found, expected)


def test_thousands_of_rare_one_class_sources_hold_no_array_of_every_pair() -> None:
    # 3,000 keyword LFs of one class each, each firing on a few rows: (m, m) float arrays of
    # every pair would take 72 MB each, though no pair can be expected to fire together.
    rng = np.random.default_rng(3)
    n, m = 6000, 3000
    values = np.where(rng.random((n, m)) < 0.001, np.arange(m) % 2, -1).astype(np.int8)
    fitted = to_votes(values, 2)
    posteriors = fitted.vote_shares(np.array([0.5, 0.5]))
    tracemalloc.start()
    try:
        uncovered_balance(fitted, fitted, posteriors, np.array([0.5, 0.5]))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000
