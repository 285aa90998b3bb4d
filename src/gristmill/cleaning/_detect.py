"""Error detection: which cells look wrong, and which detectors say so.

Every detector works with group-bys and joins on equality keys (never all pairs of rows), so it
scales linearly with the table. Cells are addressed by position: ``row`` is the 0-based row
number and ``column`` the column name.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import pandas as pd

from gristmill.cleaning._constraints import (
    Constraints,
    DenialConstraint,
    FunctionalDependency,
    Predicate,
    as_constraints,
)
from gristmill.exceptions import ConstraintError, DataError

__all__ = ["DEFAULT_PLACEHOLDERS", "DETECTORS", "detect_errors", "infer_source_column"]

#: Values read as "missing" besides empty cells (compared lower-cased and stripped).
DEFAULT_PLACEHOLDERS: frozenset[str] = frozenset(
    {"", "nan", "null", "none", "n/a", "na", "-", "--", "?", "#n/a"}
)

#: Detector names as they appear in the ``detectors`` column.
DETECTORS = ("missing", "fd", "dc", "domain", "dictionary", "outlier", "source")

#: Pairs of rows a two-tuple denial constraint compares at a time.
_PAIR_BATCH = 2_000_000

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "EQ": operator.eq,
    "IQ": operator.ne,
    "LT": operator.lt,
    "GT": operator.gt,
    "LTE": operator.le,
    "GTE": operator.ge,
}


def _as_positional_strings(frame: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise DataError(f"expected a pandas DataFrame; got {type(frame).__name__}")
    if frame.empty:
        rows, columns = frame.shape
        raise DataError(f"the table is empty ({rows} rows, {columns} columns): nothing to clean")
    if frame.columns.has_duplicates:
        dup = sorted(frame.columns[frame.columns.duplicated()].astype(str))
        raise DataError(f"the table has duplicate column name(s) {dup}")
    names = [str(c) for c in frame.columns]
    if len(set(names)) < len(names):
        clash = [c for c, name in zip(frame.columns, names, strict=True) if names.count(name) > 1]
        raise DataError(
            f"column labels {clash} differ but read the same as text, which is how rules and "
            "repairs name columns; rename them"
        )
    out = frame.reset_index(drop=True)
    out.columns = names
    return out.astype("string")


def _column_labels(frame: Any) -> dict[str, Any]:
    """Each column's name as text (how rules and results name it) to its label in ``frame``."""
    return {str(label): label for label in frame.columns}


def _relabel(cells: pd.DataFrame, labels: dict[str, Any]) -> pd.DataFrame:
    """``cells`` with its ``column`` names (text) replaced by the table's column labels."""
    return cells.assign(column=cells["column"].map(labels))


def missing_mask(
    values: pd.Series, placeholders: Iterable[str] = DEFAULT_PLACEHOLDERS
) -> np.ndarray:
    """Boolean mask of missing or placeholder values (both compared lower-cased and stripped)."""
    wanted = [str(value).strip().lower() for value in placeholders]
    lowered = values.str.strip().str.lower()
    return (values.isna() | lowered.isin(wanted)).to_numpy(dtype=bool)


def _fd_violations(frame: pd.DataFrame, fd: FunctionalDependency) -> np.ndarray:
    """Rows of groups (equal LHS) holding more than one RHS value."""
    keyed = frame[[*fd.lhs, fd.rhs]].dropna(subset=list(fd.lhs))
    if keyed.empty:
        return np.zeros(0, dtype=np.int64)
    distinct = keyed.groupby(list(fd.lhs), sort=False)[fd.rhs].transform("nunique")
    return keyed.index[(distinct > 1).to_numpy()].to_numpy()


def _compare(op: str, left: pd.Series, right: Any) -> np.ndarray:
    result = _COMPARE[op](left, right)
    return np.asarray(result.fillna(False) if hasattr(result, "fillna") else result, dtype=bool)


def _single_tuple_violations(frame: pd.DataFrame, dc: DenialConstraint) -> np.ndarray:
    mask = np.ones(len(frame), dtype=bool)
    for p in dc.predicates:
        right = p.right if isinstance(p.right, str) else frame[p.right[1]]
        mask &= _compare(p.op, *_operands(p.op, frame[p.left[1]], right))
    return np.flatnonzero(mask)


def _operands(op: str, left: pd.Series, right: pd.Series | str) -> tuple[pd.Series, Any]:
    """The two sides of a comparison, as numbers when an order operator meets a number.

    A side is a number when every present value of it parses as one (a constant: when it
    does). Once one side is, both are compared as numbers and a cell that is not one
    satisfies no order predicate: ``"n/a" > 5`` is neither true nor false, and comparing
    text with numbers would fail.
    """
    if op in ("EQ", "IQ"):
        return left, right
    left_numbers, left_numeric = _as_numbers(left)
    right_numbers, right_numeric = _as_numbers(right)
    if left_numeric or right_numeric:
        return left_numbers, right_numbers
    return left, right


def _as_numbers(values: pd.Series | str) -> tuple[Any, bool]:
    """``values`` as numbers (NaN where one is not) and whether every present one is."""
    if isinstance(values, str):
        number = pd.to_numeric(pd.Series([values]), errors="coerce").iloc[0]
        return (np.nan, False) if pd.isna(number) else (float(number), True)
    numbers = pd.to_numeric(values, errors="coerce")
    return numbers, bool(numbers.notna().sum() >= values.notna().sum())


def _pair_violations(frame: pd.DataFrame, dc: DenialConstraint) -> tuple[np.ndarray, np.ndarray]:
    """Rows (as t1 and as t2) of pairs that satisfy every predicate, joined on the EQ ones.

    The pairs of each join group are compared :data:`_PAIR_BATCH` at a time on integer codes
    and numbers read once per column, so memory stays bounded when a group is large (the
    time still grows with the number of pairs). Returns sorted distinct row positions.
    """
    cross_eq = [
        p
        for p in dc.predicates
        if p.op == "EQ" and not isinstance(p.right, str) and p.left[0] != p.right[0]
    ]
    if not cross_eq:
        raise ConstraintError(
            f"constraint {dc.text!r} has no EQ predicate between t1 and t2; gristmill joins on "
            "equality predicates and never compares all pairs of rows"
        )
    left_keys, right_keys = [], []
    for p in cross_eq:
        assert not isinstance(p.right, str)  # cross_eq holds column-to-column predicates only
        (ta, ca), (_, cb) = p.left, p.right
        left_keys.append(ca if ta == 1 else cb)
        right_keys.append(cb if ta == 1 else ca)
    key1, key2 = _join_keys(frame, left_keys, right_keys)
    pairs = _JoinedPairs(key1, key2)
    tests = [_pair_test(frame, p, pairs.participants) for p in dc.predicates if p not in cross_eq]
    hit1 = np.zeros(len(frame), dtype=bool)
    hit2 = np.zeros(len(frame), dtype=bool)
    for rows1, rows2 in pairs.batches(_PAIR_BATCH):
        mask = np.ones(len(rows1), dtype=bool)
        for test in tests:
            mask &= test(rows1, rows2)
        hit1[rows1[mask]] = True
        hit2[rows2[mask]] = True
    return np.flatnonzero(hit1), np.flatnonzero(hit2)


def _join_keys(
    frame: pd.DataFrame, left: list[str], right: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Codes of the join key of each row as t1 (``left`` columns) and as t2 (``right``
    columns): equal codes for equal values, -1 where a key column is missing."""
    n = len(frame)
    key = np.zeros(2 * n, dtype=np.int64)
    for a, b in zip(left, right, strict=True):
        codes, uniques = pd.factorize(pd.concat([frame[a], frame[b]], ignore_index=True))
        combined = np.where(
            (key >= 0) & (codes >= 0), key * (len(uniques) + 1) + codes.astype(np.int64), -1
        )
        key = np.where(combined >= 0, pd.factorize(combined)[0], -1)
    return key[:n], key[n:]


class _JoinedPairs:
    """The pairs ``(t1, t2)`` of distinct rows whose join keys are equal, without listing them.

    ``participants[t]``: the rows that are tuple ``t`` (1 or 2) in at least one pair.
    """

    def __init__(self, key1: np.ndarray, key2: np.ndarray) -> None:
        order2 = np.argsort(key2, kind="stable")
        self.order2 = order2[key2[order2] >= 0]
        sorted2 = key2[self.order2]
        self.rows1 = np.flatnonzero(key1 >= 0)
        own1 = key1[self.rows1]
        self.start = np.searchsorted(sorted2, own1, side="left")
        self.size = np.searchsorted(sorted2, own1, side="right") - self.start
        # A row never pairs with itself: it is its own partner where its two keys are equal.
        partners1 = self.size - (key2[self.rows1] == own1)
        sorted1 = np.sort(own1)
        partners2 = (
            np.searchsorted(sorted1, key2, side="right")
            - np.searchsorted(sorted1, key2, side="left")
            - (key1 == key2)
        )
        self.participants = {
            1: self.rows1[partners1 > 0],
            2: np.flatnonzero((key2 >= 0) & (partners2 > 0)),
        }

    def batches(self, limit: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """The pairs as ``(t1 rows, t2 rows)``, about ``limit`` at a time (more when one
        row alone has more partners)."""
        before = np.cumsum(self.size) - self.size
        i = 0
        while i < len(self.rows1):
            stop = max(int(np.searchsorted(before, before[i] + limit, side="left")), i + 1)
            sizes = self.size[i:stop]
            offsets = np.repeat(self.start[i:stop] - (before[i:stop] - before[i]), sizes)
            rows1 = np.repeat(self.rows1[i:stop], sizes)
            rows2 = self.order2[offsets + np.arange(len(offsets))]
            distinct = rows1 != rows2
            yield rows1[distinct], rows2[distinct]
            i = stop


def _pair_test(
    frame: pd.DataFrame, p: Predicate, participants: dict[int, np.ndarray]
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """Whether predicate ``p`` holds for pairs given as (t1 rows, t2 rows).

    Read as when comparing the values of the pairs themselves: a side is compared as numbers
    when every present value it takes in the pairs (its rows in ``participants``) is one.
    """
    side, column = p.left
    if isinstance(p.right, str) or p.right[0] == side:
        # One tuple's cells only: decided per row.
        rows = participants[side]
        left = frame[column].iloc[rows].reset_index(drop=True)
        right = p.right if isinstance(p.right, str) else frame[p.right[1]].iloc[rows]
        if not isinstance(right, str):
            right = right.reset_index(drop=True)
        holds = np.zeros(len(frame), dtype=bool)
        holds[rows] = _compare(p.op, *_operands(p.op, left, right))
        return lambda rows1, rows2: holds[rows1 if side == 1 else rows2]
    other_side, other = p.right
    left_values, right_values = _pair_operands(
        p.op,
        frame[column],
        participants[side],
        frame[other],
        participants[other_side],
    )
    compare = _COMPARE[p.op]

    def test(rows1: np.ndarray, rows2: np.ndarray) -> np.ndarray:
        at_left, at_right = (rows1, rows2) if side == 1 else (rows2, rows1)
        a, a_ok = left_values[0][at_left], left_values[1][at_left]
        b, b_ok = right_values[0][at_right], right_values[1][at_right]
        return np.asarray(compare(a, b), dtype=bool) & a_ok & b_ok

    return test


def _pair_operands(
    op: str, left: pd.Series, left_rows: np.ndarray, right: pd.Series, right_rows: np.ndarray
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """Each side as (values, present) per row, ordered like the comparison of the pairs.

    Numbers when an order operator meets a side whose values in the pairs (at ``left_rows``,
    ``right_rows``) are all numbers (see :func:`_operands`); otherwise codes of the two
    columns' values in sorted order, so that comparing codes compares the texts.
    """
    if op not in ("EQ", "IQ"):
        left_numbers = pd.to_numeric(left, errors="coerce")
        right_numbers = pd.to_numeric(right, errors="coerce")
        numeric = [
            bool(numbers.iloc[rows].notna().sum() >= values.iloc[rows].notna().sum())
            for numbers, values, rows in (
                (left_numbers, left, left_rows),
                (right_numbers, right, right_rows),
            )
        ]
        if any(numeric):
            return _number_array(left_numbers), _number_array(right_numbers)
    codes, _ = pd.factorize(pd.concat([left, right], ignore_index=True), sort=True)
    codes = codes.astype(np.int64)
    n = len(left)
    return (codes[:n], codes[:n] >= 0), (codes[n:], codes[n:] >= 0)


def _number_array(numbers: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Values of a numeric column (integers kept exact) and whether each is present."""
    present = numbers.notna().to_numpy()
    if numbers.dtype.kind in "iu":
        return numbers.to_numpy(dtype=np.int64, na_value=0), present
    return numbers.to_numpy(dtype=np.float64, na_value=np.nan), present


def _domain_violations(values: pd.Series, rule: Any) -> np.ndarray:
    present = values.notna().to_numpy()
    bad = np.zeros(len(values), dtype=bool)
    text = values.fillna("")
    if rule.regex is not None:
        bad |= ~text.str.fullmatch(rule.regex).fillna(False).to_numpy(dtype=bool)
    if rule.allowed is not None:
        bad |= ~values.isin(list(rule.allowed)).to_numpy(dtype=bool)
    if rule.type in ("int", "float") or rule.min is not None or rule.max is not None:
        # Text of integers parses to nullable Int64, which cannot be filled with 0.5 below.
        numbers = pd.to_numeric(values, errors="coerce").astype(float)
        bad |= numbers.isna().to_numpy()
        if rule.type == "int":
            bad |= ~(numbers.fillna(0.5) % 1 == 0).to_numpy(dtype=bool)
        if rule.min is not None:
            bad |= (numbers < rule.min).fillna(False).to_numpy(dtype=bool)
        if rule.max is not None:
            bad |= (numbers > rule.max).fillna(False).to_numpy(dtype=bool)
    if rule.type == "date":
        bad |= pd.to_datetime(values, errors="coerce", format="mixed").isna().to_numpy()
    return np.flatnonzero(bad & present)


def _dictionary_violations(frame: pd.DataFrame, dictionary: Any) -> dict[str, np.ndarray]:
    keys = list(dictionary.keys)
    shared = [c for c in dictionary.value_columns() if c in frame.columns]
    if not shared:
        return {}
    reference = dictionary.lookup()[keys + shared].add_suffix("__ref")
    left = frame[keys + shared].copy()
    left["__row"] = np.arange(len(frame))
    joined = left.merge(reference, left_on=keys, right_on=[f"{k}__ref" for k in keys], how="inner")
    out = {}
    for col in shared:
        differs = (joined[col] != joined[f"{col}__ref"]).fillna(True).to_numpy(dtype=bool)
        differs &= joined[f"{col}__ref"].notna().to_numpy()
        out[col] = joined["__row"].to_numpy()[differs]
    return out


def _outliers(values: pd.Series) -> np.ndarray:
    """Rare values in a column whose values mostly repeat, and extreme numbers.

    A value seen once where nearly every row shares its value with many others (the median row's
    value occurs at least 5 times) stands out as a likely typo. Numbers further than 6 scaled
    median absolute deviations from the median are flagged too.
    """
    present = values.dropna()
    if present.empty:
        return np.zeros(0, dtype=np.int64)
    # Counted and parsed once per distinct value (long columns repeat their values).
    codes, distinct = pd.factorize(present)
    counts = np.bincount(codes, minlength=len(distinct))[codes]
    flagged = np.zeros(len(values), dtype=bool)
    if float(np.median(counts)) >= 5:
        flagged[present.index[counts == 1]] = True
    parsed = pd.to_numeric(pd.Series(distinct, dtype=present.dtype), errors="coerce")
    numbers = pd.Series(parsed.array.take(codes), index=present.index)
    if numbers.notna().mean() > 0.95 and numbers.nunique() > 10:
        median = numbers.median()
        mad = (numbers - median).abs().median() * 1.4826
        if mad > 0:
            far = ((numbers - median).abs() / mad > 6).fillna(False).to_numpy(dtype=bool)
            flagged[present.index[far]] = True
    return np.flatnonzero(flagged)


def _shape(values: pd.Series) -> pd.Series:
    """Character-class shape of each value: digits become 9, letters a."""
    return values.str.replace(r"\d", "9", regex=True).str.replace(r"[^\W\d_]", "a", regex=True)


def _rare_shapes(values: pd.Series) -> np.ndarray:
    """Values whose shape (``9:99 a.a.``) is rare in a column dominated by a few shapes."""
    present = values.dropna()
    if len(present) < 20:
        return np.zeros(0, dtype=np.int64)
    # Each distinct value's shape is computed once (long columns repeat their values).
    codes, distinct = pd.factorize(present)
    shape_of_value, shapes = pd.factorize(_shape(pd.Series(distinct, dtype=present.dtype)))
    shape = shape_of_value[codes]
    counts = np.bincount(shape, minlength=len(shapes))
    if np.sort(counts)[::-1][:5].sum() < 0.9 * len(present):
        return np.zeros(0, dtype=np.int64)
    rare = counts[shape] < max(2.0, 0.005 * len(present))
    return present.index.to_numpy()[rare]


def _weak_cooccurrence(
    codes: Mapping[str, np.ndarray], col: str, contexts: list[str]
) -> np.ndarray:
    """Cells whose value (almost) never co-occurs with the row's other values.

    For each context column B the leave-one-out share of rows with the same B value that also
    hold this cell's value is averaged; a cell is flagged when that support is below 0.02 in a
    column where the typical (median) cell has support of at least 0.3. ``codes`` holds each
    column's values as integer codes, -1 where missing (:func:`_value_codes`), so that the
    counts of every pair of columns are array counts, not a pandas group-by per pair.
    """
    value = codes[col]
    present = value >= 0
    support = np.zeros(value.size)
    used = 0
    for other in contexts:
        context = codes[other]
        ok = present & (context >= 0)
        if not ok.any():
            continue
        a, b = value[ok], context[ok]
        both = _group_sizes(a * (int(b.max()) + 1) + b)
        ctx = np.bincount(b)[b]
        share = np.zeros(value.size)
        share[ok] = (both - 1) / np.maximum(ctx - 1, 1)
        support += share
        used += 1
    if not used or not present.any():
        return np.zeros(0, dtype=np.int64)
    support /= used
    if np.median(support[present]) < 0.3:
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(present & (support < 0.02))


def _value_codes(column: pd.Series) -> np.ndarray:
    """The column's values as int64 codes 0..d-1 (equal values, equal codes), -1 where missing."""
    return pd.factorize(column)[0].astype(np.int64)


def _group_sizes(keys: np.ndarray) -> np.ndarray:
    """For each entry of ``keys`` (int64 >= 0), how many entries share its value."""
    if keys.max() < 4 * keys.size + 1024:  # dense enough to count by value
        return np.bincount(keys)[keys]
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    return counts[inverse]


def infer_source_column(frame: pd.DataFrame, constraints: Constraints) -> Hashable | None:
    """Guess which column names the data source, for tables merging several sources.

    A source column is one no rule mentions, with few distinct values (at most √n), several of
    which describe the same entity (the rows sharing an FD's left-hand side) with at most one
    row per source per entity.

    Returns
    -------
    hashable or None
        The source column's label in ``frame``, or None when no column looks like one.
    """
    frame, labels = _as_positional_strings(frame), _column_labels(frame)
    fds = constraints.all_fds()
    if not fds:
        return None
    used = constraints.columns()
    limit = max(2.0, np.sqrt(len(frame)))
    best: tuple[float, str] | None = None
    for col in frame.columns:
        if col in used:
            continue
        n_distinct = frame[col].nunique()
        if not 2 <= n_distinct <= limit:
            continue
        for fd in fds:
            grouped = frame.groupby(list(fd.lhs), sort=False)[col]
            sizes = grouped.size()
            multi = sizes[sizes > 1]
            if multi.empty or len(multi) < 0.1 * len(sizes):
                continue
            distinct = grouped.nunique()[multi.index]
            share = float((distinct / multi).mean())
            if share >= 0.99 and (best is None or share > best[0]):
                best = (share, col)
    return None if best is None else labels[best[1]]


def detect_errors(
    frame: pd.DataFrame,
    constraints: Any = None,
    *,
    placeholders: Iterable[str] = DEFAULT_PLACEHOLDERS,
    outliers: bool = True,
    source: Hashable | None = None,
    fd_rows: Callable[[FunctionalDependency], np.ndarray] | None = None,
) -> pd.DataFrame:
    """Flag suspicious cells.

    Parameters
    ----------
    frame : pandas.DataFrame
        The data; values are compared as strings, and rules name columns by their labels as
        text (``"0"`` for the column labelled ``0``).
    constraints : Constraints, path, dict, list of str or None
        Rules to check (see :class:`Constraints`). None checks statistics only.
    placeholders : iterable of str
        Values that mean "missing" (compared lower-cased and stripped); a single string is
        one value.
    outliers : bool, default True
        Whether to flag statistical outliers.
    source : hashable, optional
        Label of the column naming each row's source; cells disagreeing across sources about
        the same entity get the ``source`` detector. Default: ``constraints.source``.
    fd_rows : callable, optional
        Positions of the rows of an FD's conflicting groups (groups of equal left-hand side
        holding several right-hand side values); default: a pandas group-by. The Dask engine
        of :class:`Cleaner` passes one computed from its partitioned counts.

    Returns
    -------
    pandas.DataFrame
        One row per flagged cell: ``row`` (0-based position), ``column`` (its label in
        ``frame``), ``detectors`` (sorted detector names joined by ``,``), sorted by row then
        column order.

    Raises
    ------
    DataError
        When the table is empty or its column labels repeat (also as text).
    ConstraintError
        When a rule names a column the table lacks.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"zip": ["1", "1", "1"], "city": ["a", "a", "b"]})
    >>> detect_errors(t, ["zip -> city"])[["row", "column"]].values.tolist()
    [[0, 'city'], [1, 'city'], [2, 'city']]
    """
    frame, labels = _as_positional_strings(frame), _column_labels(frame)
    constraints = as_constraints(constraints)
    constraints.check_columns(frame.columns)
    source = constraints.source if source is None else str(source)
    if source is not None and source not in frame.columns:
        raise ConstraintError(f"source column {source!r} is not in the table")
    found: list[pd.DataFrame] = []

    def flag(rows: np.ndarray, column: str, detector: str) -> None:
        if len(rows):
            found.append(pd.DataFrame({"row": rows, "column": column, "detector": detector}))

    placeholders = [placeholders] if isinstance(placeholders, str) else list(placeholders)
    for col in frame.columns:
        flag(np.flatnonzero(missing_mask(frame[col], placeholders)), col, "missing")
    for fd in constraints.all_fds():
        rows = _fd_violations(frame, fd) if fd_rows is None else fd_rows(fd)
        flag(rows, fd.rhs, "fd")
        if source is not None and source not in fd.lhs:
            flag(rows, fd.rhs, "source")
    for dc in constraints.other_dcs():
        if dc.n_tuples == 1:
            rows = _single_tuple_violations(frame, dc)
            for col in dc.columns():
                flag(rows, col, "dc")
        else:
            rows1, rows2 = _pair_violations(frame, dc)
            for p in dc.predicates:
                for t, col in (p.left, p.right if not isinstance(p.right, str) else p.left):
                    flag(np.unique(rows1 if t == 1 else rows2), col, "dc")
    for rule in constraints.domains:
        flag(_domain_violations(frame[rule.column], rule), rule.column, "domain")
    for dictionary in constraints.dictionaries:
        for col, rows in _dictionary_violations(frame, dictionary).items():
            flag(rows, col, "dictionary")
    if outliers:
        n = len(frame)
        contexts = [c for c in frame.columns if 2 <= frame[c].nunique() <= 0.5 * n and c != source]
        codes = {c: _value_codes(frame[c]) for c in contexts}
        for col in frame.columns:
            flag(_outliers(frame[col]), col, "outlier")
            flag(_rare_shapes(frame[col]), col, "outlier")
            if col in contexts:
                flag(
                    _weak_cooccurrence(codes, col, [c for c in contexts if c != col]),
                    col,
                    "outlier",
                )
    return _relabel(_combine(found, list(frame.columns)), labels)


def _combine(found: list[pd.DataFrame], columns: list[str]) -> pd.DataFrame:
    """One row per cell with its detector names, joined in sorted order."""
    if not found:
        return pd.DataFrame(
            {
                "row": pd.Series(dtype=np.int64),
                "column": pd.Series(dtype=object),
                "detectors": pd.Series(dtype=object),
            }
        )
    names = sorted(DETECTORS)
    bit = {name: 1 << i for i, name in enumerate(names)}
    order = {c: i for i, c in enumerate(columns)}
    cells = pd.concat(found, ignore_index=True)
    key = (
        cells["row"].to_numpy(dtype=np.int64) * len(columns) + cells["column"].map(order).to_numpy()
    )
    keys, bits = _or_by_key(key, cells["detector"].map(bit).to_numpy(dtype=np.int64))
    labels = {m: ",".join(n for n in names if m & bit[n]) for m in np.unique(bits)}
    return pd.DataFrame(
        {
            "row": keys // len(columns),
            "column": np.asarray(columns, dtype=object)[keys % len(columns)],
            "detectors": pd.Series(bits).map(labels).to_numpy(dtype=object),
        }
    )


def _or_by_key(key: np.ndarray, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct keys and the bitwise OR of the bits of each."""
    order = np.argsort(key, kind="stable")
    key, bits = key[order], bits[order]
    starts = np.r_[0, np.flatnonzero(np.diff(key)) + 1]
    return key[starts], np.bitwise_or.reduceat(bits, starts)
