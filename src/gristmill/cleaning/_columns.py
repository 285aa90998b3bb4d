"""Column types and the fit/transform skeleton shared by every imputer.

A column is either ``"categorical"`` (its values are labels: strings, booleans, pandas
categories, or integers with few distinct values) or ``"numeric"`` (a continuous quantity).
Imputers predict a class for the first and a number for the second, and write the filled values
back with the column's original dtype.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Self

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from gristmill.exceptions import DataError, NotFittedError

ColumnType = Literal["categorical", "numeric"]
COLUMN_TYPES: tuple[str, ...] = ("categorical", "numeric")

#: Integer-valued numeric columns with at most this many distinct values are categorical.
MAX_DISCRETE_INTEGER_VALUES = 10


def infer_column_types(
    data: pd.DataFrame,
    overrides: Mapping[str, str] | None = None,
    *,
    max_discrete_values: int = MAX_DISCRETE_INTEGER_VALUES,
) -> dict[str, ColumnType]:
    """Decide for each column whether it is categorical or numeric.

    Strings, booleans, pandas categoricals and objects are categorical. Numeric columns are numeric,
    except integer-valued ones with at most ``max_discrete_values`` distinct values (codes such as
    0/1 flags or ratings), which are categorical.

    Parameters
    ----------
    data : pandas.DataFrame
    overrides : mapping of str to {"categorical", "numeric"}, optional
        Types that replace the inferred ones.
    max_discrete_values : int, default 10

    Returns
    -------
    dict
        Column name to ``"categorical"`` or ``"numeric"``, in column order.

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
    types: dict[str, ColumnType] = {}
    for name in data.columns:
        column = data[name]
        if pd.api.types.is_datetime64_any_dtype(column) or pd.api.types.is_timedelta64_dtype(
            column
        ):
            raise DataError(
                f"column {name!r} holds dates/durations ({column.dtype}); convert it to numbers "
                "or strings before imputing"
            )
        is_number = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
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


def check_observed(data: pd.DataFrame, columns: Sequence[str], *, who: str) -> None:
    """Raise a DataError naming every column among ``columns`` with no observed value."""
    empty = [name for name in columns if data[name].notna().sum() == 0]
    if empty:
        raise DataError(
            f"{who}: column(s) {empty} have no observed values, so nothing can be learned about "
            "them; drop them or fill them first"
        )


def to_python(value: Any) -> Any:
    """Turn a numpy scalar into the equivalent Python scalar (for JSON and exact comparisons)."""
    return value.item() if isinstance(value, np.generic) else value


def fill_column(
    column: pd.Series, rows: np.ndarray, values: Sequence[Any] | np.ndarray
) -> pd.Series:
    """Return ``column`` with the positions ``rows`` set to ``values``, keeping its dtype.

    Integer columns (including nullable ``Int64``) get rounded numbers; categorical dtypes keep
    their categories (a value outside them is an error of the caller).
    """
    out = column.copy()
    if len(rows) == 0:
        return out
    dtype = column.dtype
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        values = np.asarray(values, dtype=float)
        if pd.api.types.is_integer_dtype(dtype):
            values = np.round(values)
    else:
        values = pd.array(list(values), dtype=object)
    out.iloc[rows] = values
    if out.dtype != dtype:
        out = out.astype(dtype)
    return out


class TableImputer(BaseEstimator):  # type: ignore[misc]
    """Base class: validation, column types and dtype-preserving filling for imputers.

    Subclasses set ``_who`` and implement ``_fit(data)`` and either ``_impute(data, column,
    rows)``, which returns the values for the positional ``rows`` (all missing) of ``column``, or
    ``_impute_all(data, missing)`` doing that for every column at once.

    Fitted attributes
    -----------------
    column_types_ : dict
        Column name to ``"categorical"`` or ``"numeric"``.
    columns_ : list of str
        Every column seen in ``fit`` (all of them are used as context).
    impute_columns_ : list of str
        The columns ``transform`` fills.
    """

    _who = "TableImputer"
    columns: Sequence[str] | None
    column_types: Mapping[str, str] | None

    def fit(self, data: pd.DataFrame, y: object = None) -> Self:
        """Learn the table; returns ``self``.

        Raises
        ------
        DataError
            When the table is empty, a target column has no observed value, a requested column
            is absent, or a column type cannot be used.
        """
        data = check_table(data, who=f"{self._who}.fit")
        wanted = list(self.columns) if self.columns is not None else list(data.columns)
        absent = [name for name in wanted if name not in data.columns]
        if absent:
            raise DataError(
                f"{self._who}: columns {absent} are not in the table; it has {list(data.columns)}"
            )
        check_observed(data, list(data.columns), who=f"{self._who}.fit")
        self.column_types_ = infer_column_types(data, self.column_types)
        self.columns_ = [str(name) for name in data.columns]
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
            When a column seen in ``fit`` is absent.
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
                out[name] = fill_column(data[name], missing[name], values)
        return out

    def fit_transform(self, data: pd.DataFrame, y: object = None) -> pd.DataFrame:
        """Fit on ``data`` and return it with its missing cells filled."""
        return self.fit(data).transform(data)

    def _check_fitted(self) -> None:
        if not hasattr(self, "column_types_"):
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet; call fit(data) first."
            )

    def _check_input(self, data: pd.DataFrame, method: str) -> pd.DataFrame:
        data = check_table(data, who=f"{self._who}.{method}")
        absent = [name for name in self.columns_ if name not in data.columns]
        if absent:
            raise DataError(
                f"{self._who}.{method}: the table lacks column(s) {absent} seen in fit; "
                f"it has {list(data.columns)}"
            )
        return data

    def _fit(self, data: pd.DataFrame) -> None:
        raise NotImplementedError

    def _impute_all(
        self, data: pd.DataFrame, missing: dict[str, np.ndarray]
    ) -> dict[str, Sequence[Any] | np.ndarray]:
        """Values for the missing cells: column name to values at the positional rows given."""
        return {name: self._impute(data, name, rows) for name, rows in missing.items()}

    def _impute(self, data: pd.DataFrame, column: str, rows: np.ndarray) -> Sequence[Any]:
        raise NotImplementedError
