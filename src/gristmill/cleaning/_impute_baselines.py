"""Baseline imputers: mean/mode, k nearest neighbours, chained regressions, and boosted trees.

They are cheap defaults and the yardsticks the attention imputer is measured against. All share
:class:`~gristmill.cleaning._columns.TableImputer`: sklearn-style ``fit`` / ``transform`` on a
DataFrame, column types inferred (overridable), dtypes preserved.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from gristmill.cleaning._columns import TableImputer, location_and_scale, to_python
from gristmill.exceptions import DataError, ParameterError


def _check_positive_int(owner: str, name: str, value: object, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ParameterError(
            f"The {name!r} parameter of {owner} must be an int >= {minimum}. Got {value!r} instead."
        )


def _top_values(column: pd.Series, limit: int | None) -> list[Any]:
    """The most frequent observed values of ``column`` (ties broken by first appearance)."""
    counts = column.dropna().value_counts(sort=True)
    values = [to_python(value) for value in counts.index]
    return values if limit is None else values[:limit]


class MeanModeImputer(TableImputer):
    """Fill numeric cells with the column mean and categorical cells with the most frequent value.

    Parameters
    ----------
    columns : sequence of column labels, optional
        Columns to fill; all by default.
    column_types : mapping of column label to {"categorical", "numeric"}, optional
        Overrides of the inferred column types.

    Attributes
    ----------
    fill_values_ : dict
        Column label to the value written into its missing cells.

    Examples
    --------
    >>> frame = pd.DataFrame({"city": ["a", "a", None], "price": [1.5, 2.5, None]})
    >>> filled = MeanModeImputer().fit_transform(frame)
    >>> str(filled.loc[2, "city"]), float(filled.loc[2, "price"])
    ('a', 2.0)
    """

    _who = "MeanModeImputer"

    def __init__(
        self,
        *,
        columns: Sequence[Hashable] | None = None,
        column_types: Mapping[Hashable, str] | None = None,
    ) -> None:
        self.columns = columns
        self.column_types = column_types

    def _fit(self, data: pd.DataFrame) -> None:
        self.fill_values_: dict[Hashable, Any] = {}
        for name in self.columns_:
            if self.column_types_[name] == "numeric":
                self.fill_values_[name] = location_and_scale(data[name])[0]
            else:
                self.fill_values_[name] = _top_values(data[name], 1)[0]

    def _impute(self, data: pd.DataFrame, column: Hashable, rows: np.ndarray) -> list[Any]:
        return [self.fill_values_[column]] * len(rows)


class _OneHotEncoding:
    """A table as floats: standardised numerics, one-hot categoricals (missing -> NaN block)."""

    def __init__(self, column_types: Mapping[Hashable, str], max_categories: int) -> None:
        self.column_types = dict(column_types)
        self.max_categories = max_categories

    def fit(self, data: pd.DataFrame) -> _OneHotEncoding:
        self.categories: dict[Hashable, list[Any]] = {}
        self.scale: dict[Hashable, tuple[float, float]] = {}
        self.slices: dict[Hashable, slice] = {}
        start = 0
        for name, kind in self.column_types.items():
            if kind == "numeric":
                self.scale[name] = location_and_scale(data[name])
                width = 1
            else:
                self.categories[name] = _top_values(data[name], self.max_categories)
                width = len(self.categories[name])
            self.slices[name] = slice(start, start + width)
            start += width
        self.width = start
        return self

    def encode(self, data: pd.DataFrame) -> np.ndarray:
        out = np.zeros((len(data), self.width))
        for name, kind in self.column_types.items():
            block = self.slices[name]
            column = data[name]
            missing = column.isna().to_numpy()
            if kind == "numeric":
                mean, std = self.scale[name]
                out[:, block.start] = (column.astype(float).to_numpy() - mean) / std
            else:
                codes = pd.Index(self.categories[name]).get_indexer(column.astype(object))
                known = codes >= 0
                out[np.flatnonzero(known), block.start + codes[known]] = 1.0
            out[missing, block] = np.nan
        return out

    def decode(self, name: Hashable, matrix: np.ndarray) -> list[Any] | np.ndarray:
        block = matrix[:, self.slices[name]]
        if self.column_types[name] == "numeric":
            mean, std = self.scale[name]
            return block[:, 0] * std + mean
        return [self.categories[name][index] for index in np.argmax(block, axis=1)]


class _EncodedImputer(TableImputer):
    """Shared machinery of the imputers that work on the one-hot encoding of the table."""

    max_categories: int
    max_rows: int | None
    seed: int

    def _sample(self, data: pd.DataFrame) -> pd.DataFrame:
        if self.max_rows is None or len(data) <= self.max_rows:
            return data
        rng = np.random.default_rng(self.seed)
        return data.iloc[np.sort(rng.choice(len(data), self.max_rows, replace=False))]

    def _fit(self, data: pd.DataFrame) -> None:
        self.encoding_ = _OneHotEncoding(self.column_types_, self.max_categories).fit(data)
        self.model_ = self._make_model()
        self.model_.fit(self.encoding_.encode(self._sample(data)))

    def _impute_all(
        self, data: pd.DataFrame, missing: dict[Hashable, np.ndarray]
    ) -> dict[Hashable, Sequence[Any] | np.ndarray]:
        rows = np.unique(np.concatenate(list(missing.values())))
        completed = np.empty((len(data), self.encoding_.width))
        completed[rows] = self._complete(self.encoding_.encode(data.iloc[rows]))
        return {name: self.encoding_.decode(name, completed[at]) for name, at in missing.items()}

    def _complete(self, matrix: np.ndarray) -> np.ndarray:
        """The encoded rows with their missing entries filled by the fitted model."""
        return np.asarray(self.model_.transform(matrix))

    def _make_model(self) -> Any:
        raise NotImplementedError


class NeighborsImputer(_EncodedImputer):
    """Fill a cell from the ``n_neighbors`` most similar rows (sklearn ``KNNImputer``).

    Numeric columns are standardised and categoricals one-hot encoded (their ``max_categories``
    most frequent values); distances ignore the cells missing in either row. A categorical cell
    gets the value most common among the neighbours, a numeric one their (distance-weighted) mean.

    Parameters
    ----------
    n_neighbors : int, default 5
    max_categories : int, default 50
        One-hot width per categorical column; rarer values cannot be predicted.
    max_rows : int or None, default 20000
        Neighbours are searched among at most this many rows (a seeded sample) to bound time.
    seed : int, default 0
    columns, column_types
        As in :class:`MeanModeImputer`.
    """

    _who = "NeighborsImputer"

    def __init__(
        self,
        *,
        n_neighbors: int = 5,
        max_categories: int = 50,
        max_rows: int | None = 20000,
        seed: int = 0,
        columns: Sequence[Hashable] | None = None,
        column_types: Mapping[Hashable, str] | None = None,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.max_categories = max_categories
        self.max_rows = max_rows
        self.seed = seed
        self.columns = columns
        self.column_types = column_types

    def _complete(self, matrix: np.ndarray) -> np.ndarray:
        return _neighbours_fill(self.model_, matrix)

    def _make_model(self) -> Any:
        from sklearn.impute import KNNImputer

        _check_positive_int(self._who, "n_neighbors", self.n_neighbors)
        return KNNImputer(
            n_neighbors=self.n_neighbors, weights="distance", keep_empty_features=True
        )


def _neighbours_fill(model: Any, matrix: np.ndarray) -> np.ndarray:
    """``model.transform(matrix)`` for a fitted ``KNNImputer`` (keeping empty features), with
    one neighbour search per group of columns that share their missing cells.

    sklearn searches the neighbours of the rows missing a column once per column; the columns
    of a one-hot block are missing together, so a block of 50 categories repeated the same
    search 50 times (hours on 100,000 rows). Each column's values are then averaged exactly
    as sklearn does, so the result is the same.
    """
    from sklearn.metrics.pairwise import pairwise_distances_chunked

    filled = np.array(matrix, dtype=np.float64)
    mask = np.isnan(filled)
    valid = model._valid_mask
    row_missing = np.flatnonzero(mask[:, valid].any(axis=1))
    if len(row_missing):
        position = np.zeros(len(filled), dtype=np.int64)
        position[row_missing] = np.arange(len(row_missing))
        columns = np.flatnonzero(valid)

        def fill_chunk(distances: np.ndarray, start: int) -> None:
            rows = row_missing[start : start + len(distances)]
            groups: dict[bytes, list[int]] = {}
            for col in columns:
                missing_here = mask[rows, col]
                if missing_here.any():
                    key = model._mask_fit_X[:, col].tobytes() + missing_here.tobytes()
                    groups.setdefault(key, []).append(int(col))
            for group in groups.values():
                receivers = rows[mask[rows, group[0]]]
                _fill_group(model, filled, group, receivers, distances[position[receivers] - start])

        for _ in pairwise_distances_chunked(
            filled[row_missing],
            model._fit_X,
            metric=model.metric,
            missing_values=model.missing_values,
            ensure_all_finite="allow-nan",
            reduce_func=fill_chunk,
        ):
            pass
    filled[:, ~valid] = 0
    return filled


def _fill_group(
    model: Any, filled: np.ndarray, group: list[int], receivers: np.ndarray, distances: np.ndarray
) -> None:
    """Fill columns ``group`` (same donors, same receivers) of rows ``receivers`` in place, as
    ``KNNImputer`` fills each column: receivers without any distance get the column mean, the
    others the weighted average of their nearest donors."""
    from sklearn.neighbors._base import _get_weights

    fit_x, mask_fit = model._fit_X, model._mask_fit_X
    donors = np.flatnonzero(~mask_fit[:, group[0]])
    distances = distances[:, donors]
    unreachable = np.isnan(distances).all(axis=1)
    if unreachable.any():
        for col in group:
            filled[receivers[unreachable], col] = np.ma.array(
                fit_x[:, col], mask=mask_fit[:, col]
            ).mean()
        receivers, distances = receivers[~unreachable], distances[~unreachable]
        if not len(receivers):
            return
    k = min(model.n_neighbors, len(donors))
    nearest = np.argpartition(distances, k - 1, axis=1)[:, :k]
    nearest_distances = distances[np.arange(len(nearest))[:, None], nearest]
    weights = _get_weights(nearest_distances, model.weights)
    if weights is not None:
        weights[np.isnan(weights)] = 0.0
    else:
        weights = np.ones_like(nearest_distances)
        weights[np.isnan(nearest_distances)] = 0.0
    for col in group:
        values = np.ma.array(
            fit_x[donors, col].take(nearest), mask=mask_fit[donors, col].take(nearest)
        )
        filled[receivers, col] = np.ma.average(values, axis=1, weights=weights).data


class IterativeRegressionImputer(_EncodedImputer):
    """Chained equations (MICE-style): each column regressed on all the others, in rounds.

    The table is encoded (standardised numerics, one-hot categoricals) and its missing cells
    start at the column means. Then, for ``max_iter`` rounds, each column with missing cells is
    predicted from every *other* column's encoding: numerics by Bayesian ridge regression,
    categoricals by multinomial logistic regression (whose class probabilities replace the
    column's one-hot block). The column's own block is never a feature, so a one-hot column is
    not "predicted" from its siblings.

    Parameters
    ----------
    max_iter : int, default 3
        Rounds over the columns.
    max_categories : int, default 20
        One-hot width per categorical column; rarer values cannot be predicted.
    max_rows : int or None, default 20000
        Rows used to fit the regressions (a seeded sample).
    seed : int, default 0
    columns, column_types
        As in :class:`MeanModeImputer`.

    Attributes
    ----------
    steps_ : list of (str, estimator)
        The fitted regression of each column in each round, in the order they are applied.
    """

    _who = "IterativeRegressionImputer"

    def __init__(
        self,
        *,
        max_iter: int = 3,
        max_categories: int = 20,
        max_rows: int | None = 20000,
        seed: int = 0,
        columns: Sequence[Hashable] | None = None,
        column_types: Mapping[Hashable, str] | None = None,
    ) -> None:
        self.max_iter = max_iter
        self.max_categories = max_categories
        self.max_rows = max_rows
        self.seed = seed
        self.columns = columns
        self.column_types = column_types

    def _fit(self, data: pd.DataFrame) -> None:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import BayesianRidge, LogisticRegression

        _check_positive_int(self._who, "max_iter", self.max_iter)
        _check_positive_int(self._who, "max_categories", self.max_categories)
        self.encoding_ = _OneHotEncoding(self.column_types_, self.max_categories).fit(data)
        sample = self._sample(data)
        matrix = self.encoding_.encode(sample)
        self.start_ = np.nan_to_num(np.nanmean(matrix, axis=0))
        missing = np.isnan(matrix)
        filled = np.where(missing, self.start_, matrix)
        # A lone column has nothing to be regressed on: its cells keep their start values
        # (its mean or most frequent value).
        order = [
            name
            for name in sorted(self.columns_, key=lambda n: int(sample[n].isna().sum()))
            if sample[name].isna().any() and len(self.columns_) > 1
        ]
        self.steps_: list[tuple[str, Any]] = []
        for _round in range(self.max_iter):
            for name in order:
                block = self.encoding_.slices[name]
                rows = ~missing[:, block.start]
                features = np.delete(filled, np.arange(block.start, block.stop), axis=1)
                if self.column_types_[name] == "numeric":
                    model: Any = BayesianRidge().fit(features[rows], filled[rows, block.start])
                else:
                    target = np.argmax(matrix[rows][:, block], axis=1)
                    known = matrix[rows][:, block].sum(axis=1) > 0
                    if len(np.unique(target[known])) < 2:
                        continue
                    model = LogisticRegression(max_iter=100, tol=1e-3)
                    # An unconverged solver still gives usable probabilities after 100 steps.
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore", ConvergenceWarning)
                        model.fit(features[rows][known], target[known])
                self.steps_.append((name, model))
                self._apply(name, model, filled, missing)

    def _apply(self, name: Hashable, model: Any, filled: np.ndarray, missing: np.ndarray) -> None:
        """Overwrite the missing cells of ``name`` in ``filled`` with the model's prediction."""
        block = self.encoding_.slices[name]
        rows = missing[:, block.start]
        if not rows.any():
            return
        features = np.delete(filled[rows], np.arange(block.start, block.stop), axis=1)
        if self.column_types_[name] == "numeric":
            filled[rows, block.start] = model.predict(features)
        else:
            probabilities = np.zeros((int(rows.sum()), block.stop - block.start))
            probabilities[:, model.classes_] = model.predict_proba(features)
            filled[np.ix_(rows, np.arange(block.start, block.stop))] = probabilities

    def _impute_all(
        self, data: pd.DataFrame, missing: dict[Hashable, np.ndarray]
    ) -> dict[Hashable, Sequence[Any] | np.ndarray]:
        rows = np.unique(np.concatenate(list(missing.values())))
        matrix = self.encoding_.encode(data.iloc[rows])
        hidden = np.isnan(matrix)
        filled = np.where(hidden, self.start_, matrix)
        for name, model in self.steps_:
            self._apply(name, model, filled, hidden)
        completed = np.empty((len(data), self.encoding_.width))
        completed[rows] = filled
        return {name: self.encoding_.decode(name, completed[at]) for name, at in missing.items()}


class TreesImputer(TableImputer):
    """One gradient-boosted-trees model per column (LightGBM; needs the ``search`` extra).

    For each imputed column a classifier (categorical) or regressor (numeric) is trained on the
    rows where it is observed, with every other column as a feature: numerics as they are,
    categoricals as native categorical features (rarer values beyond the 1,000 most frequent share
    one code). Missing feature cells are handled natively by the trees.

    Parameters
    ----------
    n_estimators : int, default 100
        Boosting rounds per model.
    learning_rate : float, default 0.1
    max_classes : int, default 100
        A categorical target is predicted among its ``max_classes`` most frequent values; rows
        with rarer values are left out of its training set (multi-class boosting grows one tree
        per class per round, so this bounds the cost).
    max_rows : int or None, default 50000
        Training rows per model (a seeded sample).
    seed : int, default 0
    columns, column_types
        As in :class:`MeanModeImputer`.

    Attributes
    ----------
    models_ : dict
        Column label to its fitted ``lightgbm`` estimator, or to the single value of a column
        that is constant where observed.
    classes_ : dict
        Categorical column label to the values its classifier predicts among.
    target_scales_ : dict
        Numeric column label to the mean and standard deviation its regressor's target was
        standardised with.
    """

    _who = "TreesImputer"
    _MAX_FEATURE_CODES = 1000

    def __init__(
        self,
        *,
        n_estimators: int = 100,
        learning_rate: float = 0.1,
        max_classes: int = 100,
        max_rows: int | None = 50000,
        seed: int = 0,
        columns: Sequence[Hashable] | None = None,
        column_types: Mapping[Hashable, str] | None = None,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.max_classes = max_classes
        self.max_rows = max_rows
        self.seed = seed
        self.columns = columns
        self.column_types = column_types

    def _features(self, data: pd.DataFrame) -> np.ndarray:
        out = np.empty((len(data), len(self.columns_)))
        for position, name in enumerate(self.columns_):
            if self.column_types_[name] == "numeric":
                out[:, position] = data[name].astype(float).to_numpy()
            else:
                codes = pd.Index(self.feature_codes_[name]).get_indexer(data[name].astype(object))
                column = np.where(codes >= 0, codes, len(self.feature_codes_[name])).astype(float)
                column[data[name].isna().to_numpy()] = np.nan
                out[:, position] = column
        return out

    def _fit(self, data: pd.DataFrame) -> None:
        from gristmill._extras import require

        lightgbm = require("lightgbm", extra="search", feature="TreesImputer")
        _check_positive_int(self._who, "n_estimators", self.n_estimators)
        _check_positive_int(self._who, "max_classes", self.max_classes, minimum=2)
        self.feature_codes_ = {
            name: _top_values(data[name], self._MAX_FEATURE_CODES)
            for name in self.columns_
            if self.column_types_[name] == "categorical"
        }
        features = self._features(data)
        rng = np.random.default_rng(self.seed)
        params = {
            "n_estimators": self.n_estimators,
            "learning_rate": self.learning_rate,
            "min_child_samples": 5,
            "random_state": self.seed,
            "deterministic": True,
            "n_jobs": 1,
            "verbose": -1,
        }
        self.models_: dict[Hashable, Any] = {}
        self.classes_: dict[Hashable, list[Any]] = {}
        self.target_scales_: dict[Hashable, tuple[float, float]] = {}
        for position, name in enumerate(self.columns_):
            if name not in self.impute_columns_:
                continue
            rows = np.flatnonzero(data[name].notna().to_numpy())
            if self.column_types_[name] == "numeric":
                target = data[name].astype(float).to_numpy()
                model: Any = lightgbm.LGBMRegressor(**params)
            else:
                self.classes_[name] = _top_values(data[name], self.max_classes)
                target = pd.Index(self.classes_[name]).get_indexer(data[name].astype(object))
                rows = rows[target[rows] >= 0]
                model = lightgbm.LGBMClassifier(**params)
            if len(self.columns_) == 1:
                # Nothing else to learn from: the mean, or the most frequent value (class 0).
                numeric = self.column_types_[name] == "numeric"
                self.models_[name] = float(np.mean(target[rows])) if numeric else 0
                continue
            if self.max_rows is not None and len(rows) > self.max_rows:
                rows = np.sort(rng.choice(rows, self.max_rows, replace=False))
            if len(np.unique(target[rows])) < 2:
                self.models_[name] = to_python(target[rows][0])
                continue
            inputs = np.delete(features[rows], position, axis=1)
            if self.column_types_[name] == "numeric":
                # LightGBM keeps labels as float32, which overflows beyond 3.4e38.
                self.target_scales_[name] = location_and_scale(data[name])
                center, scale = self.target_scales_[name]
                target = (target - center) / scale
            with warnings.catch_warnings():
                # Free text has more classes than half its rows; max_classes bounds them.
                warnings.filterwarnings("ignore", "The number of unique classes", UserWarning)
                model.fit(
                    inputs, target[rows], categorical_feature=self._categorical_positions(name)
                )
            self.models_[name] = model

    def _categorical_positions(self, target: Hashable) -> list[int]:
        others = [name for name in self.columns_ if name != target]
        return [i for i, name in enumerate(others) if self.column_types_[name] == "categorical"]

    def _impute_all(
        self, data: pd.DataFrame, missing: dict[Hashable, np.ndarray]
    ) -> dict[Hashable, Sequence[Any] | np.ndarray]:
        # Every column's model reads the same encoded rows: encode them once.
        rows = np.unique(np.concatenate(list(missing.values())))
        features = self._features(data.iloc[rows])
        return {
            name: self._predict(name, features[np.searchsorted(rows, at)])
            for name, at in missing.items()
        }

    def _predict(self, column: Hashable, features: np.ndarray) -> list[Any] | np.ndarray:
        """The imputed values of ``column`` for rows of encoded ``features`` (all columns)."""
        model = self.models_[column]
        numeric = self.column_types_[column] == "numeric"
        if isinstance(model, (int, float)):
            predicted = np.full(len(features), model)
        else:
            inputs = np.delete(features, self.columns_.index(column), axis=1)
            scores = _raw_scores(model.booster_, inputs)
            if numeric:
                center, scale = self.target_scales_[column]
                return scores * scale + center
            # The class of highest probability (the softmax of the scores, or their sigmoid
            # for two classes), as the estimator's own predict picks it.
            best = np.argmax(scores, axis=1) if scores.ndim == 2 else (scores > 0).astype(int)
            predicted = model.classes_[best]
        if numeric:
            return predicted
        return [self.classes_[column][int(code)] for code in predicted]


#: Rows scored per block, which bounds the memory of the raw scores (rows x classes).
_SCORE_BLOCK_ROWS = 10000


def _raw_scores(booster: Any, inputs: np.ndarray) -> np.ndarray:
    """``booster.predict(inputs, raw_score=True)``, computed one boosting round at a time.

    LightGBM walks every tree for one row before it moves to the next. A multi-class model
    grows one tree per class per round (10,000 for 100 classes at the defaults), too many for
    the processor cache, so each row fetches them all from memory again: five times slower
    than passing all rows through one round's trees at a time. The scores are the same
    additions in the same order as LightGBM's, so they are identical. Returns an (n,) array
    for a model of one tree per round, else (n, classes).
    """
    width = booster.num_model_per_iteration()
    if width == 1:
        # One tree per round: the whole model stays in cache.
        return np.asarray(booster.predict(inputs, raw_score=True, num_threads=1))
    scores = np.zeros((len(inputs), width))
    for start in range(0, len(inputs), _SCORE_BLOCK_ROWS):
        block = inputs[start : start + _SCORE_BLOCK_ROWS]
        for iteration in range(booster.current_iteration()):
            scores[start : start + len(block)] += booster.predict(
                block, start_iteration=iteration, num_iteration=1, raw_score=True, num_threads=1
            )
    return scores


IMPUTER_NAMES: tuple[str, ...] = ("attention", "iterative", "knn", "mean", "trees")


def get_imputer(name: str, **params: Any) -> TableImputer:
    """Build an imputer by name.

    Parameters
    ----------
    name : {"attention", "trees", "knn", "iterative", "mean"}
    **params
        Keyword arguments of the imputer's constructor.

    Returns
    -------
    TableImputer
        An unfitted imputer.

    Raises
    ------
    DataError
        When the name is unknown.

    Examples
    --------
    >>> type(get_imputer("mean")).__name__
    'MeanModeImputer'
    """
    if name == "attention":
        from gristmill.cleaning._attention import AttentionImputer

        return AttentionImputer(**params)
    builders: dict[str, type[TableImputer]] = {
        "iterative": IterativeRegressionImputer,
        "knn": NeighborsImputer,
        "mean": MeanModeImputer,
        "trees": TreesImputer,
    }
    if name not in builders:
        raise DataError(
            f"unknown imputation method {name!r}; expected one of {list(IMPUTER_NAMES)}"
        )
    return builders[name](**params)
