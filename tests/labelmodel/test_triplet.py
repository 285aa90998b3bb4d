"""Triplet: agreement rates on the (source, vote) pairs that occur; one-class LFs, many classes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from gristmill.exceptions import LabelModelError
from gristmill.labelmodel import MajorityVote, Triplet
from gristmill.labelmodel._triplet import _VotedPairs
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
    np.testing.assert_allclose(pairs.source_sums(pairs.co_votes), whole.sum(axis=(1, 3)))
    for c in range(k):
        sign = np.where(np.arange(k) == c, 1.0, -1.0)
        signs = sign[pairs.votes]
        agree = pairs.source_sums(signs[:, None] * pairs.co_votes * signs[None, :])
        expected = np.einsum("ivjw,v,w->ij", whole, sign, sign)
        np.testing.assert_allclose(agree, expected, atol=1e-9)


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
