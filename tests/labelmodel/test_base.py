"""Behaviour every label model shares: inputs, errors, ties, scoring, persistence, registry."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from scipy.special import expit

from gristmill.exceptions import (
    DataError,
    IdentifiabilityWarning,
    LabelModelError,
    NotFittedError,
    OutputError,
    ParameterError,
)
from gristmill.labeling import LabelMatrix, lf_summary
from gristmill.labelmodel import (
    LABEL_MODELS,
    BaseLabelModel,
    DawidSkene,
    LabelModel,
    MajorityVote,
    MatrixCompletion,
    WeightedMajorityVote,
    get_label_model,
    load_label_model,
)
from gristmill.labelmodel._base import METRICS, logistic
from gristmill.labelmodel._votes import infer_cardinality
from gristmill.testing import check_label_model

ALL = sorted(LABEL_MODELS)


@pytest.mark.parametrize("name", ALL)
def test_conformance(name: str) -> None:
    check_label_model(get_label_model(name))


@pytest.mark.parametrize("name", ALL)
def test_sparse_dense_and_label_matrix_inputs_agree(name: str, synth) -> None:
    votes, _, _ = synth(3000, [0.8, 0.7, 0.75, 0.65, 0.9], k=3, seed=1)
    dense = get_label_model(name).fit(votes).predict_proba(votes)
    sparse = sp.csr_matrix(votes + 1)
    from_sparse = get_label_model(name).fit(sparse).predict_proba(sparse)
    matrix = LabelMatrix(votes, [f"lf{j}" for j in range(5)])
    from_matrix = get_label_model(name).fit(matrix).predict_proba(matrix)
    np.testing.assert_allclose(from_sparse, dense, atol=1e-8)
    np.testing.assert_allclose(from_matrix, dense, atol=1e-8)


@pytest.mark.parametrize("name", ALL)
def test_rows_without_votes_get_the_class_balance(name: str, synth) -> None:
    # Sources fire as often on every class here, so rows without votes say nothing either.
    votes, _, _ = synth(4000, [0.8, 0.7, 0.75, 0.85], balance=[0.7, 0.3], seed=2)
    votes[:50] = -1
    model = get_label_model(name).fit(votes)
    proba = model.predict_proba(votes[:50])
    # LabelModel predicts P(y | no source fires) there (tests/labelmodel/test_uncovered.py).
    uncovered = getattr(model, "uncovered_balance_", model.class_balance_)
    np.testing.assert_allclose(proba, np.tile(uncovered, (50, 1)), atol=1e-8)
    np.testing.assert_allclose(uncovered, model.class_balance_, atol=0.01)
    assert set(model.predict(votes[:50], tie_break="prior")) == {
        int(np.argmax(model.class_balance_))
    }


@pytest.mark.parametrize("name", ALL)
def test_source_that_never_fires_gets_nan_accuracy(name: str, synth) -> None:
    votes, gold, _ = synth(3000, [0.8, 0.7, 0.75, 0.85, 0.5], seed=3)
    votes[:, 4] = -1
    model = get_label_model(name).fit(votes)
    assert np.isnan(model.lf_accuracies_[4])
    assert np.all(np.isfinite(model.lf_accuracies_[:4]))
    assert model.score(votes, gold) > 0.8


@pytest.mark.parametrize("name", ["dawid_skene", "matrix_completion", "triplet", "auto"])
def test_too_few_sources_warns_and_falls_back_to_a_vote(name: str, synth) -> None:
    votes, gold, _ = synth(2000, [0.8, 0.7], seed=4)
    with pytest.warns(IdentifiabilityWarning, match="fewer than the 3"):
        model = get_label_model(name).fit(votes)
    agree = (votes[:, 0] == votes[:, 1]) & (votes[:, 0] >= 0)
    np.testing.assert_array_equal(model.predict(votes[agree]), votes[agree, 0])
    assert model.score(votes, gold) > 0.65


@pytest.mark.parametrize("name", ["dawid_skene", "matrix_completion", "triplet", "auto"])
def test_sources_that_never_vote_together_warn_and_fall_back_to_a_vote(name: str) -> None:
    # Four rules of which at most one fires on a row (question words: "who", "where", ...):
    # no agreement between them tells their accuracies.
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 4, 4000)
    rule = rng.integers(0, 5, 4000)  # rule 4 = none fires
    right = rng.random(4000) < 0.9
    votes = np.full((4000, 4), -1)
    fired = rule < 4
    votes[fired, rule[fired]] = np.where(right, gold, (gold + 1) % 4)[fired]
    votes[:3, :] = [[0, 0, -1, -1], [1, -1, 1, -1], [2, -1, -1, 2]]  # three shared rows only
    with pytest.warns(IdentifiabilityWarning, match="only 0 of the 4 voting") as caught:
        model = get_label_model(name).fit(votes)
    assert caught[0].filename == __file__  # points at the user's fit call
    np.testing.assert_allclose(model.lf_accuracies_, 0.7)
    single = (votes >= 0).sum(axis=1) == 1
    np.testing.assert_array_equal(model.predict(votes[single]), votes[single].max(axis=1))
    # Ten rows on which two of them vote together still count as agreement for those two only.
    overlap = votes.copy()
    overlap[3:13, :2] = gold[3:13, None]
    with pytest.warns(IdentifiabilityWarning, match="only 2 of the 4 voting"):
        get_label_model(name).fit(overlap)


@pytest.mark.parametrize("name", ALL)
def test_global_random_state_is_untouched_and_fit_is_deterministic(name: str, synth) -> None:
    votes, _, _ = synth(2000, [0.8, 0.7, 0.75, 0.6], k=3, seed=5)
    before = np.random.get_state()  # noqa: NPY002 - the legacy global state must stay untouched
    first = get_label_model(name).fit(votes, seed=7).predict_proba(votes)
    after = np.random.get_state()  # noqa: NPY002
    assert np.array_equal(before[1], after[1]) and before[2:] == after[2:]
    second = get_label_model(name).fit(votes, seed=7).predict_proba(votes)
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("name", ALL)
def test_save_load_round_trip(name: str, synth, tmp_path) -> None:
    votes, _, _ = synth(2000, [0.8, 0.7, 0.75, 0.6], k=4, seed=6)
    model = get_label_model(name).fit(LabelMatrix(votes, ["a", "b", "c", "d"]))
    model.save(tmp_path / "lm")
    assert not list((tmp_path / "lm").glob("*.pkl"))
    for loaded in (load_label_model(tmp_path / "lm"), type(model).load(tmp_path / "lm")):
        assert type(loaded) is type(model)
        assert loaded.get_params() == model.get_params()
        assert loaded.lf_names_ == ["a", "b", "c", "d"]
        np.testing.assert_array_equal(loaded.predict_proba(votes), model.predict_proba(votes))
        np.testing.assert_array_equal(loaded.lf_accuracies_, model.lf_accuracies_)


def test_load_errors(tmp_path, synth) -> None:
    with pytest.raises(LabelModelError, match="no saved label model"):
        load_label_model(tmp_path)
    votes, _, _ = synth(500, [0.8, 0.7, 0.75], seed=7)
    MajorityVote().fit(votes).save(tmp_path / "mv")
    with pytest.raises(LabelModelError, match="holds a 'majority_vote' label model"):
        DawidSkene.load(tmp_path / "mv")


@pytest.mark.parametrize("name", ALL)
def test_the_base_class_loads_a_saved_model_as_its_own_class(name: str, synth, tmp_path) -> None:
    votes, _, _ = synth(500, [0.8, 0.7, 0.75], seed=7)
    model = get_label_model(name).fit(votes)
    loaded = BaseLabelModel.load(model.save(tmp_path / "lm"))
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(loaded.predict_proba(votes), model.predict_proba(votes))


def test_use_before_fit_raises() -> None:
    with pytest.raises(NotFittedError, match="not fitted yet"):
        LabelModel().predict(np.zeros((2, 3), dtype=int))
    with pytest.raises(NotFittedError):
        LabelModel().save("unused")


def test_registry_names_and_unknown_name() -> None:
    assert set(LABEL_MODELS) == {
        "auto",
        "majority_vote",
        "weighted_majority_vote",
        "dawid_skene",
        "matrix_completion",
        "triplet",
    }
    assert isinstance(get_label_model("auto"), LabelModel)
    assert get_label_model("dawid_skene", max_iter=3).max_iter == 3
    with pytest.raises(LabelModelError, match="Unknown label model 'snorkel'"):
        get_label_model("snorkel")


def test_bad_inputs_name_the_column(synth) -> None:
    matrix = LabelMatrix([[0, 1], [1, 5], [0, -1]], ["kw_free", "kw_win"])
    with pytest.raises(DataError, match="'kw_win' votes class 5.*cardinality 2"):
        MajorityVote(cardinality=2).fit(matrix)
    with pytest.raises(DataError, match="column 0 holds -3"):
        MajorityVote().fit(np.array([[-3, 0], [1, 1]]))
    with pytest.raises(DataError, match="2-D"):
        MajorityVote().fit(np.array([0, 1, 1]))
    with pytest.raises(DataError, match="column 0 holds 0.5 at row 0; votes must be integers"):
        MajorityVote().fit(np.array([[0.5, 1.0]]))
    with pytest.raises(DataError, match="column 1 holds nan at row 1"):
        LabelModel().fit(np.array([[0.0, 1.0], [1.0, np.nan]]))
    with pytest.raises(DataError, match="'kw_win' has a missing vote at row 2"):
        LabelModel().fit(pd.DataFrame({"kw_win": pd.array([0, 1, None], dtype="Int8")}))
    votes, _, _ = synth(200, [0.8, 0.7, 0.75], seed=8)
    model = MajorityVote().fit(votes)
    with pytest.raises(DataError, match="has 4 columns.*fit on 3"):
        model.predict(np.zeros((2, 4), dtype=int))


def test_bad_parameters_and_fit_arguments(synth) -> None:
    votes, gold, _ = synth(300, [0.8, 0.7, 0.75], seed=9)
    with pytest.raises(
        ValueError,
        match="'cardinality' parameter of DawidSkene must be an int from 2 to 10000 or None. Got 1",
    ):
        DawidSkene(cardinality=1).fit(votes)
    with pytest.raises(ValueError, match="'max_iter'"):
        DawidSkene(max_iter=0).fit(votes)
    with pytest.raises(DataError, match="sum to 1"):
        LabelModel().fit(votes, class_balance=[0.5, 0.6])
    with pytest.raises(DataError, match="one entry per class"):
        LabelModel().fit(votes, class_balance=[1.0])
    with pytest.raises(DataError, match="both L_dev and y_dev"):
        LabelModel().fit(votes, L_dev=votes)
    with pytest.raises(DataError, match="y_dev has 5 labels"):
        LabelModel().fit(votes, L_dev=votes[:10], y_dev=gold[:5])
    with pytest.raises(DataError, match="y_dev holds class 3"):
        LabelModel(cardinality=2).fit(votes, L_dev=votes[:2], y_dev=[0, 3])
    with pytest.raises(ValueError, match="Invalid parameter 'bogus'"):
        LabelModel().set_params(bogus=1)


def test_tie_breaks_and_scores() -> None:
    votes = np.array([[0, 1, -1], [0, 0, 1], [-1, -1, -1], [1, 1, 0]] * 5)
    model = MajorityVote().fit(votes, class_balance=[0.2, 0.8])
    assert model.predict(votes[:4], tie_break="abstain").tolist() == [-1, 0, 1, 1]
    assert model.predict(votes[:4], tie_break="prior").tolist() == [1, 0, 1, 1]
    random_pick = model.predict(np.tile(votes[:1], (200, 1)), tie_break="random", seed=1)
    assert set(random_pick) == {0, 1}
    np.testing.assert_array_equal(
        random_pick, model.predict(np.tile(votes[:1], (200, 1)), tie_break="random", seed=1)
    )
    gold = np.array([1, 0, 1, 1] * 5)
    assert model.score(votes, gold) == 1.0
    assert model.score(votes, gold, tie_break="abstain") == 0.75
    assert model.score(votes, gold, metric="f1") == 1.0
    assert 0 < model.score(votes, gold, metric="log_loss") < 1
    with pytest.raises(ValueError, match="tie_break must be one of"):
        model.predict(votes, tie_break="coin")
    # A misspelt tie-break would otherwise break ties at random, unseen.
    with pytest.raises(ParameterError, match="tie_break must be one of.*got 'abstian'"):
        model.score(votes, gold, tie_break="abstian")
    with pytest.raises(ParameterError, match=r"threshold must be a probability.*got \[0.5\]"):
        model.predict(votes, threshold=[0.5])
    assert model.predict(votes[:4], threshold=np.float32(0.5)).tolist() == [1, 0, 1, 1]
    with pytest.raises(ValueError, match="metric must be one of"):
        model.score(votes, gold, metric="auc")
    with pytest.raises(DataError, match="gold labels must be >= 0"):
        model.score(votes, -np.ones(20, dtype=int))


@pytest.mark.parametrize("name", ALL)
def test_invariant_to_permuting_sources_and_relabeling_classes(name: str, synth) -> None:
    votes, _, _ = synth(5000, [0.85, 0.7, 0.75, 0.65, 0.8], k=3, coverage=0.7, seed=10)
    base = get_label_model(name).fit(votes)
    order = np.array([3, 0, 4, 2, 1])
    permuted = get_label_model(name).fit(votes[:, order])
    np.testing.assert_allclose(
        permuted.predict_proba(votes[:, order]), base.predict_proba(votes), atol=1e-6
    )
    np.testing.assert_allclose(permuted.lf_accuracies_, base.lf_accuracies_[order], atol=1e-6)
    relabel = np.array([2, 0, 1])  # class c becomes relabel[c]
    renamed = np.where(votes >= 0, relabel[np.maximum(votes, 0)], -1)
    moved = get_label_model(name).fit(renamed)
    np.testing.assert_allclose(
        moved.predict_proba(renamed)[:, relabel], base.predict_proba(votes), atol=1e-4
    )
    np.testing.assert_allclose(moved.lf_accuracies_, base.lf_accuracies_, atol=1e-4)


def test_no_warnings_on_well_posed_data(synth) -> None:
    votes, _, _ = synth(2000, [0.8, 0.7, 0.75, 0.6], seed=11)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in ALL:
            get_label_model(name).fit(votes)


def test_logistic_matches_scipy_without_overflow() -> None:
    scores = np.array([-1000.0, -40.0, -3.5, -1e-12, 0.0, 2.0, 37.0, 800.0])
    with np.errstate(over="raise", divide="raise", invalid="raise"):
        sigmoid, log_normalizer = logistic(scores.copy())
        into = np.empty_like(scores)
        assert logistic(scores.copy(), out=into)[0] is into
    np.testing.assert_allclose(sigmoid, expit(scores), rtol=1e-15, atol=0)
    np.testing.assert_array_equal(into, sigmoid)
    np.testing.assert_allclose(log_normalizer, np.logaddexp(0.0, scores), rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("name", ALL)
def test_a_label_matrix_is_matched_to_the_fit_by_lf_name(name: str, synth) -> None:  # noqa: ANN001
    votes, _, _ = synth(600, [0.9, 0.6, 0.75, 0.55], coverage=0.6, seed=5)
    names = ["a", "b", "c", "d"]
    model = get_label_model(name).fit(LabelMatrix(votes, names))
    expected = model.predict_proba(LabelMatrix(votes, names))
    order = [2, 0, 3, 1]
    shuffled = LabelMatrix(votes[:, order], [names[j] for j in order])
    np.testing.assert_array_equal(model.predict_proba(shuffled), expected)
    with pytest.raises(DataError, match=r"missing \['d'\], not fit on \['e'\]"):
        model.predict_proba(LabelMatrix(votes, ["a", "b", "c", "e"]))


def test_fit_runs_on_one_blas_thread_and_restores_the_setting(synth) -> None:
    from threadpoolctl import ThreadpoolController

    def blas_threads() -> list[int]:
        return [lib["num_threads"] for lib in ThreadpoolController().select(user_api="blas").info()]

    seen: list[list[int]] = []

    class Recording(MajorityVote):
        def _fit(self, *args, **kwargs) -> None:  # noqa: ANN002, ANN003
            seen.append(blas_threads())
            super()._fit(*args, **kwargs)

    before = blas_threads()
    votes, _, _ = synth(500, [0.8, 0.7, 0.75], seed=0)
    for _ in range(2):  # the second fit reuses the BLAS libraries found by the first
        Recording().fit(votes)
    assert before and seen == [[1] * len(before)] * 2
    assert blas_threads() == before


def test_a_frame_of_votes_is_read_like_a_label_matrix(synth) -> None:
    votes, gold, _ = synth(2000, [0.85, 0.7, 0.75, 0.8], seed=3)
    names = ["kw_free", "kw_win", "regex_url", "short"]
    frame = pd.DataFrame(votes, columns=names).astype("Int8")
    model = LabelModel().fit(frame)
    assert model.lf_names_ == names
    expected = LabelModel().fit(LabelMatrix(votes, names)).predict_proba(votes)
    np.testing.assert_allclose(model.predict_proba(frame), expected)
    # Columns are matched by name, not position.
    np.testing.assert_allclose(model.predict_proba(frame[names[::-1]]), expected)
    with pytest.raises(DataError, match=r"missing \['short'\]"):
        model.predict_proba(frame[names[:3]])
    summary = lf_summary(frame, gold, label_model=model)
    assert list(summary.index) == names


def _indexed(votes: np.ndarray) -> LabelMatrix:
    """``votes`` as a LabelMatrix whose rows are labelled ``r0``, ``r1``, ..."""
    names = [f"lf{j}" for j in range(votes.shape[1])]
    return LabelMatrix(votes, names, index=pd.Index([f"r{i}" for i in range(len(votes))]))


def test_score_matches_a_series_by_its_index(synth) -> None:
    votes, gold, _ = synth(400, [0.8, 0.7, 0.75], seed=40)
    matrix = _indexed(votes)
    y = pd.Series(gold, index=matrix.index)
    model = LabelModel().fit(matrix)
    expected = model.score(votes, gold)
    assert expected > 0.7
    assert model.score(matrix, y[::-1]) == expected
    assert model.score(matrix.to_frame(), y.sample(frac=1.0, random_state=0)) == expected
    assert model.score(matrix, gold[::-1]) != expected  # an array is matched by position
    with pytest.raises(
        DataError,
        match=r"y is matched to the label matrix's rows by its index, which lacks row 'r0' "
        r"\(and 9 more\)",
    ):
        model.score(matrix, y.iloc[10:])
    with pytest.raises(
        DataError, match="by its index, which holds row 'extra', not a row of the label matrix"
    ):
        model.score(matrix, pd.concat([y, pd.Series([0], index=["extra"])]))
    with pytest.raises(DataError, match="y's index repeats 'r1'"):
        model.score(matrix, y.rename(index={"r0": "r1"})[::-1])
    with pytest.raises(DataError, match=r"lacks row 'r0'.*pass y.to_numpy\(\)"):
        model.score(matrix, pd.Series(gold))


@pytest.mark.parametrize("name", ALL)
def test_a_matrix_without_columns_or_rows_is_refused(name: str) -> None:
    with pytest.raises(DataError, match=r"no labeling functions \(0 columns\)"):
        get_label_model(name).fit(np.empty((5, 0), dtype=int))
    with pytest.raises(DataError, match="no rows"):
        get_label_model(name).fit(np.empty((0, 3), dtype=int))


@pytest.mark.parametrize(
    ("votes", "message"),
    [
        (np.array([[0, 1, 10**6]] * 5), "column 2 votes class 1000000, but a label model takes"),
        (np.array([[0, 1, 2**40]] * 5), "column 2 votes class 1099511627776"),
        (
            np.array([[0, 1, 2**63]] * 5, dtype=np.uint64),
            "column 2 votes class 9223372036854775808",
        ),
        (LabelMatrix([[0, 1, 10_000]] * 5, ["a", "b", "year"]), "'year' votes class 10000"),
        (sp.csr_matrix([[1, 2, 20_001]] * 5), "column 2 votes class 20000"),
    ],
)
def test_a_vote_beyond_the_class_limit_names_its_column(votes, message: str) -> None:
    with pytest.raises(DataError, match=message + ".*at most 10000 classes"):
        LabelModel().fit(votes)


def test_the_class_limit_holds_for_the_cardinality_parameter_and_class_balance() -> None:
    votes = np.array([[0, 1, 1], [1, 0, 1]] * 5)
    assert infer_cardinality(np.vstack([votes, [[9_999, 0, 0]]])) == 10_000
    with pytest.raises(ValueError, match="'cardinality' parameter of LabelModel must be an int"):
        LabelModel(cardinality=10_001).fit(votes)
    with pytest.raises(DataError, match="class_balance has 20000 entries; a label model takes"):
        LabelModel().fit(votes, class_balance=np.full(20_000, 1 / 20_000))


@pytest.mark.parametrize("metric", METRICS)
def test_score_refuses_a_gold_class_the_model_does_not_have(metric: str) -> None:
    votes = np.array([[0, 0, 0], [1, 1, 1], [0, 0, -1], [1, 1, 0]] * 5)
    model = MajorityVote().fit(votes)
    gold = np.array([0, 1, 0, 7] * 5)
    with pytest.raises(
        DataError, match=r"y holds class 7 at row 3, but the label model has cardinality 2"
    ):
        model.score(votes, gold, metric=metric)
    y = pd.Series(gold, index=[f"r{i}" for i in range(20)])
    with pytest.raises(DataError, match="y holds class 7 at row 'r3'"):
        model.score(_indexed(votes), y, metric=metric)


def test_roc_auc_and_coverage_as_snorkel_names_them(synth) -> None:
    from sklearn.metrics import roc_auc_score

    votes, gold, _ = synth(3000, [0.8, 0.7, 0.65, 0.75], k=3, coverage=0.5, seed=4)
    model = LabelModel().fit(votes)
    proba = model.predict_proba(votes)
    assert model.score(votes, gold, metric="roc_auc") == pytest.approx(
        roc_auc_score(gold, proba, multi_class="ovr")
    )
    binary = (gold == 1).astype(int)
    two = LabelModel().fit(np.where(votes < 0, -1, (votes == 1).astype(int)))
    two_votes = np.where(votes < 0, -1, (votes == 1).astype(int))
    assert two.score(two_votes, binary, metric="roc_auc") == pytest.approx(
        roc_auc_score(binary, two.predict_proba(two_votes)[:, 1])
    )
    assert np.isnan(two.score(two_votes, np.zeros_like(binary), metric="roc_auc"))
    # Coverage: the share of rows the decision gives a class (ties abstain on request).
    tied = np.array([[0, 1, -1], [0, 0, 1], [-1, -1, -1], [1, 1, 0]] * 5)
    vote = MajorityVote().fit(tied, class_balance=[0.2, 0.8])
    gold4 = np.array([1, 0, 1, 1] * 5)
    assert vote.score(tied, gold4, metric="coverage", tie_break="abstain") == 0.75
    assert vote.score(tied, gold4, metric="coverage") == 1.0


@pytest.mark.parametrize("metric", ["f1", "precision", "recall"])
def test_binary_metrics_refuse_a_multiclass_model(metric: str, synth) -> None:
    votes, gold, _ = synth(500, [0.8, 0.7, 0.75], k=3, coverage=0.6, seed=1)
    with pytest.raises(ParameterError, match=f"metric '{metric}' scores class 1 of a binary task"):
        LabelModel().fit(votes).score(votes, gold, metric=metric)


def test_log_loss_of_no_rows_is_nan_without_a_warning() -> None:
    votes = np.array([[0, 0, 0], [1, 1, 1], [0, 0, -1], [1, 1, 0]] * 5)
    model = MajorityVote().fit(votes)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isnan(model.score(votes[:0], np.zeros(0, dtype=int), metric="log_loss"))


@pytest.mark.parametrize(
    ("y", "message"),
    [
        (np.array([0, 1, np.nan, 1] * 5), "y holds nan at row 2; gold labels must be integer"),
        (np.array([0, 1, 0.5, 1] * 5), "y holds 0.5 at row 2; gold labels must be integer"),
        (np.array([0, 1, np.inf, 1] * 5), "y holds inf at row 2"),
        (np.array([0, 1, 1e30, 1] * 5), "y holds 1e[+]30 at row 2"),
        (np.array([0, 1, 2**63, 1] * 5, dtype=np.uint64), "y holds 9223372036854775808 at row 2"),
        (np.array([0, 1, "b", 1] * 5, dtype=object), "y holds 'b' at row 2"),
        (pd.Series([0, 1, None, 1] * 5, dtype="Int64"), "y holds nan at row 2"),
        (np.array([0, 1, -1, 1] * 5), "y holds -1 at row 2; gold labels must be >= 0"),
    ],
)
def test_a_gold_label_that_is_not_a_class_index_names_its_row(y, message: str) -> None:
    votes = np.array([[0, 0, 0], [1, 1, 1], [0, 0, -1], [1, 1, 0]] * 5)
    model = MajorityVote().fit(votes)
    with pytest.raises(DataError, match=message):
        model.score(votes, y)


def _saved(tmp_path, synth) -> Path:
    votes, _, _ = synth(500, [0.8, 0.7, 0.75], seed=41)
    return LabelModel().fit(votes).save(tmp_path / "lm")


def _edit_meta(directory: Path, edit) -> None:  # noqa: ANN001
    path = directory / "label_model.json"
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))


def _without(key: str):  # noqa: ANN202
    return lambda meta: {k: v for k, v in meta.items() if k != key}


@pytest.mark.parametrize(
    ("corrupt", "message"),
    [
        (lambda d: (d / "arrays.npz").write_bytes(b"garbage"), r"arrays.npz: not an .npz archive"),
        (
            lambda d: np.savez(d / "arrays.npz", bias_=np.array([object()])),
            "arrays.npz: unreadable: Object arrays cannot be loaded",
        ),
        (lambda d: _edit_meta(d, _without("cardinality_")), "json: missing key 'cardinality_'"),
        (lambda d: _edit_meta(d, lambda meta: [meta]), "json: not a gristmill label model"),
        (
            lambda d: _edit_meta(d, lambda meta: {**meta, "params": {"bogus": 1}}),
            r"json: unknown parameter\(s\) \['bogus'\] of LabelModel; valid: \['cardinality'",
        ),
        (
            lambda d: _edit_meta(d, lambda meta: {**meta, "params": {"max_iter": 0}}),
            "json: corrupt label model: The 'max_iter' parameter",
        ),
        (
            lambda d: _edit_meta(d, lambda meta: {**meta, "n_sources_": "3"}),
            "json: 'n_sources_' holds a str; expected int",
        ),
        (
            lambda d: _edit_meta(d, lambda meta: {**meta, "extra": {}}),
            "json: 'extra' lacks 'learner_'",
        ),
        (
            lambda d: np.savez(d / "arrays.npz", bias_=np.zeros(2)),
            r"arrays.npz: missing array\(s\) \['class_balance_'",
        ),
        (
            lambda d: _edit_meta(d, lambda meta: {**meta, "n_sources_": 4}),
            r"arrays.npz: 'lf_accuracies_' has shape \(3,\).*expected floats of shape \(4,\)",
        ),
    ],
)
def test_a_corrupt_or_partial_saved_model_names_the_file_and_fault(
    tmp_path, synth, corrupt, message: str
) -> None:
    directory = _saved(tmp_path, synth)
    corrupt(directory)
    for load in (load_label_model, LabelModel.load):
        with pytest.raises(LabelModelError, match=message):
            load(directory)


def test_save_into_a_file_names_the_path(tmp_path, synth) -> None:
    votes, _, _ = synth(300, [0.8, 0.7, 0.75], seed=42)
    model = MajorityVote().fit(votes)
    blocker = tmp_path / "taken"
    blocker.write_text("not a directory")
    with pytest.raises(OutputError, match="taken: is a file; a label model is saved to a dir"):
        model.save(blocker)
    with pytest.raises(OutputError, match="taken/model: lies under .*taken, which is a file"):
        model.save(blocker / "model")


def test_numpy_and_pandas_hyperparameters_fit_and_save(synth, tmp_path) -> None:
    votes, _, _ = synth(300, [0.8, 0.7, 0.75], seed=44)
    models = [
        DawidSkene(max_iter=np.int64(20), tol=np.float32(1e-4), smoothing=np.float32(1)),
        MatrixCompletion(prec_init=np.float32(0.7), l2=np.int64(0)),
        WeightedMajorityVote(weights=pd.Series([1.0, np.float32(2.0), 0.0])),
        WeightedMajorityVote(weights=(np.float32(1.0), 2, 0)),
    ]
    for i, model in enumerate(models):
        path = model.fit(votes).save(tmp_path / str(i))
        np.testing.assert_allclose(
            load_label_model(path).predict_proba(votes), model.predict_proba(votes)
        )
    with pytest.raises(ParameterError, match="'tol' parameter of DawidSkene must be a float"):
        DawidSkene(tol=True).fit(votes)


def test_a_save_that_fails_leaves_the_model_saved_before(synth, tmp_path) -> None:
    votes, _, _ = synth(300, [0.8, 0.7, 0.75], seed=45)
    before = WeightedMajorityVote().fit(votes)
    path = before.save(tmp_path / "lm")
    after = WeightedMajorityVote(weights=[1.0, 0.0, 0.0]).fit(votes)
    after.set_params(weights={1.0, 2.0})  # a set: JSON cannot hold it
    with pytest.raises(TypeError):
        after.save(path)
    np.testing.assert_array_equal(
        load_label_model(path).predict_proba(votes), before.predict_proba(votes)
    )


def test_bad_class_balance_seed_and_parameters_name_what_is_wrong(synth) -> None:
    votes, _, _ = synth(300, [0.8, 0.7, 0.75], seed=43)
    with pytest.raises(DataError, match=r"class_balance must hold one probability per class"):
        LabelModel().fit(votes, class_balance=["a", "b"])
    with pytest.raises(DataError, match="class_balance must be a sequence.*got a dict"):
        LabelModel().fit(votes, class_balance={0: 0.5, 1: 0.5})
    with pytest.raises(DataError, match=r"class_balance must be 1-D.*got shape \(\)"):
        LabelModel().fit(votes, class_balance=0.5)
    with pytest.raises(DataError, match=r"class_balance\[1\] is nan; entries must be finite"):
        LabelModel().fit(votes, class_balance=[0.5, np.nan])
    with pytest.raises(
        TypeError,
        match=r"\['max_iters'\] of label model 'dawid_skene'.*valid: \['cardinality', 'max_iter'",
    ):
        get_label_model("dawid_skene", max_iters=5)
    for seed in (-1, 1.5, True, "0"):
        with pytest.raises(
            ValueError, match="'seed' argument of LabelModel.fit must be an int >= 0"
        ):
            LabelModel().fit(votes, seed=seed)
    model = MajorityVote().fit(votes, seed=np.int64(3))
    with pytest.raises(ValueError, match="'seed' argument of MajorityVote.predict must be an int"):
        model.predict(votes, tie_break="random", seed=-1)


@pytest.mark.parametrize(
    "name", sorted(set(LABEL_MODELS) - {"majority_vote", "weighted_majority_vote"})
)
def test_every_model_saves_after_the_identifiability_fallback(name: str, tmp_path) -> None:
    votes = np.array([[1, -1, -1], [1, 1, -1], [-1, -1, 1], [1, -1, 1]] * 5)
    with pytest.warns(IdentifiabilityWarning):
        model = get_label_model(name).fit(votes)
    path = model.save(tmp_path / name)
    np.testing.assert_allclose(
        load_label_model(path).predict_proba(votes), model.predict_proba(votes)
    )


def test_macro_f1_scores_the_classes_present() -> None:
    votes = np.array([[0, 0, 0], [1, 1, 1], [0, 0, -1], [1, 1, 0]] * 5)
    model = get_label_model("majority_vote", cardinality=4).fit(votes)
    gold = np.array([0, 1, 0, 1] * 5)
    assert model.score(votes, gold, metric="f1_macro") == pytest.approx(1.0)
    assert model.score(votes, gold, metric="accuracy") == pytest.approx(1.0)


def test_a_matrix_lacking_an_lf_is_told_what_is_missing_only() -> None:
    votes = LabelMatrix(np.array([[0, 1, 1], [1, 1, 0], [0, 0, 0], [1, -1, 1]]), ["a", "b", "c"])
    model = MajorityVote().fit(votes)
    with pytest.raises(DataError, match=r"missing \['b'\]$"):
        model.predict_proba(LabelMatrix(votes.values[:, [0, 2]], ["a", "c"]))
