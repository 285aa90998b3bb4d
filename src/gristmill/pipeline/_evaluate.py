"""Evaluation: label model and end model on dev/test, overall, per declared and discovered slice."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from gristmill.training import apply_slices, classification_metrics, discover_slices

__all__ = ["confusion_matrix", "evaluate"]


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> list[list[int]]:
    """Counts ``[gold][predicted]`` as nested lists."""
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix.tolist()


def _scores(
    y: np.ndarray,
    predicted: np.ndarray,
    masks: pd.DataFrame | None,
    k: int,
    extra: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    overall = classification_metrics(y, predicted, k)
    overall.update(extra or {})
    slices = {}
    if masks is not None:
        for name in masks.columns:
            rows = masks[name].to_numpy()
            slices[name] = classification_metrics(y[rows], predicted[rows], k)
    return {"overall": overall, "slices": slices}


def evaluate(
    *,
    classes: Sequence[str],
    splits: Mapping[str, pd.DataFrame],
    gold: Mapping[str, np.ndarray | None],
    label_probs: Mapping[str, np.ndarray],
    label_votes: Mapping[str, np.ndarray],
    end_model: Any,
    slicing_functions: Sequence[Any],
    discover: Mapping[str, int] | None,
    example_columns: Sequence[str] = (),
    seed: int = 0,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Score both models on every split with gold labels.

    Returns
    -------
    (metrics, details)
        ``metrics`` has the shape of ``PipelineResult.metrics``; ``details`` holds confusion
        matrices (``{"label_model"|"end_model": {split: [[...]]}}``), discovered slices
        (``{"split": ..., "clusters": [...]}``) and slice sizes.
    """
    k = len(classes)
    metrics: dict[str, Any] = {"label_model": {}, "end_model": {}}
    details: dict[str, Any] = {
        "confusion": {"label_model": {}, "end_model": {}},
        "discovered": None,
        "slice_sizes": {},
    }
    for split in ("dev", "test"):
        y = gold.get(split)
        if split not in splits or y is None:
            continue
        rows = y >= 0
        if not rows.any():
            continue
        frame = splits[split].loc[rows].reset_index(drop=True)
        y = y[rows]
        masks = apply_slices(slicing_functions, frame) if slicing_functions else None
        if masks is not None:
            details["slice_sizes"][split] = {c: int(masks[c].sum()) for c in masks.columns}
        covered = (label_votes[split][rows] != -1).any(axis=1)
        lm_pred = label_probs[split][rows].argmax(axis=1)
        metrics["label_model"][split] = _scores(
            y, lm_pred, masks, k, {"coverage": float(covered.mean())}
        )
        features = end_model.transform(frame)
        em_pred = np.asarray(end_model.classifier_.predict_proba(features)).argmax(axis=1)
        metrics["end_model"][split] = _scores(y, em_pred, masks, k)
        details["confusion"]["label_model"][split] = confusion_matrix(y, lm_pred, k)
        details["confusion"]["end_model"][split] = confusion_matrix(y, em_pred, k)
        if discover is not None:
            clusters = discover_slices(
                features,
                em_pred == y,
                n_clusters=discover["clusters"],
                min_size=discover["min_size"],
                seed=seed,
            )
            for cluster in clusters:
                cluster["examples"] = _examples(
                    frame[list(example_columns)], cluster["rows"], em_pred, y, classes
                )
            details["discovered"] = {"split": split, "clusters": clusters}
    return metrics, details


def _examples(
    frame: pd.DataFrame,
    rows: Sequence[int],
    predicted: np.ndarray,
    y: np.ndarray,
    classes: Sequence[str],
    limit: int = 3,
) -> list[dict[str, Any]]:
    """A few misclassified rows of a cluster (else any rows), for the report."""
    wrong = [r for r in rows if predicted[r] != y[r]] or list(rows)
    out = []
    for r in wrong[:limit]:
        values = {str(c): str(frame.iloc[r][c])[:160] for c in frame.columns}
        out.append(
            {
                "row": int(r),
                "gold": classes[int(y[r])],
                "predicted": classes[int(predicted[r])],
                "values": values,
            }
        )
    return out
