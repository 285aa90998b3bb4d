"""Triplet: agreement rates on the (source, vote) pairs that occur; one-class LFs, many classes;
crowds of thousands of workers."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from gristmill.exceptions import IdentifiabilityWarning, LabelModelError
from gristmill.labelmodel import MajorityVote, Triplet
from gristmill.labelmodel._triplet import _PairStatistics, _VotedPairs
from gristmill.labelmodel._votes import to_votes


@pytest.mark.parametrize("voting", ["several classes", "one class each", "some never vote"])
def test_source_sums_equal_the_whole_co_vote_tensor(voting: str) -> None:
    rng = np.random.default_rng(2)
    n, m, k = 400, 7, 4
    values = np.where(rng.random((n, m)) < 0.5, rng.integers(0, k, (n, m)), -1)
    if voting != "several classes":
        values = np.where(values >= 0, np.arange(m) % k, -1)
    if voting == "some never vote":
        values[:, [1, 4]] = -1
    votes = to_votes(values, k)
    whole = votes.co_votes().reshape(m, k, m, k)  # every (source, vote) pair
    pairs = _VotedPairs.of(votes)
    overlap = pairs.source_sums()
    assert sp.issparse(overlap) and overlap.has_sorted_indices
    np.testing.assert_allclose(overlap.toarray(), whole.sum(axis=(1, 3)))
    for c in range(k):
        sign = np.where(np.arange(k) == c, 1.0, -1.0)
        agree = pairs.source_sums(sign[pairs.votes]).toarray()
        expected = np.einsum("ivjw,v,w->ij", whole, sign, sign)
        np.testing.assert_allclose(agree, expected, atol=1e-9)


def _median_triplets(value, usable, rank, evidence, max_partners, min_denominator):
    """Each item's estimate, one item at a time on dense (n, n) arrays (as Triplet did)."""
    estimates = np.full(value.shape[0], np.nan)
    for i in range(value.shape[0]):
        partners = np.flatnonzero(usable[i])
        if partners.size > max_partners:
            order = np.argsort(-rank[i, partners], kind="stable")
            partners = np.sort(partners[order[:max_partners]])
        rows, cols = np.triu_indices(partners.size, k=1)
        j, l_ = partners[rows], partners[cols]
        valid = usable[j, l_] & (np.abs(value[j, l_]) > min_denominator)
        if valid.any():
            products = value[i, j[valid]] * value[i, l_[valid]] / value[j[valid], l_[valid]]
            direction = np.sign(np.sum(evidence[i, partners])) or 1.0
            estimates[i] = direction * min(np.sqrt(np.median(np.abs(products))), 0.98)
    return estimates


@pytest.mark.parametrize("max_partners", [3, 8, 50])
@pytest.mark.parametrize("min_denominator", [0.0, 0.3])
def test_triplet_estimates_are_the_median_of_each_items_triplets(
    max_partners: int, min_denominator: float, monkeypatch
) -> None:
    # Items done together in steps of a few triplets, with ties in rank and asymmetric values.
    monkeypatch.setattr("gristmill.labelmodel._triplet._TRIPLETS_PER_STEP", 7)
    rng = np.random.default_rng(max_partners)
    n = 60
    usable = rng.random((n, n)) < np.linspace(0.02, 0.6, n)[:, None]
    usable |= usable.T
    np.fill_diagonal(usable, False)
    value = rng.uniform(-1, 1, (n, n))
    rank = rng.integers(0, 4, (n, n)).astype(np.float64)
    evidence = rng.normal(size=(n, n))
    first, second = np.nonzero(usable)
    statistics = _PairStatistics(n, first, second, value[usable], rank[usable], evidence[usable])
    found = statistics.triplet_estimates(max_partners, min_denominator=min_denominator)
    expected = _median_triplets(value, usable, rank, evidence, max_partners, min_denominator)
    assert np.isfinite(expected).sum() > n // 2
    np.testing.assert_array_equal(found, expected)


def _crowd_in_tasks(
    n: int, workers: int, k: int, seed: int
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray]:
    """Sparse votes (class + 1) on tasks of 20 rows, each labeled by 5 random workers (a wrong
    vote is the next class); also the gold labels and the workers' accuracies."""
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, k, n)
    accuracy = rng.uniform(0.55, 0.95, workers)
    chosen = np.array([rng.choice(workers, 5, replace=False) for _ in range(n // 20)])
    rows = np.repeat(np.arange(n), 5)
    worker = chosen[np.arange(n) // 20].ravel()
    right = rng.random(rows.size) < accuracy[worker]
    labels = np.where(right, gold[rows], (gold[rows] + 1) % k)
    return sp.csr_matrix((labels + 1, (rows, worker)), shape=(n, workers)), gold, accuracy


@pytest.mark.filterwarnings("ignore::gristmill.exceptions.IdentifiabilityWarning")
@pytest.mark.parametrize("k", [2, 4])
def test_thousands_of_workers_fit_without_dense_pair_arrays(k: int) -> None:
    # 1,200 workers: their (m, m) sums and the (d, d) co-votes of their d = 1,200 k (worker,
    # class) pairs took 150 MB (k = 2) and 265 MB (k = 4), 6 GB and a minute at 5,000
    # workers over 5 classes; the triplets need the pairs of workers sharing tasks only.
    votes, gold, accuracy = _crowd_in_tasks(24_000, 1_200, k, seed=0)
    tracemalloc.start()
    try:
        model = Triplet().fit(votes)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 40_000_000
    assert model.score(votes, gold) >= MajorityVote().fit(votes).score(votes, gold)
    if k == 2:  # workers agree or not: their accuracies are identified
        assert np.nanmean(np.abs(model.lf_accuracies_ - accuracy)) < 0.08


def test_workers_without_usable_triplets_are_counted_in_the_warning() -> None:
    votes, _, _ = _crowd_in_tasks(24_000, 1_200, 2, seed=1)
    voting = votes.getnnz(axis=0) > 0
    assert not voting.all()  # a silent worker has no accuracy to miss
    with pytest.warns(IdentifiabilityWarning, match=f"{voting.sum()} labeling function accur"):
        model = Triplet(min_overlap=21).fit(votes)  # tasks have 20 rows
    np.testing.assert_allclose(model.lf_accuracies_[voting], 0.7)
    assert np.isnan(model.lf_accuracies_[~voting]).all()


def _one_class_votes(n: int, k: int, per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Keyword-style LFs: LF j votes class j % k only, on 30% of its class's rows, 2% of others."""
    rng = np.random.default_rng(seed)
    own = np.arange(k * per_class) % k
    gold = rng.integers(0, k, n)
    rate = np.where(gold[:, None] == own[None, :], 0.3, 0.02)
    return np.where(rng.random((n, own.size)) < rate, own[None, :], -1), gold


def test_one_class_lfs_over_50_classes_match_majority_vote() -> None:
    votes, _ = _one_class_votes(10_000, 50, 10, seed=0)
    test, test_gold = _one_class_votes(10_000, 50, 10, seed=1)
    triplet = Triplet().fit(votes).predict_proba(test)
    majority = MajorityVote(cardinality=50).fit(votes).predict_proba(test)
    accuracy = float(np.mean(triplet.argmax(axis=1) == test_gold))
    assert accuracy >= 0.6
    assert accuracy >= float(np.mean(majority.argmax(axis=1) == test_gold)) - 0.02


def test_one_class_lfs_get_their_accuracy_and_a_positive_correlation() -> None:
    k = 50
    model = Triplet().fit(_one_class_votes(10_000, k, 10, seed=0)[0])
    own = np.arange(10 * k) % k
    # P(y = c | the LF votes c); the LFs' votes have no sign to agree or disagree on.
    accuracy = 0.3 / (0.3 + 0.02 * (k - 1))
    assert abs(np.median(model.lf_accuracies_) - accuracy) < 0.02
    assert np.all((model.lf_accuracies_ > 0.1) & (model.lf_accuracies_ < 0.4))
    rho = model.correlations_[own, np.arange(own.size)]
    assert np.all(rho > 0)
    p = 1 / k
    voting = 0.3 * p + 0.02 * (1 - p)
    assert abs(np.median(rho) - 0.28 * np.sqrt(p * (1 - p) / (voting * (1 - voting)))) < 0.03
    np.testing.assert_allclose(model.class_balance_, p, atol=0.005)


def test_abstentions_count_against_the_class_of_a_silent_lf() -> None:
    votes, _ = _one_class_votes(5_000, 5, 4, seed=0)
    model = Triplet().fit(votes)
    # One LF of class 0 votes and nothing else: class 0; no vote at all: the prior.
    alone = np.full((2, votes.shape[1]), -1)
    alone[0, 0] = 0
    proba = model.predict_proba(alone)
    assert proba[0].argmax() == 0 and proba[0, 0] > 0.5
    np.testing.assert_allclose(proba[1], model.class_balance_, atol=0.05)


def test_an_old_one_vs_rest_save_is_refused(tmp_path: Path) -> None:
    votes, _ = _one_class_votes(3_000, 4, 4, seed=0)
    path = Triplet().fit(votes).save(tmp_path / "lm")
    meta = json.loads((path / "label_model.json").read_text())
    meta["extra"] = {"one_vs_rest_": True}
    (path / "label_model.json").write_text(json.dumps(meta))
    with pytest.raises(LabelModelError, match="one-vs-rest Triplet saved by an earlier"):
        Triplet.load(path)


def test_binary_keyword_lfs_are_read_by_when_they_vote() -> None:
    # Two classes, each LF votes one class (on 30% of its rows and 2% of the others): the
    # agreement on co-voted rows is always +1 within a class and -1 across, so it says nothing.
    votes, _ = _one_class_votes(20_000, 2, 10, seed=0)
    test, test_gold = _one_class_votes(20_000, 2, 10, seed=1)
    model = Triplet().fit(votes)
    assert model.correlations_.shape == (2, 20)
    accuracy = float(np.mean(model.predict_proba(test).argmax(axis=1) == test_gold))
    majority = MajorityVote(cardinality=2).fit(votes).predict_proba(test)
    assert accuracy >= float(np.mean(majority.argmax(axis=1) == test_gold)) - 0.01
    # Accuracy of each LF: 0.3 p / (0.3 p + 0.02 (1 - p)) with p = 0.5.
    np.testing.assert_allclose(model.lf_accuracies_, 0.3 / 0.32, atol=0.03)
