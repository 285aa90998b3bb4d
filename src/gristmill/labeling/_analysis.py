"""Summary statistics of labeling functions, with Snorkel's LFAnalysis definitions.

For a label matrix with n rows and LF column ``j`` (``-1`` = abstain):

- **Polarity**: the sorted distinct classes LF ``j`` votes (abstains excluded).
- **Coverage**: fraction of rows where LF ``j`` votes.
- **Overlaps**: fraction of rows where LF ``j`` votes and at least one other LF votes.
- **Conflicts**: fraction of rows where LF ``j`` votes and at least one other LF votes a
  different class.

With gold labels ``y``:

- **Correct** / **Incorrect**: number of rows where LF ``j`` votes ``y`` / votes another class.
- **Emp. Acc.**: ``Correct / (Correct + Incorrect)``; missing (NaN) for an LF that never
  votes on a gold row, which has no empirical accuracy. (Snorkel writes 0.0 there, which reads
  as "always wrong".)

With a fitted label model: **Est. Acc.**, the model's ``lf_accuracies_``.
"""

from __future__ import annotations

from typing import Any, NamedTuple, NoReturn

import numpy as np
import pandas as pd

from gristmill._snorkel import snorkel_keywords
from gristmill.exceptions import DataError, NotFittedError, ParameterError
from gristmill.labeling._lf import LabelingFunction
from gristmill.labeling._matrix import (
    ABSTAIN,
    LabelMatrix,
    as_label_array,
    as_label_input,
    lf_positions,
)

__all__ = ["lf_summary"]

# Cells of the label matrix counted per step (a block of rows); bounds the temporaries.
_BLOCK_CELLS = 1 << 22
# Largest (LF, class) table in which the classes each LF votes are marked.
_CLASS_TABLE_CELLS = 1 << 20


@snorkel_keywords(
    Y="pass the gold labels as y: lf_summary(L, y=Y)",
    est_weights=(
        "pass the fitted label model as label_model=; its lf_accuracies_ become 'Est. Acc.'"
    ),
)
def lf_summary(L: Any, y: Any = None, *, label_model: Any = None) -> pd.DataFrame:
    """Summarise each labeling function's votes (Snorkel's LFAnalysis definitions).

    Parameters
    ----------
    L : LabelMatrix, DataFrame, numpy array or scipy.sparse matrix
        Votes, ``-1`` = abstain (sparse: ``class + 1`` with implicit zeros).
    y : array-like of shape (n,) or pandas.Series, optional
        Gold class indices; adds ``Correct``, ``Incorrect`` and ``Emp. Acc.`` (NaN for an LF
        with no vote to score). A Series is matched to the rows of a :class:`LabelMatrix` or
        DataFrame by its index (it must hold the same labels, in any order); anything else by
        position.
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
        When ``y`` does not have one integer class >= 0 per row (naming the first bad row), or
        a Series' index does not hold the matrix's row labels.
    NotFittedError
        When ``label_model`` has no ``lf_accuracies_``.
    ParameterError
        When ``y`` holds labeling functions (Snorkel's ``LFAnalysis(L, lfs)``): the LF names
        come from a :class:`LabelMatrix`.

    Examples
    --------
    >>> import numpy as np
    >>> L = np.array([[0, 0, -1, -1], [1, 0, -1, -1], [-1, 1, 1, -1]])
    >>> lf_summary(L, y=[0, 1, 1])[["Coverage", "Conflicts", "Emp. Acc."]].round(3)
          Coverage  Conflicts  Emp. Acc.
    lf_0     0.667      0.333      1.000
    lf_1     1.000      0.333      0.667
    lf_2     0.333      0.000      1.000
    lf_3     0.000      0.000        NaN
    """
    L = as_label_input(L)
    values = as_label_array(L)
    n_rows, n_lfs = values.shape
    names = list(L.lf_names) if isinstance(L, LabelMatrix) else [f"lf_{j}" for j in range(n_lfs)]
    gold = None
    if y is not None:
        _refuse_lfs_as_gold(y)
        gold = gold_labels(y, "y", pd.Index(L.index) if isinstance(L, LabelMatrix) else None)
        if gold.shape[0] != n_rows:
            raise DataError(f"y must have one value per row ({n_rows}); got {gold.shape[0]}")
    counts = _column_counts(values, gold)
    denominator = max(n_rows, 1)
    summary = pd.DataFrame(
        {
            "j": list(range(n_lfs)),
            "Polarity": counts.polarity,
            "Coverage": counts.voted / denominator,
            "Overlaps": counts.overlapped / denominator,
            "Conflicts": counts.conflicted / denominator,
        },
        index=pd.Index(names, name=None),
    )
    if counts.correct is not None:
        _add_gold_columns(summary, counts.voted, counts.correct)
    if label_model is not None:
        fit_names = names if isinstance(L, LabelMatrix) else None
        summary["Est. Acc."] = _estimated_accuracies(label_model, n_lfs, fit_names)
    return summary


def _refuse_lfs_as_gold(y: Any) -> None:
    """Raise ParameterError when ``y`` is a list of LFs, as Snorkel's ``LFAnalysis(L, lfs)``."""
    if isinstance(y, list | tuple) and y and isinstance(y[0], LabelingFunction):
        raise ParameterError(
            "lf_summary(L, y) takes gold labels as y, not labeling functions (Snorkel's "
            "LFAnalysis(L, lfs)); the LF names come from the label matrix: apply_lfs returns a "
            "LabelMatrix holding them, and an array of votes becomes one with "
            "LabelMatrix(L, [lf.name for lf in lfs])"
        )


class _ColumnCounts(NamedTuple):
    """Per LF: the rows it votes on, of which with another vote, with a conflicting one, and
    (with gold labels) with its vote right; and the classes it votes."""

    voted: np.ndarray
    overlapped: np.ndarray
    conflicted: np.ndarray
    correct: np.ndarray | None
    polarity: list[list[int]]


def _column_counts(values: np.ndarray, gold: np.ndarray | None) -> _ColumnCounts:
    """Count every LF's votes in blocks of consecutive rows.

    A block of a C-ordered matrix is contiguous: reductions over it read memory in order, where
    one pass per LF column would stride across every row (100,000 rows by 2,000 LFs took
    seconds per statistic).
    """
    n_rows, n_lfs = values.shape
    voted_rows = np.zeros(n_lfs, dtype=np.int64)
    overlapped = np.zeros(n_lfs, dtype=np.int64)
    conflicted = np.zeros(n_lfs, dtype=np.int64)
    correct = None if gold is None else np.zeros(n_lfs, dtype=np.int64)
    classes = _ClassesSeen(values, n_lfs)
    top = np.iinfo(values.dtype).max if values.size else 0
    step = max(1, _BLOCK_CELLS // max(n_lfs, 1))
    for start in range(0, n_rows, step):
        block = values[start : start + step]
        voted = block != ABSTAIN
        voted_rows += np.count_nonzero(voted, axis=0)
        n_votes = np.count_nonzero(voted, axis=1)
        overlapped += np.count_nonzero(voted[n_votes >= 2], axis=0)
        lowest = np.where(voted, block, top).min(axis=1, initial=top)
        highest = block.max(axis=1, initial=ABSTAIN)
        conflicted += np.count_nonzero(voted[lowest < highest], axis=0)
        if correct is not None and gold is not None:
            correct += np.count_nonzero(block == gold[start : start + step, None], axis=0)
        classes.add(block, voted)
    return _ColumnCounts(voted_rows, overlapped, conflicted, correct, classes.per_column())


class _ClassesSeen:
    """The distinct classes each LF votes, gathered block by block.

    Counted in a (LF, class) table when it is small, else as the distinct (LF, class) codes.
    """

    def __init__(self, values: np.ndarray, n_lfs: int) -> None:
        self.n_lfs = n_lfs
        self.n_classes = int(values.max()) + 1 if values.size else 0
        self.table: np.ndarray | None = None
        self.codes: list[np.ndarray] = []
        if n_lfs * self.n_classes <= _CLASS_TABLE_CELLS:
            self.table = np.zeros(n_lfs * self.n_classes, dtype=bool)

    def add(self, block: np.ndarray, voted: np.ndarray) -> None:
        cells = np.flatnonzero(voted)
        codes = (cells % self.n_lfs) * self.n_classes + block.ravel()[cells]
        if self.table is not None:
            self.table[codes] = True
        else:
            self.codes.append(np.unique(codes))

    def per_column(self) -> list[list[int]]:
        if self.table is not None:
            seen = np.flatnonzero(self.table)
        else:
            seen = np.unique(np.concatenate(self.codes)) if self.codes else np.zeros(0, np.int64)
        columns, classes = np.divmod(seen, max(self.n_classes, 1))
        bounds = np.searchsorted(columns, np.arange(self.n_lfs + 1))
        listed = classes.tolist()
        return [listed[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def gold_labels(
    y: Any,
    what: str,
    index: pd.Index | None = None,
    *,
    below: int | None = None,
    bound: str = "",
) -> np.ndarray:
    """Gold class indices as a checked int64 array of shape (n,).

    Parameters
    ----------
    y : array-like of shape (n,) or pandas.Series
        Gold class indices (integers >= 0; floats such as ``1.0`` are accepted).
    what : str
        The name of ``y`` in messages (``"y"``, ``"y_dev"``).
    index : pandas.Index, optional
        Row labels of the label matrix ``y`` belongs to. A Series ``y`` is matched to them by
        its index (reordered when it holds the same labels in another order); anything else is
        matched by position.
    below : int, optional
        Classes must be below this (the number of classes).
    bound : str, default ""
        Why they must, for the message (e.g. ``"the label model has cardinality 2"``).

    Returns
    -------
    ndarray of shape (n,), int64
        In the order of ``index`` when ``y`` was matched to it.

    Raises
    ------
    DataError
        When ``y`` is not 1-D, a Series' index does not hold the label matrix's row labels, or a
        value is not an integer class index (>= 0, below ``below``). The message names the
        first row at fault: by its index label for a Series, else by position.
    """
    rows: pd.Index | None = None
    if isinstance(y, pd.Series):
        if index is not None:
            y = _aligned(y, index, what)
        rows = y.index
        values = _series_values(y)
    else:
        values = np.asarray(y)
    if values.ndim != 1:
        raise DataError(f"{what} must be 1-D (one class per row); got shape {values.shape}")
    labels = _class_indices(values, what, rows)
    if below is not None and labels.size and labels.max() >= below:
        position = int(np.argmax(labels >= below))
        raise DataError(
            f"{what} holds class {labels[position]} at row {_row(rows, position)!r}, but {bound}"
        )
    return labels


def _aligned(y: pd.Series, index: pd.Index, what: str) -> pd.Series:
    """``y`` in the order of ``index``, matched by label; it must hold exactly those labels."""
    if y.index.equals(index):
        return y
    hint = f"; pass {what}.to_numpy() to match labels to rows by position"
    for owner, labels in ((f"{what}'s index", y.index), ("the label matrix's index", index)):
        if not labels.is_unique:
            repeated = _plain(labels[labels.duplicated()][0])
            raise DataError(
                f"{what} is matched to the label matrix's rows by its index, but {owner} "
                f"repeats {repeated!r}{hint}"
            )
    positions = y.index.get_indexer(index)
    missing = positions < 0
    if missing.any():
        raise DataError(
            f"{what} is matched to the label matrix's rows by its index, which lacks "
            f"{_first_of(index[missing])}{hint}"
        )
    if len(y) > len(index):
        extra = y.index[~y.index.isin(index)]
        raise DataError(
            f"{what} is matched to the label matrix's rows by its index, which holds "
            f"{_first_of(extra)}, not a row of the label matrix{hint}"
        )
    return y.iloc[positions]


def _first_of(labels: pd.Index) -> str:
    more = f" (and {len(labels) - 1} more)" if len(labels) > 1 else ""
    return f"row {_plain(labels[0])!r}{more}"


def _series_values(y: pd.Series) -> np.ndarray:
    """The values of ``y``; a nullable numeric dtype's missing values as NaN."""
    if pd.api.types.is_numeric_dtype(y.dtype) and not isinstance(y.dtype, np.dtype):
        return y.to_numpy(dtype=np.float64, na_value=np.nan)
    return y.to_numpy()


def _row(rows: pd.Index | None, position: int) -> object:
    """How messages name a row: its index label for a Series, else its position."""
    return position if rows is None else _plain(rows[position])


def _plain(value: Any) -> Any:
    """A numpy scalar as its Python value: messages show ``nan``, not ``np.float64(nan)``."""
    return value.item() if isinstance(value, np.generic) else value


def _class_indices(values: np.ndarray, what: str, rows: pd.Index | None) -> np.ndarray:
    """``values`` (1-D) as int64 class indices, or a DataError naming the first bad row."""
    if not values.size:
        return values.astype(np.int64)
    if values.dtype.kind in "iu":
        if values.dtype.kind == "u" and values.max() > np.iinfo(np.int64).max:
            position = int(np.argmax(values > np.iinfo(np.int64).max))
            raise DataError(
                f"{what} holds {values[position]} at row {_row(rows, position)!r}; "
                "that is not a class index"
            )
        labels = values.astype(np.int64)
    else:
        labels = _integral(values, what, rows)
    if labels.min() < 0:
        position = int(np.argmax(labels < 0))
        raise DataError(
            f"{what} holds {labels[position]} at row {_row(rows, position)!r}; "
            "gold labels must be >= 0"
        )
    return labels


def _integral(values: np.ndarray, what: str, rows: pd.Index | None) -> np.ndarray:
    """Non-integer-typed ``values`` as int64, when every one is a whole number that fits."""
    try:
        as_float = values.astype(np.float64)
    except (TypeError, ValueError):
        position = next(i for i, value in enumerate(values) if not _is_number(value))
        _raise_not_a_class(values, what, rows, position)
    with np.errstate(invalid="ignore"):
        # np.mod gives NaN (!= 0) for NaN and infinities; 2**63 and above do not fit int64.
        bad = (np.mod(as_float, 1) != 0) | (np.abs(as_float) >= 2.0**63)
    if bad.any():
        _raise_not_a_class(values, what, rows, int(np.argmax(bad)))
    return as_float.astype(np.int64)


def _raise_not_a_class(
    values: np.ndarray, what: str, rows: pd.Index | None, position: int
) -> NoReturn:
    raise DataError(
        f"{what} holds {_plain(values[position])!r} at row {_row(rows, position)!r}; gold "
        "labels must be integer class indices"
    )


def _is_number(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return True


def _add_gold_columns(summary: pd.DataFrame, voted: np.ndarray, correct: np.ndarray) -> None:
    summary["Correct"] = correct.tolist()
    summary["Incorrect"] = (voted - correct).tolist()
    summary["Emp. Acc."] = np.where(voted > 0, correct / np.maximum(voted, 1), np.nan)


def _estimated_accuracies(label_model: Any, n_lfs: int, names: list[str] | None) -> np.ndarray:
    """The label model's ``lf_accuracies_``, matched to ``names`` by LF name when both have them."""
    accuracies = getattr(label_model, "lf_accuracies_", None)
    if accuracies is None:
        raise NotFittedError(
            f"{type(label_model).__name__} has no lf_accuracies_; fit it before lf_summary"
        )
    accuracies = np.asarray(accuracies, dtype=float)
    fitted = list(getattr(label_model, "lf_names_", None) or [])
    if names is None or not fitted or fitted == names:
        _check_shape(accuracies, n_lfs)
        return accuracies
    # Both name their LFs: match by name first, so that a mismatch names the LFs.
    columns = lf_positions(
        names, fitted, "The label model was fit on other labeling functions than the matrix holds"
    )
    _check_shape(accuracies, n_lfs)
    matched = np.empty(n_lfs)
    matched[columns] = accuracies
    return matched


def _check_shape(accuracies: np.ndarray, n_lfs: int) -> None:
    if accuracies.shape != (n_lfs,):
        raise DataError(
            f"label_model.lf_accuracies_ has shape {accuracies.shape}; the matrix has {n_lfs} LFs"
        )
