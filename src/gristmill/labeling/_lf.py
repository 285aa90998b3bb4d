"""Labeling functions: a small class plus the decorator that builds it.

Two kinds exist. A *row* labeling function takes one data point (a :class:`Row`) and returns a
class index or :data:`ABSTAIN`. A *vectorized* one takes a whole DataFrame (or one partition of
it) and returns an integer array with one vote per row; it must label each row independently of
the others, because appliers may call it on any partition of the data.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, NoReturn

import numpy as np
import pandas as pd

from gristmill.exceptions import LFError
from gristmill.labeling._matrix import ABSTAIN, MAX_CLASS, compact_label_dtype, describe_row
from gristmill.labeling._preprocess import Preprocessor, Row, align_to_index, check_resources

__all__ = ["MAX_VOTE", "LabelingFunction", "labeling_function"]

#: The largest class index a vote may be: the largest a label matrix holds.
MAX_VOTE = int(MAX_CLASS)


class LabelingFunction:
    """A labeling function: votes a class index per data point, or abstains with ``-1``.

    Parameters
    ----------
    name : str
        Unique name (it names the label-matrix column).
    f : callable
        ``f(x, **resources)``: ``x`` is a :class:`Row` (row kind) or a DataFrame (vectorized).
        A vectorized ``f`` returns an array in the frame's row order, or a Series indexed like
        the frame (its values are matched to rows by index label).
    pre : iterable of Preprocessor, optional
        Preprocessors applied, in order, before ``f``; their kind must match the LF's kind.
        None (Snorkel's default) means none.
    resources : dict, optional
        Keyword arguments passed to ``f`` on every call.
    vectorized : bool, default False
        Whether ``f`` takes a whole DataFrame and returns an array of votes.
    columns : sequence of hashable, optional
        Columns ``f`` reads; appliers check them up front so a missing one is reported once.

    Raises
    ------
    LFError
        When ``f`` is not callable, ``resources`` is not a mapping of parameter names,
        ``pre`` is a single preprocessor rather than a list of them, or a preprocessor's kind
        does not match.
    """

    def __init__(
        self,
        name: str,
        f: Callable[..., Any],
        *,
        pre: Iterable[Preprocessor] | None = (),
        resources: Mapping[str, Any] | None = None,
        vectorized: bool = False,
        columns: Sequence[Hashable] = (),
    ) -> None:
        if not callable(f):
            raise LFError(f"Labeling function {name!r} needs a callable; got {type(f).__name__}")
        self.name = str(name)
        self.f = f
        self.vectorized = bool(vectorized)
        self.resources = check_resources(resources, f"Labeling function {self.name!r}", self.name)
        if isinstance(pre, Preprocessor):
            raise LFError(
                f"Labeling function {self.name!r}: pre takes a list of preprocessors; write "
                f"pre=[{pre.name}]",
                lf_name=self.name,
            )
        self.pre = tuple(pre or ())
        self.columns = tuple(columns)
        for step in self.pre:
            if not isinstance(step, Preprocessor):
                raise LFError(
                    f"Labeling function {self.name!r}: pre must hold Preprocessor objects "
                    f"(made with @preprocessor()); got {type(step).__name__}",
                    lf_name=self.name,
                )
            if step.vectorized != self.vectorized:
                kind = "vectorized" if self.vectorized else "row"
                raise LFError(
                    f"Labeling function {self.name!r} is a {kind} LF, so its preprocessor "
                    f"{step.name!r} must be {kind} too",
                    lf_name=self.name,
                )

    def __repr__(self) -> str:
        kind = "vectorized" if self.vectorized else "row"
        return f"LabelingFunction({self.name!r}, {kind})"

    def __call__(self, x: Any) -> Any:
        """Label one row (row kind) or a DataFrame (vectorized), applying ``pre`` first.

        Returns an int for a row, an integer numpy array for a DataFrame.
        """
        if self.vectorized:
            if not isinstance(x, pd.DataFrame):
                raise LFError(
                    f"Vectorized labeling function {self.name!r} takes a DataFrame; "
                    f"got {type(x).__name__}",
                    lf_name=self.name,
                )
            for step in self.pre:
                x = step.apply_frame(x)
            return self.label_prepared_frame(x)
        row = x if isinstance(x, Row) else Row(x.items() if hasattr(x, "items") else x)
        for step in self.pre:
            row = step.apply_row(row)
        return self.label_prepared_row(row)

    def label_prepared_row(self, row: Row) -> int:
        """Call ``f`` on a row that has been through ``pre`` and check the vote."""
        vote = self.f(row, **self.resources) if self.resources else self.f(row)
        if type(vote) is int and ABSTAIN <= vote <= MAX_VOTE:
            return vote
        return check_vote(vote, self.name)

    def label_prepared_frame(self, frame: pd.DataFrame) -> np.ndarray:
        """Call ``f`` on a frame that has been through ``pre``; return a compact int array.

        ``f`` gets a shallow copy (no data is copied), unless it declares ``reads_only`` (the
        factories' functions do): a column it adds or replaces, as pandas code often does, then
        stays in its copy, out of the caller's data and of what other LFs see.
        """
        given = frame if getattr(self.f, "reads_only", False) else frame.copy(deep=False)
        votes = self.f(given, **self.resources) if self.resources else self.f(given)
        return check_votes(votes, frame.index, self.name)


def check_vote(vote: Any, lf_name: str) -> int:
    """Return a row LF's vote as an int, or raise an LFError saying what was wrong."""
    if isinstance(vote, bool | np.bool_) or not isinstance(vote, int | np.integer):
        # None is what a function returns when a path of it ends without a return statement.
        hint = ": does every path end in `return ABSTAIN` or a class?" if vote is None else ""
        raise LFError(
            f"Labeling function {lf_name!r} must return a class index (int) or ABSTAIN (-1); "
            f"it returned {vote!r} of type {type(vote).__name__}{hint}",
            lf_name=lf_name,
        )
    if not ABSTAIN <= vote <= MAX_VOTE:
        raise LFError(
            f"Labeling function {lf_name!r} returned {int(vote)}; votes must be -1 or a class "
            f"index (0 to {MAX_VOTE})",
            lf_name=lf_name,
        )
    return int(vote)


def check_votes(votes: Any, index: pd.Index, lf_name: str) -> np.ndarray:
    """Return a vectorized LF's votes as a compact integer array, one vote per row of ``index``.

    A pandas Series is matched to the rows by index label; anything else is taken in row order.
    An error about a bad vote names a row holding one.
    """
    n_rows = len(index)
    if isinstance(votes, pd.Series):
        owner = f"Vectorized labeling function {lf_name!r}"
        votes = align_to_index(votes, index, owner, lf_name)
    elif isinstance(votes, pd.Index):
        votes = votes.to_numpy()
    array = np.asarray(votes)
    if array.shape != (n_rows,):
        raise LFError(
            f"Vectorized labeling function {lf_name!r} must return one vote per row "
            f"(shape ({n_rows},)); it returned shape {array.shape}",
            lf_name=lf_name,
        )
    if array.dtype == np.bool_ or not (
        np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
    ):
        raise LFError(
            f"Vectorized labeling function {lf_name!r} must return integer class indices "
            f"(-1 = abstain); it returned dtype {array.dtype}",
            lf_name=lf_name,
        )
    if np.issubdtype(array.dtype, np.floating):
        with np.errstate(invalid="ignore"):  # NaN and inf leave a NaN remainder: not whole
            fractional = np.mod(array, 1) != 0
        if fractional.any():
            position = int(fractional.argmax())
            if np.isnan(array[position]):  # NaN, pd.NA or None in a Series: a missing vote
                row = index[position]
                raise LFError(
                    f"Vectorized labeling function {lf_name!r} returned a missing vote (NaN) on "
                    f"row {describe_row(row)}; abstain with -1",
                    lf_name=lf_name,
                    row=row,
                )
            _raise_bad_vote(lf_name, "non-integer vote", array, index, position)
    if not n_rows:
        return array.astype(np.int8)
    low, high = int(array.min()), int(array.max())
    if low < ABSTAIN:
        _raise_bad_vote(lf_name, "vote", array, index, int(array.argmin()))
    if high > MAX_VOTE:
        _raise_bad_vote(lf_name, "vote", array, index, int(array.argmax()))
    return array.astype(compact_label_dtype(high), copy=False)


def _raise_bad_vote(
    lf_name: str, problem: str, array: np.ndarray, index: pd.Index, position: int
) -> NoReturn:
    row = index[position]
    raise LFError(
        f"Vectorized labeling function {lf_name!r} returned {problem} {array[position].item()!r} "
        f"on row {describe_row(row)}; votes must be -1 (abstain) or a class index "
        f"(0 to {MAX_VOTE})",
        lf_name=lf_name,
        row=row,
    )


def labeling_function(
    name: str | None = None,
    *,
    pre: Iterable[Preprocessor] | None = (),
    resources: Mapping[str, Any] | None = None,
    vectorized: bool = False,
) -> Callable[[Callable[..., Any]], LabelingFunction]:
    """Decorator turning a function into a :class:`LabelingFunction`.

    Parameters
    ----------
    name : str, optional
        Defaults to the function's name.
    pre : iterable of Preprocessor, optional
        Preprocessors applied before the function (computed once per row or partition and shared
        with other LFs that list them). None means none.
    resources : dict, optional
        Keyword arguments passed to the function on every call.
    vectorized : bool, default False
        The function takes a DataFrame and returns an integer array, one vote per row.

    Examples
    --------
    >>> @labeling_function()
    ... def short_comment(x):
    ...     return 0 if len(x.text.split()) < 5 else -1
    >>> short_comment({"text": "nice song"})
    0
    >>> import pandas as pd
    >>> @labeling_function(vectorized=True)
    ... def has_link(frame):
    ...     return frame["text"].str.contains("http").map({True: 1, False: -1}).to_numpy()
    >>> has_link(pd.DataFrame({"text": ["see http://x", "lovely"]})).tolist()
    [1, -1]
    """
    if callable(name):
        raise LFError("Use @labeling_function() with parentheses")

    def decorate(f: Callable[..., Any]) -> LabelingFunction:
        return LabelingFunction(
            name or f.__name__, f, pre=pre, resources=resources, vectorized=vectorized
        )

    return decorate
