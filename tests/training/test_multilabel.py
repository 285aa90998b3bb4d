"""Multilabel end models (one-vs-rest), multilabel metrics, and the multi-task end model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gristmill.exceptions import DataError, NotFittedError
from gristmill.training import (
    EndModel,
    MultiTaskModel,
    OneVsRest,
    SoftLogisticRegression,
    load_end_model,
    multilabel_metrics,
    save_end_model,
    search_end_model,
    task_metrics,
)

WORDS = {"music": ["song", "beat", "lyrics"], "money": ["cash", "prize", "win"]}


def _tagged(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Texts carrying each of two tags with probability 0.5, and their (n, 2) indicators."""
    rng = np.random.default_rng(seed)
    Y = (rng.random((n, 2)) < 0.5).astype(np.int64)
    texts = []
    for row in Y:
        words = ["the", "a", "so"][: rng.integers(1, 4)]
        for on, vocabulary in zip(row, WORDS.values(), strict=True):
            if on:
                words += list(rng.choice(vocabulary, size=2))
        texts.append(" ".join(rng.permutation(words)))
    return pd.DataFrame({"text": texts}), Y


def test_multilabel_metrics_by_hand() -> None:
    y = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
    p = np.array([[1, 0, 0], [0, 1, 0], [1, 0, 1], [0, 0, 0]])
    scores = multilabel_metrics(y, p)
    assert scores["subset_accuracy"] == scores["accuracy"] == 0.5
    assert scores["hamming_loss"] == pytest.approx(3 / 12)
    # pooled cells: 3 true positives, 4 predicted, 5 actual
    assert scores["precision"] == pytest.approx(3 / 4) and scores["recall"] == pytest.approx(3 / 5)
    assert scores["f1_micro"] == scores["f1"] == pytest.approx(2 * 3 / 9)
    # per label F1: 1.0, 2/3, 0.0
    assert scores["f1_macro"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    assert task_metrics(y, p, 3) == scores
    assert task_metrics([0, 1], [0, 0], 2)["accuracy"] == 0.5


def test_one_vs_rest_fits_one_binary_model_per_label() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 3))
    Y = np.column_stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0]).astype(float)
    model = OneVsRest(SoftLogisticRegression, C=10.0).fit(X, Y)
    assert len(model.members_) == 2
    proba = model.predict_proba(X)
    assert proba.shape == (400, 2) and not np.allclose(proba.sum(axis=1), 1.0)
    assert (model.predict(X) == Y).mean() > 0.95
    with pytest.raises(DataError, match=r"in \[0, 1\]"):
        OneVsRest(SoftLogisticRegression).fit(X, Y * 2)
    with pytest.raises(NotFittedError):
        OneVsRest(SoftLogisticRegression).predict_proba(X)


@pytest.mark.parametrize("learner", ["logreg", "lightgbm"])
def test_multilabel_end_model_round_trip(tmp_path, learner: str) -> None:
    frame, Y = _tagged(200, 1)
    probs = np.clip(Y * 0.8 + 0.1, 0, 1)  # soft, independent per label
    model = EndModel(
        {"text": {"kind": "text", "min_df": 1}},
        list(WORDS),
        learner=learner,
        params={"n_estimators": 30} if learner == "lightgbm" else None,
        multilabel=True,
    ).fit(frame, probs)
    test, Y_test = _tagged(60, 2)
    predicted = model.predict(test)
    as_sets = [set(labels) for labels in predicted]
    truth = [{c for c, on in zip(WORDS, row, strict=True) if on} for row in Y_test]
    assert np.mean([a == b for a, b in zip(as_sets, truth, strict=True)]) >= 0.85
    loaded = load_end_model(save_end_model(model, tmp_path / "model"))
    assert loaded.multilabel and loaded.classes == list(WORDS)
    assert np.allclose(loaded.predict_proba(test), model.predict_proba(test))


def test_hard_multilabel_targets_threshold_each_label() -> None:
    frame, Y = _tagged(100, 3)
    probs = np.where(Y == 1, 0.6, 0.3)
    model = EndModel(
        {"text": {"kind": "text", "min_df": 1}},
        list(WORDS),
        target="hard",
        multilabel=True,
        params={"C": 100.0},
    ).fit(frame, probs)
    # fit to 0/1 targets, the model is sure where the soft targets were lukewarm
    assert np.abs(model.predict_proba(frame) - Y).mean() < 0.2


def test_multilabel_search_scores_with_multilabel_metrics() -> None:
    frame, Y = _tagged(200, 4)
    dev, Y_dev = _tagged(60, 5)
    result = search_end_model(
        frame,
        np.clip(Y * 0.9 + 0.05, 0, 1),
        payloads={"text": {"kind": "text", "min_df": 1}},
        classes=list(WORDS),
        dev=dev,
        dev_y=Y_dev,
        candidates=["logreg"],
        trials=2,
        metric="f1_macro",
        multilabel=True,
    )
    assert result.model.multilabel and result.selection == "dev"
    predicted = result.model.classifier_.predict(result.model.transform(dev))
    assert result.best_value == pytest.approx(multilabel_metrics(Y_dev, predicted)["f1_macro"])


def test_multitask_model_predicts_every_task_and_round_trips(tmp_path) -> None:
    frame, Y = _tagged(150, 6)
    music = EndModel({"text": {"kind": "text", "min_df": 1}}, ["no", "yes"]).fit(
        frame, np.eye(2)[Y[:, 0]]
    )
    tags = EndModel({"text": {"kind": "text", "min_df": 1}}, list(WORDS), multilabel=True).fit(
        frame, Y.astype(float)
    )
    model = MultiTaskModel({"music": music, "tags": tags})
    assert model.classes == ["music:no", "music:yes", "tags:music", "tags:money"]
    assert model.payload_columns == ["text"]
    proba = model.predict_proba(frame)
    assert proba.shape == (150, 4)
    assert np.allclose(proba[:, :2], music.predict_proba(frame))
    out = model.predict(frame)
    assert list(out.columns) == ["music:prediction", "tags:prediction"]
    loaded = load_end_model(save_end_model(model, tmp_path / "model"))
    assert isinstance(loaded, MultiTaskModel) and loaded.tasks == ["music", "tags"]
    assert np.allclose(loaded.predict_proba(frame), proba)
    (tmp_path / "model" / "multitask.json").write_text('{"format": "other"}')
    with pytest.raises(DataError, match="unknown format"):
        load_end_model(tmp_path / "model")
