"""Evaluation: label-model ties broken by class balance, and classes no source votes for."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from gristmill.pipeline._evaluate import evaluate, label_model_predictions, unvoted_classes

# Test rows: two no source votes on (the label model gives them equal shares), two it decides.
TIED = np.array([[0.5, 0.5], [0.5, 0.5], [0.9, 0.1], [0.2, 0.8]])
GOLD = ["spam", "spam", "ham", "spam"]
TRAIN_VOTES = np.array([[0, -1], [-1, 1], [1, 1]])


def _end_model(predictions: np.ndarray) -> Any:
    """Stands in for a fitted EndModel that predicts ``predictions``."""
    classifier = SimpleNamespace(predict=lambda features: predictions[: features.shape[0]])
    return SimpleNamespace(
        transform=lambda frame: np.zeros((len(frame), 1)), classifier_=classifier
    )


def _evaluate(classes: list[str], *, reverse: bool = False, **kwargs: Any) -> dict[str, Any]:
    """Evaluate the test rows above with ``classes`` (columns reversed for ``[spam, ham]``)."""
    order = slice(None, None, -1) if reverse else slice(None)
    gold = np.array([classes.index(name) for name in GOLD])
    votes = {"train": TRAIN_VOTES, "test": np.where(np.arange(4)[:, None] < 2, -1, 0)}
    metrics, _ = evaluate(
        classes=classes,
        splits={"test": pd.DataFrame({"text": ["a", "b", "c", "d"]})},
        gold={"test": gold},
        label_probs={"train": kwargs.pop("train_probs", TIED)[:, order], "test": TIED[:, order]},
        label_votes=votes,
        end_model=_end_model(gold),
        slicing_functions=[],
        discover=None,
        **kwargs,
    )
    return metrics["label_model"]["test"]["overall"]


def test_label_model_ties_go_to_the_larger_class_balance_in_either_class_order() -> None:
    model = SimpleNamespace(class_balance_=np.array([0.3, 0.7]))  # spam is the commoner class
    reversed_model = SimpleNamespace(class_balance_=np.array([0.7, 0.3]))
    ham_first = _evaluate(["ham", "spam"], label_model=model)
    spam_first = _evaluate(["spam", "ham"], reverse=True, label_model=reversed_model)
    assert ham_first["accuracy"] == spam_first["accuracy"] == 1.0
    assert ham_first["f1_macro"] == pytest.approx(spam_first["f1_macro"])


def test_the_label_models_class_balance_outranks_its_train_probabilities() -> None:
    # the train probabilities lean to ham, the fitted model's class balance to spam
    train_probs = np.array([[0.9, 0.1], [0.8, 0.2], [0.5, 0.5], [0.5, 0.5]])
    model = SimpleNamespace(class_balance_=np.array([0.4, 0.6]))
    scores = _evaluate(["ham", "spam"], label_model=model, train_probs=train_probs)
    assert scores["accuracy"] == 1.0
    assert _evaluate(["ham", "spam"], train_probs=train_probs)["accuracy"] == 0.5


def test_without_a_label_model_ties_follow_the_mean_train_probabilities() -> None:
    train_probs = np.array([[0.1, 0.9], [0.2, 0.8], [0.5, 0.5], [0.5, 0.5]])
    assert _evaluate(["ham", "spam"], train_probs=train_probs)["accuracy"] == 1.0
    assert _evaluate(["spam", "ham"], reverse=True, train_probs=train_probs)["accuracy"] == 1.0


def test_label_model_predictions_break_only_ties() -> None:
    probs = np.array([[0.5, 0.5], [0.6, 0.4], [0.4, 0.6]])
    assert label_model_predictions(probs, np.array([0.1, 0.9])).tolist() == [1, 0, 1]
    assert label_model_predictions(probs, np.array([0.9, 0.1])).tolist() == [0, 0, 1]
    three = np.array([[0.2, 0.4, 0.4], [0.4, 0.4, 0.2]])
    assert label_model_predictions(three, np.array([0.5, 0.2, 0.3])).tolist() == [2, 0]


def test_a_class_without_votes_on_train_warns_once_naming_task_and_class() -> None:
    with pytest.warns(UserWarning, match=r"task 'spam'.*\['ham'\] on the training data") as caught:
        evaluate(
            classes=["ham", "spam"],
            splits={"test": pd.DataFrame({"text": ["a", "b"]})},
            gold={"test": np.array([0, 1])},
            label_probs={"train": TIED[:2], "test": TIED[:2]},
            label_votes={"train": np.array([[1, -1], [-1, 1]]), "test": np.full((2, 2), -1)},
            end_model=_end_model(np.array([1, 1])),
            slicing_functions=[],
            discover=None,
            task="spam",
        )
    assert len(caught) == 1


def test_every_class_voted_gives_no_warning() -> None:
    # warnings are errors in this test suite: a warning here fails the test
    _evaluate(["ham", "spam"], label_model=SimpleNamespace(class_balance_=np.array([0.5, 0.5])))


def test_unvoted_classes_of_binary_and_multilabel_votes() -> None:
    assert unvoted_classes(np.array([[0, -1], [2, 0]]), ["a", "b", "c"]) == ["b"]
    # multilabel, k = 2: 1 says "b applies", 2 = k + 0 says "a does not apply"
    assert unvoted_classes(np.array([[1, 2], [-1, 2]]), ["a", "b"]) == ["a"]
    assert unvoted_classes(np.full((2, 2), -1), ["a", "b"]) == ["a", "b"]


def test_without_a_model_or_train_split_ties_follow_the_evaluated_probabilities() -> None:
    probs = np.array([[0.5, 0.5], [0.5, 0.5], [0.1, 0.9]])  # leans to spam overall
    metrics, _ = evaluate(
        classes=["ham", "spam"],
        splits={"test": pd.DataFrame({"text": ["a", "b", "c"]})},
        gold={"test": np.array([1, 1, 1])},
        label_probs={"test": probs},
        label_votes={"test": np.array([[-1], [-1], [1]])},
        end_model=_end_model(np.array([1, 1, 1])),
        slicing_functions=[],
        discover=None,
    )
    assert metrics["label_model"]["test"]["overall"]["accuracy"] == 1.0


def test_cluster_examples_show_misclassified_rows_first_with_every_column() -> None:
    from gristmill.pipeline._evaluate import _examples

    frame = pd.DataFrame({f"c{j}": [f"r{r}c{j}" for r in range(6)] for j in range(30)})
    predicted, y = np.array([0, 1, 1, 0, 1, 1]), np.array([0, 1, 0, 0, 0, 1])
    examples = _examples(frame, [0, 1, 2, 4, 5], predicted, y, ["ham", "spam"], limit=3)
    assert [e["row"] for e in examples] == [2, 4]
    assert examples[0]["values"] == {f"c{j}": f"r2c{j}" for j in range(30)}
    assert (examples[0]["gold"], examples[0]["predicted"]) == ("ham", "spam")
    assert [e["row"] for e in _examples(frame, [0, 1, 5], predicted, y, ["ham", "spam"])] == [
        0,
        1,
        5,
    ]
    labels = np.array([[1, 0], [1, 1], [0, 0]])
    wrong = _examples(frame.head(3), [0, 1, 2], labels[[0, 0, 2]], labels, ["a", "b"])
    assert [(e["row"], e["gold"], e["predicted"]) for e in wrong] == [(1, "a, b", "a")]
