"""Tables as files hold them: an index worth keeping, and text values typed for
imputation and written back.

A CSV file has no types, and reading it with pandas' inference retypes what it should not:
``"007"`` becomes 7, an integer column with a gap becomes floats written back as ``"3.0"``,
and a column of numbers with one ``"-"`` or a blank of spaces is text. Here a table read as
strings (``read_table(path, as_strings=True)``) is typed column by column:
placeholders (``N/A``, ``-``, blanks: :data:`DEFAULT_PLACEHOLDERS`) are missing, a column of
numbers is numeric (``Int64`` when every number is written as an integer), anything else stays
text. The imputed values are then written into the text table and every other cell is left as
it was written.
"""

from __future__ import annotations

import warnings
from collections.abc import Hashable, Iterable

import numpy as np
import pandas as pd

from gristmill.cleaning._columns import holds_numbers
from gristmill.cleaning._detect import DEFAULT_PLACEHOLDERS, missing_mask
from gristmill.exceptions import DataError

__all__ = [
    "MixedColumnWarning",
    "has_own_index",
    "parse_text_table",
    "write_imputed",
]

_INTEGER = r"^\s*[+-]?\d+\s*$"
#: "007" is a code (a zip, an identifier), not the number 7.
_LEADING_ZERO = r"^\s*[+-]?0\d"
#: A column whose present cells are at least this share of numbers is numbers with typos.
_MOSTLY = 0.9


class MixedColumnWarning(UserWarning):
    """A column of numbers holds a few cells of text, so it is imputed as text."""


def has_own_index(frame: pd.DataFrame) -> bool:
    """Whether ``frame``'s index is more than row numbers (0, 1, ... unnamed), as a Parquet
    file's may be: such an index is written with the table.

    Examples
    --------
    >>> has_own_index(pd.DataFrame({"a": [1, 2]})), has_own_index(pd.DataFrame(index=["x"]))
    (False, True)
    """
    index = frame.index
    default = pd.RangeIndex(len(frame))
    return not (isinstance(index, pd.RangeIndex) and index.equals(default) and index.name is None)


def parse_text_table(
    text: pd.DataFrame,
    *,
    numeric: Iterable[Hashable] = (),
    placeholders: Iterable[str] = DEFAULT_PLACEHOLDERS,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Type a table of strings for imputation.

    Parameters
    ----------
    text : pandas.DataFrame
        Values as strings (missing cells as missing values).
    numeric : iterable of column labels
        Columns to read as numbers even though some of their cells are text: those cells are
        hidden from the imputer (missing in the typed table) but are not filled.
    placeholders : iterable of str
        Values meaning "missing" (compared lower-cased and stripped; blanks always are).

    Returns
    -------
    typed : pandas.DataFrame
        Same index and columns: numeric columns as ``Int64`` (every number written as an
        integer) or ``float64``, other columns as ``text`` has them; missing cells missing.
    missing : pandas.DataFrame
        Booleans: the cells to fill (missing or a placeholder).

    Warns
    -----
    MixedColumnWarning
        For a column of numbers with a few text cells (it is kept as text unless ``numeric``
        names it).

    Examples
    --------
    >>> text = pd.DataFrame({"zip": ["007", "-", "012"], "n": ["3", "", "4"]})
    >>> typed, missing = parse_text_table(text)
    >>> typed.dtypes.astype(str).to_dict(), missing["n"].tolist()
    ({'zip': 'str', 'n': 'Int64'}, [False, True, False])
    """
    placeholders = list(placeholders)
    declared = set(numeric)
    typed = text.copy()
    missing = pd.DataFrame(np.zeros(text.shape, dtype=bool), index=text.index, columns=text.columns)
    for j, name in enumerate(text.columns):
        column = text.iloc[:, j].astype("string")
        blank = missing_mask(column, placeholders)
        missing.isetitem(j, blank)
        present = column.where(~blank)
        numbers = pd.to_numeric(present.str.strip(), errors="coerce")
        n_present, n_numbers = int((~blank).sum()), int(numbers.notna().sum())
        codes = bool(present.str.match(_LEADING_ZERO).fillna(False).any())
        if name in declared and n_present and not n_numbers:
            first = int(np.argmax(~blank))
            raise DataError(
                f"column {name!r} is declared numeric but holds no number (such as "
                f"{present.iloc[first]!r} at row {first})"
            )
        if name in declared or (n_present and n_numbers == n_present and not codes):
            typed.isetitem(j, _numbers(present, numbers))
            continue
        typed.isetitem(j, text.iloc[:, j].where(~blank))
        if n_present and not codes and n_numbers >= _MOSTLY * n_present:
            _warn_mixed(name, present, numbers)
    return typed, missing


def _numbers(present: pd.Series, numbers: pd.Series) -> pd.Series:
    """``Int64`` when every number is written as an integer (and fits), else ``float64``."""
    written = present[numbers.notna()]
    values = numbers.astype(float).to_numpy()
    finite = values[np.isfinite(values)]
    if (
        written.str.match(_INTEGER).all()
        and len(finite) == numbers.notna().sum()
        and (np.abs(finite) < 2**63).all()
    ):
        return pd.Series(pd.array(numbers.astype("Int64")), index=present.index)
    return pd.Series(values, index=present.index)


def _warn_mixed(name: Hashable, present: pd.Series, numbers: pd.Series) -> None:
    text_cells = present.notna() & numbers.isna()
    first = int(np.argmax(text_cells.to_numpy()))
    warnings.warn(
        f"column {name!r} holds numbers but also {int(text_cells.sum())} cell(s) of text, "
        f"such as {present.iloc[first]!r} at row {first}; it is imputed as text. Fix those "
        "cells, or declare the column numeric to impute numbers (its text cells are then "
        "kept as written)",
        MixedColumnWarning,
        stacklevel=3,
    )


def write_imputed(text: pd.DataFrame, filled: pd.DataFrame, missing: pd.DataFrame) -> pd.DataFrame:
    """``text`` with its ``missing`` cells taken from ``filled``, written as text.

    Every other cell keeps its text; integers are written without a fraction and other
    numbers in their shortest exact form.

    Examples
    --------
    >>> text = pd.DataFrame({"n": ["007", None, "3"]})
    >>> filled = pd.DataFrame({"n": pd.array([7, 5, 3], dtype="Int64")})
    >>> write_imputed(text, filled, text.isna())["n"].tolist()
    ['007', '5', '3']
    """
    out = text.copy()
    for j in range(text.shape[1]):
        rows = missing.iloc[:, j].to_numpy(dtype=bool) & filled.iloc[:, j].notna().to_numpy()
        if not rows.any():
            continue
        values = filled.iloc[:, j]
        strings = out.iloc[:, j].to_numpy(dtype=object).copy()
        strings[rows] = [_as_text(v, values.dtype) for v in values.to_numpy(dtype=object)[rows]]
        out.isetitem(j, pd.Series(strings, index=text.index, dtype=text.iloc[:, j].dtype))
    return out


def _as_text(value: object, dtype: object) -> str:
    if holds_numbers(dtype) and pd.api.types.is_integer_dtype(dtype):
        return str(int(value))  # type: ignore[call-overload]
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return str(value)
