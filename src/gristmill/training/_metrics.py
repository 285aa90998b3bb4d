"""Classification metrics used for evaluation and model selection."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["METRICS", "classification_metrics"]

METRICS = ("accuracy", "f1", "f1_macro", "precision", "recall")
"""Metric names a spec may optimise (``f1``/``precision``/``recall``: binary, positive = class 1)."""


def classification_metrics(y_true: Any, y_pred: Any, n_classes: int) -> dict[str, float]:
    """Return accuracy and F1 scores of predicted class indices against gold class indices.

    Binary tasks add ``precision``, ``recall`` and ``f1`` of class 1 (the second class);
    every task has ``accuracy``, ``f1_macro`` and ``n`` (rows evaluated).

    Examples
    --------
    >>> classification_metrics([0, 1, 1, 0], [0, 1, 0, 0], 2)["accuracy"]
    0.75
    """
    from sklearn.metrics import f1_score, precision_score, recall_score

    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.size == 0:
        return {"n": 0.0}
    labels = list(range(n_classes))
    out = {
        "n": float(y_true.size),
        "accuracy": float(np.mean(y_true == y_pred)),
        "f1_macro": float(f1_score(y_true, y_pred, labels=labels, average="macro",
                                   zero_division=0)),
    }
    if n_classes == 2:
        out["precision"] = float(precision_score(y_true, y_pred, zero_division=0))
        out["recall"] = float(recall_score(y_true, y_pred, zero_division=0))
        out["f1"] = float(f1_score(y_true, y_pred, zero_division=0))
    else:
        out["f1"] = out["f1_macro"]
    return out
