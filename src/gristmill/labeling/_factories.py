"""Factories building vectorized labeling functions for the common sources of weak supervision.

Every factory returns a vectorized :class:`LabelingFunction` that labels a whole DataFrame (or
partition) at once: keywords, regular expressions, numeric thresholds and ranges, lookups in a
dictionary or knowledge-base table (distant supervision), an existing column of labels (crowd
workers, a third-party model), and a fitted scikit-learn-style model.
"""

from __future__ import annotations

import contextlib
import datetime
import re
from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from gristmill.exceptions import DataError, LFError
from gristmill.labeling._lf import MAX_VOTE, LabelingFunction, check_votes
from gristmill.labeling._matrix import ABSTAIN, compact_label_dtype
from gristmill.labeling._substring import AsciiText

__all__ = [
    "column_lf",
    "keyword_lf",
    "lookup_lf",
    "model_lf",
    "regex_lf",
    "threshold_lf",
]

# Arrow views of text columns, shared by every keyword LF labeling the same partition.
_TEXT_CACHE: ContextVar[dict[tuple[Any, ...], Any] | None] = ContextVar(
    "gristmill_text_cache", default=None
)

_RE2_SPECIAL = set(r"\.+*?()|[]{}^$-")

_NUMBER = (int, float, np.integer, np.floating)

# A threshold_lf bound: a number, a date or time (pd.Timestamp), or a duration (pd.Timedelta).
Bound = (
    float
    | np.integer[Any]
    | np.floating[Any]
    | datetime.date
    | datetime.timedelta
    | np.datetime64
    | np.timedelta64
)


@contextlib.contextmanager
def partition_cache() -> Iterator[None]:
    """Share derived column views between the LFs labeling one partition (used by appliers)."""
    token = _TEXT_CACHE.set({})
    try:
        yield
    finally:
        _TEXT_CACHE.reset(token)


def _column(frame: pd.DataFrame, column: Hashable, lf_name: str) -> pd.Series:
    """The frame's column ``column`` (see :func:`_column_label`)."""
    series = frame[_column_label(frame, column, lf_name)]
    if isinstance(series, pd.DataFrame):
        raise DataError(
            f"Labeling function {lf_name!r}: the data has {series.shape[1]} columns named "
            f"{column!r}; column names must be unique"
        )
    return series


def _column_label(frame: pd.DataFrame, column: Hashable, lf_name: str) -> Hashable:
    """The frame's label for ``column``: itself, or else the label whose string it is.

    Row LFs see column names as strings, so ``"0"`` also finds column ``0``.
    """
    if column in frame.columns:
        return column
    label = next((c for c in frame.columns if str(c) == str(column)), None)
    if label is None:
        raise LFError(
            f"Labeling function {lf_name!r} needs column {column!r}; "
            f"the data has {list(frame.columns)}",
            lf_name=lf_name,
        )
    return label


def _as_columns(column: Hashable | Sequence[Hashable]) -> tuple[Hashable, ...]:
    """One column name (a str, int...) as a 1-tuple; a list or tuple of names as a tuple."""
    if isinstance(column, list | tuple):
        return tuple(column)
    return (column,)


def _text_array(frame: pd.DataFrame, column: Hashable, lf_name: str) -> Any:
    cache = _TEXT_CACHE.get()
    key = (id(frame), column)
    if cache is not None and key in cache:
        return cache[key]
    series = _column(frame, column, lf_name)
    if not isinstance(series.dtype, pd.StringDtype):
        series = series.astype(pd.StringDtype("pyarrow"))
    array = pa.array(series)
    if cache is not None:
        cache[key] = array
    return array


def _votes(hits: np.ndarray, label: int) -> np.ndarray:
    dtype = compact_label_dtype(label)
    return np.where(hits, np.asarray(label, dtype=dtype), np.asarray(ABSTAIN, dtype=dtype))


def _check_label(label: Any, factory: str) -> int:
    if (
        isinstance(label, bool)
        or not isinstance(label, int | np.integer)
        or not 0 <= label <= MAX_VOTE
    ):
        raise LFError(f"{factory}: 'label' must be a class index (int >= 0); got {label!r}")
    return int(label)


def _slug(text: Any) -> str:
    return re.sub(r"\W+", "_", str(text).lower()).strip("_") or "lf"


def _re2_literal(text: str) -> str:
    return "".join("\\" + ch if ch in _RE2_SPECIAL else ch for ch in text)


class _KeywordVotes:
    """Vote ``label`` where any keyword occurs in the column.

    ASCII keywords on an all-ASCII partition are found by a whole-column byte search
    (:mod:`gristmill.labeling._substring`); anything else by Arrow's RE2 matcher row by row.
    There, word boundaries (Unicode classes on either side of each keyword) make the pattern
    several times slower than the bare keywords, so it only checks the rows holding one.
    Both paths run without the GIL, so appliers may run several keyword LFs on threads at once
    (``releases_gil``); ``prepare`` fills the shared column cache first.
    """

    reads_only = True  # labels the partition itself, not a copy: it adds no column to it
    releases_gil = True

    def __init__(
        self,
        name: str,
        column: Hashable,
        words: list[str],
        label: int,
        *,
        case_sensitive: bool,
        word_boundary: bool,
    ):
        self.name, self.column, self.words, self.label = name, column, words, label
        self.case_sensitive, self.word_boundary = case_sensitive, word_boundary
        self.pattern = _keyword_pattern(words, word_boundary)
        # Private: a tracked run digests an LF by its public attributes (gristmill.tracking),
        # so what only speeds the search up must not change the digests of existing LFs.
        self._bare_pattern = _keyword_pattern(words, False)
        ascii_words = all(w.isascii() for w in words)
        self.ascii_words = (
            [(w if case_sensitive else w.lower()).encode() for w in words] if ascii_words else None
        )

    def prepare(self, frame: pd.DataFrame) -> None:
        self._ascii_text(frame)

    def _ascii_text(self, frame: pd.DataFrame) -> AsciiText | None:
        if self.ascii_words is None:
            return None
        cache = _TEXT_CACHE.get()
        key = (id(frame), self.column, "ascii" if self.case_sensitive else "ascii-lower")
        if cache is not None and key in cache:
            cached: AsciiText | None = cache[key]
            return cached
        text = AsciiText.from_arrow(
            _text_array(frame, self.column, self.name), lower=not self.case_sensitive
        )
        if cache is not None:
            cache[key] = text
        return text

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        ascii_text = self._ascii_text(frame)
        if ascii_text is not None and self.ascii_words is not None:
            hits = np.zeros(len(frame), dtype=bool)
            for word in self.ascii_words:
                hits |= ascii_text.rows_containing(word, word_boundary=self.word_boundary)
            return _votes(hits, self.label)
        text = _text_array(frame, self.column, self.name)
        hits = self._matches(text, self._bare_pattern)
        if self.word_boundary:
            candidates = np.flatnonzero(hits)
            hits = np.zeros(len(hits), dtype=bool)
            hits[candidates] = self._matches(text.take(pa.array(candidates)), self.pattern)
        return _votes(hits, self.label)

    def _matches(self, text: Any, pattern: str) -> np.ndarray:
        """Which rows of an Arrow string array ``pattern`` matches (missing rows: none)."""
        matched = pc.match_substring_regex(text, pattern, ignore_case=not self.case_sensitive)
        return np.asarray(pc.fill_null(matched, False).to_numpy(zero_copy_only=False), dtype=bool)


def _keyword_pattern(words: list[str], word_boundary: bool) -> str:
    """An RE2 pattern matching any of the words literally (with optional word boundaries)."""
    alternatives = []
    for word in words:
        literal = _re2_literal(word)
        if word_boundary:
            if re.match(r"\w", word[0]):
                literal = r"(?:^|[^\pL\pN_])" + literal
            if re.match(r"\w", word[-1]):
                literal += r"(?:$|[^\pL\pN_])"
        alternatives.append(literal)
    return "|".join(f"(?:{a})" for a in alternatives)


def keyword_lf(
    keywords: str | Iterable[str],
    label: int,
    *,
    column: Hashable = "text",
    case_sensitive: bool = False,
    word_boundary: bool = True,
    name: str | None = None,
) -> LabelingFunction:
    """Vote ``label`` where the text contains any of the keywords, else abstain.

    Parameters
    ----------
    keywords : str or iterable of str
        Words or phrases, matched literally.
    label : int
        Class index to vote.
    column : str, default "text"
        Text column to search; missing values abstain, other non-string values are searched as
        their string (``10001`` as ``"10001"``).
    case_sensitive : bool, default False
        Whether case must match (case folding is Unicode-aware).
    word_boundary : bool, default True
        Match whole words only: a keyword edge that is a letter, digit or underscore must not
        touch another letter, digit or underscore. With False, any substring matches (like
        ``keyword in text.lower()``).
    name : str, optional
        Defaults to ``keyword_<first keyword>``.

    Returns
    -------
    LabelingFunction
        A vectorized LF.

    Examples
    --------
    >>> import pandas as pd
    >>> lf = keyword_lf(["check out", "subscribe"], 1)
    >>> lf(pd.DataFrame({"text": ["Check out my channel", "subscribed!", None]})).tolist()
    [1, -1, -1]
    >>> keyword_lf("subscribe", 1, word_boundary=False)(pd.DataFrame({"text": ["subscribed!"]}))
    array([1], dtype=int8)
    """
    words = [keywords] if isinstance(keywords, str) else [str(k) for k in keywords]
    if not words or any(not w for w in words):
        raise LFError(f"keyword_lf needs at least one non-empty keyword; got {keywords!r}")
    label = _check_label(label, "keyword_lf")
    name = name or f"keyword_{_slug(words[0])}"
    votes = _KeywordVotes(
        name, column, words, label, case_sensitive=case_sensitive, word_boundary=word_boundary
    )
    return LabelingFunction(name, votes, vectorized=True, columns=(column,))


class _RegexVotes:
    """Vote ``label`` where Python's ``re.search`` finds the pattern.

    Non-string values are searched as the same strings keyword LFs search: pandas' string
    conversion for typed columns (numbers, dates, categories), ``str()`` in object columns.
    """

    reads_only = True

    def __init__(self, name: str, column: Hashable, pattern: re.Pattern[str], label: int):
        self.name, self.column, self.pattern, self.label = name, column, pattern, label

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        search, search_other = self.pattern.search, self._search_other
        series = _column(frame, self.column, self.name)
        if not (series.dtype == object or isinstance(series.dtype, pd.StringDtype)):
            series = series.astype(pd.StringDtype("pyarrow"))
        values = series.to_numpy(dtype=object)
        hits = np.fromiter(
            (search(v) is not None if type(v) is str else search_other(v) for v in values),
            dtype=bool,
            count=len(values),
        )
        return _votes(hits, self.label)

    def _search_other(self, value: Any) -> bool:
        """Missing values never match; other non-strings are searched as ``str(value)``."""
        return not _is_missing(value) and self.pattern.search(str(value)) is not None


def regex_lf(
    pattern: str,
    label: int,
    *,
    column: Hashable = "text",
    case_sensitive: bool = True,
    name: str | None = None,
) -> LabelingFunction:
    """Vote ``label`` where a regular expression (Python ``re`` syntax) matches the text.

    Parameters
    ----------
    pattern : str
        Searched anywhere in the text (``re.search``); missing values abstain, other
        non-string values are searched as their string, as in :func:`keyword_lf`.
    label : int
        Class index to vote.
    column : str, default "text"
    case_sensitive : bool, default True
    name : str, optional
        Defaults to ``regex_<pattern>``.

    Raises
    ------
    LFError
        When the pattern does not compile.

    Examples
    --------
    >>> import pandas as pd
    >>> lf = regex_lf(r"https?://", 1)
    >>> lf(pd.DataFrame({"text": ["see http://spam.example", "lovely song"]})).tolist()
    [1, -1]
    """
    label = _check_label(label, "regex_lf")
    name = name or f"regex_{_slug(pattern)}"
    try:
        compiled = re.compile(pattern, 0 if case_sensitive else re.IGNORECASE)
    except re.error as exc:
        raise LFError(
            f"regex_lf {name!r}: invalid pattern {pattern!r}: {exc}", lf_name=name
        ) from exc
    return LabelingFunction(
        name, _RegexVotes(name, column, compiled, label), vectorized=True, columns=(column,)
    )


class _RangeVotes:
    """Vote ``label`` where a column lies in a range: numbers, datetimes or timedeltas."""

    reads_only = True

    def __init__(
        self,
        name: str,
        column: Hashable,
        label: int,
        lower: Any,
        upper: Any,
        inclusive: str,
    ):
        self.name, self.column, self.label = name, column, label
        self.lower, self.upper, self.inclusive = lower, upper, inclusive
        self.kind = _bound_kind(lower if lower is not None else upper)

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        series = _column(frame, self.column, self.name)
        values = self._comparable(series)
        hits = np.array(pd.notna(values), dtype=bool)  # a writable copy
        try:
            if self.lower is not None:
                closed = self.inclusive in ("both", "left")
                hits &= _mask(values >= self.lower if closed else values > self.lower)
            if self.upper is not None:
                closed = self.inclusive in ("both", "right")
                hits &= _mask(values <= self.upper if closed else values < self.upper)
        except TypeError as exc:  # e.g. a tz-aware column against a tz-naive pd.Timestamp
            raise LFError(
                f"threshold_lf {self.name!r}: cannot compare column {self.column!r} "
                f"({series.dtype}) with {self._bounds()}: {exc}",
                lf_name=self.name,
            ) from exc
        return _votes(hits, self.label)

    def _comparable(self, series: pd.Series) -> Any:
        """The column as values the bounds compare with: floats, or the datetime Series."""
        kind = _values_kind(series.dtype)
        if kind != self.kind:
            raise LFError(
                f"threshold_lf {self.name!r}: column {self.column!r} has dtype {series.dtype}, "
                f"which cannot be compared with {self._bounds()}; {_KIND_HINTS[self.kind]}",
                lf_name=self.name,
            )
        if kind != "number":
            return series
        try:
            return pd.to_numeric(series, errors="raise").to_numpy(dtype=float, na_value=np.nan)
        except (ValueError, TypeError) as exc:
            raise LFError(
                f"threshold_lf {self.name!r}: column {self.column!r} is not numeric: {exc}",
                lf_name=self.name,
            ) from exc

    def _bounds(self) -> str:
        given = {"lower": self.lower, "upper": self.upper}
        return ", ".join(f"{k}={v!r}" for k, v in given.items() if v is not None)


_KIND_HINTS = {
    "number": "give a datetime or timedelta column pd.Timestamp or pd.Timedelta bounds",
    "datetime": "pd.Timestamp bounds need a datetime64 column (convert it with pd.to_datetime)",
    "timedelta": (
        "pd.Timedelta bounds need a timedelta64 column (convert it with pd.to_timedelta)"
    ),
}


def _values_kind(dtype: Any) -> str:
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_timedelta64_dtype(dtype):
        return "timedelta"
    return "number"


def _bound_kind(bound: Any) -> str:
    if isinstance(bound, pd.Timestamp):
        return "datetime"
    if isinstance(bound, pd.Timedelta):
        return "timedelta"
    return "number"


def _mask(compared: Any) -> np.ndarray:
    """A comparison's result as a numpy bool array (pandas' nullable results: NA is False)."""
    if isinstance(compared, pd.Series):
        return compared.to_numpy(dtype=bool, na_value=False)
    return np.asarray(compared, dtype=bool)


def _check_bound(value: Any, which: str, name: str) -> Any:
    """A bound as a float, pd.Timestamp or pd.Timedelta (``None`` stays ``None``)."""
    if value is None:
        return None
    bound: Any = None
    # Dates and durations first: np.timedelta64 is also an np.integer.
    if isinstance(value, datetime.date | np.datetime64):
        bound = pd.Timestamp(value)
    elif isinstance(value, datetime.timedelta | np.timedelta64):
        bound = pd.Timedelta(value)
    elif isinstance(value, _NUMBER) and not isinstance(value, bool | np.bool_):
        bound = value if value == value else None  # NaN is the only value unequal to itself
    if bound is None or bound is pd.NaT:
        hint = f"; parse it first, e.g. pd.Timestamp({value!r})" if isinstance(value, str) else ""
        raise LFError(
            f"threshold_lf {name!r}: {which!r} must be a number, a pd.Timestamp or a "
            f"pd.Timedelta (not missing); got {value!r} of type {type(value).__name__}{hint}",
            lf_name=name,
        )
    return bound


def _check_bounds(lower: Any, upper: Any, name: str) -> tuple[Any, Any]:
    lower, upper = _check_bound(lower, "lower", name), _check_bound(upper, "upper", name)
    if lower is None and upper is None:
        raise LFError(f"threshold_lf {name!r} needs 'lower', 'upper' or both", lf_name=name)
    if lower is None or upper is None:
        return lower, upper
    if _bound_kind(lower) != _bound_kind(upper):
        raise LFError(
            f"threshold_lf {name!r}: lower {lower!r} and upper {upper!r} must be of the same "
            "kind (numbers, pd.Timestamp or pd.Timedelta)",
            lf_name=name,
        )
    try:
        inverted = lower > upper
    except TypeError as exc:  # tz-aware against tz-naive
        raise LFError(
            f"threshold_lf {name!r}: cannot compare lower {lower!r} with upper {upper!r}: {exc}",
            lf_name=name,
        ) from exc
    if inverted:
        raise LFError(f"threshold_lf {name!r}: lower {lower} exceeds upper {upper}", lf_name=name)
    return lower, upper


# Units of a duration in a default threshold_lf name, largest first: pd.Timedelta.components.
_DURATION_UNITS = (
    ("days", "d"),
    ("hours", "h"),
    ("minutes", "min"),
    ("seconds", "s"),
    ("milliseconds", "ms"),
    ("microseconds", "us"),
    ("nanoseconds", "ns"),
)


def _threshold_name(column: Hashable, lower: Any, upper: Any, inclusive: str) -> str:
    """A default threshold_lf name telling the comparison: ``threshold_stars_ge_4``.

    Each bound follows its comparison (``ge``/``gt`` for lower, ``le``/``lt`` for upper), so
    LFs over one column with other bounds or other inclusiveness get other names.
    """
    parts = [f"threshold_{_slug(column)}"]
    if lower is not None:
        parts.append(f"{'ge' if inclusive in ('both', 'left') else 'gt'}_{_bound_text(lower)}")
    if upper is not None:
        parts.append(f"{'le' if inclusive in ('both', 'right') else 'lt'}_{_bound_text(upper)}")
    return "_".join(parts)


def _bound_text(bound: Any) -> str:
    """A bound as a name shows it: ``4``, ``0.25``, ``-1.5``, ``2020-01-01``, ``1h30min``."""
    if isinstance(bound, pd.Timestamp):
        if bound == bound.normalize():  # midnight: the date (and its UTC offset, if any)
            return bound.isoformat().replace("T00:00:00", "")
        return bound.isoformat()
    if isinstance(bound, pd.Timedelta):
        components = abs(bound).components
        text = "".join(
            f"{getattr(components, field)}{unit}"
            for field, unit in _DURATION_UNITS
            if getattr(components, field)
        )
        return ("-" if bound < pd.Timedelta(0) else "") + (text or "0s")
    if isinstance(bound, int | np.integer):
        return str(int(bound))
    # str, not repr: numpy floats print their shortest digits (np.float32(0.1) as 0.1).
    return str(int(bound)) if float(bound).is_integer() else str(bound)


def threshold_lf(
    column: Hashable,
    label: int,
    *,
    lower: Bound | None = None,
    upper: Bound | None = None,
    inclusive: str = "both",
    name: str | None = None,
) -> LabelingFunction:
    """Vote ``label`` where a column is above a threshold, below one, or in a range.

    Parameters
    ----------
    column : str
        Numeric, datetime or timedelta column; missing values abstain.
    label : int
        Class index to vote.
    lower, upper : float, pd.Timestamp or pd.Timedelta, optional
        Bounds; give one for a threshold, both for a range. Numbers for a numeric column,
        ``pd.Timestamp`` (or ``datetime``) for a datetime column, ``pd.Timedelta`` (or
        ``timedelta``) for a timedelta column. Strings are not parsed: pass
        ``pd.Timestamp("2020-01-01")``.
    inclusive : {"both", "left", "right", "neither"}, default "both"
        Which bounds are included.
    name : str, optional
        Defaults to ``threshold_<column>`` followed by each comparison and bound: ``ge``/``gt``
        then the lower bound, ``le``/``lt`` then the upper one (``threshold_stars_ge_4``,
        ``threshold_price_gt_9.5_le_20``, ``threshold_posted_ge_2020-01-01``,
        ``threshold_wait_lt_1h30min``), so thresholds on one column get distinct names.

    Raises
    ------
    LFError
        When a bound is missing, of another type, or the bounds are inverted; when labeling,
        when the column cannot be compared with the bounds (numbers against datetimes...).

    Examples
    --------
    >>> import pandas as pd
    >>> lf = threshold_lf("n_words", 0, upper=3)
    >>> lf.name
    'threshold_n_words_le_3'
    >>> lf(pd.DataFrame({"n_words": [2, 3, 10, None]})).tolist()
    [0, 0, -1, -1]
    >>> recent = threshold_lf("posted", 1, lower=pd.Timestamp("2020-01-01"))
    >>> recent(pd.DataFrame({"posted": pd.to_datetime(["2019-06-30", "2021-01-02"])})).tolist()
    [-1, 1]
    """
    label = _check_label(label, "threshold_lf")
    where = name or f"threshold_{_slug(column)}"
    if inclusive not in ("both", "left", "right", "neither"):
        raise LFError(
            f"threshold_lf {where!r}: 'inclusive' must be 'both', 'left', 'right' or 'neither'; "
            f"got {inclusive!r}",
            lf_name=where,
        )
    lower, upper = _check_bounds(lower, upper, where)
    name = name or _threshold_name(column, lower, upper, inclusive)
    votes = _RangeVotes(name, column, label, lower, upper, inclusive)
    return LabelingFunction(name, votes, vectorized=True, columns=(column,))


class _LookupVotes:
    """Vote the class a key table gives each row's key; abstain on unknown keys."""

    reads_only = True

    def __init__(
        self,
        name: str,
        columns: tuple[Hashable, ...],
        keys: pd.Index,
        labels: np.ndarray,
        case_sensitive: bool,
    ):
        self.name, self.columns, self.keys, self.labels = name, columns, keys, labels
        self.case_sensitive = case_sensitive

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        parts = [
            _normalise_keys(_column(frame, c, self.name), self.case_sensitive) for c in self.columns
        ]
        if len(parts) == 1:
            query: pd.Index = pd.Index(parts[0])
        else:
            query = pd.MultiIndex.from_arrays(parts)
        positions = self.keys.get_indexer(query)
        found = positions >= 0
        votes = np.full(len(frame), ABSTAIN, dtype=self.labels.dtype)
        votes[found] = self.labels[positions[found]]
        return votes


def _normalise_keys(values: Any, case_sensitive: bool) -> Any:
    series = pd.Series(values, dtype=object) if not isinstance(values, pd.Series) else values
    if case_sensitive:
        return series.to_numpy(dtype=object)
    return series.map(lambda v: v.casefold() if isinstance(v, str) else v).to_numpy(dtype=object)


def _class_index(
    value: Any,
    classes: Sequence[Any] | None,
    where: str,
    name: str,
    hint: str = "pass classes=[...] to map class names to indices",
) -> int:
    """The class index of a label: its position in ``classes``, or the label itself.

    ``where`` starts the error message ("lookup_lf 'x', key 'Bob'"), ``hint`` ends it when
    a label is not a number. Integral floats (``1.0``, as a label column with gaps holds) are
    class indices.
    """
    if classes is not None:
        try:
            return list(classes).index(value)
        except ValueError:
            raise LFError(
                f"{where}: label {value!r} is not one of the classes {list(classes)}",
                lf_name=name,
            ) from None
    if isinstance(value, bool | np.bool_) or not isinstance(value, _NUMBER):
        raise LFError(
            f"{where}: label {value!r} is not a class index (an int >= 0, or -1); {hint}",
            lf_name=name,
        )
    if not (ABSTAIN <= value <= MAX_VOTE and value == int(value)):
        raise LFError(
            f"{where}: label {value!r} is not a class index (an int from 0 to {MAX_VOTE}, or -1)",
            lf_name=name,
        )
    return int(value)


def _is_missing(value: Any) -> bool:
    """Whether a value is a missing scalar: None, NaN, NaT or pd.NA."""
    if isinstance(value, str | int):  # never missing: most keys and labels, answered at once
        return False
    return bool(pd.api.types.is_scalar(value) and pd.isna(value))


def _class_positions(classes: Sequence[Any] | None) -> dict[Any, int]:
    """The position of each hashable class name (its first), found without scanning ``classes``."""
    positions: dict[Any, int] = {}
    for position, value in enumerate(classes or ()):
        with contextlib.suppress(TypeError):  # unhashable: _class_index's scan finds it
            positions.setdefault(value, position)
    return positions


def _listed_class_index(
    value: Any, classes: Sequence[Any] | None, positions: dict[Any, int]
) -> int | None:
    """The class index of a label that needs no check: a class index given as a Python int,
    or one of ``classes`` (``positions`` from :func:`_class_positions`); else None, for
    :func:`_class_index` to find or reject.

    Equal labels hash alike, so a hit is the first equal class, the one a scan finds.
    """
    if classes is None:
        return value if type(value) is int and ABSTAIN <= value <= MAX_VOTE else None
    try:
        return positions.get(value)
    except TypeError:  # an unhashable label
        return None


def _key_table(
    table: Any,
    *,
    label: int | None,
    key_columns: tuple[Hashable, ...],
    label_column: Hashable | None,
    name: str,
) -> list[tuple[Any, Any]]:
    if isinstance(table, pd.DataFrame):
        if label_column is None and label is None:
            raise LFError(
                f"lookup_lf {name!r}: a table needs label_column=... (or label=... for all rows)",
                lf_name=name,
            )
        needed = [*key_columns, *([] if label_column is None else [label_column])]
        missing = [c for c in needed if c not in table.columns]
        if missing:
            raise LFError(
                f"lookup_lf {name!r}: the knowledge-base table lacks column(s) {missing}; "
                f"it has {list(table.columns)}",
                lf_name=name,
            )
        keys = (
            table[key_columns[0]].tolist()
            if len(key_columns) == 1
            else list(zip(*(table[c].tolist() for c in key_columns), strict=True))
        )
        values = [label] * len(keys) if label_column is None else table[label_column].tolist()
        return list(zip(keys, values, strict=True))
    if isinstance(table, Mapping):
        if label is not None:
            raise LFError(
                f"lookup_lf {name!r}: give label= only with a collection of keys", lf_name=name
            )
        return list(table.items())
    if label is None:
        raise LFError(
            f"lookup_lf {name!r}: a collection of keys needs label=... (the class to vote)",
            lf_name=name,
        )
    if isinstance(table, str | bytes):
        return [(table, label)]  # one key, not a collection of characters
    return [(key, label) for key in table]


def lookup_lf(
    column: Hashable | Sequence[Hashable],
    table: Mapping[Any, Any] | pd.DataFrame | Iterable[Any],
    *,
    label: int | None = None,
    key_column: Hashable | Sequence[Hashable] | None = None,
    label_column: Hashable | None = None,
    classes: Sequence[Any] | None = None,
    case_sensitive: bool = True,
    name: str | None = None,
) -> LabelingFunction:
    """Distant supervision: vote the class a dictionary or knowledge-base table gives the key.

    Parameters
    ----------
    column : str or list of str
        Data column(s) forming the key (several columns make a tuple key, e.g. an entity pair).
    table : dict, DataFrame or iterable
        A dict of key to class; a knowledge-base table with ``key_column`` and ``label_column``;
        or a collection of keys that all get ``label`` (a single string is one key). Entries
        whose key or class is missing (None, NaN, NA) are skipped.
    label : int, optional
        Class voted for every key (for a collection of keys, or a table without label column).
    key_column : str or list of str, optional
        Key column(s) of a table; default: the same names as ``column``.
    label_column : str, optional
        Column of a table holding each key's class (class indices, whole floats such as
        ``1.0`` included, or names with ``classes``).
    classes : sequence, optional
        Class names, when the table holds names instead of indices (name -> its position).
    case_sensitive : bool, default True
        With False, string keys are compared after Unicode case folding.
    name : str, optional
        Defaults to ``lookup_<column>``.

    Raises
    ------
    LFError
        When a key maps to two different classes, a class is not a class index (nor one of
        ``classes``), or a table lacks a column.

    Examples
    --------
    >>> import pandas as pd
    >>> spammers = {"Spammy McSpam": 1, "Real Fan": 0}
    >>> lf = lookup_lf("author", spammers)
    >>> lf(pd.DataFrame({"author": ["Real Fan", "Someone", "Spammy McSpam"]})).tolist()
    [0, -1, 1]
    """
    columns = _as_columns(column)
    if not columns:
        raise LFError("lookup_lf needs at least one key column")
    name = name or f"lookup_{_slug('_'.join(map(str, columns)))}"
    if label is not None:
        label = _check_label(label, "lookup_lf")
    key_columns = columns if key_column is None else _as_columns(key_column)
    if len(key_columns) != len(columns):
        raise LFError(
            f"lookup_lf {name!r}: {len(columns)} data column(s) but {len(key_columns)} key "
            "column(s)",
            lf_name=name,
        )
    pairs = _key_table(
        table, label=label, key_columns=key_columns, label_column=label_column, name=name
    )
    keys_index, labels = _build_lookup(
        pairs, len(columns), classes, case_sensitive, name, factory="lookup_lf"
    )
    votes = _LookupVotes(name, columns, keys_index, labels, case_sensitive)
    return LabelingFunction(name, votes, vectorized=True, columns=columns)


def _build_lookup(
    pairs: list[tuple[Any, Any]],
    width: int,
    classes: Sequence[Any] | None,
    case_sensitive: bool,
    name: str,
    *,
    factory: str,
) -> tuple[pd.Index, np.ndarray]:
    """The keys as an index and their classes, in a compact dtype.

    ``factory`` is the one building the LF: ``"lookup_lf"`` (keys of a table, which may name
    ``classes``) or ``"column_lf"`` (values of a column, mapped to class indices).
    """
    owner = f"{factory} {name!r}"
    if factory == "lookup_lf":
        entry, hint = f"{owner}, key", "pass classes=[...] to map class names to indices"
    else:
        entry, hint = f"{owner}, value", "map each value to a class index"
    mapping: dict[Any, int] = {}
    # A knowledge base has up to millions of keys: per key, only the checks it needs.
    positions = _class_positions(classes)
    for key, value in pairs:
        parts = key if width > 1 else (key,)
        if width > 1 and (not isinstance(key, tuple) or len(key) != width):
            raise LFError(
                f"{owner}: key {key!r} must be a tuple of {width} values",
                lf_name=name,
            )
        if _is_missing(value) or any(_is_missing(p) for p in parts):
            continue
        if not case_sensitive:
            parts = tuple(p.casefold() if isinstance(p, str) else p for p in parts)
        norm = parts if width > 1 else parts[0]
        index = _listed_class_index(value, classes, positions)
        if index is None:
            index = _class_index(value, classes, f"{entry} {key!r}", name, hint)
        if mapping.setdefault(norm, index) != index:
            raise LFError(
                f"{entry} {key!r} maps to two classes "
                f"({mapping[norm]} and {index}); make the table unambiguous",
                lf_name=name,
            )
    keys = list(mapping)
    labels = np.array(list(mapping.values()), dtype=np.int64)
    dtype = compact_label_dtype(int(labels.max()) if labels.size else 0)
    if width > 1:
        index = (
            pd.MultiIndex.from_tuples(keys, names=None)
            if keys
            else pd.MultiIndex.from_arrays([[] for _ in range(width)])
        )
    else:
        index = pd.Index(keys, dtype=object)
    return index, labels.astype(dtype)


class _ColumnVotes:
    """Read votes from an existing column of class indices (missing = abstain)."""

    reads_only = True

    def __init__(self, name: str, column: Hashable):
        self.name, self.column = name, column

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        series = _column(frame, self.column, self.name)
        try:
            values = pd.to_numeric(series, errors="raise").to_numpy(dtype=float, na_value=np.nan)
        except (ValueError, TypeError) as exc:
            raise LFError(
                f"column_lf {self.name!r}: column {self.column!r} holds non-numeric labels "
                f"({exc}); pass mapping={{value: class}}",
                lf_name=self.name,
            ) from exc
        votes = np.where(np.isnan(values), ABSTAIN, values)
        try:
            return check_votes(votes, frame.index, self.name)
        except LFError as exc:
            raise LFError(
                f"column_lf {self.name!r}: column {self.column!r} must hold class indices "
                f"(or pass mapping={{value: class}}): {exc}",
                lf_name=self.name,
                row=exc.row,
            ) from None


def column_lf(
    column: Hashable,
    mapping: Mapping[Any, int] | None = None,
    *,
    case_sensitive: bool = True,
    name: str | None = None,
) -> LabelingFunction:
    """Use an existing column of labels (crowd workers, a third-party model) as an LF.

    Parameters
    ----------
    column : str
        The column of labels.
    mapping : dict, optional
        Value -> class index; values not in it abstain. Without it the column must hold class
        indices (missing values and -1 abstain).
    case_sensitive : bool, default True
        With False, string values are matched against ``mapping`` after case folding.
    name : str, optional
        Defaults to ``column_<column>``.

    Examples
    --------
    >>> import pandas as pd
    >>> lf = column_lf("worker_1", {"spam": 1, "ham": 0})
    >>> lf(pd.DataFrame({"worker_1": ["spam", None, "ham", "unsure"]})).tolist()
    [1, -1, 0, -1]
    """
    name = name or f"column_{_slug(column)}"
    if mapping is None:
        return LabelingFunction(
            name, _ColumnVotes(name, column), vectorized=True, columns=(column,)
        )
    keys_index, labels = _build_lookup(
        list(mapping.items()), 1, None, case_sensitive, name, factory="column_lf"
    )
    votes = _LookupVotes(name, (column,), keys_index, labels, case_sensitive)
    return LabelingFunction(name, votes, vectorized=True, columns=(column,))


class _ModelVotes:
    """Vote a fitted model's most probable class when its probability reaches a threshold.

    Rows with a missing input abstain: most models cannot take one, and the rest of the
    partition still gets votes.
    """

    reads_only = True

    def __init__(
        self,
        name: str,
        model: Any,
        columns: tuple[Hashable, ...],
        single: bool,
        threshold: float,
        class_indices: np.ndarray,
    ):
        self.name, self.model, self.columns, self.single = name, model, columns, single
        self.threshold, self.class_indices = threshold, class_indices

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        votes = np.full(len(frame), ABSTAIN, dtype=self.class_indices.dtype)
        features, complete = self._features(frame)
        if not complete.any():
            return votes
        if not complete.all():
            features = features[complete]
        proba = np.asarray(self.model.predict_proba(features))
        if proba.shape != (len(features), len(self.class_indices)):
            raise LFError(
                f"model_lf {self.name!r}: predict_proba returned shape {proba.shape}; expected "
                f"({len(features)}, {len(self.class_indices)}){self._input_hint(proba)}",
                lf_name=self.name,
            )
        best = proba.argmax(axis=1)
        confident = proba[np.arange(len(best)), best] >= self.threshold
        votes[complete] = np.where(confident, self.class_indices[best], ABSTAIN)
        return votes

    def _input_hint(self, proba: np.ndarray) -> str:
        """Why a model may give other rows than it was given: a text pipeline given a frame."""
        if self.single or len(self.columns) != 1 or proba.ndim != 2:
            return ""
        return (
            f"; columns={list(self.columns)!r} passes a DataFrame, which a text pipeline reads "
            f"as its column names: pass columns={self.columns[0]!r} to give the model the column"
        )

    def _features(self, frame: pd.DataFrame) -> tuple[Any, np.ndarray]:
        """The model's input (a Series or a DataFrame) and which rows have no missing value."""
        if self.single:
            series = _column(frame, self.columns[0], self.name)
            return series, series.notna().to_numpy()
        features = pd.concat([_column(frame, c, self.name) for c in self.columns], axis=1)
        return features, features.notna().all(axis=1).to_numpy()


def model_lf(
    model: Any,
    *,
    columns: Hashable | Sequence[Hashable],
    threshold: float = 0.5,
    classes: Sequence[Any] | None = None,
    name: str | None = None,
) -> LabelingFunction:
    """Use a fitted scikit-learn-style classifier as an LF, abstaining when it is unsure.

    Parameters
    ----------
    model : estimator
        Fitted, with ``predict_proba`` and ``classes_``.
    columns : str or list of str
        A single column name passes that column as a 1-D Series (text pipelines); a list passes
        a DataFrame of those columns. Rows where any of them is missing (None, NaN, NA)
        abstain without reaching the model.
    threshold : float, default 0.5
        Minimum probability of the most probable class for a vote.
    classes : sequence, optional
        gristmill class names in index order, when ``model.classes_`` holds names; without it
        ``model.classes_`` must be class indices.
    name : str, optional
        Defaults to ``model_<estimator class name>``.

    Raises
    ------
    LFError
        When the model lacks ``predict_proba`` or is not fitted, or its classes cannot be mapped.
    """
    name = name or f"model_{_slug(type(model).__name__)}"
    if not hasattr(model, "predict_proba"):
        raise LFError(f"model_lf {name!r}: the model has no predict_proba", lf_name=name)
    try:
        model_classes = list(model.classes_)
    except AttributeError:
        raise LFError(
            f"model_lf {name!r}: the model is not fitted (no classes_); fit it first",
            lf_name=name,
        ) from None
    if not 0.0 <= threshold <= 1.0:
        raise LFError(
            f"model_lf {name!r}: threshold must be in [0, 1]; got {threshold}", lf_name=name
        )
    indices = [_class_index(c, classes, f"model_lf {name!r}", name) for c in model_classes]
    dtype = compact_label_dtype(max(indices) if indices else 0)
    cols = _as_columns(columns)
    single = not isinstance(columns, list | tuple)
    class_indices = np.array(indices, dtype=dtype)
    votes = _ModelVotes(name, model, cols, single, float(threshold), class_indices)
    return LabelingFunction(name, votes, vectorized=True, columns=cols)
