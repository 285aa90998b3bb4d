"""Factories building vectorized labeling functions for the common sources of weak supervision.

Every factory returns a vectorized :class:`LabelingFunction` that labels a whole DataFrame (or
partition) at once: keywords, regular expressions, numeric thresholds and ranges, lookups in a
dictionary or knowledge-base table (distant supervision), an existing column of labels (crowd
workers, a third-party model), and a fitted scikit-learn-style model.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from gristmill.exceptions import LFError
from gristmill.labeling._lf import LabelingFunction, check_votes
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


@contextlib.contextmanager
def partition_cache() -> Iterator[None]:
    """Share derived column views between the LFs labeling one partition (used by appliers)."""
    token = _TEXT_CACHE.set({})
    try:
        yield
    finally:
        _TEXT_CACHE.reset(token)


def _column(frame: pd.DataFrame, column: str, lf_name: str) -> pd.Series:
    try:
        return frame[column]
    except KeyError:
        raise LFError(
            f"Labeling function {lf_name!r} needs column {column!r}; "
            f"the data has {[str(c) for c in frame.columns]}",
            lf_name=lf_name,
        ) from None


def _text_array(frame: pd.DataFrame, column: str, lf_name: str) -> Any:
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
    if isinstance(label, bool) or not isinstance(label, int | np.integer) or label < 0:
        raise LFError(f"{factory}: 'label' must be a class index (int >= 0); got {label!r}")
    return int(label)


def _slug(text: str) -> str:
    return re.sub(r"\W+", "_", text.lower()).strip("_") or "lf"


def _re2_literal(text: str) -> str:
    return "".join("\\" + ch if ch in _RE2_SPECIAL else ch for ch in text)


class _KeywordVotes:
    """Vote ``label`` where any keyword occurs in the column.

    ASCII keywords on an all-ASCII partition are found by a whole-column byte search
    (:mod:`gristmill.labeling._substring`); anything else by Arrow's RE2 matcher row by row.
    Both run without the GIL, so appliers may run several keyword LFs on threads at once
    (``releases_gil``); ``prepare`` fills the shared column cache first.
    """

    releases_gil = True

    def __init__(
        self, name: str, column: str, words: list[str], label: int, *, case_sensitive: bool,
        word_boundary: bool,
    ):
        self.name, self.column, self.words, self.label = name, column, words, label
        self.case_sensitive, self.word_boundary = case_sensitive, word_boundary
        self.pattern = _keyword_pattern(words, word_boundary)
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
        matched = pc.match_substring_regex(text, self.pattern, ignore_case=not self.case_sensitive)
        return _votes(pc.fill_null(matched, False).to_numpy(zero_copy_only=False), self.label)


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
    column: str = "text",
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
        Text column to search; missing values abstain.
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
    """Vote ``label`` where Python's ``re.search`` finds the pattern."""

    def __init__(self, name: str, column: str, pattern: re.Pattern[str], label: int):
        self.name, self.column, self.pattern, self.label = name, column, pattern, label

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        search = self.pattern.search
        values = _column(frame, self.column, self.name).to_numpy(dtype=object)
        hits = np.fromiter(
            (isinstance(v, str) and search(v) is not None for v in values),
            dtype=bool,
            count=len(values),
        )
        return _votes(hits, self.label)


def regex_lf(
    pattern: str,
    label: int,
    *,
    column: str = "text",
    case_sensitive: bool = True,
    name: str | None = None,
) -> LabelingFunction:
    """Vote ``label`` where a regular expression (Python ``re`` syntax) matches the text.

    Parameters
    ----------
    pattern : str
        Searched anywhere in the text (``re.search``); missing values abstain.
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
    """Vote ``label`` where a numeric column lies in a range."""

    def __init__(
        self, name: str, column: str, label: int, lower: float | None, upper: float | None,
        inclusive: str,
    ):
        self.name, self.column, self.label = name, column, label
        self.lower, self.upper, self.inclusive = lower, upper, inclusive

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        series = _column(frame, self.column, self.name)
        try:
            values = pd.to_numeric(series, errors="raise").to_numpy(dtype=float, na_value=np.nan)
        except (ValueError, TypeError) as exc:
            raise LFError(
                f"threshold_lf {self.name!r}: column {self.column!r} is not numeric: {exc}",
                lf_name=self.name,
            ) from exc
        hits = ~np.isnan(values)
        if self.lower is not None:
            closed = self.inclusive in ("both", "left")
            hits &= values >= self.lower if closed else values > self.lower
        if self.upper is not None:
            closed = self.inclusive in ("both", "right")
            hits &= values <= self.upper if closed else values < self.upper
        return _votes(hits, self.label)


def threshold_lf(
    column: str,
    label: int,
    *,
    lower: float | None = None,
    upper: float | None = None,
    inclusive: str = "both",
    name: str | None = None,
) -> LabelingFunction:
    """Vote ``label`` where a numeric column is above a threshold, below one, or in a range.

    Parameters
    ----------
    column : str
        Numeric column; missing values abstain.
    label : int
        Class index to vote.
    lower, upper : float, optional
        Bounds; give one for a threshold, both for a range.
    inclusive : {"both", "left", "right", "neither"}, default "both"
        Which bounds are included.
    name : str, optional
        Defaults to ``threshold_<column>``.

    Examples
    --------
    >>> import pandas as pd
    >>> lf = threshold_lf("n_words", 0, upper=3)
    >>> lf(pd.DataFrame({"n_words": [2, 3, 10, None]})).tolist()
    [0, 0, -1, -1]
    """
    label = _check_label(label, "threshold_lf")
    name = name or f"threshold_{_slug(column)}"
    if lower is None and upper is None:
        raise LFError(f"threshold_lf {name!r} needs 'lower', 'upper' or both", lf_name=name)
    if inclusive not in ("both", "left", "right", "neither"):
        raise LFError(
            f"threshold_lf {name!r}: 'inclusive' must be 'both', 'left', 'right' or 'neither'; "
            f"got {inclusive!r}",
            lf_name=name,
        )
    if lower is not None and upper is not None and lower > upper:
        raise LFError(f"threshold_lf {name!r}: lower {lower} exceeds upper {upper}", lf_name=name)
    votes = _RangeVotes(name, column, label, lower, upper, inclusive)
    return LabelingFunction(name, votes, vectorized=True, columns=(column,))


class _LookupVotes:
    """Vote the class a key table gives each row's key; abstain on unknown keys."""

    def __init__(
        self, name: str, columns: tuple[str, ...], keys: pd.Index, labels: np.ndarray,
        case_sensitive: bool,
    ):
        self.name, self.columns, self.keys, self.labels = name, columns, keys, labels
        self.case_sensitive = case_sensitive

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        parts = [_normalise_keys(_column(frame, c, self.name), self.case_sensitive)
                 for c in self.columns]
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


def _class_index(value: Any, classes: Sequence[Any] | None, name: str, factory: str) -> int:
    if classes is not None:
        try:
            return list(classes).index(value)
        except ValueError:
            raise LFError(
                f"{factory} {name!r}: label {value!r} is not one of the classes {list(classes)}",
                lf_name=name,
            ) from None
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < ABSTAIN:
        raise LFError(
            f"{factory} {name!r}: label {value!r} is not a class index (int >= 0 or -1); "
            "pass classes=[...] to map names to indices",
            lf_name=name,
        )
    return int(value)


def _key_table(
    table: Any,
    *,
    label: int | None,
    key_columns: tuple[str, ...],
    label_column: str | None,
    name: str,
) -> list[tuple[Any, Any]]:
    if isinstance(table, pd.DataFrame):
        if label_column is None and label is None:
            raise LFError(
                f"lookup_lf {name!r}: a table needs label_column=... (or label=... for all rows)",
                lf_name=name,
            )
        needed = [*key_columns, *([label_column] if label_column else [])]
        missing = [c for c in needed if c not in table.columns]
        if missing:
            raise LFError(
                f"lookup_lf {name!r}: the knowledge-base table lacks column(s) {missing}; "
                f"it has {[str(c) for c in table.columns]}",
                lf_name=name,
            )
        keys = (
            table[key_columns[0]].tolist()
            if len(key_columns) == 1
            else list(zip(*(table[c].tolist() for c in key_columns), strict=True))
        )
        values = table[label_column].tolist() if label_column else [label] * len(keys)
        return list(zip(keys, values, strict=True))
    if isinstance(table, Mapping):
        if label is not None:
            raise LFError(f"lookup_lf {name!r}: give label= only with a collection of keys",
                          lf_name=name)
        return list(table.items())
    if label is None:
        raise LFError(
            f"lookup_lf {name!r}: a collection of keys needs label=... (the class to vote)",
            lf_name=name,
        )
    return [(key, label) for key in table]


def lookup_lf(
    column: str | Sequence[str],
    table: Mapping[Any, Any] | pd.DataFrame | Iterable[Any],
    *,
    label: int | None = None,
    key_column: str | Sequence[str] | None = None,
    label_column: str | None = None,
    classes: Sequence[Any] | None = None,
    case_sensitive: bool = True,
    name: str | None = None,
) -> LabelingFunction:
    """Distant supervision: vote the class a dictionary or knowledge-base table gives the key.

    Parameters
    ----------
    column : str or sequence of str
        Data column(s) forming the key (several columns make a tuple key, e.g. an entity pair).
    table : dict, DataFrame or iterable
        A dict of key to class; a knowledge-base table with ``key_column`` and ``label_column``;
        or a collection of keys that all get ``label``.
    label : int, optional
        Class voted for every key (for a collection of keys, or a table without label column).
    key_column : str or sequence of str, optional
        Key column(s) of a table; default: the same names as ``column``.
    label_column : str, optional
        Column of a table holding each key's class.
    classes : sequence, optional
        Class names, when the table holds names instead of indices (name -> its position).
    case_sensitive : bool, default True
        With False, string keys are compared after Unicode case folding.
    name : str, optional
        Defaults to ``lookup_<column>``.

    Raises
    ------
    LFError
        When a key maps to two different classes, or a table lacks a column.

    Examples
    --------
    >>> import pandas as pd
    >>> spammers = {"Spammy McSpam": 1, "Real Fan": 0}
    >>> lf = lookup_lf("author", spammers)
    >>> lf(pd.DataFrame({"author": ["Real Fan", "Someone", "Spammy McSpam"]})).tolist()
    [0, -1, 1]
    """
    columns = (column,) if isinstance(column, str) else tuple(column)
    if not columns:
        raise LFError("lookup_lf needs at least one key column")
    name = name or f"lookup_{_slug('_'.join(columns))}"
    if label is not None:
        label = _check_label(label, "lookup_lf")
    if key_column is None:
        key_columns = columns
    else:
        key_columns = (key_column,) if isinstance(key_column, str) else tuple(key_column)
    if len(key_columns) != len(columns):
        raise LFError(
            f"lookup_lf {name!r}: {len(columns)} data column(s) but {len(key_columns)} key "
            "column(s)",
            lf_name=name,
        )
    pairs = _key_table(
        table, label=label, key_columns=key_columns, label_column=label_column, name=name
    )
    keys_index, labels = _build_lookup(pairs, len(columns), classes, case_sensitive, name)
    votes = _LookupVotes(name, columns, keys_index, labels, case_sensitive)
    return LabelingFunction(name, votes, vectorized=True, columns=columns)


def _build_lookup(
    pairs: list[tuple[Any, Any]],
    width: int,
    classes: Sequence[Any] | None,
    case_sensitive: bool,
    name: str,
) -> tuple[pd.Index, np.ndarray]:
    mapping: dict[Any, int] = {}
    for key, value in pairs:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            continue
        parts = key if width > 1 else (key,)
        if width > 1 and (not isinstance(key, tuple) or len(key) != width):
            raise LFError(
                f"lookup_lf {name!r}: key {key!r} must be a tuple of {width} values",
                lf_name=name,
            )
        if not case_sensitive:
            parts = tuple(p.casefold() if isinstance(p, str) else p for p in parts)
        norm = parts if width > 1 else parts[0]
        index = _class_index(value, classes, name, "lookup_lf")
        if mapping.setdefault(norm, index) != index:
            raise LFError(
                f"lookup_lf {name!r}: key {key!r} maps to two classes "
                f"({mapping[norm]} and {index}); make the table unambiguous",
                lf_name=name,
            )
    keys = list(mapping)
    labels = np.array(list(mapping.values()), dtype=np.int64)
    dtype = compact_label_dtype(int(labels.max()) if labels.size else 0)
    if width > 1:
        index = pd.MultiIndex.from_tuples(keys, names=None) if keys else pd.MultiIndex.from_arrays(
            [[] for _ in range(width)]
        )
    else:
        index = pd.Index(keys, dtype=object)
    return index, labels.astype(dtype)


class _ColumnVotes:
    """Read votes from an existing column of class indices (missing = abstain)."""

    def __init__(self, name: str, column: str):
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
        return check_votes(np.where(np.isnan(values), ABSTAIN, values), len(frame), self.name)


def column_lf(
    column: str,
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
    keys_index, labels = _build_lookup(list(mapping.items()), 1, None, case_sensitive, name)
    votes = _LookupVotes(name, (column,), keys_index, labels, case_sensitive)
    return LabelingFunction(name, votes, vectorized=True, columns=(column,))


class _ModelVotes:
    """Vote a fitted model's most probable class when its probability reaches a threshold."""

    def __init__(
        self, name: str, model: Any, columns: str | tuple[str, ...], threshold: float,
        class_indices: np.ndarray,
    ):
        self.name, self.model, self.columns = name, model, columns
        self.threshold, self.class_indices = threshold, class_indices

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        if isinstance(self.columns, str):
            features: Any = _column(frame, self.columns, self.name)
        else:
            for column in self.columns:
                _column(frame, column, self.name)
            features = frame[list(self.columns)]
        if len(frame) == 0:
            return np.empty(0, dtype=self.class_indices.dtype)
        proba = np.asarray(self.model.predict_proba(features))
        if proba.shape != (len(frame), len(self.class_indices)):
            raise LFError(
                f"model_lf {self.name!r}: predict_proba returned shape {proba.shape}; expected "
                f"({len(frame)}, {len(self.class_indices)})",
                lf_name=self.name,
            )
        best = proba.argmax(axis=1)
        confident = proba[np.arange(len(best)), best] >= self.threshold
        return np.where(confident, self.class_indices[best], ABSTAIN).astype(
            self.class_indices.dtype
        )


def model_lf(
    model: Any,
    *,
    columns: str | Sequence[str],
    threshold: float = 0.5,
    classes: Sequence[Any] | None = None,
    name: str | None = None,
) -> LabelingFunction:
    """Use a fitted scikit-learn-style classifier as an LF, abstaining when it is unsure.

    Parameters
    ----------
    model : estimator
        Fitted, with ``predict_proba`` and ``classes_``.
    columns : str or sequence of str
        A single column name passes that column as a 1-D Series (text pipelines); a list passes
        a DataFrame of those columns.
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
        raise LFError(f"model_lf {name!r}: threshold must be in [0, 1]; got {threshold}",
                      lf_name=name)
    indices = [_class_index(c, classes, name, "model_lf") for c in model_classes]
    dtype = compact_label_dtype(max(indices) if indices else 0)
    cols = columns if isinstance(columns, str) else tuple(columns)
    votes = _ModelVotes(name, model, cols, float(threshold), np.array(indices, dtype=dtype))
    return LabelingFunction(
        name, votes, vectorized=True, columns=(cols,) if isinstance(cols, str) else cols
    )
