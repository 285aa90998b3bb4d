"""Classification and multilabel metrics: macro F1 averages the classes that occur."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from gristmill.training import classification_metrics, multilabel_metrics, task_metrics


def test_perfect_predictions_score_one_when_a_class_is_absent() -> None:
    y = [0, 1, 2, 0, 1, 2]  # class 3 of 4 is in neither gold nor predictions
    scores = classification_metrics(y, y, 4)
    assert scores["accuracy"] == 1.0
    assert scores["f1_macro"] == scores["f1"] == 1.0


@pytest.mark.parametrize(
    ("y_true", "y_pred", "n_classes"),
    [
        ([0, 0, 1, 1], [0, 1, 1, 1], 3),  # class 2 absent
        ([0, 0, 0, 1], [0, 2, 0, 1], 4),  # class 2 predicted only, class 3 absent
        ([1, 1, 2], [1, 3, 2], 5),  # classes 0 and 4 absent
        ([0, 1, 2, 2], [0, 1, 2, 1], 3),  # every class present
    ],
)
def test_macro_f1_matches_scikit_learn_without_forced_labels(
    y_true: list[int], y_pred: list[int], n_classes: int
) -> None:
    expected = f1_score(y_true, y_pred, average="macro", zero_division=0)
    assert classification_metrics(y_true, y_pred, n_classes)["f1_macro"] == pytest.approx(expected)


def test_macro_f1_by_hand_leaves_out_the_absent_class() -> None:
    # class 0: precision 1, recall 1/2 -> F1 2/3; class 1: precision 2/3, recall 1 -> F1 0.8
    scores = classification_metrics([0, 0, 1, 1], [0, 1, 1, 1], 3)
    assert scores["f1_macro"] == pytest.approx((2 / 3 + 0.8) / 2)


def test_binary_scores_of_the_positive_class_are_unchanged() -> None:
    scores = classification_metrics([0, 0, 1, 1], [0, 1, 1, 1], 2)
    assert scores["precision"] == pytest.approx(2 / 3)
    assert scores["recall"] == 1.0
    assert scores["f1"] == pytest.approx(0.8)


def test_multilabel_perfect_predictions_score_one_when_a_label_is_absent() -> None:
    y = np.array([[1, 0, 0], [1, 1, 0]])  # label 2 is carried and predicted by no row
    scores = multilabel_metrics(y, y)
    assert scores["f1_macro"] == 1.0
    assert task_metrics(y, y, 3)["f1_macro"] == 1.0


def test_multilabel_macro_f1_averages_the_labels_that_occur() -> None:
    y = np.array([[1, 0, 0], [0, 1, 0]])
    p = np.array([[1, 0, 0], [1, 0, 0]])
    # label 0: 1 true positive of 2 predicted and 1 actual -> 2/3; label 1: missed -> 0;
    # label 2: undefined (never carried nor predicted), left out
    assert multilabel_metrics(y, p)["f1_macro"] == pytest.approx((2 / 3 + 0) / 2)


def test_multilabel_label_predicted_but_never_carried_counts_as_zero() -> None:
    y = np.array([[1, 0], [1, 0]])
    p = np.array([[1, 1], [1, 0]])
    assert multilabel_metrics(y, p)["f1_macro"] == pytest.approx((1 + 0) / 2)


def test_multilabel_without_any_label_scores_zero_like_the_pooled_scores() -> None:
    empty = np.zeros((3, 2), dtype=int)
    scores = multilabel_metrics(empty, empty)
    assert scores["f1_macro"] == scores["f1_micro"] == 0.0
    assert scores["subset_accuracy"] == 1.0
