"""Chained ridge-penalised regressions of the columns of an encoded table.

The partner of :class:`~gristmill.cleaning.AttentionImputer`: relations that are (nearly) additive
in the other columns are what chained-equation imputers (MICE, sklearn's ``IterativeImputer``) do
best, by refilling each missing cell from a regression on the other columns for a few rounds so
that a filled cell informs the next regression. This class does that on arrays the attention model
already has (standardised numerics with an observed mask, categorical codes): numeric columns by
sklearn's ``BayesianRidge`` (which learns its own regularisation), categorical columns with few
values by L2-penalised multinomial logistic regression. Each numeric context column enters as
itself plus hinge functions ``max(0, x - knot)`` at quantiles of its values (a piecewise-linear
spline, so a curved relation such as price against weight is captured) and indicators of its
recurring exact values, each categorical context column as the one-hot of its most frequent
values, or, where it is missing, the probabilities its own regression predicts; every context
column also says whether it is missing. Columns are regressed fewest-missing first. It costs
milliseconds to a second on tables of a few thousand rows. :meth:`ChainedRegressions.refit`
refits the same chain on more known cells, cheaply (learnt ridge penalties kept, logistic
regressions warm-started).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import softmax
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import BayesianRidge, LogisticRegression

#: One-hot context per categorical column: its most frequent values only.
_MAX_ONE_HOT = 20
#: A categorical column is modelled when it has at most this many values (the network alone
#: handles the others: a multinomial regression over hundreds of classes costs too much).
_MAX_CLASSES = 50
#: Rows the regressions are fitted on at most (evenly spaced through the table).
_MAX_ROWS = 10_000
#: Solver steps of a logistic regression at most: from scratch, and warm-started from the
#: previous fit of its column (the optimum of almost the same problem: the features differ
#: only where cells were missing, or refit() adds a tenth of the cells).
_COLD_ITERATIONS = 100
_WARM_ITERATIONS = 20
#: Rows predicted at once (bounds the memory of the feature matrix).
_CHUNK = 20_000
#: Quantiles of a numeric column where its hinge functions bend.
_KNOT_QUANTILES = (0.2, 0.4, 0.6, 0.8)
#: A numeric feature is clipped to its 0.5 % and 99.5 % quantiles widened by half their
#: distance on each side: values of ordinary columns are never touched, outliers are.
_LIMIT_QUANTILES = (0.005, 0.995)
_LIMIT_MARGIN = 0.5
#: A numeric value held by at least this share of a column's observed cells is a recurring
#: value (a code, a default); at most _MAX_LEVELS of them per column get an indicator.
_LEVEL_SHARE = 0.05
_MAX_LEVELS = 5


#: A fitted regression: kind ("numeric" / "categorical"), column index, weights (features then
#: intercept; one row per class for a categorical column), classes of those rows.
Step = tuple[str, int, np.ndarray, np.ndarray]


class ChainedRegressions:
    """Fit and replay chained regressions of the columns of an encoded table.

    Parameters
    ----------
    n_rounds : int, default 3
        Passes over the columns.
    reserved : int, default 2
        Codes below this are "missing" (0) / "unknown" slots; code ``reserved + k`` is the k-th
        most frequent value of its column (the encoding of the attention model).
    vocabulary_sizes : sequence of int, optional
        Number of values of each categorical column (codes ``reserved`` to ``reserved + size -
        1``). Columns with 2 to 50 values are then modelled too; without it only numeric
        columns are.

    Attributes
    ----------
    knots_ : numpy.ndarray
        (n_numeric, 4) hinge positions of each numeric column (standardised units).
    limits_ : numpy.ndarray
        (n_numeric, 4) per numeric column, the bounds its values are clipped to as features
        (its 0.5 % and 99.5 % quantiles, widened by half their distance on each side), then
        the bounds of its predictions (its smallest and largest observed values).
    levels_ : numpy.ndarray
        (n_numeric, 5) the values of each numeric column held by at least 5 % of its observed
        cells (NaN-padded); whether a cell holds one is a feature.
    steps_ : list of (str, int, numpy.ndarray, numpy.ndarray)
        Kind (``"numeric"`` / ``"categorical"``), column index, weights (features then
        intercept; one row per class for a categorical column) and the classes those rows
        stand for, in the order they are applied.
    """

    def __init__(
        self,
        *,
        n_rounds: int = 3,
        reserved: int = 2,
        vocabulary_sizes: Sequence[int] | None = None,
    ) -> None:
        self.n_rounds = n_rounds
        self.reserved = reserved
        self.vocabulary_sizes = None if vocabulary_sizes is None else list(vocabulary_sizes)

    # ------------------------------------------------------------------ features
    # The design matrix has one block per context column: for a numeric column, whether it is
    # missing, its value, its hinges and whether it holds one of its recurring values; for a
    # categorical one, whether it is missing and the one-hot of its most frequent values.
    # Missingness is a feature because where a cell is missing can say something about the row
    # (a field skipped for one customer segment); recurring values because a number that many
    # rows share exactly is often a code or a default (a standard expense allowance that only
    # applies to some households), which no smooth function of the value isolates.
    def _width(self, kind: str) -> int:
        if kind == "numeric":
            return 2 + self.knots_.shape[1] + self.levels_.shape[1]
        return 1 + _MAX_ONE_HOT

    def _hinges(self, values: np.ndarray, columns: slice) -> np.ndarray:
        """(n, m, 1 + n_knots): each of the m numeric ``columns`` (clipped to its limits, so
        that one extreme value cannot swing a prediction), then its hinges at its knots."""
        values = np.clip(values, self.limits_[columns, 0], self.limits_[columns, 1])
        hinges = np.maximum(values[..., None] - self.knots_[columns][None], 0.0)
        return np.concatenate([values[..., None], hinges], axis=2)

    def _filled_design(
        self, numbers: np.ndarray, observed: np.ndarray, codes: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """The numbers with unobserved cells set to 0, and the design matrix of the rows."""
        filled = np.where(observed, numbers, 0.0).astype(float)
        return filled, self._design(filled, observed, codes)

    def _design(self, filled: np.ndarray, observed: np.ndarray, codes: np.ndarray) -> np.ndarray:
        n = len(filled)
        with np.errstate(invalid="ignore"):  # unused level slots are NaN: never equal
            levels = (filled[..., None] == self.levels_[None]) & observed[..., None]
        numeric = np.concatenate(
            [
                (~observed)[..., None].astype(float),
                self._hinges(filled, slice(None)),
                levels.astype(float),
            ],
            axis=2,
        )
        categorical = np.zeros((n, codes.shape[1], self._width("categorical")))
        categorical[..., 0] = codes == 0
        slot = codes - self.reserved
        rows, columns = np.nonzero((slot >= 0) & (slot < _MAX_ONE_HOT))
        categorical[rows, columns, 1 + slot[rows, columns]] = 1.0
        # Widths spelled out: reshape(n, -1) cannot infer them when there are no rows.
        return np.hstack(
            [
                numeric.reshape(n, numeric.shape[1] * numeric.shape[2]),
                categorical.reshape(n, categorical.shape[1] * categorical.shape[2]),
            ]
        )

    def _block(self, kind: str, column: int) -> slice:
        """Feature columns of a context column in the design matrix."""
        start = 0 if kind == "numeric" else self.knots_.shape[0] * self._width("numeric")
        width = self._width(kind)
        return slice(start + column * width, start + (column + 1) * width)

    def _features(self, design: np.ndarray, kind: str, column: int) -> np.ndarray:
        """The design without the target's own block, plus a constant."""
        block = self._block(kind, column)
        return np.hstack(
            [design[:, : block.start], design[:, block.stop :], np.ones((len(design), 1))]
        )

    def _modelled(self) -> list[int]:
        """Categorical columns that get a regression of their own."""
        return [
            c for c, size in enumerate(self.vocabulary_sizes or []) if 2 <= size <= _MAX_CLASSES
        ]

    def _fill(
        self,
        design: np.ndarray,
        kind: str,
        column: int,
        missing: np.ndarray,
        prediction: np.ndarray,
    ) -> None:
        """Write a column's prediction into the design rows where the column is missing."""
        start = self._block(kind, column).start + 1  # after the missing indicator
        if kind == "numeric":
            # A predicted value is never one of the recurring values: those slots stay 0.
            hinges = self._hinges(prediction[missing], slice(column, column + 1))
            design[missing, start : start + hinges.shape[2]] = hinges[:, 0]
        else:
            width = min(_MAX_ONE_HOT, prediction.shape[1])
            design[missing, start : start + width] = prediction[missing, :width]

    # ------------------------------------------------------------------ fitting
    def fit(
        self, numbers: np.ndarray, observed: np.ndarray, codes: np.ndarray
    ) -> ChainedRegressions:
        """Learn the regressions.

        Parameters
        ----------
        numbers : numpy.ndarray
            (n, n_numeric) standardised values (anything where not observed).
        observed : numpy.ndarray
            (n, n_numeric) bool, the numeric cells that are known.
        codes : numpy.ndarray
            (n, n_categorical) int codes (0 = missing).

        Returns
        -------
        ChainedRegressions
            ``self``.
        """
        numbers, observed, codes = self._sample(numbers, observed, codes)
        self.knots_ = np.zeros((numbers.shape[1], len(_KNOT_QUANTILES)))
        self.limits_ = np.zeros((numbers.shape[1], 4))
        self.levels_ = np.full((numbers.shape[1], _MAX_LEVELS), np.nan)
        for k in range(numbers.shape[1]):
            if observed[:, k].any():
                values = numbers[observed[:, k], k]
                self.knots_[k] = np.quantile(values, _KNOT_QUANTILES)
                low, high = np.quantile(values, _LIMIT_QUANTILES)
                margin = _LIMIT_MARGIN * (high - low)
                self.limits_[k] = (low - margin, high + margin, values.min(), values.max())
                self.levels_[k] = self._levels(values)
        filled, design = self._filled_design(numbers, observed, codes)
        self.steps_: list[Step] = []
        # What refit() reuses: the ridge penalty of each numeric step (by position in
        # steps_) and the logistic regression of each categorical column.
        self._penalties: dict[int, float] = {}
        self._classifiers: dict[int, LogisticRegression] = {}
        for _round in range(self.n_rounds):
            for kind, column in self._order(observed, codes):
                if kind == "numeric":
                    step: Step | None
                    step, self._penalties[len(self.steps_)] = self._fit_regression(
                        design, filled, observed, column
                    )
                else:
                    step = self._fit_classifier(design, codes[:, column], column)
                if step is not None:
                    self.steps_.append(step)
                    self._apply(design, step, observed, codes)
        return self

    def refit(
        self, numbers: np.ndarray, observed: np.ndarray, codes: np.ndarray
    ) -> ChainedRegressions:
        """Refit every regression of :meth:`fit`, in the same order, on more known cells.

        The imputer calls it with its held-out cells back in. Each ridge regression keeps the
        penalty its Bayesian fit learnt (one linear solve instead of a new evidence search) and
        each logistic regression starts from its fitted weights; the features (knots, limits,
        recurring values) stay those of :meth:`fit`.

        Parameters
        ----------
        numbers, observed, codes : numpy.ndarray
            As in :meth:`fit`.

        Returns
        -------
        ChainedRegressions
            ``self``.

        Raises
        ------
        RuntimeError
            When the model was not fitted in this process (read by :meth:`from_json`).
        """
        if not hasattr(self, "_penalties"):
            raise RuntimeError("ChainedRegressions.refit needs a model fitted by fit()")
        numbers, observed, codes = self._sample(numbers, observed, codes)
        filled, design = self._filled_design(numbers, observed, codes)
        for index, (kind, column, _weights, _classes) in enumerate(self.steps_):
            if kind == "numeric":
                step: Step | None = self._solve_ridge(
                    design, filled, observed, column, self._penalties[index]
                )
            else:
                step = self._fit_classifier(design, codes[:, column], column)
            if step is not None:
                self.steps_[index] = step
            self._apply(design, self.steps_[index], observed, codes)
        return self

    @staticmethod
    def _sample(
        numbers: np.ndarray, observed: np.ndarray, codes: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """At most _MAX_ROWS rows, evenly spaced through the table."""
        if len(numbers) <= _MAX_ROWS:
            return numbers, observed, codes
        rows = np.linspace(0, len(numbers) - 1, _MAX_ROWS).astype(np.int64)
        return numbers[rows], observed[rows], codes[rows]

    @staticmethod
    def _levels(values: np.ndarray) -> np.ndarray:
        """The (at most _MAX_LEVELS) values each held by at least _LEVEL_SHARE of the observed
        cells, most frequent first, NaN-padded."""
        out = np.full(_MAX_LEVELS, np.nan)
        distinct, counts = np.unique(values, return_counts=True)
        recurring = np.flatnonzero(counts >= max(_LEVEL_SHARE * len(values), 2))
        top = recurring[np.argsort(-counts[recurring], kind="stable")][:_MAX_LEVELS]
        out[: len(top)] = distinct[top]
        return out

    def _order(self, observed: np.ndarray, codes: np.ndarray) -> list[tuple[str, int]]:
        """Columns to regress, fewest missing cells first (as sklearn's IterativeImputer): the
        best-known columns are refined first, and with strongly related columns this order
        converges in far fewer rounds than the table's order."""
        if observed.shape[1] + codes.shape[1] < 2:
            return []  # nothing to regress a column on
        columns = [
            (int((~observed[:, k]).sum()), "numeric", k)
            for k in range(observed.shape[1])
            if observed[:, k].sum() >= 2
        ]
        columns += [(int((codes[:, c] == 0).sum()), "categorical", c) for c in self._modelled()]
        return [(kind, column) for _, kind, column in sorted(columns, key=lambda item: item[0])]

    def _fit_regression(
        self, design: np.ndarray, filled: np.ndarray, observed: np.ndarray, column: int
    ) -> tuple[Step, float]:
        """Bayesian ridge regression of one numeric column, and its learnt penalty.

        The penalty is the ratio of the weights' precision to the noise's.
        """
        rows = observed[:, column]
        features = self._features(design, "numeric", column)
        model = BayesianRidge().fit(features[rows, :-1], filled[rows, column])
        weights = np.append(model.coef_, model.intercept_)
        step = ("numeric", column, weights, np.zeros(0, dtype=np.int64))
        return step, float(model.lambda_ / model.alpha_)

    def _solve_ridge(
        self,
        design: np.ndarray,
        filled: np.ndarray,
        observed: np.ndarray,
        column: int,
        penalty: float,
    ) -> Step:
        """Ridge regression of one numeric column with a given penalty.

        The posterior mean of a Bayesian ridge whose precisions are fixed (intercept
        unpenalised).
        """
        rows = observed[:, column]
        features = self._features(design, "numeric", column)[rows, :-1]
        target = filled[rows, column]
        mean = features.mean(axis=0)
        centred = features - mean
        gram = centred.T @ centred
        gram[np.diag_indices_from(gram)] += penalty
        coef = np.linalg.solve(gram, centred.T @ (target - target.mean()))
        weights = np.append(coef, target.mean() - mean @ coef)
        return "numeric", column, weights, np.zeros(0, dtype=np.int64)

    def _fit_classifier(self, design: np.ndarray, codes: np.ndarray, column: int) -> Step | None:
        """Multinomial logistic regression of one categorical column.

        Warm-started from the previous fit of the column (the previous round, or fit() for
        refit()) when it has the same classes.
        """
        rows = codes >= self.reserved
        target = codes[rows] - self.reserved
        classes = np.unique(target)
        if len(classes) < 2:
            return None
        model = self._classifiers.get(column)
        if model is None or not np.array_equal(model.classes_, classes):
            model = LogisticRegression(max_iter=_COLD_ITERATIONS, warm_start=True)
            self._classifiers[column] = model
        else:
            model.max_iter = _WARM_ITERATIONS
        # An unconverged solver still gives usable probabilities after its steps.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(self._features(design, "categorical", column)[rows, :-1], target)
        coef = np.hstack([model.coef_, model.intercept_[:, None]])
        if len(model.classes_) == 2:
            # sklearn keeps one row (the second class's logit) for two classes.
            coef = np.vstack([np.zeros_like(coef), coef])
        return "categorical", column, coef, model.classes_.astype(np.int64)

    def _apply(
        self, design: np.ndarray, step: Step, observed: np.ndarray, codes: np.ndarray
    ) -> np.ndarray:
        """Predict a step's column on every row (values (n, 1), or class probabilities) and
        write the prediction into the design where the column is missing."""
        kind, column = step[0], step[1]
        if kind == "numeric":
            predicted = self._values(design, step)
            missing = ~observed[:, column]
        else:
            predicted = self._probabilities(design, step)
            missing = codes[:, column] == 0
        self._fill(design, kind, column, missing, predicted)
        return predicted

    def _values(self, design: np.ndarray, step: Step) -> np.ndarray:
        """(n, 1) prediction of a numeric column, within the limits of its observed values."""
        _kind, column, weights, _classes = step
        predicted = self._features(design, "numeric", column) @ weights
        return np.clip(predicted, *self.limits_[column, 2:])[:, None]

    def _probabilities(self, design: np.ndarray, step: Step) -> np.ndarray:
        _kind, column, weights, classes = step
        assert self.vocabulary_sizes is not None
        out = np.zeros((len(design), self.vocabulary_sizes[column]))
        scores = self._features(design, "categorical", column) @ weights.T
        out[:, classes] = softmax(scores, axis=1)
        return out

    # ------------------------------------------------------------------ prediction
    def predict(
        self, numbers: np.ndarray, observed: np.ndarray, codes: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Predict every cell of the modelled columns from the rest of its row.

        Missing cells are filled round by round as in :meth:`fit`; the returned prediction of a
        cell comes from the last regression of its column, which never takes the cell itself as
        a feature.

        Returns
        -------
        values : numpy.ndarray
            (n, n_numeric) standardised predictions of the numeric columns.
        probabilities : numpy.ndarray
            (n, sum of vocabulary sizes) class probabilities of the categorical columns, column
            after column in the order of ``vocabulary_sizes`` (see :meth:`class_slice`); zero
            for columns that are not modelled.
        """
        parts = [
            self._predict_rows(numbers[rows], observed[rows], codes[rows])
            for rows in (slice(s, s + _CHUNK) for s in range(0, max(len(numbers), 1), _CHUNK))
        ]
        return (
            np.concatenate([part[0] for part in parts]),
            np.concatenate([part[1] for part in parts]),
        )

    def _predict_rows(
        self, numbers: np.ndarray, observed: np.ndarray, codes: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        filled, design = self._filled_design(numbers, observed, codes)
        values = np.zeros_like(filled)
        sizes = self.vocabulary_sizes or []
        probabilities = np.zeros((len(filled), sum(sizes)))
        for step in self.steps_:
            predicted = self._apply(design, step, observed, codes)
            if step[0] == "numeric":
                values[:, step[1]] = predicted[:, 0]
            else:
                probabilities[:, self.class_slice(step[1])] = predicted
        return values, probabilities

    def class_slice(self, column: int) -> slice:
        """Columns of categorical column ``column`` in the probabilities of :meth:`predict`."""
        sizes = self.vocabulary_sizes or []
        start = sum(sizes[:column])
        return slice(start, start + sizes[column])

    def modelled_columns(self, kind: str) -> list[int]:
        """Columns of ``kind`` ("numeric" or "categorical"), by index, that have a regression
        in ``steps_`` (not those with fewer than two observed values or classes, nor any when
        the table has a single column)."""
        return sorted({column for step_kind, column, _, _ in self.steps_ if step_kind == kind})

    # ------------------------------------------------------------------ persistence
    def to_json(self) -> dict[str, Any]:
        return {
            "n_rounds": self.n_rounds,
            "reserved": self.reserved,
            "vocabulary_sizes": self.vocabulary_sizes,
            "knots": self.knots_.tolist(),
            "limits": self.limits_.tolist(),
            "levels": [[None if np.isnan(v) else v for v in row] for row in self.levels_.tolist()],
            "steps": [
                [kind, column, weights.tolist(), classes.tolist()]
                for kind, column, weights, classes in self.steps_
            ],
        }

    @classmethod
    def from_json(cls, spec: dict[str, Any]) -> ChainedRegressions:
        model = cls(
            n_rounds=int(spec["n_rounds"]),
            reserved=int(spec["reserved"]),
            vocabulary_sizes=spec["vocabulary_sizes"],
        )
        model.knots_ = np.asarray(spec["knots"], dtype=float).reshape(-1, len(_KNOT_QUANTILES))
        model.limits_ = np.asarray(spec["limits"], dtype=float).reshape(-1, 4)
        model.levels_ = np.array(
            [[np.nan if v is None else v for v in row] for row in spec["levels"]], dtype=float
        ).reshape(-1, _MAX_LEVELS)
        model.steps_ = [
            (str(kind), int(column), np.asarray(weights), np.asarray(classes, dtype=np.int64))
            for kind, column, weights, classes in spec["steps"]
        ]
        return model
