"""Models that use a labeled dev set."""

from __future__ import annotations

import numpy as np

from gristmill.labelmodel import DawidSkene, LabelModel, WeightedMajorityVote


def test_label_model_uses_dev_labels_for_balance_and_mixture(synth) -> None:
    votes, gold, _ = synth(6000, [0.9, 0.6, 0.55, 0.85, 0.6], balance=[0.8, 0.2], seed=31)
    model = LabelModel().fit(votes[200:], L_dev=votes[:200], y_dev=gold[:200])
    assert float(model.mixture_) in (0.0, 0.25, 0.5, 0.75, 1.0)
    expected = (np.bincount(gold[:200], minlength=2) + 1) / 202
    np.testing.assert_allclose(model.class_balance_, expected)
    assert (
        model.score(votes[200:], gold[200:])
        >= LabelModel().fit(votes[200:]).score(votes[200:], gold[200:]) - 0.01
    )


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
