"""Classification metrics used for evaluation and model selection."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["METRICS", "classification_metrics"]

METRICS = ("accuracy", "f1", "f1_macro", "precision", "recall")
"""Metric names a spec may optimise (binary ``f1``/``precision``/``recall``: positive = class 1)."""


def classification_metrics(y_true: Any, y_pred: Any, n_classes: int) -> dict[str, float]:
    """Return accuracy and F1 scores of predicted class indices against gold class indices.

    Binary tasks add ``precision``, ``recall`` and ``f1`` of class 1 (the second class);
    every task has ``accuracy``, ``f1_macro`` and ``n`` (rows evaluated).

    Examples
    --------
    >>> classification_metrics([0, 1, 1, 0], [0, 1, 0, 0], 2)["accuracy"]
    0.75
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
    out = {
        "n": float(y_true.size),
        "accuracy": float(true_pos.sum() / y_true.size),
        "f1_macro": float(f1.mean()),
    }
    if n_classes == 2:
        out["precision"] = float(precision[1])
        out["recall"] = float(recall[1])
        out["f1"] = float(f1[1])
    else:
        out["f1"] = out["f1_macro"]
    return out
