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

import pandas as pd

from gristmill.exceptions import LFError

__all__ = ["Preprocessor", "Row", "preprocessor"]


class Row(dict[str, Any]):
    """One data point: a dict of column name to value that also allows attribute access.

    Labeling functions of the row kind receive a ``Row``, so both ``x.text`` and ``x["text"]``
    work. Assigning an attribute sets a field.

    Examples
    --------
    >>> x = Row(text="Check out my channel", n_words=4)
    >>> x.text, x["n_words"]
    ('Check out my channel', 4)
    """

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(
                f"the row has no column {name!r}; it has {sorted(self)}"
            ) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value


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
        self.resources = dict(resources or {})
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
        new_row.update(derived)
        return new_row

    def apply_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Return a shallow copy of ``frame`` with the derived columns added."""
        derived = self.f(frame, **self.resources)
        if derived is frame:
            return frame
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
        for column, values in columns.items():
            if len(values) != len(frame):
                raise LFError(
                    f"Vectorized preprocessor {self.name!r} returned column {column!r} of length "
                    f"{len(values)} for {len(frame)} rows"
                )
            if isinstance(values, pd.Series):
                values = values.to_numpy()
            out[column] = values
        return out


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
        return Preprocessor(
            name or f.__name__, f, resources=resources, vectorized=vectorized
        )

    return decorate
