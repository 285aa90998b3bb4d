"""Classification metrics used for evaluation and model selection."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["METRICS", "classification_metrics", "multilabel_metrics", "task_metrics"]

METRICS = ("accuracy", "f1", "f1_macro", "precision", "recall")
"""Metric names a spec may optimise (binary ``f1``/``precision``/``recall``: positive = class 1)."""


def classification_metrics(y_true: Any, y_pred: Any, n_classes: int) -> dict[str, float]:
    """Return accuracy and F1 scores of predicted class indices against gold class indices.

    Binary tasks add ``precision``, ``recall`` and ``f1`` of class 1 (the second class);
    every task has ``accuracy``, ``f1_macro`` and ``n`` (rows evaluated). Multiclass tasks
    report ``f1_macro`` under ``f1`` too.

    ``f1_macro`` averages the F1 of the classes present in the gold labels or the predictions,
    as scikit-learn's ``f1_score(average="macro")`` does when ``labels`` is not given: a class
    absent from both has no F1 (nothing to find, nothing predicted) and is left out, so perfect
    predictions score 1.0 whichever classes the evaluated rows happen to hold. Undefined
    precision or recall of a present class (nothing predicted, nothing to find) counts as 0.

    Examples
    --------
    >>> classification_metrics([0, 1, 1, 0], [0, 1, 0, 0], 2)["accuracy"]
    0.75
    >>> classification_metrics([0, 1, 1, 0], [0, 1, 1, 0], 4)["f1_macro"]  # classes 2, 3 absent
    1.0
    """
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.size == 0:
        return {"n": 0.0}
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (y_true, y_pred), 1)
    true_pos = np.diag(counts).astype(np.float64)
    predicted = counts.sum(axis=0).astype(np.float64)
    actual = counts.sum(axis=1).astype(np.float64)
    precision = np.divide(true_pos, predicted, out=np.zeros(n_classes), where=predicted > 0)
    recall = np.divide(true_pos, actual, out=np.zeros(n_classes), where=actual > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros(n_classes), where=both > 0)
    present = (predicted + actual) > 0
    out = {
        "n": float(y_true.size),
        "accuracy": float(true_pos.sum() / y_true.size),
        "f1_macro": float(f1[present].mean()),
    }
    if n_classes == 2:
        out["precision"] = float(precision[1])
        out["recall"] = float(recall[1])
        out["f1"] = float(f1[1])
    else:
        out["f1"] = out["f1_macro"]
    return out


def multilabel_metrics(y_true: Any, y_pred: Any) -> dict[str, float]:
    """Return multilabel scores of (n, k) 0/1 label indicators against gold indicators.

    ``subset_accuracy`` (also under ``accuracy``, as scikit-learn's ``accuracy_score`` defines it
    for multilabel data) counts rows whose whole label set is right; ``hamming_loss`` is the share
    of wrong (row, label) cells; ``f1_micro`` (also ``f1``), ``precision`` and ``recall`` pool
    every (row, label) cell (0 when nothing is predicted or nothing is to be found).

    ``f1_macro`` averages the F1 of each label that some gold or predicted row carries. The F1
    of a label no row carries nor is predicted to carry is undefined (0 / 0), so that label is
    left out of the average rather than counted as 0: perfect predictions score 1.0 whichever
    labels the evaluated rows hold. When no row carries or is predicted any label at all,
    ``f1_macro`` is 0.0, like the pooled scores.

    Examples
    --------
    >>> scores = multilabel_metrics([[1, 0], [1, 1]], [[1, 0], [0, 1]])
    >>> scores["subset_accuracy"], scores["hamming_loss"]
    (0.5, 0.25)
    >>> multilabel_metrics([[1, 0], [1, 0]], [[1, 0], [1, 0]])["f1_macro"]  # label 1 is absent
    1.0
    """
    y_true = np.asarray(y_true, dtype=bool)
    y_pred = np.asarray(y_pred, dtype=bool)
    if y_true.shape[0] == 0:
        return {"n": 0.0}
    true_pos = (y_true & y_pred).sum(axis=0).astype(np.float64)
    predicted = y_pred.sum(axis=0).astype(np.float64)
    actual = y_true.sum(axis=0).astype(np.float64)
    both = predicted + actual
    present = both > 0
    per_label = true_pos[present] * 2 / both[present]
    tp, pp, ap = true_pos.sum(), predicted.sum(), actual.sum()
    subset = float((y_true == y_pred).all(axis=1).mean())
    return {
        "n": float(y_true.shape[0]),
        "accuracy": subset,
        "subset_accuracy": subset,
        "hamming_loss": float((y_true != y_pred).mean()),
        "precision": float(tp / pp) if pp else 0.0,
        "recall": float(tp / ap) if ap else 0.0,
        "f1": float(2 * tp / (pp + ap)) if pp + ap else 0.0,
        "f1_micro": float(2 * tp / (pp + ap)) if pp + ap else 0.0,
        "f1_macro": float(per_label.mean()) if present.any() else 0.0,
    }


def task_metrics(y_true: Any, y_pred: Any, n_classes: int) -> dict[str, float]:
    """:func:`multilabel_metrics` for (n, k) indicators, else :func:`classification_metrics`."""
    if np.ndim(y_true) == 2:
        return multilabel_metrics(y_true, y_pred)
    return classification_metrics(y_true, y_pred, n_classes)
