"""What a learned imputer says about the cells a repair step considers.

The repair model (:class:`~gristmill.cleaning.Cleaner`) can take a table imputer — the
:class:`~gristmill.cleaning.AttentionImputer` — as one more source of evidence, so that repair and
imputation share one learned model of the table: its most probable values of a suspicious cell
become candidates, and the probability it gives a candidate (predicted from the other cells of the
row, never from the cell itself) becomes a feature.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from gristmill.exceptions import DataError


def fit_imputer(imputer: Any, frame: pd.DataFrame) -> Any:
    """Return ``imputer`` if it is fitted, else a fitted copy of it (``frame`` as its data).

    A copy that names no ``columns`` learns the columns of ``frame`` holding a value: a column
    with none has nothing to learn, and the repair step never asked to fill it.

    Raises
    ------
    DataError
        When ``imputer`` has no ``predict_proba(data, column)``.
    """
    if not callable(getattr(imputer, "predict_proba", None)):
        raise DataError(
            f"Cleaner: imputer must be an AttentionImputer (or offer predict_proba(data, column)); "
            f"got {type(imputer).__name__}"
        )
    if hasattr(imputer, "column_types_"):
        return imputer
    fresh = clone(imputer)
    if getattr(fresh, "columns", ()) is None:
        fresh.set_params(columns=list(frame.columns[frame.notna().any().to_numpy()]))
    return fresh.fit(frame)


class ImputerScores:
    """Per categorical column, the probability a fitted imputer gives each value of each row.

    Parameters
    ----------
    imputer : fitted imputer
        With ``column_types_``, ``classes_`` and ``predict_proba(data, column)``.
    frame : pandas.DataFrame
        The table being repaired, values as strings, positional index, columns labelled as the
        imputer knows them.

    Notes
    -----
    Values are compared as strings, so an imputer fitted on typed data (numbers, categories)
    scores the string cells of the repair step too. Columns are named by their labels as text,
    as the repair step names them.
    """

    def __init__(self, imputer: Any, frame: pd.DataFrame) -> None:
        known = getattr(imputer, "column_types_", {})
        self._proba: dict[str, np.ndarray] = {}
        self._classes: dict[str, pd.Index] = {}
        for column in frame.columns:
            if known.get(column) != "categorical":
                continue
            name = str(column)
            self._proba[name] = imputer.predict_proba(frame, column).astype(np.float32)
            self._classes[name] = pd.Index([str(value) for value in imputer.classes_[column]])

    def covers(self, column: str) -> bool:
        """Whether the imputer predicts ``column``."""
        return column in self._proba

    def top(self, column: str, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` most probable values of each row's cell: (position in ``rows``, value)."""
        proba = self._proba[column][rows]
        k = min(k, proba.shape[1])
        best = np.argsort(-proba, axis=1, kind="stable")[:, :k]
        owner = np.repeat(np.arange(len(rows)), k)
        return owner, self._classes[column].to_numpy(dtype=object)[best.ravel()]

    def probability(self, column: str, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Probability of ``values`` (strings, None for missing) in the cells of ``rows``."""
        index = self._classes[column].get_indexer(pd.Index(values, dtype=object))
        found = index >= 0
        out = np.zeros(len(rows))
        out[found] = self._proba[column][rows[found], index[found]]
        return out
