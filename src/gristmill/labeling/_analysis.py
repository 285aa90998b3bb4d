"""Summary statistics of labeling functions, with Snorkel's LFAnalysis definitions.

For a label matrix with n rows and LF column ``j`` (``-1`` = abstain):

- **Polarity**: the sorted distinct classes LF ``j`` votes (abstains excluded).
- **Coverage**: fraction of rows where LF ``j`` votes.
- **Overlaps**: fraction of rows where LF ``j`` votes and at least one other LF votes.
- **Conflicts**: fraction of rows where LF ``j`` votes and at least one other LF votes a
  different class.

With gold labels ``y``:

- **Correct** / **Incorrect**: number of rows where LF ``j`` votes ``y`` / votes another class.
- **Emp. Acc.**: ``Correct / (Correct + Incorrect)``; 0.0 for an LF that never votes (as
  Snorkel, which maps the undefined ratio to 0).

With a fitted label model: **Est. Acc.**, the model's ``lf_accuracies_``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from gristmill.exceptions import DataError, NotFittedError
from gristmill.labeling._matrix import (
    ABSTAIN,
    LabelMatrix,
    as_label_array,
    as_label_input,
    lf_positions,
)

__all__ = ["lf_summary"]


def lf_summary(L: Any, y: Any = None, *, label_model: Any = None) -> pd.DataFrame:
    """Summarise each labeling function's votes (Snorkel's LFAnalysis definitions).

    Parameters
    ----------
    L : LabelMatrix, DataFrame, numpy array or scipy.sparse matrix
        Votes, ``-1`` = abstain (sparse: ``class + 1`` with implicit zeros).
    y : array-like of shape (n,), optional
        Gold class indices; adds ``Correct``, ``Incorrect`` and ``Emp. Acc.``.
    label_model : fitted label model, optional
        Adds ``Est. Acc.`` from its ``lf_accuracies_``.

    Returns
    -------
    pandas.DataFrame
        Index: LF names (``lf_0``... for an unnamed matrix). Columns ``j``, ``Polarity``,
        ``Coverage``, ``Overlaps``, ``Conflicts`` and the optional ones above.

    Raises
    ------
    DataError
        When ``y`` does not have one integer class per row.
    NotFittedError
        When ``label_model`` has no ``lf_accuracies_``.

    Examples
    --------
    >>> import numpy as np
    >>> L = np.array([[0, 0, -1], [1, 0, -1], [-1, 1, 1]])
    >>> lf_summary(L, y=[0, 1, 1])[["Coverage", "Conflicts", "Emp. Acc."]].round(3)
          Coverage  Conflicts  Emp. Acc.
    lf_0     0.667      0.333      1.000
    lf_1     1.000      0.333      0.667
    lf_2     0.333      0.000      1.000
    """
    L = as_label_input(L)
    values = as_label_array(L)
    n_rows, n_lfs = values.shape
    names = list(L.lf_names) if isinstance(L, LabelMatrix) else [f"lf_{j}" for j in range(n_lfs)]
    n_votes, row_min, row_max = _row_stats(values)
    overlapped = n_votes >= 2
    conflicted = row_min < row_max
    denominator = max(n_rows, 1)
    rows: dict[str, list[Any]] = {
        "j": [],
        "Polarity": [],
        "Coverage": [],
        "Overlaps": [],
        "Conflicts": [],
    }
    for j in range(n_lfs):
        column = values[:, j]
        voted = column != ABSTAIN
        rows["j"].append(j)
        rows["Polarity"].append([int(c) for c in np.flatnonzero(_class_counts(column))])
        rows["Coverage"].append(voted.sum() / denominator)
        rows["Overlaps"].append(np.count_nonzero(voted & overlapped) / denominator)
        rows["Conflicts"].append(np.count_nonzero(voted & conflicted) / denominator)
    summary = pd.DataFrame(rows, index=pd.Index(names, name=None))
    if y is not None:
        _add_gold_columns(summary, values, _gold_labels(y, n_rows))
    if label_model is not None:
        fit_names = names if isinstance(L, LabelMatrix) else None
        summary["Est. Acc."] = _estimated_accuracies(label_model, n_lfs, fit_names)
    return summary


def _row_stats(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: number of votes, smallest and largest class voted (column by column, no copy)."""
    n_rows = values.shape[0]
    n_votes = np.zeros(n_rows, dtype=np.int32)
    top = np.iinfo(values.dtype).max if values.size else 0
    row_min = np.full(n_rows, top, dtype=values.dtype)
    row_max = np.full(n_rows, ABSTAIN, dtype=values.dtype)
    for j in range(values.shape[1]):
        column = values[:, j]
        voted = column != ABSTAIN
        n_votes += voted
        np.minimum(row_min, np.where(voted, column, top), out=row_min)
        np.maximum(row_max, column, out=row_max)
    return n_votes, row_min, row_max


def _class_counts(column: np.ndarray) -> np.ndarray:
    return np.bincount(column.astype(np.int64) + 1)[1:] if column.size else np.zeros(0, np.int64)


def _gold_labels(y: Any, n_rows: int) -> np.ndarray:
    gold = np.asarray(y.to_numpy() if isinstance(y, pd.Series) else y)
    if gold.ndim != 1 or gold.shape[0] != n_rows:
        raise DataError(
            f"Gold labels must have one value per row ({n_rows}); got shape {gold.shape}"
        )
    if gold.size and not np.issubdtype(gold.dtype, np.integer):
        try:
            as_float = gold.astype(float)
        except (TypeError, ValueError):
            raise DataError(
                f"Gold labels must be integer class indices; got values like {gold[:3].tolist()}"
            ) from None
        if not (np.all(np.isfinite(as_float)) and np.all(np.mod(as_float, 1) == 0)):
            raise DataError("Gold labels must be integer class indices; found NaN or fractions")
        gold = as_float.astype(np.int64)
    if gold.size and gold.min() < 0:
        raise DataError(f"Gold labels must be class indices >= 0; found {int(gold.min())}")
    return gold.astype(np.int64)


def _add_gold_columns(summary: pd.DataFrame, values: np.ndarray, gold: np.ndarray) -> None:
    correct, incorrect = [], []
    for j in range(values.shape[1]):
        column = values[:, j]
        voted = column != ABSTAIN
        right = int(np.count_nonzero(voted & (column == gold)))
        correct.append(right)
        incorrect.append(int(np.count_nonzero(voted)) - right)
    summary["Correct"] = correct
    summary["Incorrect"] = incorrect
    totals = np.array(correct) + np.array(incorrect)
    with np.errstate(divide="ignore", invalid="ignore"):
        accuracy = np.where(totals > 0, np.array(correct) / np.maximum(totals, 1), 0.0)
    summary["Emp. Acc."] = accuracy


def _estimated_accuracies(label_model: Any, n_lfs: int, names: list[str] | None) -> np.ndarray:
    """The label model's ``lf_accuracies_``, matched to ``names`` by LF name when both have them."""
    accuracies = getattr(label_model, "lf_accuracies_", None)
    if accuracies is None:
        raise NotFittedError(
            f"{type(label_model).__name__} has no lf_accuracies_; fit it before lf_summary"
        )
    accuracies = np.asarray(accuracies, dtype=float)
    if accuracies.shape != (n_lfs,):
        raise DataError(
            f"label_model.lf_accuracies_ has shape {accuracies.shape}; the matrix has {n_lfs} LFs"
        )
    fitted = list(getattr(label_model, "lf_names_", None) or [])
    if names is None or not fitted or fitted == names:
        return accuracies
    columns = lf_positions(
        names, fitted, "The label model was fit on other labeling functions than the matrix holds"
    )
    matched = np.empty(n_lfs)
    matched[columns] = accuracies
    return matched
