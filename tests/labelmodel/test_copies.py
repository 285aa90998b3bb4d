"""Near-copies among the sources: detected, merged, and what LabelModel does with them."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp

from gristmill.exceptions import IdentifiabilityWarning
from gristmill.labelmodel import LabelModel, WeightedMajorityVote, load_label_model
from gristmill.labelmodel import _copies as copies
from gristmill.labelmodel._base import PATTERN_SAMPLE
from gristmill.labelmodel._votes import to_votes


def _copied(synth, agreement: float, n: int = 6000):
    """Two good sources and a bad one with three copies repeating it on ``agreement`` of rows."""
    votes, gold, _ = synth(n, [0.9, 0.85, 0.55, 0.55, 0.55, 0.55], coverage=0.7, seed=40)
    rng = np.random.default_rng(0)
    for j in (3, 4, 5):
        votes[:, j] = np.where(rng.random(n) < agreement, votes[:, 2], votes[:, j])
    return votes, gold


def test_groups_link_near_copies_and_leave_independent_sources_alone(synth) -> None:
    votes, _ = _copied(synth, 0.9)
    assert copies.near_copy_groups(to_votes(votes, 2)).tolist() == [0, 1, 2, 2, 2, 2]
    loose, _ = _copied(synth, 0.6)
    assert copies.near_copy_groups(to_votes(loose, 2)).tolist() == [0, 1, 2, 3, 4, 5]
    # Accurate independent sources that vote on most rows are not copies of each other.
    accurate, _, _ = synth(6000, [0.9, 0.9, 0.9], coverage=0.9, seed=1)
    assert copies.near_copy_groups(to_votes(accurate, 2)).tolist() == [0, 1, 2]


def test_groups_are_numbered_by_their_first_source(synth) -> None:
    votes, _ = _copied(synth, 1.0)
    reordered = votes[:, [3, 0, 4, 1, 2, 5]]  # the copies first
    assert copies.near_copy_groups(to_votes(reordered, 2)).tolist() == [0, 1, 0, 2, 0, 0]


def test_groups_of_weighted_distinct_rows_equal_those_of_every_row(synth) -> None:
    # LabelModel looks for copies on the pattern sample, the same for both forms.
    votes, _ = _copied(synth, 0.9, n=20_000)
    patterns, counts = np.unique(votes, axis=0, return_counts=True)
    weighted = to_votes(patterns, 2).with_weights(counts).pattern_sample(PATTERN_SAMPLE, 3)
    expanded = to_votes(votes, 2).pattern_sample(PATTERN_SAMPLE, 3)
    found = copies.near_copy_groups(weighted, 3)
    np.testing.assert_array_equal(found, copies.near_copy_groups(expanded, 3))
    assert found.tolist() == [0, 1, 2, 2, 2, 2]


def test_merged_source_votes_the_plurality_and_abstains_on_ties() -> None:
    L = np.array(
        [
            [0, 0, 0, 1],  # copies 1-3 vote 0, 0, 1: plurality 0
            [1, 1, -1, -1],  # one copy votes: its vote
            [0, -1, -1, -1],  # no copy votes: abstain
            [1, 0, 1, -1],  # 0 and 1 tie: abstain
            [2, 2, 2, 2],
        ]
    )
    groups = np.array([0, 1, 1, 1])
    merged = copies.merge_copies(to_votes(L, 3).with_weights(np.arange(1.0, 6.0)), groups)
    assert merged.n_sources == 2
    dense = np.full((5, 2), -1)
    rows, columns = merged.indicator.nonzero()
    dense[rows, columns // 3] = columns % 3
    assert dense.tolist() == [[0, 0], [1, 1], [0, -1], [1, -1], [2, 2]]
    np.testing.assert_array_equal(merged.row_weights, np.arange(1.0, 6.0))


def test_label_model_merges_copies_that_would_outvote_the_good_sources(synth, monkeypatch) -> None:
    votes, gold = _copied(synth, 1.0)
    model = LabelModel().fit(votes)
    assert model.learner_ == "dawid_skene"
    assert model.lf_groups_.tolist() == [0, 1, 2, 2, 2, 2]
    # The group's parameters are every member's; its weights are split among them.
    np.testing.assert_allclose(model.confusion_[3], model.confusion_[2])
    np.testing.assert_allclose(model.lf_accuracies_[2:], model.lf_accuracies_[2])
    score = model.score(votes, gold)
    with_dev = WeightedMajorityVote().fit(votes[:300], L_dev=votes[:300], y_dev=gold[:300])
    assert score >= with_dev.score(votes, gold) - 0.02  # as good as accuracies counted on gold
    monkeypatch.setattr(copies, "COPY_AGREEMENT", 1.1)  # nothing counts as a copy
    unmerged = LabelModel().fit(votes)
    assert unmerged.lf_groups_.tolist() == list(range(6))
    assert score > unmerged.score(votes, gold) + 0.1


def test_one_class_sources_are_never_merged(synth) -> None:
    votes, _, _ = synth(4000, [0.8, 0.75, 0.7, 0.7], coverage=0.5, seed=2)
    keyword = np.where(votes == 1, 1, -1)  # every source votes class 1 only
    keyword = np.hstack([keyword, keyword[:, [0]]])  # with an exact copy
    keyword[:, 1] = np.where(votes[:, 1] == 0, 0, -1)
    model = LabelModel().fit(keyword)
    assert model.learner_ == "matrix_completion"
    assert model.lf_groups_.tolist() == list(range(5))


def test_groups_survive_save_and_load(synth, tmp_path) -> None:
    votes, _ = _copied(synth, 1.0, n=2000)
    model = LabelModel().fit(votes)
    loaded = load_label_model(model.save(tmp_path / "model"))
    assert loaded.lf_groups_.tolist() == model.lf_groups_.tolist()
    np.testing.assert_allclose(loaded.predict_proba(votes), model.predict_proba(votes))


def test_a_model_saved_without_groups_loads_with_every_source_alone(synth, tmp_path) -> None:
    votes, _, _ = synth(2000, [0.8, 0.7, 0.75], coverage=0.6, seed=3)
    directory = LabelModel().fit(votes).save(tmp_path / "model")
    meta_file = directory / "label_model.json"
    meta = meta_file.read_text().replace('"lf_groups_"', '"unused"')
    meta_file.write_text(meta)
    assert load_label_model(directory).lf_groups_.tolist() == [0, 1, 2]


@pytest.mark.parametrize("agreement", [0.9, 1.0])
def test_merged_fit_predicts_dense_and_sparse_alike(synth, agreement: float) -> None:
    votes, _ = _copied(synth, agreement, n=3000)
    model = LabelModel().fit(votes)
    sparse = sp.csr_matrix(votes + 1)
    np.testing.assert_allclose(model.predict_proba(sparse), model.predict_proba(votes))


def test_too_few_sources_once_copies_are_merged_is_a_warning_that_says_so(synth) -> None:
    votes, _ = _copied(synth, 1.0, n=2000)
    with pytest.warns(IdentifiabilityWarning, match=r"near-copies counted once\): only 2"):
        model = LabelModel().fit(votes[:, [0, 2, 3]])
    assert model.lf_groups_.tolist() == [0, 1, 1]


def test_dev_rows_are_merged_like_the_training_rows(synth) -> None:
    votes, gold = _copied(synth, 1.0)
    model = LabelModel().fit(votes[300:], L_dev=votes[:300], y_dev=gold[:300])
    assert model.lf_groups_.tolist() == [0, 1, 2, 2, 2, 2]
    assert model.score(votes, gold) > 0.82


def _groups_from_every_pair(votes) -> np.ndarray:
    """near_copy_groups' relation counted on dense (m, m) arrays of every pair of sources."""
    k, m = votes.cardinality, votes.n_sources
    gram = sp.coo_matrix(votes.indicator.T @ votes.weighted_indicator())
    pair = (gram.row // k) * m + gram.col // k
    both = np.bincount(pair, weights=gram.data, minlength=m * m).reshape(m, m)
    agree = gram.row % k == gram.col % k
    same = np.bincount(pair[agree], weights=gram.data[agree], minlength=m * m).reshape(m, m)
    either = np.diag(both)[:, None] + np.diag(both)[None, :] - both
    linked = (either > 0) & (same >= copies.COPY_AGREEMENT * either)
    np.fill_diagonal(linked, False)
    labels = sp.csgraph.connected_components(sp.csr_matrix(linked), directed=False)[1]
    _, first = np.unique(labels, return_index=True)
    return np.argsort(np.argsort(first))[labels]


def test_groups_equal_those_of_every_pair_counted_densely(synth) -> None:
    votes, _ = _copied(synth, 0.9, n=3000)
    rng = np.random.default_rng(4)
    crowd = np.where(rng.random((3000, 40)) < 0.05, rng.integers(0, 2, (3000, 40)), -1)
    crowd[:, 7] = np.where(rng.random(3000) < 0.95, crowd[:, 3], -1)  # a copy of worker 3
    for matrix in (votes, np.hstack([votes, crowd]), np.full((50, 4), -1)):
        for weights in (None, rng.random(matrix.shape[0])):
            fitted = to_votes(matrix, 2).with_weights(weights)
            found = copies.near_copy_groups(fitted)
            np.testing.assert_array_equal(found, _groups_from_every_pair(fitted))
    assert copies.has_copies(copies.near_copy_groups(to_votes(crowd, 2)))


def test_groups_of_thousands_of_sources_hold_no_array_of_every_pair() -> None:
    # 3,000 crowd workers, each voting on a few of 4,000 rows: (m, m) float arrays would take
    # 72 MB each (a 5,000-worker LabelModel fit peaked at 800 MB on them).
    rng = np.random.default_rng(2)
    n, m = 4000, 3000
    values = np.full((n, m), -1, dtype=np.int8)
    rows, workers = rng.integers(0, n, 12_000), rng.integers(0, m, 12_000)
    values[rows, workers] = rng.integers(0, 2, 12_000)
    votes = to_votes(values, 2)
    tracemalloc.start()
    try:
        groups = copies.near_copy_groups(votes)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert groups.shape == (m,)
    assert peak < 20_000_000
