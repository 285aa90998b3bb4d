"""Preprocessors: derived fields computed once per row (or partition) and shared by LFs.

A preprocessor takes a data point and returns the fields it derives from it, as a mapping (a dict,
a :class:`Row` or a pandas Series) that is merged into a copy of the data point. A row
preprocessor sees one :class:`Row`; a vectorized one sees a whole DataFrame (or one partition of
it) and returns a DataFrame or a dict of equal-length columns. When several labeling functions
list the same preprocessor in ``pre``, the appliers compute it once per row or partition.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from gristmill._snorkel import snorkel_keywords
from gristmill.exceptions import LFError

__all__ = ["Preprocessor", "Row", "align_to_index", "check_resources", "preprocessor"]


class Row(dict[str, Any]):
    """One data point: a dict of column name to value that also allows attribute access.

    Labeling functions of the row kind receive a ``Row``, so both ``x.text`` and ``x["text"]``
    work. Assigning an attribute sets a field. A column named like a dict method (``items``,
    ``keys``, ``values``, ``get``...) wins over the method: ``x.items`` is that column, and
    ``dict.get(x, "a")`` still calls the method.

    Examples
    --------
    >>> x = Row(text="Check out my channel", n_words=4)
    >>> x.text, x["n_words"]
    ('Check out my channel', 4)
    >>> Row(items=3).items, Row(text="a").get("text")
    (3, 'a')
    """

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(
                f"the row has no column {name!r}; it has {sorted(self, key=str)}"
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value


class _ColumnOrDictMethod:
    """A dict method of :class:`Row` that yields to the row's column of the same name.

    Attribute lookup finds dict's methods before ``Row.__getattr__`` runs, so without this
    ``x.items`` would be the method even on a row with an ``items`` column. Other names keep
    the plain (fast) lookup.
    """

    __slots__ = ("method", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self.method = vars(dict)[name]

    def __get__(self, row: Row | None, owner: type | None = None) -> Any:
        if row is not None and self.name in row:
            return row[self.name]
        return self.method.__get__(row, owner)


for _method in [name for name in vars(dict) if not name.startswith("_")]:
    setattr(Row, _method, _ColumnOrDictMethod(_method))
del _method


def align_to_index(
    values: pd.Series, index: pd.Index, owner: str, lf_name: str | None
) -> np.ndarray:
    """Return a Series' values in the row order of ``index``, matching them by label.

    A function given a frame may return a Series in another row order (after a ``concat`` or a
    ``sort_values``); its labels say which row each value belongs to.

    Parameters
    ----------
    values : pandas.Series
        What the function returned.
    index : pandas.Index
        The index of the frame it was given.
    owner : str
        The function, for the error message ("Vectorized labeling function 'x'").
    lf_name : str or None
        Name recorded on the error.

    Returns
    -------
    numpy.ndarray

    Raises
    ------
    LFError
        When the Series' index does not hold exactly the frame's row labels.
    """
    if values.index.equals(index):
        return values.to_numpy()
    if len(values) == len(index) and values.index.is_unique and index.is_unique:
        positions = values.index.get_indexer(index)
        if (positions >= 0).all():
            return values.to_numpy()[positions]
    raise LFError(
        f"{owner} returned a pandas Series whose index does not hold the frame's row labels "
        f"(it starts {values.index[:3].tolist()}, the frame's {index[:3].tolist()}; "
        f"{len(values)} vs {len(index)} rows); return a Series indexed like the frame, or an "
        "array in the frame's row order",
        lf_name=lf_name,
    )


def check_resources(
    resources: Mapping[str, Any] | None, owner: str, lf_name: str | None = None
) -> dict[str, Any]:
    """``resources`` as a dict of keyword arguments, or an LFError saying what is wrong.

    ``owner`` starts the message (``"Labeling function 'x'"``); ``lf_name`` is recorded on it.
    """
    if resources is None:
        return {}
    if not isinstance(resources, Mapping):
        raise LFError(
            f"{owner}: resources must be a dict of keyword arguments for the function "
            f"(resources={{'name': value}}); got {type(resources).__name__}",
            lf_name=lf_name,
        )
    bad = [key for key in resources if not isinstance(key, str) or not key.isidentifier()]
    if bad:
        raise LFError(
            f"{owner}: resources are passed as keyword arguments, so their keys must be "
            f"parameter names; got {bad[0]!r}",
            lf_name=lf_name,
        )
    return dict(resources)


class Preprocessor:
    """A function deriving new fields from a data point, shared by labeling functions.

    Parameters
    ----------
    name : str
        Unique name.
    f : callable
        ``f(x, **resources)`` returning a mapping of fields to add to ``x`` (a row preprocessor),
        or ``f(frame, **resources)`` returning a DataFrame or dict of columns (vectorized).
    resources : dict, optional
        Keyword arguments passed to ``f`` on every call (lookup tables, models...).
    vectorized : bool, default False
        Whether ``f`` takes a whole DataFrame.
    """

    def __init__(
        self,
        name: str,
        f: Callable[..., Any],
        *,
        resources: Mapping[str, Any] | None = None,
        vectorized: bool = False,
    ) -> None:
        if not callable(f):
            raise LFError(f"Preprocessor {name!r} needs a callable; got {type(f).__name__}")
        self.name = str(name)
        self.f = f
        self.resources = check_resources(resources, f"Preprocessor {self.name!r}")
        self.vectorized = bool(vectorized)

    def __repr__(self) -> str:
        kind = "vectorized" if self.vectorized else "row"
        return f"Preprocessor({self.name!r}, {kind})"

    def __call__(self, x: Any) -> Any:
        """Return ``x`` with this preprocessor's fields added (a new object; ``x`` is unchanged)."""
        if self.vectorized:
            return self.apply_frame(x)
        return self.apply_row(x)

    def apply_row(self, row: Mapping[str, Any]) -> Row:
        """Return a copy of ``row`` with the derived fields merged in."""
        new_row = Row(row)
        derived = self.f(new_row, **self.resources)
        if derived is new_row:
            return new_row
        if derived is None or not hasattr(derived, "keys"):
            raise LFError(
                f"Preprocessor {self.name!r} must return a mapping of fields to add "
                f"(a dict or the row); it returned {type(derived).__name__}"
            )
        # dict.update, not new_row.update: a column named "update" would shadow the method.
        dict.update(new_row, derived)
        return new_row

    def apply_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Return a shallow copy of ``frame`` with the derived columns added.

        ``f`` is given a shallow copy too: columns it adds to it in place (then returning it,
        Snorkel's habit) stay out of ``frame``.
        """
        given = frame.copy(deep=False)
        derived = self.f(given, **self.resources)
        if derived is given:
            return given
        if isinstance(derived, pd.DataFrame):
            columns = {str(c): derived[c] for c in derived.columns}
        elif isinstance(derived, Mapping):
            columns = dict(derived)
        else:
            raise LFError(
                f"Vectorized preprocessor {self.name!r} must return a DataFrame or a dict of "
                f"columns; it returned {type(derived).__name__}"
            )
        out = frame.copy(deep=False)
        owner = f"Vectorized preprocessor {self.name!r}"
        for column, values in columns.items():
            if isinstance(values, pd.Series):
                values = align_to_index(values, frame.index, f"{owner} (column {column!r})", None)
            if len(values) != len(frame):
                raise LFError(
                    f"{owner} returned column {column!r} of length {len(values)} for "
                    f"{len(frame)} rows"
                )
            out[column] = values
        return out


@snorkel_keywords(
    memoize=(
        "gristmill computes a preprocessor once per row (or partition) for every labeling "
        "function listing it; drop memoize"
    ),
    memoize_key="gristmill computes a preprocessor once per row; drop memoize_key",
    pre=(
        "gristmill preprocessors do not chain; list them in order in the labeling function's "
        "pre=[...]"
    ),
)
def preprocessor(
    name: str | None = None,
    *,
    resources: Mapping[str, Any] | None = None,
    vectorized: bool = False,
) -> Callable[[Callable[..., Any]], Preprocessor]:
    """Decorator turning a function into a :class:`Preprocessor`.

    Parameters
    ----------
    name : str, optional
        Defaults to the function's name.
    resources : dict, optional
        Keyword arguments passed to the function on every call.
    vectorized : bool, default False
        Whether the function takes a whole DataFrame.

    Examples
    --------
    >>> @preprocessor()
    ... def words(x):
    ...     return {"words": x.text.lower().split()}
    >>> words(Row(text="Check it"))["words"]
    ['check', 'it']
    """
    if callable(name):
        raise LFError("Use @preprocessor() with parentheses")

    def decorate(f: Callable[..., Any]) -> Preprocessor:
        return Preprocessor(name or f.__name__, f, resources=resources, vectorized=vectorized)

    return decorate
