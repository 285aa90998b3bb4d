"""Co-occurrence statistics over an integer-coded table.

Every column is factorised once into integer codes (-1 = missing). A *context* is a set of
columns; for a target column it yields, per row, a group (the row's values of the context
columns) and the counts of each target value inside that group. Counts are a sparse
``(group, value) -> count`` table built with one group-by, so memory grows with the number of
distinct pairs, never with cells x domain.

The same statistics run on a Dask DataFrame (:meth:`CodedTable.from_dask`): columns are
factorised partition by partition, and the ``(group, value)`` counts of many contexts are
computed together by Dask group-bys over the partitions (:meth:`CodedTable.precount`), a group
being keyed by a mixed-radix number of its codes so that partitions need no shared state. Only
the small count tables and the integer codes come back to the client, where inference runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

__all__ = [
    "CodedTable",
    "ContextCounts",
    "SourceWeights",
    "copy_clusters",
    "expand_candidates",
    "gather",
    "group_ids",
    "source_accuracies",
]


@dataclass
class CodedTable:
    """A string table as integer codes.

    Attributes
    ----------
    columns : list of str
    codes : numpy.ndarray
        (n_rows, n_columns) int64; -1 marks a missing value.
    uniques : list of numpy.ndarray
        Per column, the string of each code.
    """

    columns: list[str]
    codes: np.ndarray
    uniques: list[np.ndarray]
    partitions: Any = None
    _counted: dict[tuple[Any, ...], pd.Series] = field(default_factory=dict, repr=False)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> CodedTable:
        """Factorise every column of a string DataFrame (missing values get -1)."""
        codes = np.empty(frame.shape, dtype=np.int64)
        uniques = []
        for j, col in enumerate(frame.columns):
            col_codes, col_uniques = pd.factorize(frame[col], use_na_sentinel=True)
            codes[:, j] = col_codes
            uniques.append(np.asarray(col_uniques, dtype=object))
        return cls([str(c) for c in frame.columns], codes, uniques)

    @classmethod
    def from_dask(cls, frame: Any) -> CodedTable:
        """Factorise a Dask DataFrame of strings partition by partition.

        Codes follow first appearance in partition order, as :meth:`from_frame`'s do, so both
        give the same codes. The coded partitions are persisted (``partitions``) for the
        group-bys of :meth:`precount`; the codes also come back as one integer array.
        """
        import dask

        columns = [str(c) for c in frame.columns]
        seen = dask.compute(
            *[
                frame[c].map_partitions(_distinct_in_order, meta=(c, "string"))
                for c in frame.columns
            ]
        )
        uniques = [np.asarray(s.dropna().drop_duplicates(), dtype=object) for s in seen]
        meta = pd.DataFrame({c: pd.Series(dtype=np.int64) for c in columns})
        coded = frame.map_partitions(partial(_encode_partition, uniques=uniques), meta=meta)
        coded = coded.persist()
        codes = coded.compute().to_numpy(dtype=np.int64)
        return cls(columns, codes, uniques, partitions=coded)

    def precount(self, specs: list[tuple[list[int], int, SourceWeights | None]]) -> None:
        """Count ``(group, value)`` pairs of several contexts in one pass over the partitions.

        Only for a table from :meth:`from_dask` (otherwise nothing happens): the counts are
        kept until the matching :class:`ContextCounts` is built, which then does no group-by
        of its own.
        """
        if self.partitions is None:
            return
        import dask

        todo: dict[tuple[Any, ...], Any] = {}
        for context, target, weights in specs:
            key = _count_key(context, target, weights)
            radix = _radix(self, context)
            if key in self._counted or key in todo or radix is None:
                continue
            pairs = self.partitions.map_partitions(
                partial(
                    _partition_pairs, context=context, target=target, radix=radix, weights=weights
                ),
                meta=pd.DataFrame(
                    {
                        "group": pd.Series(dtype=np.int64),
                        "value": pd.Series(dtype=np.int64),
                        "weight": pd.Series(dtype=np.float64),
                    }
                ),
            )
            todo[key] = pairs.groupby(["group", "value"])["weight"].sum()
        for key, counts in zip(todo, dask.compute(*todo.values()), strict=True):
            self._counted[key] = counts

    def counted(
        self, context: list[int], target: int, weights: SourceWeights | None
    ) -> pd.Series | None:
        """Take the counts :meth:`precount` computed for a context (None if it did not)."""
        return self._counted.pop(_count_key(context, target, weights), None)

    @property
    def n_rows(self) -> int:
        """Number of rows."""
        return int(self.codes.shape[0])

    def index(self, column: str) -> int:
        """Position of a column."""
        return self.columns.index(column)

    def cardinality(self, j: int) -> int:
        """Number of distinct non-missing values of column ``j``."""
        return len(self.uniques[j])

    def code_of(self, j: int, values: np.ndarray) -> np.ndarray:
        """Codes of strings in column ``j`` (-2 for values the column never holds)."""
        lookup = pd.Index(self.uniques[j])
        codes = lookup.get_indexer(pd.Index(values.astype(object)))
        codes = np.where(pd.isna(values), -1, np.where(codes < 0, -2, codes))
        return codes.astype(np.int64)

    def intern(self, j: int, values: np.ndarray) -> np.ndarray:
        """Codes of strings in column ``j``, appending values the column has not seen yet."""
        codes = self.code_of(j, values)
        new = codes == -2
        if new.any():
            fresh = pd.unique(values[new].astype(object))
            start = len(self.uniques[j])
            self.uniques[j] = np.concatenate([self.uniques[j], np.asarray(fresh, dtype=object)])
            lookup = pd.Index(fresh)
            codes[new] = start + lookup.get_indexer(pd.Index(values[new].astype(object)))
        return codes

    def value_counts(self, j: int) -> np.ndarray:
        """How often each code of column ``j`` occurs."""
        col = self.codes[:, j]
        return np.bincount(col[col >= 0], minlength=self.cardinality(j))


@dataclass(frozen=True, eq=False)
class SourceWeights:
    """Row weights read from one column: a weight per code of the column, one for missing.

    Attributes
    ----------
    column : int
        Position of the weighting column (e.g. the data source).
    per_code : numpy.ndarray
        Weight of each code of that column.
    missing : float
        Weight of a row whose value of that column is missing.
    """

    column: int
    per_code: np.ndarray
    missing: float

    def of(self, codes: np.ndarray) -> np.ndarray:
        """Weights of rows given their codes (``(n_rows, n_columns)``)."""
        src = codes[:, self.column]
        return np.where(src >= 0, self.per_code[np.maximum(src, 0)], self.missing)

    def token(self) -> tuple[Any, ...]:
        """A hashable identity of the weights (for caching counts)."""
        return (self.column, self.per_code.tobytes(), float(self.missing))


class ContextCounts:
    """Counts of a target column's values inside the groups of a context.

    Parameters
    ----------
    table : CodedTable
    context : list of int
        Column positions forming the context.
    target : int
        Target column position.
    weights : SourceWeights, optional
        Per-row weight (e.g. source reliability); counts become weighted sums.

    Notes
    -----
    When :meth:`CodedTable.precount` computed this context's counts (Dask), they are used as
    they are; a group a row belongs to is then found from the row's codes alone.
    """

    def __init__(
        self,
        table: CodedTable,
        context: list[int],
        target: int,
        weights: SourceWeights | None = None,
    ) -> None:
        self.context = context
        self.target = target
        self.card = max(table.cardinality(target), 1)
        self.n_values = table.cardinality(target)
        self._table = table
        self._weights = weights
        counted = table.counted(context, target, weights)
        if counted is not None:
            self._from_counts(table, counted)
            return
        self.groups = group_ids(table.codes[:, context])
        value = table.codes[:, target]
        ok = (self.groups >= 0) & (value >= 0)
        w = np.ones(table.n_rows) if weights is None else weights.of(table.codes)
        # (group, value) keys and their weighted counts, keys ascending; np.unique and bincount
        # cost a fraction of a pandas group-by, which this runs once per pair of columns.
        keys, inverse = np.unique(self.groups[ok] * self.card + value[ok], return_inverse=True)
        self._keys = pd.Index(keys.astype(np.int64))
        self._counts = np.bincount(inverse, weights=w[ok], minlength=keys.size).astype(np.float64)
        n_groups = int(self.groups.max()) + 1 if len(self.groups) else 0
        self.group_totals = np.bincount(self.groups[ok], weights=w[ok], minlength=n_groups)

    def _from_counts(self, table: CodedTable, counted: pd.Series) -> None:
        """Adopt ``(radix group key, value) -> count`` pairs computed by Dask."""
        counted = counted.sort_index()
        group_keys = counted.index.get_level_values(0).to_numpy(dtype=np.int64)
        values = counted.index.get_level_values(1).to_numpy(dtype=np.int64)
        distinct = np.unique(group_keys)
        radix = _radix(table, self.context)
        assert radix is not None  # precount skips contexts without one
        self.groups = pd.Index(distinct).get_indexer(_radix_keys(table.codes, self.context, radix))
        gid = np.searchsorted(distinct, group_keys)
        self._keys = pd.Index(gid * self.card + values)
        self._counts = counted.to_numpy(dtype=np.float64)
        self.group_totals = np.bincount(gid, weights=self._counts, minlength=len(distinct))

    def count(self, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Count of ``values[i]`` in the group of ``rows[i]`` (0 when absent)."""
        groups = self.groups[rows]
        known = (groups >= 0) & (values >= 0) & (values < self.card)
        keys = np.where(known, groups * self.card + values, -1)
        pos = self._keys.get_indexer(keys)
        return gather(self._counts, pos, known & (pos >= 0))

    def total(self, rows: np.ndarray) -> np.ndarray:
        """Total count of the group of each row (0 for rows with a missing context value)."""
        groups = self.groups[rows]
        return gather(self.group_totals, groups, groups >= 0)

    def weight(self, rows: np.ndarray) -> np.ndarray:
        """The per-row weight used in the counts."""
        if self._weights is None:
            return np.ones(len(rows))
        return self._weights.of(self._table.codes[rows])

    def conflicting_rows(self) -> np.ndarray:
        """Positions of the rows whose group holds more than one target value."""
        n_values = np.bincount(self._keys.to_numpy() // self.card, minlength=len(self.group_totals))
        return np.flatnonzero(gather(n_values, self.groups, self.groups >= 0) > 1)

    def top_values(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The ``k`` most frequent values per group, as sorted ``(group, value)`` arrays.

        Returns
        -------
        groups, values, starts
            ``groups`` sorted ascending; ``starts[g]:starts[g + 1]`` spans group ``g``.
        """
        groups = self._keys.to_numpy() // self.card
        values = self._keys.to_numpy() % self.card
        order = np.lexsort((-self._counts, groups))
        groups, values = groups[order], values[order]
        first = np.r_[0, np.flatnonzero(np.diff(groups)) + 1]
        rank = np.arange(len(groups)) - np.repeat(first, np.diff(np.r_[first, len(groups)]))
        keep = rank < k
        groups, values = groups[keep], values[keep]
        n_groups = len(self.group_totals)
        starts = np.searchsorted(groups, np.arange(n_groups + 1))
        return groups, values, starts


def gather(values: np.ndarray, index: np.ndarray, valid: np.ndarray, fill: Any = 0) -> np.ndarray:
    """``values[index]`` where ``valid``, ``fill`` elsewhere.

    Only the valid positions are read, so an empty ``values`` (the counts of a column with
    no observed value, the groups of a context that is always missing) gives ``fill``
    rather than an index error.
    """
    out = np.full(len(index), fill, dtype=values.dtype)
    out[valid] = values[index[valid]]
    return out


def group_ids(codes: np.ndarray) -> np.ndarray:
    """One id per distinct row of ``codes``; -1 when any value is missing."""
    if codes.shape[1] == 1:
        return codes[:, 0].copy()
    missing = (codes < 0).any(axis=1)
    frame = pd.DataFrame(codes)
    ids = (
        frame.groupby(list(frame.columns), sort=False).ngroup().to_numpy(dtype=np.int64, copy=True)
    )
    ids[missing] = -1
    return ids


def expand_candidates(
    rows: np.ndarray, counts: ContextCounts, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """For each row, the top-``k`` values of its group: ``(position in rows, value)`` pairs."""
    _, values, starts = counts.top_values(k)
    groups = counts.groups[rows]
    valid = groups >= 0
    begin = gather(starts, groups, valid)
    length = gather(starts, groups + 1, valid) - begin
    owner = np.repeat(np.arange(len(rows)), length)
    offsets = np.arange(int(length.sum())) - np.repeat(np.cumsum(length) - length, length)
    return owner, values[np.repeat(begin, length) + offsets]


#: Cap on the (group, source, source) pairs compared when looking for copying sources.
_MAX_PAIRS = 2_000_000


def copy_clusters(
    table: CodedTable,
    source: int,
    contexts: list[tuple[list[int], int]],
    *,
    min_shared: int = 10,
    max_disagreement: float = 0.01,
    seed: int = 0,
) -> np.ndarray:
    """Group sources that copy each other: per source, the size of its cluster of near-copies.

    Items are the groups of an FD context's left-hand side (with its right-hand side) on
    which the sources disagree. Two sources are linked when they share at least
    ``min_shared`` items and give different values on at most ``max_disagreement`` of them:
    independent sources, even good ones, differ now and then on contested items, while a
    copy repeats its original. Clusters are the connected components of the links. Always
    agreeing is also what two perfect sources do, so callers should discount a cluster's
    votes only partly (``Cleaner`` divides each member's vote by the square root of the
    cluster size). No ground truth is needed.

    Parameters
    ----------
    table : CodedTable
    source : int
        Position of the source column.
    contexts : list of (list of int, int)
        ``(left-hand side columns, right-hand side column)`` per FD.

    Returns
    -------
    numpy.ndarray
        (n_sources,) float: how many sources share each source's cluster (1 = independent).
    """
    n_sources = max(table.cardinality(source), 1)
    # Counts per linked pair of sources (key left * n_sources + right), not a dense
    # n_sources x n_sources matrix: a table may name many thousands of sources.
    pair_keys: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
    pair_differ: list[np.ndarray] = [np.zeros(0)]
    rng = np.random.default_rng(seed)
    for lhs, target in contexts:
        claims = _contested_claims(table, source, lhs, target)
        if claims.empty:
            continue
        sizes = claims.groupby("group").size()
        if float((sizes.astype(np.float64) ** 2).sum()) > _MAX_PAIRS:
            share = _MAX_PAIRS / float((sizes.astype(np.float64) ** 2).sum())
            keep = sizes.index[rng.random(len(sizes)) < share]
            claims = claims[claims["group"].isin(keep)]
        pairs = claims.merge(claims, on="group")
        pairs = pairs[pairs["source_x"] != pairs["source_y"]]
        left = pairs["source_x"].to_numpy(dtype=np.int64)
        right = pairs["source_y"].to_numpy(dtype=np.int64)
        pair_keys.append(left * n_sources + right)
        pair_differ.append((pairs["value_x"] != pairs["value_y"]).to_numpy(dtype=np.float64))
    keys, inverse = np.unique(np.concatenate(pair_keys), return_inverse=True)
    shared = np.bincount(inverse, minlength=len(keys)).astype(np.float64)
    differ = np.bincount(inverse, weights=np.concatenate(pair_differ), minlength=len(keys))
    linked = (shared >= min_shared) & (differ <= max_disagreement * shared)
    left, right = keys[linked] // n_sources, keys[linked] % n_sources
    graph = coo_matrix(
        (np.ones(len(left), dtype=bool), (left, right)), shape=(n_sources, n_sources)
    )
    _, labels = connected_components(graph, directed=False)
    return np.bincount(labels)[labels].astype(np.float64)


def _contested_claims(table: CodedTable, source: int, lhs: list[int], target: int) -> pd.DataFrame:
    """One row per (group, source) of an FD context whose group holds several values."""
    groups = group_ids(table.codes[:, lhs])
    value = table.codes[:, target]
    src = table.codes[:, source]
    ok = (groups >= 0) & (value >= 0) & (src >= 0)
    claims = pd.DataFrame({"group": groups[ok], "source": src[ok], "value": value[ok]})
    claims = claims.drop_duplicates(["group", "source"])
    contested = claims.groupby("group")["value"].transform("nunique") > 1
    return claims[contested.to_numpy()]


def source_accuracies(
    table: CodedTable,
    source: int,
    contexts: list[tuple[list[int], int]],
    *,
    independence: np.ndarray | None = None,
    n_false: float = 10.0,
    n_iter: int = 8,
) -> np.ndarray:
    """Estimate each source's accuracy without ground truth (iterative truth discovery).

    Alternates, in the manner of ACCU (Dong et al., VLDB 2009): (1) in every group of every FD
    context elect the value with the largest vote, a source voting with weight
    ``independence * max(log(n_false * a / (1 - a)), 0)``; (2) set each source's accuracy
    ``a`` to its smoothed share of claims equal to the elected value (groups of one row are
    not evidence). Starts from equal accuracies, i.e. a plain majority.

    Parameters
    ----------
    table : CodedTable
    source : int
        Position of the source column.
    contexts : list of (list of int, int)
        ``(left-hand side columns, right-hand side column)`` per FD.
    independence : numpy.ndarray, optional
        (n_sources,) vote multiplier, e.g. ``1 / copy_clusters(...)``.
    n_false : float
        Assumed number of wrong values an item can take.
    n_iter : int
        Rounds of election and re-estimation.

    Returns
    -------
    numpy.ndarray
        (n_sources,) accuracies in (0, 1).
    """
    n_sources = max(table.cardinality(source), 1)
    share = np.ones(n_sources) if independence is None else independence
    src = table.codes[:, source]
    known = src >= 0
    accuracy = np.full(n_sources, 0.8)
    table.precount([(lhs, target, None) for lhs, target in contexts])
    sized = [ContextCounts(table, lhs, target) for lhs, target in contexts]
    for _ in range(n_iter):
        clipped = np.clip(accuracy, 0.01, 0.99)
        vote = np.maximum(np.log(n_false * clipped / (1 - clipped)), 0.0) * share
        row_vote = SourceWeights(source, vote, 0.0)
        table.precount([(lhs, target, row_vote) for lhs, target in contexts])
        agree = np.zeros(n_sources)
        seen = np.zeros(n_sources)
        for (lhs, target), plain in zip(contexts, sized, strict=True):
            weighted = ContextCounts(table, lhs, target, row_vote)
            groups, values, _ = weighted.top_values(1)
            elected = np.full(len(weighted.group_totals), -1, dtype=np.int64)
            elected[groups] = values
            g = plain.groups
            value = table.codes[:, target]
            valid = known & (g >= 0) & (value >= 0)
            valid &= gather(plain.group_totals, g, valid) > 1
            hit = valid & (value == gather(elected, g, valid, -1))
            agree += np.bincount(src[valid], weights=hit[valid], minlength=n_sources)
            seen += np.bincount(src[valid], minlength=n_sources)
        accuracy = (agree + 1) / (seen + 2)
    return accuracy


def _distinct_in_order(values: pd.Series) -> pd.Series:
    """A partition's distinct values in order of first appearance."""
    return values.drop_duplicates()


def _encode_partition(part: pd.DataFrame, uniques: list[np.ndarray]) -> pd.DataFrame:
    """Codes of one partition's values (-1 for missing)."""
    out = {}
    for col, values in zip(part.columns, uniques, strict=True):
        out[str(col)] = pd.Index(values).get_indexer(part[col].astype(object)).astype(np.int64)
    return pd.DataFrame(out, index=part.index)


def _count_key(context: list[int], target: int, weights: SourceWeights | None) -> tuple[Any, ...]:
    return (tuple(context), target, None if weights is None else weights.token())


def _radix(table: CodedTable, context: list[int]) -> np.ndarray | None:
    """Multipliers making a context's codes one exact integer key (None if it would overflow)."""
    multipliers = []
    size = 1
    for j in reversed(context):
        multipliers.append(size)
        size *= max(table.cardinality(j), 1)
    if size >= 2**62:
        return None
    return np.asarray(multipliers[::-1], dtype=np.int64)


def _radix_keys(codes: np.ndarray, context: list[int], radix: np.ndarray) -> np.ndarray:
    """Each row's group key (-1 when a context value is missing)."""
    ctx = codes[:, context]
    return np.where((ctx >= 0).all(axis=1), ctx @ radix, -1)


def _partition_pairs(
    part: pd.DataFrame,
    *,
    context: list[int],
    target: int,
    radix: np.ndarray,
    weights: SourceWeights | None,
) -> pd.DataFrame:
    """One row per cell of a partition: its group key, target value and weight."""
    codes = part.to_numpy(dtype=np.int64)
    keys = _radix_keys(codes, context, radix)
    ok = (keys >= 0) & (codes[:, target] >= 0)
    w = np.ones(len(codes)) if weights is None else weights.of(codes)
    return pd.DataFrame({"group": keys[ok], "value": codes[ok, target], "weight": w[ok]})
