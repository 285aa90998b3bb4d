"""BinaryRelevanceLabelModel: per-label binary votes, priors, the auto choice, save/load."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gristmill.exceptions import DataError, LabelModelError, NotFittedError, ParameterError
from gristmill.labeling import LabelMatrix, lf_summary
from gristmill.labelmodel import BinaryRelevanceLabelModel, binary_votes, load_label_model


def test_binary_votes_decompose_one_label() -> None:
    L = np.array([[0, 3, -1], [2, 5, 1], [-1, -1, 4]])
    assert binary_votes(L, 0, 3).tolist() == [[1, 0, -1], [-1, -1, -1], [-1, -1, -1]]
    assert binary_votes(L, 2, 3).tolist() == [[-1, -1, -1], [1, 0, -1], [-1, -1, -1]]


def _votes(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two labels (prevalence 0.3 and 0.6): one-sided LFs for each, a two-sided worker on x."""
    rng = np.random.default_rng(seed)
    Y = np.column_stack([rng.random(n) < 0.3, rng.random(n) < 0.6]).astype(int)
    L = np.full((n, 6), -1)
    for j, columns in enumerate(((0, 1), (2, 3, 5))):
        for col in columns:
            fires = (Y[:, j] == 1) & (rng.random(n) < 0.5)
            L[fires, col] = j
    worker = rng.random(n) < 0.3
    noisy = np.where(rng.random(n) < 0.9, Y[:, 0], 1 - Y[:, 0])
    L[worker, 4] = np.where(noisy[worker] == 1, 0, 2)  # 0: x applies, 2 (= k + 0): it does not
    return L, Y


def test_prior_comes_from_two_sided_sources() -> None:
    L, Y = _votes()
    model = BinaryRelevanceLabelModel(["x", "y"], name="majority_vote").fit(L)
    # label 0: the worker votes both ways on it, so its share of "present" votes is the prior;
    # label 1: only one-sided LFs, so the prior is the share of rows with a "present" vote
    worker_votes = L[:, 4][L[:, 4] >= 0]
    assert model.models_[0].class_balance_[1] == pytest.approx(np.mean(worker_votes == 0))
    assert model.models_[1].class_balance_[1] == pytest.approx(np.mean((L == 1).any(axis=1)))
    assert model.sources_ == [[0, 1, 4], [2, 3, 5]]
    proba = model.predict_proba(L)
    assert proba.shape == (600, 2)
    # rows without a vote on a label lean to "absent"; the accuracy beats the majority guess
    assert ((proba >= 0.5) == Y).mean() > 0.75


def test_auto_fits_the_label_model_only_to_labels_with_two_sided_sources(tmp_path) -> None:
    L, Y = _votes(seed=1)
    rng = np.random.default_rng(2)
    # three crowd workers answer about label y on 40% of the rows, right 85% of the time
    for _ in range(3):
        asked = rng.random(len(L)) < 0.4
        answer = np.where(rng.random(len(L)) < 0.85, Y[:, 1], 1 - Y[:, 1])
        L = np.column_stack([L, np.where(asked, np.where(answer == 1, 1, 3), -1)])
    model = BinaryRelevanceLabelModel(["x", "y"]).fit(L, seed=3)
    # x: one two-sided source (the worker of _votes); y: three
    assert model.names_ == ["majority_vote", "auto"]
    # y applies to 60% of rows; the fitted model does clearly better than guessing that
    assert ((model.predict_proba(L)[:, 1] >= 0.5) == Y[:, 1]).mean() > 0.75
    loaded = BinaryRelevanceLabelModel.load(model.save(tmp_path / "lm"))
    assert loaded.classes == ["x", "y"] and loaded.sources_ == model.sources_
    assert loaded.names_ == model.names_
    assert np.allclose(loaded.predict_proba(L), model.predict_proba(L))


def _named(L: np.ndarray) -> LabelMatrix:
    return LabelMatrix(L, [f"src_{j}" for j in range(L.shape[1])])


def test_source_names_are_recorded_used_by_name_and_saved(tmp_path) -> None:
    L, _ = _votes(seed=4)
    model = BinaryRelevanceLabelModel(["x", "y"]).fit(_named(L))
    assert model.lf_names_ == [f"src_{j}" for j in range(6)] and model.n_sources_ == 6
    # the same sources in another order are matched by name, not position
    order = [5, 3, 1, 0, 4, 2]
    shuffled = LabelMatrix(L[:, order], [f"src_{j}" for j in order])
    assert np.allclose(model.predict_proba(shuffled), model.predict_proba(L))
    renamed = LabelMatrix(L, [f"src_{j}" for j in range(5)] + ["other"])
    with pytest.raises(DataError, match=r"missing \['src_5'\], not fit on \['other'\]"):
        model.predict_proba(renamed)
    loaded = BinaryRelevanceLabelModel.load(model.save(tmp_path / "lm"))
    assert loaded.lf_names_ == model.lf_names_ and loaded.n_sources_ == 6
    np.testing.assert_array_equal(loaded.lf_accuracies_, model.lf_accuracies_)
    assert np.allclose(loaded.predict_proba(shuffled), model.predict_proba(L))


def test_lf_accuracies_weigh_each_labels_estimate_by_the_sources_votes() -> None:
    L, _ = _votes(seed=5)
    L[:30, 1] = 3  # source 1 also says "y does not apply" on 30 rows
    model = BinaryRelevanceLabelModel(["x", "y"], name="majority_vote").fit(L)
    on_x = model.models_[0].lf_accuracies_[model.sources_[0].index(1)]
    on_y = model.models_[1].lf_accuracies_[model.sources_[1].index(1)]
    n_x, n_y = int((L[:, 1] == 0).sum()), 30
    assert model.lf_accuracies_[1] == pytest.approx((n_x * on_x + n_y * on_y) / (n_x + n_y))
    # a source voting on one label gets that label's estimate; a silent one NaN
    assert model.lf_accuracies_[0] == model.models_[0].lf_accuracies_[0]
    silent = BinaryRelevanceLabelModel(["x", "y"]).fit(np.column_stack([L, np.full(len(L), -1)]))
    assert np.isnan(silent.lf_accuracies_[-1]) and silent.n_sources_ == 7


def test_lf_summary_reads_a_fitted_multilabel_model() -> None:
    L, _ = _votes(seed=6)
    matrix = _named(L)
    model = BinaryRelevanceLabelModel(["x", "y"]).fit(matrix)
    summary = lf_summary(matrix, label_model=model)
    np.testing.assert_array_equal(summary["Est. Acc."].to_numpy(), model.lf_accuracies_)
    reordered = LabelMatrix(L[:, ::-1], [f"src_{j}" for j in range(5, -1, -1)])
    by_name = lf_summary(reordered, label_model=model)["Est. Acc."]
    np.testing.assert_array_equal(
        by_name.loc[list(matrix.lf_names)].to_numpy(), model.lf_accuracies_
    )


def test_bad_matrices_are_refused_naming_the_source() -> None:
    L, _ = _votes(seed=7)
    model = BinaryRelevanceLabelModel(["x", "y"])
    bad = L.copy()
    bad[3, 2] = 4  # two labels: votes are 0..3
    with pytest.raises(DataError, match=r"labeling function 'src_2' votes 4 at row 3; .* 0\.\.3"):
        model.fit(_named(bad))
    model.fit(_named(L))
    with pytest.raises(DataError, match="labeling function .src_2. votes 4 at row 3"):
        model.predict_proba(bad)
    with pytest.raises(DataError, match="has 5 columns .* fit on 6"):
        model.predict_proba(L[:, :5])
    with pytest.raises(NotFittedError, match="not fitted"):
        BinaryRelevanceLabelModel(["x", "y"]).predict_proba(L)


def test_a_label_no_source_votes_on_is_named_with_the_sources() -> None:
    L = np.array([[0, -1], [-1, 0], [2, -1]])
    with pytest.raises(
        DataError,
        match=r"label 'y' gets no vote from any supervision source "
        r"\(says_x, also_x\)",
    ):
        BinaryRelevanceLabelModel(["x", "y"]).fit(LabelMatrix(L, ["says_x", "also_x"]))


def test_dev_votes_are_matched_by_name_and_checked() -> None:
    L, Y = _votes(seed=8)
    matrix = _named(L)
    model = BinaryRelevanceLabelModel(["x", "y"], name="majority_vote")
    fitted = model.fit(matrix, L_dev=matrix, Y_dev=Y).predict_proba(L)
    order = [2, 0, 1, 5, 4, 3]
    shuffled = LabelMatrix(L[:, order], [f"src_{j}" for j in order])
    np.testing.assert_allclose(model.fit(matrix, L_dev=shuffled, Y_dev=Y).predict_proba(L), fitted)
    with pytest.raises(DataError, match="Pass both L_dev and Y_dev"):
        model.fit(matrix, L_dev=matrix)
    with pytest.raises(DataError, match=r"Y_dev must hold 0/1 indicators .* shape \(600, 1\)"):
        model.fit(matrix, L_dev=matrix, Y_dev=Y[:, :1])


def test_load_refuses_what_is_no_saved_model(tmp_path) -> None:
    with pytest.raises(DataError, match="no saved binary relevance model"):
        BinaryRelevanceLabelModel.load(tmp_path)
    L, _ = _votes(seed=9)
    saved = BinaryRelevanceLabelModel(["x", "y"]).fit(_named(L)).save(tmp_path / "lm")
    meta = json.loads((saved / "binary_relevance.json").read_text())
    meta["lf_names"] = meta["lf_names"][:-1]
    (saved / "binary_relevance.json").write_text(json.dumps(meta))
    with pytest.raises(DataError, match="corrupt: 6 sources, 6 accuracies, 5 names"):
        BinaryRelevanceLabelModel.load(saved)


def test_load_label_model_loads_a_saved_multilabel_model(tmp_path) -> None:
    L, _ = _votes(seed=12)
    model = BinaryRelevanceLabelModel(["x", "y"]).fit(_named(L))
    loaded = load_label_model(model.save(tmp_path / "lm"))
    assert isinstance(loaded, BinaryRelevanceLabelModel) and loaded.classes == ["x", "y"]
    assert loaded.lf_names_ == model.lf_names_
    np.testing.assert_allclose(loaded.predict_proba(_named(L)), model.predict_proba(_named(L)))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "binary_relevance.json: not valid JSON"),
        ("[1, 2]", "unknown format None"),
        ('{"format": "gristmill.binary_relevance/1"}', "corrupt: missing classes, name, params"),
    ],
)
def test_load_label_model_names_a_corrupt_multilabel_save(tmp_path, text, message) -> None:
    L, _ = _votes(seed=13)
    saved = BinaryRelevanceLabelModel(["x", "y"]).fit(L).save(tmp_path / "lm")
    (saved / "binary_relevance.json").write_text(text)
    with pytest.raises(LabelModelError, match=message):
        load_label_model(saved)
    with pytest.raises(DataError, match=message):
        BinaryRelevanceLabelModel.load(saved)


def test_a_model_saved_before_sources_were_named_loads(tmp_path) -> None:
    L, _ = _votes(seed=10)
    model = BinaryRelevanceLabelModel(["x", "y"]).fit(L)
    saved = model.save(tmp_path / "lm")
    meta = json.loads((saved / "binary_relevance.json").read_text())
    for key in ("n_sources", "lf_names", "lf_accuracies"):
        del meta[key]
    (saved / "binary_relevance.json").write_text(json.dumps(meta))
    loaded = BinaryRelevanceLabelModel.load(saved)
    assert loaded.lf_names_ is None and loaded.n_sources_ == 6
    assert np.isnan(loaded.lf_accuracies_).all() and loaded.lf_accuracies_.shape == (6,)
    np.testing.assert_allclose(loaded.predict_proba(L), model.predict_proba(L))


def test_with_dev_labels_each_labels_prior_is_its_share_of_the_dev_rows() -> None:
    L, Y = _votes(seed=11)
    L_dev, Y_dev = _votes(n=200, seed=12)
    model = BinaryRelevanceLabelModel(["x", "y"]).fit(L, L_dev=L_dev, Y_dev=Y_dev)
    for j in range(2):
        assert model.models_[j].class_balance_[1] == pytest.approx(Y_dev[:, j].mean())
    # rows no source votes on get the prior: x (30 % of rows) is absent there, y (60 %) present
    proba = model.predict_proba(np.full((1, 6), -1))
    assert proba[0, 0] < 0.5 < proba[0, 1]
    # so the dev set helps rather than hurts (the votes alone would make x as common as y)
    without_dev = BinaryRelevanceLabelModel(["x", "y"]).fit(L).predict_proba(L)
    assert ((model.predict_proba(L) >= 0.5) == Y).mean() >= ((without_dev >= 0.5) == Y).mean()


def test_a_fit_that_fails_leaves_the_model_as_it_was() -> None:
    no_y = np.array([[0, -1], [-1, 2], [0, 0]] * 5)  # nothing votes on label y
    fresh = BinaryRelevanceLabelModel(["x", "y"])
    with pytest.raises(DataError, match="label 'y' gets no vote"):
        fresh.fit(no_y)
    with pytest.raises(NotFittedError):
        fresh.predict_proba(no_y)
    L, _ = _votes(seed=13)
    fitted = BinaryRelevanceLabelModel(["x", "y"]).fit(L)
    before = fitted.predict_proba(L)
    with pytest.raises(DataError, match="label 'y' gets no vote"):
        fitted.fit(no_y)
    np.testing.assert_array_equal(fitted.predict_proba(L), before)


def test_labels_and_empty_matrices_are_refused_up_front() -> None:
    for classes in ("music", [], ["x", "y", "x"]):
        with pytest.raises(ParameterError, match="'classes' parameter .* distinct label names"):
            BinaryRelevanceLabelModel(classes)
    model = BinaryRelevanceLabelModel(["x", "y"])
    with pytest.raises(DataError, match="0 rows and 2 columns"):
        model.fit(np.empty((0, 2), dtype=int))
    with pytest.raises(DataError, match="5 rows and 0 columns"):
        model.fit(np.empty((5, 0), dtype=int))
