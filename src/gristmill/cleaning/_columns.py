"""Column types and the fit/transform skeleton shared by every imputer.

A column is either ``"categorical"`` (its values are labels: strings, booleans, pandas
categories, or integers with few distinct values) or ``"numeric"`` (a continuous quantity).
Imputers predict a class for the first and a number for the second, and write the filled values
back with the column's original dtype.
"""

from __future__ import annotations

import numbers
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any, Literal, Self

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from gristmill.exceptions import DataError, NotFittedError, ParameterError

ColumnType = Literal["categorical", "numeric"]
COLUMN_TYPES: tuple[str, ...] = ("categorical", "numeric")

#: Integer-valued numeric columns with at most this many distinct values are categorical.
MAX_DISCRETE_INTEGER_VALUES = 10
#: Numbers beyond this cannot be squared (and summed) in float64 without overflowing.
_LARGEST_SQUARED = 1e150


def infer_column_types(
    data: pd.DataFrame,
    overrides: Mapping[Hashable, str] | None = None,
    *,
    max_discrete_values: int = MAX_DISCRETE_INTEGER_VALUES,
) -> dict[Hashable, ColumnType]:
    """Decide for each column whether it is categorical or numeric.

    Strings, booleans, pandas categoricals and objects are categorical. Numeric columns are numeric,
    except integer-valued ones with at most ``max_discrete_values`` distinct values (codes such as
    0/1 flags or ratings), which are categorical.

    Parameters
    ----------
    data : pandas.DataFrame
    overrides : mapping of column label to {"categorical", "numeric"}, optional
        Types that replace the inferred ones.
    max_discrete_values : int, default 10

    Returns
    -------
    dict
        Column label to ``"categorical"`` or ``"numeric"``, in column order.

    Raises
    ------
    DataError
        When an override names an unknown column or type, a non-numeric column is declared
        numeric, or a column holds dates (convert them to numbers or strings first).

    Examples
    --------
    >>> frame = pd.DataFrame({"city": ["a", "b"], "price": [1.5, 2.0], "stars": [1, 2]})
    >>> infer_column_types(frame)
    {'city': 'categorical', 'price': 'numeric', 'stars': 'categorical'}
    """
    overrides = dict(overrides or {})
    for name, kind in overrides.items():
        if name not in data.columns:
            raise DataError(
                f"column_types names column {name!r}, which the table does not have; "
                f"columns are {list(data.columns)}"
            )
        if kind not in COLUMN_TYPES:
            raise DataError(
                f"column_types[{name!r}] must be 'categorical' or 'numeric'. Got {kind!r} instead."
            )
    types: dict[Hashable, ColumnType] = {}
    for name in data.columns:
        column = data[name]
        if pd.api.types.is_datetime64_any_dtype(column) or pd.api.types.is_timedelta64_dtype(
            column
        ):
            raise DataError(
                f"column {name!r} holds dates/durations ({column.dtype}); convert it to numbers "
                "or strings before imputing"
            )
        is_number = holds_numbers(column.dtype)
        if name in overrides:
            if overrides[name] == "numeric" and not is_number:
                raise DataError(
                    f"column {name!r} is declared numeric but has dtype {column.dtype}; "
                    "convert it first"
                )
            types[name] = overrides[name]  # type: ignore[assignment]
        elif is_number:
            types[name] = "categorical" if _few_integers(column, max_discrete_values) else "numeric"
        else:
            types[name] = "categorical"
    return types


def holds_numbers(dtype: Any) -> bool:
    """Whether ``dtype`` is a numeric dtype (booleans are labels, not numbers)."""
    return bool(pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype))


def _few_integers(column: pd.Series, limit: int) -> bool:
    observed = column.dropna().to_numpy(dtype=float)
    if observed.size == 0 or not np.all(np.isfinite(observed)):
        return False
    if not np.all(observed == np.round(observed)):
        return False
    return len(np.unique(observed)) <= limit


def check_table(data: object, *, who: str) -> pd.DataFrame:
    """Check that ``data`` is a non-empty DataFrame with unique string-able column names.

    Raises
    ------
    DataError
        When it is not a DataFrame, has no rows or columns, or repeats a column name.
    """
    if not isinstance(data, pd.DataFrame):
        raise DataError(f"{who} takes a pandas DataFrame. Got {type(data).__name__} instead.")
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise DataError(
            f"{who}: the table is empty ({data.shape[0]} rows, {data.shape[1]} columns)"
        )
    duplicated = data.columns[data.columns.duplicated()].tolist()
    if duplicated:
        raise DataError(f"{who}: column names must be unique; {duplicated} appear more than once")
    return data


def check_observed(data: pd.DataFrame, columns: Sequence[Hashable], *, who: str) -> None:
    """Raise a DataError naming every column among ``columns`` with no observed value."""
    empty = [name for name in columns if data[name].notna().sum() == 0]
    if empty:
        raise DataError(
            f"{who}: column(s) {empty} have no observed values, so nothing can be learned about "
            "them; drop them or fill them first"
        )


def check_finite(data: pd.DataFrame, columns: Sequence[Hashable], *, who: str) -> None:
    """Raise a DataError naming the first numeric column among ``columns`` holding an infinity,
    and the row (index label) where it first does.

    An infinity is neither a missing value nor a number to impute from: a mean or a distance
    through it is infinite or undefined.
    """
    for name in columns:
        column = data[name]
        if not holds_numbers(column.dtype):
            continue
        infinite = np.isinf(column.to_numpy(dtype=float, na_value=np.nan))
        if infinite.any():
            first = int(np.argmax(infinite))
            raise DataError(
                f"{who}: column {name!r} holds {column.iloc[first]} at row {data.index[first]!r}; "
                "infinities are neither missing values nor numbers to impute from: replace them "
                "(with NaN to have them imputed) first"
            )


def check_numbers(data: pd.DataFrame, name: Hashable, *, who: str) -> None:
    """Raise a DataError naming the first row where a column that was numeric in fit holds
    something that is not a number (numbers written as text are read as numbers)."""
    column = data[name]
    if holds_numbers(column.dtype):
        return
    numbers = pd.to_numeric(column.astype(object), errors="coerce")
    bad = (column.notna() & numbers.isna()).to_numpy(dtype=bool)
    if bad.any():
        first = int(np.argmax(bad))
        raise DataError(
            f"{who}: column {name!r} was numeric in fit but holds {column.iloc[first]!r} at row "
            f"{data.index[first]!r} ({column.dtype}); convert it to numbers first"
        )


def location_and_scale(values: pd.Series) -> tuple[float, float]:
    """Mean and standard deviation (``ddof=0``; 1.0 when it is 0) of a column's numbers.

    Squaring numbers beyond about 1e154 overflows to infinity, and an infinite scale turns
    every standardised value into 0 and every prediction into NaN; such a column's moments are
    computed on its values divided by the largest of them instead.
    """
    numbers = values.astype(float)
    top = float(numbers.abs().max())
    if top > _LARGEST_SQUARED:
        shrunk = numbers / top
        mean, std = float(shrunk.mean()) * top, float(shrunk.std(ddof=0)) * top
    else:
        mean, std = float(numbers.mean()), float(numbers.std(ddof=0))
    return mean, std if std > 0 else 1.0


def to_python(value: Any) -> Any:
    """Turn a numpy scalar into the equivalent Python scalar (for JSON and exact comparisons)."""
    return value.item() if isinstance(value, np.generic) else value


def fill_column(
    column: pd.Series, rows: np.ndarray, values: Sequence[Any] | np.ndarray, *, who: str
) -> pd.Series:
    """Return ``column`` with the positions ``rows`` set to ``values``, keeping its dtype.

    Integer columns (including nullable ``Int64``) get rounded numbers; a categorical dtype
    gets the values it lacks as new categories (a batch's categories need not include every
    value of the table an imputer learned from). ``who`` prefixes error messages.

    Raises
    ------
    DataError
        When the column's dtype cannot hold the values (a column that held labels in fit
        but is numeric here, say because all its cells are missing).
    """
    out = column.copy()
    if len(rows) == 0:
        return out
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        fresh = pd.Index(pd.unique(pd.array(list(values), dtype=object))).dropna()
        out = out.cat.add_categories(fresh[~fresh.isin(dtype.categories)])
        dtype = out.dtype
    if holds_numbers(dtype):
        filled = _as_numbers(values)
        if filled is None:
            raise _cannot_hold(column, values, who)
        values = np.round(filled) if pd.api.types.is_integer_dtype(dtype) else filled
    else:
        values = pd.array(list(values), dtype=object)
    try:
        out.iloc[rows] = values
    except (TypeError, ValueError):
        raise _cannot_hold(column, values, who) from None
    if out.dtype != dtype:
        out = out.astype(dtype)
    return out


def _as_numbers(values: Sequence[Any] | np.ndarray) -> np.ndarray | None:
    """``values`` as floats, or None when one of them is not a number (a label, a bool)."""
    array = np.asarray(values)
    if array.dtype.kind in "iuf":
        return array.astype(float)
    if array.dtype.kind == "O" and all(
        isinstance(v, numbers.Real) and not isinstance(v, bool) for v in array
    ):
        return array.astype(float)
    return None


def _cannot_hold(column: pd.Series, values: Sequence[Any] | np.ndarray, who: str) -> DataError:
    return DataError(
        f"{who}: column {column.name!r} has dtype {column.dtype} here, which cannot hold its "
        f"imputed values (such as {to_python(values[0])!r}); convert it to the dtype it had in fit"
    )


class TableImputer(BaseEstimator):  # type: ignore[misc]
    """Base class: validation, column types and dtype-preserving filling for imputers.

    Subclasses set ``_who`` and implement ``_fit(data)`` and either ``_impute(data, column,
    rows)``, which returns the values for the positional ``rows`` (all missing) of ``column``, or
    ``_impute_all(data, missing)`` doing that for every column at once.

    Columns are known by their labels as they are (strings, integers, ...).

    Fitted attributes
    -----------------
    column_types_ : dict
        Column label to ``"categorical"`` or ``"numeric"``.
    columns_ : list
        The label of every column seen in ``fit`` that is imputed or has an observed value
        (all of them are used as context).
    impute_columns_ : list
        The columns ``transform`` fills.
    """

    _who = "TableImputer"
    columns: Sequence[Hashable] | None
    column_types: Mapping[Hashable, str] | None

    def fit(self, data: pd.DataFrame, y: object = None) -> Self:
        """Learn the table; returns ``self``.

        Raises
        ------
        DataError
            When the table is empty, a column to impute has no observed value, a column holds
            an infinity, a requested column is absent, or a column type cannot be used.
        ParameterError
            When ``columns`` is not a list of labels (a string, say), ``column_types`` is
            not a mapping, or ``seed`` is not an int >= 0.
        """
        data = check_table(data, who=f"{self._who}.fit")
        self._check_shared_params()
        wanted = list(self.columns) if self.columns is not None else list(data.columns)
        absent = [name for name in wanted if name not in data.columns]
        if absent:
            raise DataError(
                f"{self._who}: columns {absent} are not in the table; it has {list(data.columns)}"
            )
        check_observed(data, wanted, who=f"{self._who}.fit")
        # A column with no observed value tells nothing about the others: it is no context.
        context = [name for name in data.columns if name in wanted or data[name].notna().any()]
        overrides = {
            name: kind
            for name, kind in (self.column_types or {}).items()
            if name in context or name not in data.columns
        }
        data = data[context]
        check_finite(data, context, who=f"{self._who}.fit")
        self.column_types_ = infer_column_types(data, overrides)
        self.columns_ = context
        self.impute_columns_ = wanted
        self._fit(data)
        return self

    def transform(self, data: pd.DataFrame) -> pd.DataFrame:
        """Return a copy of ``data`` with the missing cells of the imputed columns filled.

        The result has the same index, columns and dtypes as ``data``.

        Raises
        ------
        NotFittedError
            Before ``fit``.
        DataError
            When a column seen in ``fit`` is absent, holds an infinity, is no longer numeric
            or cannot hold its imputed values.
        """
        self._check_fitted()
        data = self._check_input(data, "transform")
        out = data.copy()
        missing = {
            name: np.flatnonzero(data[name].isna().to_numpy()) for name in self.impute_columns_
        }
        missing = {name: rows for name, rows in missing.items() if rows.size}
        if missing:
            for name, values in self._impute_all(data, missing).items():
                out[name] = fill_column(
                    data[name], missing[name], values, who=f"{self._who}.transform"
                )
        return out

    def fit_transform(self, data: pd.DataFrame, y: object = None) -> pd.DataFrame:
        """Fit on ``data`` and return it with its missing cells filled."""
        return self.fit(data).transform(data)

    def _check_shared_params(self) -> None:
        """Check the parameters every imputer has (``columns``, ``column_types``) or that
        several have (``seed``: an int >= 0)."""
        seed = getattr(self, "seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ParameterError(
                f"The 'seed' parameter of {self._who} must be an int >= 0. Got {seed!r} instead."
            )
        # A string is a sequence of its characters, which is never the columns meant.
        if isinstance(self.columns, str) or not isinstance(self.columns, (Iterable, type(None))):
            raise ParameterError(
                f"The 'columns' parameter of {self._who} must be a list of column labels. "
                f"Got {self.columns!r} instead."
            )
        if not isinstance(self.column_types, (Mapping, type(None))):
            raise ParameterError(
                f"The 'column_types' parameter of {self._who} must be a mapping of column label "
                f"to 'categorical' or 'numeric'. Got {self.column_types!r} instead."
            )

    def _check_fitted(self) -> None:
        if not hasattr(self, "column_types_"):
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet; call fit(data) first."
            )

    def _check_input(self, data: pd.DataFrame, method: str) -> pd.DataFrame:
        who = f"{self._who}.{method}"
        data = check_table(data, who=who)
        absent = [name for name in self.columns_ if name not in data.columns]
        if absent:
            raise DataError(
                f"{who}: the table lacks column(s) {absent} seen in fit; "
                f"it has {list(data.columns)}"
            )
        for name in self.columns_:
            if self.column_types_[name] == "numeric":
                check_numbers(data, name, who=who)
        check_finite(data, self.columns_, who=who)
        return data

    def _fit(self, data: pd.DataFrame) -> None:
        raise NotImplementedError

    def _impute_all(
        self, data: pd.DataFrame, missing: dict[Hashable, np.ndarray]
    ) -> dict[Hashable, Sequence[Any] | np.ndarray]:
        """Values for the missing cells: column label to values at the positional rows given."""
        return {name: self._impute(data, name, rows) for name, rows in missing.items()}

    def _impute(self, data: pd.DataFrame, column: Hashable, rows: np.ndarray) -> Sequence[Any]:
        raise NotImplementedError
