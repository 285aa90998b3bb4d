"""After a label model: classes from probabilities, and the rows labeling functions cover."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from gristmill.exceptions import DataError, ParameterError
from gristmill.labeling._matrix import as_sparse_labels
from gristmill.labelmodel._base import (
    _check_tie_break,
    _class_balance_array,
    break_ties,
    check_seed,
)

__all__ = ["drop_uncovered", "probs_to_labels"]


def probs_to_labels(
    probs: Any, *, tie_break: str = "abstain", seed: int = 0, class_balance: Any = None
) -> np.ndarray:
    """The most probable class of each row of class probabilities, as a label model predicts it.

    For probabilities kept from a label model (``predict_proba``, a ``gristmill label`` output)
    when the model itself is not at hand; a fitted model's ``predict`` does the same.

    Parameters
    ----------
    probs : array-like or DataFrame of shape (n, k)
        Probability of each class (columns) for each row.
    tie_break : {"abstain", "random", "prior"}, default "abstain"
        What a row whose top probability several classes share gets: ``-1``, one of them at
        random (seeded by ``seed``), or the one with the largest ``class_balance``.
    seed : int, default 0
        Seed for ``tie_break="random"``.
    class_balance : array-like of shape (k,), optional
        Class prior for ``tie_break="prior"`` (a label model's ``class_balance_``).

    Returns
    -------
    ndarray of shape (n,), int64
        Class indices; ``-1`` for ties with ``tie_break="abstain"``.

    Raises
    ------
    DataError
        When ``probs`` is not a 2-D array of finite non-negative numbers.
    ParameterError
        For an unknown ``tie_break`` or invalid ``seed``, or ``tie_break="prior"`` without a
        ``class_balance`` of one entry per class.

    Examples
    --------
    >>> probs_to_labels([[0.2, 0.8], [0.5, 0.5], [0.9, 0.1]]).tolist()
    [1, -1, 0]
    >>> probs_to_labels([[0.5, 0.5]], tie_break="prior", class_balance=[0.3, 0.7]).tolist()
    [1]
    """
    _check_tie_break(tie_break)
    check_seed(seed, "probs_to_labels")
    array = _probabilities(probs)
    balance = np.full(array.shape[1], 1.0 / max(array.shape[1], 1))
    if tie_break == "prior":
        given = _class_balance_array(class_balance)
        if given is None or given.shape != (array.shape[1],):
            raise ParameterError(
                f'tie_break="prior" needs class_balance= with one entry per class '
                f"({array.shape[1]}); got {class_balance!r}"
            )
        balance = given
    return break_ties(array, tie_break, balance, seed)


def drop_uncovered(data: Any, probs: Any, L: Any) -> tuple[Any, Any]:
    """The rows of ``data`` and ``probs`` on which at least one labeling function votes.

    A label model gives rows without any vote its prior, which says nothing about the row;
    an end model is trained on the covered rows only. Rows are matched by position: row i of
    ``data`` and ``probs`` is row i of ``L`` (as :func:`~gristmill.apply_lfs` keeps them).

    Parameters
    ----------
    data : DataFrame, Series or array-like of shape (n, ...)
        The data points.
    probs : DataFrame, Series or array-like of shape (n, ...)
        Their labels or probabilities (``predict_proba``'s (n, k), or (n,) labels).
    L : LabelMatrix, DataFrame, ndarray or scipy.sparse matrix of shape (n, m)
        The votes on those rows, ``-1`` = abstain.

    Returns
    -------
    tuple
        ``data`` and ``probs`` restricted to the covered rows, each of its own type (pandas
        objects keep their index labels).

    Raises
    ------
    DataError
        When ``data``, ``probs`` and ``L`` do not have the same number of rows, or ``L`` is not
        a label matrix.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"text": ["buy now", "nice", "free!"]})
    >>> L = np.array([[1, -1], [-1, -1], [1, 1]])
    >>> covered, probs = drop_uncovered(frame, np.array([[0.1, 0.9], [0.5, 0.5], [0, 1]]), L)
    >>> covered["text"].tolist(), probs.shape
    (['buy now', 'free!'], (2, 2))
    """
    covered = np.diff(as_sparse_labels(L).indptr) > 0
    picked = []
    for name, value in (("data", data), ("probs", probs)):
        if len(value) != covered.shape[0]:
            raise DataError(
                f"{name} has {len(value)} rows but L has {covered.shape[0]}; give one row of "
                "each per data point, in the same order"
            )
        if isinstance(value, pd.DataFrame | pd.Series):
            picked.append(value.iloc[covered])
        else:
            picked.append(np.asarray(value)[covered])
    return picked[0], picked[1]


def _probabilities(probs: Any) -> np.ndarray:
    try:
        array = np.asarray(probs, dtype=np.float64)
    except (TypeError, ValueError):
        raise DataError(
            "probs must hold numbers, one probability per class and row; got "
            f"{type(probs).__name__}"
        ) from None
    if array.ndim != 2:
        raise DataError(
            f"probs must be 2-D, one column per class (shape (n, k)); got shape {array.shape}"
        )
    bad = ~np.isfinite(array) | (array < 0)
    if bad.any():
        row, column = np.unravel_index(np.argmax(bad), array.shape)
        raise DataError(
            f"probs[{row}, {column}] is {float(array[row, column])!r}; probabilities must be "
            "finite and >= 0"
        )
    return array
