"""Models that use a labeled dev set."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gristmill.exceptions import DataError
from gristmill.labeling import LabelMatrix
from gristmill.labelmodel import DawidSkene, LabelModel, WeightedMajorityVote, get_label_model
from gristmill.labelmodel._majority import leave_one_out_dev_scores
from gristmill.labelmodel._votes import to_votes


def test_label_model_uses_dev_labels_for_balance_and_mixture(synth) -> None:
    votes, gold, _ = synth(6000, [0.9, 0.6, 0.55, 0.85, 0.6], balance=[0.8, 0.2], seed=31)
    dev, train = slice(0, 200), slice(200, None)
    model = LabelModel().fit(votes[train], L_dev=votes[dev], y_dev=gold[dev])
    assert float(model.mixture_) in (0.0, 0.25, 0.5, 0.75, 1.0)
    from_dev = (np.bincount(gold[dev], minlength=2) + 1) / 202
    # The (class balance, mixture) adopted has the best dev accuracy among the candidates.
    best_on_dev = model.score(votes[dev], gold[dev])
    for balance in (from_dev, None):
        candidate = LabelModel().fit(votes[train], class_balance=balance)
        for w in (0.0, 0.25, 0.5, 0.75, 1.0):
            candidate.mixture_ = np.array(w)
            assert candidate.score(votes[dev], gold[dev]) <= best_on_dev + 0.01
    without_dev = LabelModel().fit(votes[train]).score(votes[train], gold[train])
    assert model.score(votes[train], gold[train]) >= without_dev - 0.01


def test_weighted_majority_vote_weights_from_dev_or_given(synth) -> None:
    votes, gold, _ = synth(3000, [0.95, 0.55, 0.55, 0.55, 0.55], seed=32)
    from_dev = WeightedMajorityVote().fit(votes, L_dev=votes[:500], y_dev=gold[:500])
    assert from_dev.lf_accuracies_[0] > 0.9 and np.all(from_dev.lf_accuracies_[1:] < 0.65)
    assert from_dev.score(votes, gold) > WeightedMajorityVote(weights=[1, 1, 1, 1, 1]).fit(
        votes
    ).score(votes, gold)
    only_first = WeightedMajorityVote(weights=[1.0, 0, 0, 0, 0]).fit(votes)
    voted = votes[:, 0] >= 0
    np.testing.assert_array_equal(only_first.predict(votes[voted]), votes[voted, 0])


def test_dawid_skene_adds_dev_rows(synth) -> None:
    votes, gold, _ = synth(3000, [0.8, 0.7, 0.75, 0.65], seed=33)
    model = DawidSkene().fit(votes, L_dev=votes[:300], y_dev=gold[:300])
    assert model.converged_ and model.n_iter_ >= 1
    assert model.score(votes, gold) > 0.75


def test_label_model_picks_its_learner_by_how_sources_vote(synth) -> None:
    votes, gold, _ = synth(4000, [0.8, 0.7, 0.75, 0.65, 0.9], seed=34)
    assert LabelModel().fit(votes).learner_ == "dawid_skene"
    one_class = np.where(votes == np.array([0, 1, 0, 1, 0]), votes, -1)  # each LF votes one class
    model = LabelModel().fit(one_class)
    assert model.learner_ == "matrix_completion"
    assert model.score(one_class, gold) > 0.7


def test_leave_one_out_dev_scores_equal_refits_without_the_row(synth) -> None:
    votes, gold, _ = synth(60, [0.8, 0.7, 0.6, 0.9], coverage=0.7, seed=35)
    scores = leave_one_out_dev_scores(to_votes(votes, 2), gold)
    for i in range(votes.shape[0]):
        others = np.arange(votes.shape[0]) != i
        refit = WeightedMajorityVote().fit(votes, L_dev=votes[others], y_dev=gold[others])
        expected = to_votes(votes[i : i + 1], 2).scores(refit.weights_, refit.bias_)[0]
        np.testing.assert_allclose(scores[i], expected, atol=1e-12)


def test_dev_set_lets_label_model_use_the_weighted_vote_when_sources_are_copies(synth) -> None:
    votes, gold, _ = synth(6000, [0.9, 0.85, 0.55, 0.55, 0.55, 0.55], coverage=0.7, seed=40)
    # A bad source, copied loosely (each copy repeats it on 70% of rows): too loosely to be
    # merged as a near-copy, enough to mislead the learned model.
    rng = np.random.default_rng(0)
    for j in (3, 4, 5):
        votes[:, j] = np.where(rng.random(votes.shape[0]) < 0.7, votes[:, 2], votes[:, j])
    dev, train = slice(0, 300), slice(300, None)
    with_dev = LabelModel().fit(votes[train], L_dev=votes[dev], y_dev=gold[dev])
    assert with_dev.learner_ == "weighted_majority_vote"
    weighted = WeightedMajorityVote().fit(votes[train], L_dev=votes[dev], y_dev=gold[dev])
    score = with_dev.score(votes[train], gold[train])
    assert score >= weighted.score(votes[train], gold[train]) - 0.005
    assert score > LabelModel().fit(votes[train]).score(votes[train], gold[train]) + 0.1


def test_dev_votes_are_matched_to_the_training_lfs_by_name(synth) -> None:
    votes, gold, _ = synth(3_000, [0.9, 0.65, 0.75, 0.6], coverage=0.7, seed=8)
    names = ["a", "b", "c", "d"]
    train, dev = LabelMatrix(votes[:2_500], names), votes[2_500:]
    order = [3, 2, 0, 1]
    expected = WeightedMajorityVote().fit(train, L_dev=LabelMatrix(dev, names), y_dev=gold[2_500:])
    shuffled = LabelMatrix(dev[:, order], [names[j] for j in order])
    found = WeightedMajorityVote().fit(train, L_dev=shuffled, y_dev=gold[2_500:])
    np.testing.assert_array_equal(found.lf_accuracies_, expected.lf_accuracies_)
    with pytest.raises(DataError, match=r"L_dev's labeling functions are not L's: missing \['d'\]"):
        LabelModel().fit(train, L_dev=LabelMatrix(dev, ["a", "b", "c", "z"]), y_dev=gold[2_500:])


@pytest.mark.parametrize("name", ["auto", "dawid_skene", "weighted_majority_vote"])
def test_a_y_dev_series_is_matched_to_the_dev_rows_by_its_index(name: str, synth) -> None:
    votes, gold, _ = synth(3000, [0.9, 0.6, 0.55, 0.85, 0.6], seed=33)
    names = [f"lf{j}" for j in range(5)]
    index = pd.Index([f"d{i}" for i in range(300)])
    dev_matrix = LabelMatrix(votes[:300], names, index=index)
    y_dev = pd.Series(gold[:300], index=index)
    train = LabelMatrix(votes[300:], names)
    expected = get_label_model(name).fit(train, L_dev=dev_matrix, y_dev=gold[:300])
    for L_dev in (dev_matrix, dev_matrix.to_frame()):
        model = get_label_model(name).fit(train, L_dev=L_dev, y_dev=y_dev[::-1])
        np.testing.assert_array_equal(model.predict_proba(train), expected.predict_proba(train))
    with pytest.raises(DataError, match="y_dev is matched to the label matrix's rows by its index"):
        get_label_model(name).fit(train, L_dev=dev_matrix, y_dev=y_dev.reset_index(drop=True))


def test_a_y_dev_class_no_source_votes_is_refused_unless_the_cardinality_is_given() -> None:
    votes = np.array([[0, 1, 1], [1, 1, 0], [0, 0, -1], [1, -1, 1]] * 5)
    for typo in (5, 10**6):
        with pytest.raises(
            DataError,
            match=f"y_dev holds class {typo} at row 1, but the label model infers 2 classes "
            r"\(0..1\): no labeling function votes a higher one.*pass cardinality to LabelModel",
        ):
            LabelModel().fit(votes, L_dev=votes[:2], y_dev=[0, typo])
    model = LabelModel(cardinality=6).fit(votes, L_dev=votes[:2], y_dev=[0, 5])
    assert model.predict_proba(votes).shape == (20, 6)
    balance = np.full(6, 1 / 6)
    fit = LabelModel().fit(votes, L_dev=votes[:2], y_dev=[0, 5], class_balance=balance)
    assert fit.cardinality_ == 6


def test_an_empty_dev_set_is_refused() -> None:
    votes = np.array([[0, 1, 1], [1, 1, 0], [0, 0, -1], [1, -1, 1]] * 5)
    with pytest.raises(DataError, match="L_dev has no rows; pass a labeled dev set, or neither"):
        LabelModel().fit(votes, L_dev=votes[:0], y_dev=[])
