"""Evaluation: label model and end model on dev/test, overall, per declared and discovered slice.

Gold labels are class indices, or (n, k) label indicators for a multilabel task (scored with
:func:`~gristmill.training.multilabel_metrics`; a label is predicted when its probability is at
least 0.5).

The label model predicts its most probable class. Where several classes share the top
probability (e.g. rows no source votes on, when the model gives them equal shares), the tie goes
to the class of the larger ``class_balance_`` of the label model, the rule of its own
``predict(L, tie_break="prior")`` (without the model, to the class of the larger mean
probability on the training rows), so scores do not depend on the order of ``classes``.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from gristmill.exceptions import LFError, SupervisionWarning
from gristmill.labelmodel._base import break_ties
from gristmill.pipeline._stages import gold_rows
from gristmill.training import apply_slices, discover_slices, task_metrics

__all__ = ["confusion_matrix", "evaluate", "label_model_predictions", "unvoted_classes"]


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, k: int) -> list[list[int]]:
    """Counts ``[gold][predicted]`` as nested lists."""
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    return matrix.tolist()


def label_model_predictions(probs: np.ndarray, balance: np.ndarray) -> np.ndarray:
    """The label model's class per row: the most probable, ties to the larger ``balance``.

    Classes tied in probability and in ``balance`` too go to the first of them.

    Examples
    --------
    >>> probs = np.array([[0.5, 0.5], [0.9, 0.1]])
    >>> label_model_predictions(probs, np.array([0.3, 0.7])).tolist()
    [1, 0]
    """
    return break_ties(probs, "prior", np.asarray(balance, dtype=np.float64), 0)


def _class_balance(label_model: Any, label_probs: Mapping[str, np.ndarray], k: int) -> np.ndarray:
    """The label model's ``class_balance_``; without one, its mean probabilities on train.

    (On every split given when there is no train split.)
    """
    balance = getattr(label_model, "class_balance_", None)
    if balance is not None and np.shape(balance) == (k,):
        return np.asarray(balance, dtype=np.float64)
    probs = [label_probs["train"]] if "train" in label_probs else list(label_probs.values())
    return np.concatenate(probs).astype(np.float64).mean(axis=0)


def unvoted_classes(votes: np.ndarray, classes: Sequence[str]) -> list[str]:
    """The classes no source votes for in a label matrix (``-1`` abstains).

    A multilabel vote ``j`` says label ``j`` applies and ``k + j`` that it does not; only the
    first counts as a vote for the label.

    Examples
    --------
    >>> unvoted_classes(np.array([[0, -1], [-1, 0]]), ["ham", "spam"])
    ['spam']
    """
    voted = set(np.unique(np.asarray(votes)).tolist())
    return [name for index, name in enumerate(classes) if index not in voted]


def _warn_unvoted(votes: np.ndarray, classes: Sequence[str], task: str | None) -> None:
    missing = unvoted_classes(votes, classes)
    if not missing:
        return
    which = f"task {task!r}" if task is not None else "the task"
    warnings.warn(
        f"{which}: no source votes for class(es) {missing} on the training data, so the end "
        f"model is trained on the other classes only and will hardly ever predict {missing}; "
        "add labeling functions or label columns that vote for them",
        SupervisionWarning,
        stacklevel=3,
    )


def _scores(
    y: np.ndarray,
    predicted: np.ndarray,
    masks: pd.DataFrame | None,
    k: int,
    extra: Mapping[str, float] | None = None,
) -> dict[str, Any]:
    overall = task_metrics(y, predicted, k)
    overall.update(extra or {})
    slices = {}
    if masks is not None:
        for name in masks.columns:
            rows = masks[name].to_numpy()
            slices[name] = task_metrics(y[rows], predicted[rows], k)
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
    label_model: Any = None,
    task: str | None = None,
    numbering: Mapping[str, str] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Score both models on every split with gold labels.

    Parameters
    ----------
    splits : mapping of split to DataFrame
        The rows of each split; a slicing function that fails names a row by its index label.
    label_model : fitted label model, optional
        Its ``class_balance_`` breaks ties of ``label_probs`` (see the module docs); without it,
        the mean of ``label_probs["train"]`` (of every split, when there is no train) does.
    task : str, optional
        The task's name, for the warning below.
    numbering : mapping of split to str, optional
        How each split's index numbers its rows, for the error below.

    Returns
    -------
    (metrics, details)
        ``metrics`` has the shape of ``PipelineResult.metrics``; ``details`` holds confusion
        matrices (``{"label_model"|"end_model": {split: [[...]]}}``), discovered slices
        (``{"split": ..., "clusters": [...]}``) and slice sizes.

    Raises
    ------
    LFError
        When a slicing function fails, naming it, the split and the row.

    Warns
    -----
    SupervisionWarning
        Once, naming the task and the classes, when ``label_votes["train"]`` holds no vote for
        some class: the end model then learns the other classes only.
    """
    k = len(classes)
    if "train" in label_votes:
        _warn_unvoted(label_votes["train"], classes, task)
    balance = _class_balance(label_model, label_probs, k)
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
        rows = gold_rows(y)
        multilabel = y.ndim == 2
        if not rows.any():
            continue
        masks = (
            _slice_masks(slicing_functions, splits[split].loc[rows], split, numbering)
            if slicing_functions
            else None
        )
        frame = splits[split].loc[rows].reset_index(drop=True)
        y = y[rows]
        if masks is not None:
            details["slice_sizes"][split] = {c: int(masks[c].sum()) for c in masks.columns}
        covered = (label_votes[split][rows] != -1).any(axis=1)
        lm_probs = label_probs[split][rows]
        lm_pred = (
            (lm_probs >= 0.5).astype(np.int64)
            if multilabel
            else label_model_predictions(lm_probs, balance)
        )
        metrics["label_model"][split] = _scores(
            y, lm_pred, masks, k, {"coverage": float(covered.mean())}
        )
        features = end_model.transform(frame)
        em_pred = np.asarray(end_model.classifier_.predict(features))
        metrics["end_model"][split] = _scores(y, em_pred, masks, k)
        if not multilabel:
            details["confusion"]["label_model"][split] = confusion_matrix(y, lm_pred, k)
            details["confusion"]["end_model"][split] = confusion_matrix(y, em_pred, k)
        if discover is not None:
            clusters = discovered_clusters(
                features, frame[list(example_columns)], em_pred, y, classes, discover, seed
            )
            details["discovered"] = {"split": split, "clusters": clusters}
    return metrics, details


def _slice_masks(
    slicing_functions: Sequence[Any],
    frame: pd.DataFrame,
    split: str,
    numbering: Mapping[str, str] | None,
) -> pd.DataFrame:
    """The slices' masks of ``frame``'s rows (indexed by position); an error names the split."""
    try:
        masks = apply_slices(slicing_functions, frame)
    except LFError as exc:
        rows = f" ({numbering[split]})" if numbering and numbering.get(split) else ""
        raise LFError(f"the {split} data{rows}: {exc}", lf_name=exc.lf_name, row=exc.row) from exc
    return masks.reset_index(drop=True)


def discover_settings(discover: Any) -> dict[str, int] | None:
    """The spec's ``slices.discover`` (False, True or clusters/min_size) as settings, or None."""
    if discover is False:
        return None
    if discover is True:
        return {"clusters": 8, "min_size": 10}
    return {"clusters": discover.clusters, "min_size": discover.min_size}


def discovered_clusters(
    features: Any,
    examples: pd.DataFrame,
    predicted: np.ndarray,
    y: np.ndarray,
    classes: Sequence[str],
    discover: Mapping[str, int],
    seed: int,
) -> list[dict[str, Any]]:
    """Worst-accuracy clusters of the end model's features, each with a few example rows."""
    correct = (predicted == y).all(axis=1) if y.ndim == 2 else predicted == y
    clusters = discover_slices(
        features,
        correct,
        n_clusters=discover["clusters"],
        min_size=discover["min_size"],
        seed=seed,
    )
    for cluster in clusters:
        cluster["examples"] = _examples(examples, cluster["rows"], predicted, y, classes)
    return clusters


def _examples(
    frame: pd.DataFrame,
    rows: Sequence[int],
    predicted: np.ndarray,
    y: np.ndarray,
    classes: Sequence[str],
    limit: int = 3,
) -> list[dict[str, Any]]:
    """A few misclassified rows of a cluster (else any rows), for the report."""

    def name(value: Any) -> str:
        if np.ndim(value) == 1:  # a multilabel indicator row
            return ", ".join(c for c, on in zip(classes, value, strict=True) if on) or "(none)"
        return classes[int(value)]

    positions = np.asarray(rows, dtype=np.int64)
    mistaken = predicted[positions] != y[positions]
    if mistaken.ndim == 2:  # multilabel indicators: a row is wrong when any label is
        mistaken = mistaken.any(axis=1)
    wrong = positions[mistaken].tolist() or list(rows)
    out = []
    for r in wrong[:limit]:
        row = frame.iloc[r]  # a Series of every column: taken once per row, not per cell
        values = {str(c): str(row[c])[:160] for c in frame.columns}
        out.append(
            {"row": int(r), "gold": name(y[r]), "predicted": name(predicted[r]), "values": values}
        )
    return out
