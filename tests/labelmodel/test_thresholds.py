"""F1-optimal thresholds and the label-free choice of LabelModel's majority-vote share."""

from __future__ import annotations

import numpy as np
import pytest

import gristmill.labelmodel._votes as votes_module
from gristmill.labelmodel import LabelModel, MajorityVote, load_label_model
from gristmill.labelmodel._label_model import (
    _MIXTURES,
    _binary_vote_probabilities,
    _Learned,
    _vote_probabilities,
    held_out_source_log_likelihood,
)
from gristmill.labelmodel._thresholds import f1_threshold
from gristmill.labelmodel._votes import to_votes

from .conftest import make_votes


def _f1(gold: np.ndarray, predicted: np.ndarray) -> float:
    true_pos = np.sum((gold == 1) & predicted)
    return 2 * true_pos / (np.sum(gold == 1) + np.sum(predicted))


def test_threshold_with_gold_matches_brute_force() -> None:
    rng = np.random.default_rng(0)
    for trial in range(20):
        positive = np.round(rng.random(300), 2)  # rounding makes tied probabilities
        gold = (rng.random(300) < positive**2).astype(int)
        scores = {t: _f1(gold, positive >= t) for t in np.unique(positive)}
        best = max(scores.values())
        threshold = f1_threshold(positive, gold=gold)
        assert scores[threshold] == pytest.approx(best), trial
        assert threshold == max(t for t, f in scores.items() if f == pytest.approx(best))


def test_plug_in_threshold_is_half_the_best_f1_on_calibrated_probabilities() -> None:
    # Lipton, Elkan & Naryanaswamy (2014): the F1-optimal threshold is F* / 2.
    rng = np.random.default_rng(1)
    positive = rng.beta(0.5, 3.0, 200_000)
    gold = (rng.random(positive.size) < positive).astype(int)
    threshold = f1_threshold(positive)
    best_f1 = max(_f1(gold, positive >= t) for t in np.linspace(0.01, 0.99, 99))
    assert threshold == pytest.approx(best_f1 / 2, abs=0.01)
    assert _f1(gold, positive >= threshold) == pytest.approx(best_f1, abs=0.005)
    assert _f1(gold, positive >= threshold) > _f1(gold, positive >= 0.5) + 0.05


def test_threshold_weights_equal_repeated_rows_and_degenerate_cases() -> None:
    rng = np.random.default_rng(2)
    positive, gold = rng.random(50), rng.integers(0, 2, 50)
    counts = rng.integers(0, 4, 50)
    for labels in (gold, None):
        expanded = None if labels is None else np.repeat(labels, counts)
        assert f1_threshold(positive, gold=labels, weights=counts) == f1_threshold(
            np.repeat(positive, counts), gold=expanded
        )
    assert f1_threshold(positive, gold=np.zeros(50, dtype=int)) == 0.5
    assert f1_threshold(np.zeros(10)) == 0.5
    assert f1_threshold(np.array([])) == 0.5


@pytest.fixture(scope="module")
def imbalanced() -> tuple[np.ndarray, np.ndarray]:
    votes, gold, _ = make_votes(
        20_000, [0.85, 0.8, 0.8, 0.75, 0.85, 0.7, 0.8], balance=[0.9, 0.1], coverage=0.3, seed=0
    )
    return votes, gold


def test_f1_threshold_beats_argmax_on_imbalanced_data(imbalanced) -> None:
    votes, gold = imbalanced
    dev, train = slice(0, 2000), slice(2000, None)
    plug_in = LabelModel().fit(votes[train])
    tuned = LabelModel().fit(votes[train], L_dev=votes[dev], y_dev=gold[dev])
    argmax_f1 = plug_in.score(votes[train], gold[train], metric="f1")
    for model in (plug_in, tuned):
        assert 0.05 < model.f1_threshold_ < 0.5
        thresholded = model.score(votes[train], gold[train], metric="f1", threshold="f1")
        assert thresholded > argmax_f1 + 0.02
    expected = f1_threshold(tuned.predict_proba(votes[dev])[:, 1], gold=gold[dev])
    assert tuned.f1_threshold_ == expected


def test_predict_threshold_arguments(imbalanced, synth, tmp_path) -> None:
    votes, _ = imbalanced
    model = MajorityVote().fit(votes)
    proba = model.predict_proba(votes)[:, 1]
    np.testing.assert_array_equal(model.predict(votes, threshold=0.3), proba >= 0.3)
    assert model.predict(votes, threshold=0.0).min() == 1
    for bad in (1.5, -0.1, "best", True):
        with pytest.raises(ValueError, match="threshold"):
            model.predict(votes, threshold=bad)
    multiclass = MajorityVote().fit(synth(500, [0.8, 0.7, 0.75], k=3)[0])
    assert np.isnan(multiclass.f1_threshold_)
    with pytest.raises(ValueError, match="binary"):
        multiclass.predict(synth(10, [0.8, 0.7, 0.75], k=3)[0], threshold="f1")
    model.save(tmp_path / "binary")
    multiclass.save(tmp_path / "multi")
    assert load_label_model(tmp_path / "binary").f1_threshold_ == model.f1_threshold_
    assert np.isnan(load_label_model(tmp_path / "multi").f1_threshold_)


def _held_out_by_loops(model: LabelModel, votes: np.ndarray, w: float) -> float:
    """The held-out-source log-likelihood written vote by vote, as a reference."""
    total, count = 0.0, 0
    for row in votes:
        voters = np.flatnonzero(row >= 0)
        for j in voters:
            others = [i for i in voters if i != j]
            if others:
                share = np.bincount(row[others], minlength=2) / len(others)
                scores = model.bias_ + sum(model.weights_[i, row[i]] for i in others)
                learned = np.exp(scores - scores.max())
                learned /= learned.sum()
                posterior = w * share + (1 - w) * learned
            else:
                posterior = model.class_balance_
            likelihood = np.clip(model.confusion_[j, :, row[j]], 1e-6, 1.0)
            total += np.log(posterior @ likelihood)
            count += 1
    return total / count


@pytest.mark.parametrize("chunk_cells", [None, 8], ids=["one chunk", "chunks of 4 votes"])
@pytest.mark.parametrize("k_voting", ["both classes", "one class"])
def test_held_out_source_likelihood_matches_vote_by_vote_reference(
    synth, monkeypatch, k_voting, chunk_cells
) -> None:
    if chunk_cells is not None:
        monkeypatch.setattr(votes_module, "VOTE_CELLS", chunk_cells)
    votes, _, _ = synth(300, [0.85, 0.7, 0.6, 0.75], coverage=0.6, seed=5)
    if k_voting == "one class":
        votes = np.where(votes == np.array([0, 1, 0, 1]), votes, -1)
    model = LabelModel().fit(votes)
    fast = held_out_source_log_likelihood(
        to_votes(votes, 2),
        model.weights_,
        model.bias_,
        model.confusion_,
        model.class_balance_,
        _MIXTURES,
    )
    reference = [_held_out_by_loops(model, votes, w) for w in _MIXTURES]
    np.testing.assert_allclose(fast, reference, rtol=1e-9, atol=1e-12)
    if np.ptp(fast) < 1e-9:  # one-class sources: the votes cannot tell the mixtures apart
        assert float(model.mixture_) == 0.5
    else:
        assert float(model.mixture_) == _MIXTURES[int(np.argmax(fast))]


def test_independent_sources_get_the_learned_model_alone(synth) -> None:
    votes, gold, _ = synth(20_000, [0.9, 0.6, 0.55, 0.85, 0.6, 0.7], seed=7)
    model = LabelModel().fit(votes)
    assert float(model.mixture_) == 0.0
    assert model.score(votes, gold) >= MajorityVote().fit(votes).score(votes, gold) + 0.02


def _pattern_weights(votes) -> dict[tuple[int, ...], float]:
    rows = votes.indicator.toarray().astype(int)
    weights = np.ones(votes.n_rows) if votes.row_weights is None else votes.row_weights
    return {tuple(r): float(w) for r, w in zip(rows, weights, strict=True)}


def test_pattern_sample_groups_equal_rows_and_matches_weighted_form(synth) -> None:
    votes, _, _ = synth(5000, [0.8, 0.7, 0.75, 0.65, 0.9, 0.6], coverage=0.5, seed=9)
    patterns, counts = np.unique(votes, axis=0, return_counts=True)
    full = to_votes(votes, 2)
    weighted = to_votes(patterns, 2).with_weights(counts.astype(float))
    every = full.pattern_sample(10_000, 0)
    assert every.n_rows == patterns.shape[0] and every.total_weight == 5000
    expected = _pattern_weights(weighted)
    assert len(expected) == patterns.shape[0] and sum(expected.values()) == 5000
    assert _pattern_weights(every) == expected
    sample = full.pattern_sample(100, 0)
    assert 50 < sample.n_rows < 150
    assert set(_pattern_weights(sample).items()) <= set(expected.items())
    assert _pattern_weights(weighted.pattern_sample(100, 0)) == (_pattern_weights(sample))


def test_binary_vote_probabilities_match_the_general_path(synth) -> None:
    votes, _, _ = synth(400, [0.85, 0.7, 0.6, 0.75, 0.9], coverage=0.4, seed=11)
    model = LabelModel().fit(votes)
    indicator = to_votes(votes, 2)
    block = indicator.indicator
    arguments = (
        block,
        np.diff(block.indptr),
        _Learned(
            flat=model.weights_.reshape(10, 2),
            bias=model.bias_,
            likelihood=np.clip(model.confusion_, 1e-6, 1.0).transpose(0, 2, 1).reshape(10, 2),
            balance=model.class_balance_,
            projection=indicator.class_projection(),
        ),
    )
    assert (np.diff(block.indptr) == 1).any()  # rows whose vote is alone take the balance
    for general, binary in zip(
        _vote_probabilities(*arguments), _binary_vote_probabilities(*arguments), strict=True
    ):
        np.testing.assert_allclose(binary, general, rtol=1e-12, atol=1e-15)
