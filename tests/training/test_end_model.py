"""Noise-aware learners on probabilistic labels, the end model, and saving without pickle."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from gristmill.exceptions import DataError, NotFittedError, OutputError
from gristmill.training import (
    EndModel,
    MultiTaskModel,
    SoftLightGBM,
    SoftLogisticRegression,
    SoftMLP,
    classification_metrics,
    load_end_model,
    save_end_model,
)


def _blobs(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    centers = np.array([[2.0, 0.0], [-2.0, 1.0], [0.0, -2.5]])
    return centers[y] + rng.normal(size=(n, 2)), y


def test_soft_logreg_matches_hard_labels_when_probs_are_one_hot() -> None:
    X, y = _blobs()
    probs = np.eye(3)[y]
    model = SoftLogisticRegression(C=10.0).fit(X, probs)
    assert (model.predict(X) == y).mean() > 0.9
    assert np.allclose(model.predict_proba(X).sum(axis=1), 1.0)


def test_soft_labels_carry_information_hard_labels_lose() -> None:
    # one feature; the probability of class 1 rises smoothly with it: a soft-label fit
    # recovers the slope, so its predicted probabilities track the targets
    x = np.linspace(-3, 3, 200)[:, None]
    p1 = 1 / (1 + np.exp(-1.5 * x[:, 0]))
    probs = np.column_stack([1 - p1, p1])
    model = SoftLogisticRegression(C=100.0).fit(sp.csr_matrix(x), probs)
    assert np.abs(model.predict_proba(x)[:, 1] - p1).max() < 0.05


def test_lightgbm_expands_rows_by_class_probability() -> None:
    pytest.importorskip("lightgbm")
    X, y = _blobs()
    probs = 0.8 * np.eye(3)[y] + 0.2 / 3
    model = SoftLightGBM(n_estimators=40).fit(X, probs)
    assert (model.predict(X) == y).mean() > 0.9
    assert model.predict_proba(X).shape == (300, 3)


def test_lightgbm_copies_only_the_rows_a_class_weighs_on() -> None:
    # Hard labels over 10 classes keep one (row, class) pair per row: the expansion must not
    # build all 10 copies of the features first (measured 12x the features' size before).
    pytest.importorskip("lightgbm")
    rng = np.random.default_rng(0)
    X = sp.csr_matrix(rng.normal(size=(20_000, 20)))
    probs = np.eye(10)[rng.integers(0, 10, 20_000)]
    features_bytes = X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    tracemalloc.start()
    try:
        SoftLightGBM(n_estimators=1).fit(X, probs)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * features_bytes


@pytest.mark.slow
def test_mlp_learns_from_soft_labels() -> None:
    pytest.importorskip("torch")
    X, y = _blobs()
    probs = 0.9 * np.eye(3)[y] + 0.1 / 3
    model = SoftMLP(hidden=16, epochs=15, lr=1e-2, seed=1).fit(X, probs)
    assert (model.predict(X) == y).mean() > 0.9
    again = SoftMLP(hidden=16, epochs=15, lr=1e-2, seed=1).fit(X, probs)
    assert np.allclose(model.predict_proba(X), again.predict_proba(X))  # seeded


def test_learner_errors() -> None:
    X, _ = _blobs(20)
    with pytest.raises(NotFittedError):
        SoftLogisticRegression().predict_proba(X)
    with pytest.raises(DataError, match="shape"):
        SoftLogisticRegression().fit(X, np.ones((19, 2)))
    with pytest.raises(DataError, match="non-negative"):
        SoftLogisticRegression().fit(X, -np.ones((20, 2)))
    with pytest.raises(ValueError, match="'C' parameter"):
        SoftLogisticRegression(C=0).fit(X, np.ones((20, 2)))


TEXT = pd.DataFrame(
    {
        "text": [
            "win cash now",
            "lovely song",
            "cash prize win",
            "great song",
            "free cash",
            "nice voice",
            "win free money",
            "love this song",
        ]
        * 3,
        "stars": [1, 5, 1, 4, 2, 5, 1, 5] * 3,
    }
)
PROBS = np.tile(
    np.array(
        [
            [0.1, 0.9],
            [0.9, 0.1],
            [0.2, 0.8],
            [0.8, 0.2],
            [0.3, 0.7],
            [0.7, 0.3],
            [0.1, 0.9],
            [0.95, 0.05],
        ]
    ),
    (3, 1),
)


@pytest.mark.parametrize("learner", ["logreg", "lightgbm", "mlp"])
def test_end_model_save_load_round_trip(tmp_path, learner) -> None:
    if learner == "lightgbm":
        pytest.importorskip("lightgbm")
        params = {"n_estimators": 20, "min_child_samples": 2}
    elif learner == "mlp":
        pytest.importorskip("torch")
        params = {"hidden": 8, "epochs": 5}
    else:
        params = {"C": 5.0}
    model = EndModel(
        {"text": {"kind": "text", "min_df": 1}, "stars": "numeric"},
        ["ham", "spam"],
        learner=learner,
        params=params,
    ).fit(TEXT, PROBS)
    path = save_end_model(model, tmp_path / "model")
    assert sorted(p.name for p in path.iterdir() if p.suffix != ".txt") == [
        "arrays.npz",
        "end_model.json",
    ]
    assert (path / "lightgbm.txt").exists() == (learner == "lightgbm")
    loaded = load_end_model(path)
    assert np.allclose(loaded.predict_proba(TEXT), model.predict_proba(TEXT))
    assert list(loaded.predict(TEXT)) == list(model.predict(TEXT))
    assert loaded.payload_columns == ["text", "stars"]
    # saving again replaces the directory whole
    save_end_model(model, path)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_saving_never_deletes_a_folder_of_other_files(tmp_path) -> None:
    model = EndModel({"text": {"kind": "text", "min_df": 1}}, ["ham", "spam"]).fit(TEXT, PROBS)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(OutputError, match="holds files that are not a saved gristmill end model"):
        save_end_model(model, mine)
    with pytest.raises(OutputError, match="is a file"):
        save_end_model(model, mine / "notes.txt")
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    multitask = save_end_model(MultiTaskModel({"spam": model}), tmp_path / "model")
    single = save_end_model(model, multitask)  # one saved model replaces another
    assert isinstance(load_end_model(single), EndModel)
    assert single.stat().st_mode & 0o777 == multitask.stat().st_mode & 0o777


def test_end_model_predicts_class_names() -> None:
    model = EndModel({"text": {"kind": "text", "min_df": 1}}, ["ham", "spam"]).fit(TEXT, PROBS)
    assert model.predict(pd.DataFrame({"text": ["win cash", "song"]})).tolist() == ["spam", "ham"]


def test_hard_target_fits_the_argmax(tmp_path) -> None:
    payloads = {"text": {"kind": "text", "min_df": 1}}
    flat = np.column_stack([np.full(24, 0.45), np.full(24, 0.55)])  # always slightly spam
    soft = EndModel(payloads, ["ham", "spam"], params={"C": 100.0}).fit(TEXT, flat)
    hard = EndModel(payloads, ["ham", "spam"], params={"C": 100.0}, target="hard").fit(TEXT, flat)
    assert soft.predict_proba(TEXT)[:, 1].max() < 0.6  # soft labels stay uncertain
    assert hard.predict_proba(TEXT)[:, 1].min() > 0.9  # hard labels do not
    loaded = load_end_model(save_end_model(hard, tmp_path / "hard"))
    assert loaded.target == "hard"
    with pytest.raises(ValueError, match="'target' parameter"):
        EndModel(payloads, ["ham", "spam"], target="fuzzy")


def test_end_model_errors(tmp_path) -> None:
    with pytest.raises(ValueError, match="'learner' parameter"):
        EndModel({"text": "text"}, ["a", "b"], learner="svm")
    with pytest.raises(DataError, match="shape"):
        EndModel({"text": "text"}, ["a", "b", "c"]).fit(TEXT, PROBS)
    with pytest.raises(NotFittedError):
        save_end_model(EndModel({"text": "text"}, ["a", "b"]), tmp_path / "m")
    with pytest.raises(DataError, match="not a saved end model"):
        load_end_model(tmp_path)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "transform"])
def test_an_unfitted_end_model_says_so(method: str) -> None:
    model = EndModel({"text": "text"}, ["a", "b"])
    with pytest.raises(NotFittedError, match="not fitted yet; call fit first"):
        getattr(model, method)(TEXT)


def test_metrics() -> None:
    binary = classification_metrics([0, 1, 1, 0], [0, 1, 0, 1], 2)
    assert binary["accuracy"] == 0.5 and binary["precision"] == 0.5 and binary["recall"] == 0.5
    multi = classification_metrics([0, 1, 2, 2], [0, 1, 2, 1], 3)
    assert multi["accuracy"] == 0.75
    assert multi["f1"] == multi["f1_macro"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)
    assert "precision" not in multi
