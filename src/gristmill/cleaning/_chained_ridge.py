"""Chained ridge regressions of the numeric columns of an encoded table.

The linear partner of :class:`~gristmill.cleaning.AttentionImputer`: numeric columns that are
nearly linear in each other are what chained-equation imputers (MICE, sklearn's
``IterativeImputer``) do best, by refilling each missing cell from a regression on the other
columns for a few rounds so that a filled cell informs the next regression. This class does that
on arrays the attention model already has (standardised numerics with an observed mask, and the
categorical codes as one-hot context) with sklearn's ``BayesianRidge`` (which learns its own
regularisation), so it costs milliseconds on small tables.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import BayesianRidge

#: One-hot context per categorical column: its most frequent values only.
_MAX_ONE_HOT = 20
#: Rows the regressions are fitted on at most (evenly spaced through the table).
_MAX_ROWS = 20_000


class ChainedRidge:
    """Fit and replay chained Bayesian ridge regressions of numeric columns.

    Parameters
    ----------
    n_rounds : int, default 3
        Passes over the numeric columns.
    reserved : int, default 2
        Codes below this are "missing" / "unknown" slots; code ``reserved + k`` is the k-th most
        frequent value of its column (the encoding of the attention model).

    Attributes
    ----------
    steps_ : list of (int, numpy.ndarray)
        Numeric column index and its regression weights (features, then intercept), in the
        order they are applied.
    """

    def __init__(self, *, n_rounds: int = 3, reserved: int = 2) -> None:
        self.n_rounds = n_rounds
        self.reserved = reserved

    def _one_hot(self, codes: np.ndarray) -> np.ndarray:
        width = _MAX_ONE_HOT
        out = np.zeros((codes.shape[0], codes.shape[1] * width))
        slot = codes - self.reserved
        rows, columns = np.nonzero((slot >= 0) & (slot < width))
        out[rows, columns * width + slot[rows, columns]] = 1.0
        return out

    @staticmethod
    def _features(filled: np.ndarray, context: np.ndarray, column: int) -> np.ndarray:
        others = np.delete(filled, column, axis=1)
        return np.hstack([others, context, np.ones((filled.shape[0], 1))])

    def fit(self, numbers: np.ndarray, observed: np.ndarray, codes: np.ndarray) -> ChainedRidge:
        """Learn the regressions from standardised ``numbers`` (0 where not ``observed``)."""
        if len(numbers) > _MAX_ROWS:
            rows = np.linspace(0, len(numbers) - 1, _MAX_ROWS).astype(np.int64)
            numbers, observed, codes = numbers[rows], observed[rows], codes[rows]
        context = self._one_hot(codes)
        filled = np.where(observed, numbers, 0.0).astype(float)
        self.steps_: list[tuple[int, np.ndarray]] = []
        for _round in range(self.n_rounds):
            for column in range(numbers.shape[1]):
                rows = observed[:, column]
                if rows.sum() < 2:
                    continue
                features = self._features(filled, context, column)
                model = BayesianRidge().fit(features[rows, :-1], filled[rows, column])
                weights = np.append(model.coef_, model.intercept_)
                self.steps_.append((column, weights))
                filled[~rows, column] = features[~rows] @ weights
        return self

    def predict(self, numbers: np.ndarray, observed: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """(n, n_numeric) prediction of every numeric cell from the rest of its row.

        Missing cells are filled round by round as in :meth:`fit`; the returned value of a cell
        comes from the last regression of its column, which never takes the cell itself as a
        feature.
        """
        context = self._one_hot(codes)
        filled = np.where(observed, numbers, 0.0).astype(float)
        predicted = np.zeros_like(filled)
        for column, weights in self.steps_:
            predicted[:, column] = self._features(filled, context, column) @ weights
            missing = ~observed[:, column]
            filled[missing, column] = predicted[missing, column]
        return predicted

    def to_json(self) -> dict[str, Any]:
        return {
            "n_rounds": self.n_rounds,
            "reserved": self.reserved,
            "steps": [[column, weights.tolist()] for column, weights in self.steps_],
        }

    @classmethod
    def from_json(cls, spec: dict[str, Any]) -> ChainedRidge:
        model = cls(n_rounds=int(spec["n_rounds"]), reserved=int(spec["reserved"]))
        model.steps_ = [(int(column), np.asarray(weights)) for column, weights in spec["steps"]]
        return model
