"""Votes as a one-hot indicator over (source, class) pairs, the form every label model computes on.

A label matrix with n rows, m sources and k classes becomes a CSR matrix ``indicator`` of shape
(n, m * k) whose entry ``(i, j * k + v)`` is 1 when source j votes class v on row i. Abstains are
implicit zeros, so memory is proportional to the number of votes, never to n * m * k, and every
statistic a label model needs is one sparse product:

* scores of a log-linear model: ``indicator @ W`` with W of shape (m * k, k);
* expected vote counts given posteriors P: ``indicator.T @ P``;
* co-vote counts between (source, class) pairs: ``indicator.T @ indicator``.

Rows may carry weights (``row_weights``): a row of weight w counts as w identical rows in every
statistic, so a model fit on the distinct vote patterns weighted by their counts equals the fit on
all rows. That is how partitioned label matrices are fit without gathering them.

On large matrices (from 2**18 votes) the products run on two row blocks in parallel
(:meth:`Votes.map_rows`; scipy and numpy release the GIL), and a dense matrix is converted in
chunks on the same two threads; partial results are joined in block order, so a fit does not
depend on thread timing.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple, NoReturn

import numpy as np
import scipy.sparse as sp

from gristmill.exceptions import DataError
from gristmill.labeling import LabelMatrix, as_sparse_labels
from gristmill.labeling._matrix import as_label_input, check_integral

# Rows per step of the dense co-vote products; bounds temporaries.
_CHUNK_ROWS = 1 << 16
# Cells converted per step when building the indicator from a dense matrix; bounds temporaries.
_DENSE_CHUNK_CELLS = 1 << 22
# Threads converting chunks of a dense matrix and multiplying row blocks of a large indicator
# (the machines gristmill targets have 2+ cores).
_PRODUCT_THREADS = 2
# Votes from which sparse products run on row blocks in parallel (the 25,000-pattern samples
# of large fits hold about 375,000 at 1M x 50).
_PARALLEL_MIN_VOTES = 1 << 18
# Rows counted to estimate the number of distinct vote patterns, per pattern sampled.
_PATTERN_COUNT_OVERSAMPLE = 2
# Largest number of indicator columns for which co-votes are accumulated with dense BLAS products.
_DENSE_GRAM_MAX_COLUMNS = 2048
# Multiply-adds of dense co-vote blocks up to which they are used whatever the votes (about
# 0.3 s here), and what one pair of votes in the sparse product costs in such multiply-adds
# (measured: 1M rows by 50 sources, 14 votes a row, over 2 to 20 classes, one BLAS thread).
_DENSE_GRAM_MIN_WORK = 1e10
_SPARSE_GRAM_COST = 1500.0
#: Most cells of the per-vote temporaries of one chunk of rows (32 MiB of float64).
VOTE_CELLS = 1 << 22
# Most rows of such a chunk, however few their votes.
_CHUNK_ROWS_MAX = 1 << 16
MAX_CLASSES = 10_000
"""Most classes a label model takes. A fit holds (m, k, k) arrays (and dense (m * k)-wide
products), so a larger vote is almost surely not a class index (a year, an id) and would exhaust
memory rather than fit."""


class _Block(NamedTuple):
    """Rows ``start:stop`` of an indicator, as CSR and as the CSC matrix of their transpose."""

    start: int
    stop: int
    rows: sp.csr_matrix
    transposed: sp.csc_matrix


def _sharing(container: Any, shape: tuple[int, int], indptr: Any, indices: Any, data: Any) -> Any:
    """A compressed sparse matrix over the given arrays, which it shares, never copies.

    scipy's constructor copies an index or data array that is a view of less than half of its
    base (``prune``): the smaller row block of every large indicator, 90 MB at 1M x 50, in 20 to
    150 ms here, and again on each ``.T`` of a block. An empty matrix of the right shape gets
    the arrays instead (``indptr``, ``indices`` and ``data`` are its public attributes).
    """
    matrix = container(shape, dtype=data.dtype)
    matrix.indptr, matrix.indices, matrix.data = indptr, indices, data
    return matrix


@dataclass(frozen=True)
class Votes:
    """Validated votes of m sources on n rows over k classes, as a one-hot CSR indicator."""

    indicator: sp.csr_matrix
    n_rows: int
    n_sources: int
    cardinality: int
    lf_names: tuple[str, ...] | None
    row_weights: np.ndarray | None = None
    # Results computed once per Votes (treat as read-only): pattern samples by size and seed —
    # several steps of a fit ask for the same one —, the per-source vote totals every EM step
    # needs, and the row blocks of parallel products. ``replace`` starts a fresh cache.
    _memo: dict[tuple[Any, ...], Any] = field(
        init=False, default_factory=dict, repr=False, compare=False
    )

    @property
    def total_weight(self) -> float:
        """Sum of the row weights (the number of rows when unweighted)."""
        if self.row_weights is None:
            return float(self.n_rows)
        return float(self.row_weights.sum())

    def weighted(self, per_row: np.ndarray) -> np.ndarray:
        """``per_row`` (n, ...) times the row weights, row by row (itself when unweighted)."""
        if self.row_weights is None:
            return per_row
        shape = (-1,) + (1,) * (per_row.ndim - 1)
        return per_row * self.row_weights.reshape(shape)

    def row_total(self, per_row: np.ndarray) -> np.ndarray:
        """Weighted sum over rows of ``per_row`` (n, ...)."""
        if self.row_weights is None:
            return np.asarray(per_row.sum(axis=0))
        return np.tensordot(self.row_weights, per_row, axes=(0, 0))

    def with_weights(self, row_weights: np.ndarray | None) -> Votes:
        """The same votes with ``row_weights`` (validated: shape (n,), finite, >= 0)."""
        if row_weights is None:
            return replace(self, row_weights=None)
        weights = np.asarray(row_weights, dtype=np.float64)
        if weights.shape != (self.n_rows,):
            raise DataError(
                f"sample_weight must hold one weight per row ({self.n_rows}); "
                f"got shape {weights.shape}"
            )
        bad = ~np.isfinite(weights) | (weights < 0)
        if bad.any():
            row = int(np.argmax(bad))
            raise DataError(
                f"sample_weight holds {weights[row]!r} at row {row}; weights must be finite "
                "and >= 0"
            )
        return replace(self, row_weights=weights)

    def row_subset(self, rows: np.ndarray) -> Votes:
        """The votes of ``rows`` only, with their weights."""
        weights = None if self.row_weights is None else self.row_weights[rows]
        return replace(
            self, indicator=self.indicator[rows], n_rows=int(rows.size), row_weights=weights
        )

    def weighted_indicator(self) -> sp.csr_matrix:
        """The indicator with each row multiplied by its weight (itself when unweighted)."""
        if self.row_weights is None:
            return self.indicator
        return sp.csr_matrix(sp.diags(self.row_weights) @ self.indicator)

    def pattern_sample(self, patterns: int, seed: int) -> Votes:
        """The distinct vote patterns, weighted by their rows, sampled down to about ``patterns``.

        Rows are grouped by a hash of their votes (the sum of pseudo-random codes, drawn with
        ``seed``, of their (source, class) pairs; one weighted row per distinct pattern); when
        there are more than ``patterns`` groups, a fraction of them is kept, chosen by the same
        hash. Everything depends only on the weighted distribution of patterns, so a weighted
        matrix of distinct patterns and its expanded rows give the same sample. Every step of a
        fit that asks (Dawid-Skene's warm start, the LabelModel blend, the F1 threshold) gets
        the same sample, computed once.
        """
        key = ("pattern_sample", patterns, seed)
        if key not in self._memo:
            codes = np.random.default_rng(seed).random(self.indicator.shape[1])
            self._memo[key] = self._sample_patterns(patterns, codes)
        return self._memo[key]

    def _sample_patterns(self, patterns: int, codes: np.ndarray) -> Votes:
        row_hash = self.dot(codes)
        fraction = np.floor(row_hash)  # the sums are >= 0: np.mod(., 1), faster
        np.subtract(row_hash, fraction, out=fraction)
        # The number of distinct patterns, estimated from those whose hash falls below a share
        # of the unit interval that holds about 2 * patterns rows (all of them on small data);
        # the share depends on the total weight only, so weighted and expanded forms agree.
        share = min(1.0, _PATTERN_COUNT_OVERSAMPLE * patterns / max(self.total_weight, 1.0))
        counted = np.unique(row_hash[fraction < share]).size / share
        rows = np.arange(self.n_rows)
        if counted > patterns:
            rows = np.flatnonzero(fraction < patterns / counted)
        _, first, group = np.unique(row_hash[rows], return_index=True, return_inverse=True)
        weights = np.ones(rows.size) if self.row_weights is None else self.row_weights[rows]
        totals = np.bincount(group, weights=weights, minlength=first.size)
        kept = rows[first]
        return replace(
            self, indicator=self.indicator[kept], n_rows=int(kept.size), row_weights=totals
        )

    def map_rows(self, function: Callable[[int, int, sp.csr_matrix], Any]) -> list[Any]:
        """``function(start, stop, rows)`` on consecutive row blocks of the indicator, in order.

        One block on small matrices; on large ones one block per thread, run in parallel (sparse
        products and numpy's loops release the GIL). Callers join the results in block order,
        so nothing depends on thread timing. ``function`` must not call ``map_rows`` itself:
        the pool has one thread per block.
        """
        return self._map_blocks(lambda block: function(block.start, block.stop, block.rows))

    def _map_blocks(self, function: Callable[[_Block], Any]) -> list[Any]:
        return _on_pool(function, self._row_blocks())

    def dot(self, right: np.ndarray) -> np.ndarray:
        """``indicator @ right`` as a dense array; ``right`` has shape (m * k,) or (m * k, c)."""
        return np.concatenate(self.map_rows(lambda _, __, rows: np.asarray(rows @ right)))

    def transpose_dot(self, per_row: np.ndarray) -> np.ndarray:
        """``indicator.T @ per_row`` as a dense array; ``per_row`` has shape (n,) or (n, c)."""
        parts = self._map_blocks(
            lambda block: np.asarray(block.transposed @ per_row[block.start : block.stop])
        )
        return functools.reduce(np.add, parts)

    def _row_blocks(self) -> list[_Block]:
        """Row ranges of the indicator, one per product thread, with views of their rows.

        The views share the indicator's arrays (only the row pointers are new; tested).
        """
        key = ("row_blocks",)
        if key not in self._memo:
            matrix = self.indicator
            if matrix.nnz < _PARALLEL_MIN_VOTES:
                self._memo[key] = [_Block(0, self.n_rows, matrix, matrix.T)]
            else:
                bounds = np.linspace(0, self.n_rows, _PRODUCT_THREADS + 1).astype(int)
                blocks = []
                for start, stop in zip(bounds[:-1], bounds[1:], strict=True):
                    low, high = matrix.indptr[start], matrix.indptr[stop]
                    arrays = (
                        matrix.indptr[start : stop + 1] - low,
                        matrix.indices[low:high],
                        matrix.data[low:high],
                    )
                    width, rows = matrix.shape[1], int(stop - start)
                    blocks.append(
                        _Block(
                            int(start),
                            int(stop),
                            _sharing(sp.csr_matrix, (rows, width), *arrays),
                            _sharing(sp.csc_matrix, (width, rows), *arrays),
                        )
                    )
                self._memo[key] = blocks
        return self._memo[key]

    @property
    def has_votes(self) -> np.ndarray:
        """Boolean (n,): whether any source votes on the row."""
        return np.diff(self.indicator.indptr) > 0

    def source_firing(self) -> sp.csr_matrix:
        """(n, m) 0/1: which sources vote on each row (the indicator with classes summed out)."""
        return sp.csr_matrix(
            (
                np.ones(self.indicator.nnz),
                self.indicator.indices // self.cardinality,
                self.indicator.indptr,
            ),
            shape=(self.n_rows, self.n_sources),
        )

    def vote_shares(self, fill: np.ndarray, first_class: int = 0) -> np.ndarray:
        """Each row's share of its votes per class, classes ``first_class``..k-1.

        Shape (n, k - first_class); rows without votes get ``fill[first_class:]``.
        """
        counts = self.dot(self.class_projection()[:, first_class:])
        totals = np.diff(self.indicator.indptr).astype(np.float64)
        shares = counts / np.maximum(totals, 1.0)[:, None]
        shares[totals == 0] = fill[first_class:]
        return shares

    def class_projection(self) -> np.ndarray:
        """The (m * k, k) matrix summing the indicator's columns class by class."""
        return np.tile(np.eye(self.cardinality), (self.n_sources, 1))

    def source_class_counts(self) -> np.ndarray:
        """Number of votes per source and class (weighted), shape (m, k), read-only."""
        key = ("source_class_counts",)
        if key not in self._memo:
            weights = np.ones(self.n_rows) if self.row_weights is None else self.row_weights
            totals = self.transpose_dot(weights).reshape(self.n_sources, -1)
            totals.setflags(write=False)
            self._memo[key] = totals
        return self._memo[key]

    def mostly_multi_class_voters(self) -> bool:
        """Whether at least half of all votes come from sources that vote for several classes.

        Such sources (crowd workers, classifiers) tell their accuracy by agreeing with each
        other; sources that vote one class only (keyword and regex LFs) by *when* they vote.
        """
        per_source = self.source_class_counts()
        multi = (per_source > 0).sum(axis=1) >= 2
        total = per_source.sum()
        return bool(total > 0 and per_source[multi].sum() >= 0.5 * total)

    def expected_counts(self, posteriors: np.ndarray) -> np.ndarray:
        """``counts[j, v, c]``: expected number of rows of class c on which source j votes v."""
        flat = self.transpose_dot(self.weighted(posteriors))
        return flat.reshape(self.n_sources, self.cardinality, posteriors.shape[1])

    def scores(self, weights: np.ndarray, bias: np.ndarray) -> np.ndarray:
        """Log-linear scores ``bias[c] + sum_j weights[j, v_ij, c]``, shape (n, k)."""
        flat = np.ascontiguousarray(weights.reshape(self.n_sources * self.cardinality, -1))
        return self.dot(flat) + bias

    def co_votes(self, columns: np.ndarray | None = None) -> np.ndarray:
        """Dense counts (weighted) of rows on which two (source, class) votes co-occur.

        Of every pair of the m * k indicator columns by default, shape (m * k, m * k); with
        ``columns`` (indicator column indices), of those columns only, in their order. A
        C-ordered array, whichever product counted it.
        """
        width = self.indicator.shape[1] if columns is None else len(columns)
        if self._uses_sparse_gram(width):
            blocks = self._sparse_grams(columns)
            # C order, as the dense blocks give: later sums over the gram follow its layout.
            gram = blocks[0].toarray()
            step = max(1, VOTE_CELLS // max(width, 1))
            for block in blocks[1:]:
                # Added into the dense result a few rows at a time: summing sparse grams of
                # thousands of columns costs more than the products (1.8 s at 3,000 keyword
                # LFs), and a dense copy of each would double the memory.
                for start in range(0, width, step):
                    gram[start : start + step] += block[start : start + step].toarray()
            return gram
        # float32 blocks hold exact counts (< 2**24 rows per block).
        step = min(_CHUNK_ROWS, max(1, (1 << 22) // max(width, 1)))

        def gram_of(first: int, last: int, rows: sp.csr_matrix) -> np.ndarray:
            if columns is not None:
                rows = rows[:, columns]
            gram = np.zeros((width, width))
            # One dense work array per block, refilled chunk by chunk (fresh memory for each
            # chunk cost more in page faults than the products).
            dense = np.empty((min(step, last - first), width), dtype=np.float32)
            for start in range(0, last - first, step):
                stop = min(start + step, last - first)
                block = _dense_rows(rows, start, stop, dense[: stop - start])
                if self.row_weights is None:
                    gram += block.T @ block
                else:
                    weights = self.row_weights[first + start : first + stop, None]
                    gram += block.T.astype(np.float64) @ (block * weights)
            return gram

        return functools.reduce(np.add, self.map_rows(gram_of))

    def sparse_co_votes(self, columns: np.ndarray | None = None) -> sp.csr_matrix:
        """:meth:`co_votes` as a CSR matrix (sorted indices, no stored zeros), the same counts.

        When the votes are sparse enough for the sparse product (thousands of columns, or few
        votes a row), no dense (width, width) array is made: 5,000 crowd workers over 5 classes
        vote 25,000 (source, class) pairs, whose dense co-votes take 5 GB.
        """
        width = self.indicator.shape[1] if columns is None else len(columns)
        if not self._uses_sparse_gram(width):
            return sp.csr_matrix(self.co_votes(columns))
        gram = functools.reduce(lambda total, block: total + block, self._sparse_grams(columns))
        gram.eliminate_zeros()
        gram.sort_indices()
        return gram

    def _uses_sparse_gram(self, width: int) -> bool:
        return width > _DENSE_GRAM_MAX_COLUMNS or self._sparse_gram_is_cheaper(width)

    def _sparse_grams(self, columns: np.ndarray | None) -> list[sp.csr_matrix]:
        """Co-votes of ``columns`` (every column when None) on each row block, as CSR."""

        def sparse_gram_of(first: int, last: int, rows: sp.csr_matrix) -> sp.csr_matrix:
            if columns is not None:
                rows = rows[:, columns]
            scaled = rows
            if self.row_weights is not None:
                scaled = sp.csr_matrix(sp.diags(self.row_weights[first:last]) @ rows)
            return sp.csr_matrix(rows.T @ scaled, dtype=np.float64)

        return self.map_rows(sparse_gram_of)

    def _sparse_gram_is_cheaper(self, width: int) -> bool:
        """Whether the sparse product beats dense blocks for a gram of ``width`` columns.

        Dense blocks cost ``n * width**2`` multiply-adds whatever the votes; the sparse product
        costs the sum over rows of their votes squared, each about as dear as
        ``_SPARSE_GRAM_COST`` dense ones. On many classes the dense blocks are mostly zeros:
        300,000 rows by 50 sources over 20 classes (14 votes a row, 1,000 columns) took 7.6 s
        dense against 2.3 s sparse. Small grams stay dense (at most ``_DENSE_GRAM_MIN_WORK``).
        """
        dense_work = float(self.n_rows) * width * width
        if dense_work <= _DENSE_GRAM_MIN_WORK:
            return False
        per_row = np.diff(self.indicator.indptr).astype(np.float64)
        return dense_work > _SPARSE_GRAM_COST * float(per_row @ per_row)


def row_chunks(indptr: np.ndarray, per_vote: int) -> list[tuple[int, int]]:
    """Consecutive row ranges ``(start, stop)`` of a CSR matrix with ``indptr``, each holding
    at most :data:`VOTE_CELLS` cells when a vote takes ``per_vote`` cells (one row at least).

    Bounds the (votes x classes) temporaries of per-vote computations: rows of many votes over
    many classes (1,000 keyword LFs over 100 classes) get small chunks, small data one chunk.

    Examples
    --------
    >>> row_chunks(np.array([0, 2, 4, 6]), VOTE_CELLS // 4)
    [(0, 2), (2, 3)]
    """
    cells = indptr.astype(np.int64) * per_vote
    starts, start, rows = [], 0, indptr.size - 1
    while start < rows:
        stop = int(np.searchsorted(cells, cells[start] + VOTE_CELLS, side="right")) - 1
        stop = min(max(stop, start + 1), rows, start + _CHUNK_ROWS_MAX)
        starts.append((start, stop))
        start = stop
    return starts


def _dense_rows(matrix: sp.csr_matrix, start: int, stop: int, out: np.ndarray) -> np.ndarray:
    """Rows ``start:stop`` of a CSR matrix without duplicate entries, densely, in ``out``.

    ``out`` (shape (stop - start, columns)) is overwritten and returned.
    """
    out.fill(0.0)
    low, high = matrix.indptr[start], matrix.indptr[stop]
    per_row = np.diff(matrix.indptr[start : stop + 1])
    flat = np.repeat(np.arange(stop - start) * out.shape[1], per_row)
    flat += matrix.indices[low:high]
    out.reshape(-1)[flat] = matrix.data[low:high]
    return out


@functools.cache
def _pool() -> ThreadPoolExecutor:
    """The threads sparse products of large indicators run on (created on first use)."""
    return ThreadPoolExecutor(_PRODUCT_THREADS, thread_name_prefix="gristmill-votes")


# A forked child (multiprocessing, Dask's process workers) inherits the pool but not its
# threads: it starts a pool of its own.
os.register_at_fork(after_in_child=_pool.cache_clear)


def infer_cardinality(L: Any) -> int:
    """Return 1 + the largest class voted in any accepted label-matrix form (0 when none).

    Raises
    ------
    DataError
        When the matrix is not 2-D, holds a NaN or infinity, or votes a class of
        :data:`MAX_CLASSES` or more (naming the labeling function and the vote).
    """
    if sp.issparse(L):
        matrix = sp.csr_matrix(L)
        if matrix.nnz and not np.all(np.isfinite(matrix.data)):
            _raise_not_integral(matrix, ~np.isfinite(matrix.data), None)
        top = int(matrix.data.max()) if matrix.nnz else 0
        if top > MAX_CLASSES:
            j = int(matrix.indices[np.argmax(matrix.data)])
            _raise_too_many_classes(_name(j, None), top - 1)
        return top
    L = as_label_input(L)
    lf_names = L.lf_names if isinstance(L, LabelMatrix) else None
    values = L.values if isinstance(L, LabelMatrix) else np.asarray(L)
    if values.ndim != 2:
        raise DataError(f"A label matrix must be 2-D; got shape {values.shape}")
    if not values.size:
        return 0
    if values.dtype.kind not in "iubf":
        check_integral(values, lf_names)  # raises: strings, objects are no votes
    top = values.max()
    if not np.isfinite(top):
        check_integral(values)  # raises, naming the first NaN or infinity
    if top >= MAX_CLASSES:
        high = values.max(axis=0)
        j = int(np.argmax(high >= MAX_CLASSES))
        _raise_too_many_classes(_name(j, lf_names), high[j])
    return int(top) + 1


def _raise_too_many_classes(source: str, vote: Any) -> NoReturn:
    vote = int(vote) if float(vote).is_integer() else vote
    raise DataError(
        f"{source} votes class {vote}, but a label model takes at most {MAX_CLASSES} classes "
        f"(0..{MAX_CLASSES - 1}); votes are class indices, or -1 to abstain"
    )


def to_votes(L: Any, cardinality: int, *, n_sources: int | None = None) -> Votes:
    """Validate a label matrix and build its :class:`Votes`.

    Parameters
    ----------
    L : LabelMatrix, DataFrame, numpy array or scipy.sparse matrix
        Votes; ``-1`` abstains in dense forms, ``class + 1`` with implicit zeros in sparse form.
    cardinality : int
        Number of classes k; every vote must be below it.
    n_sources : int, optional
        Expected number of columns (the number the model was fit on).

    Raises
    ------
    DataError
        When the matrix is not 2-D, holds non-integer values, values below -1, votes >= k, or has
        the wrong number of columns.
    """
    L = as_label_input(L)
    lf_names = L.lf_names if isinstance(L, LabelMatrix) else None
    if sp.issparse(L):
        indicator, shape = _indicator_from_sparse(L, cardinality, lf_names)
    else:
        values = L.values if isinstance(L, LabelMatrix) else np.asarray(L)
        indicator, shape = _indicator_from_dense(values, cardinality, lf_names)
    if n_sources is not None and shape[1] != n_sources:
        raise DataError(
            f"The label matrix has {shape[1]} columns (labeling functions) but the label model "
            f"was fit on {n_sources}"
        )
    return Votes(indicator, shape[0], shape[1], cardinality, lf_names)


def _name(j: int, lf_names: tuple[str, ...] | None) -> str:
    return f"labeling function {lf_names[j]!r}" if lf_names else f"column {j}"


def _indicator_from_sparse(
    L: Any, k: int, lf_names: tuple[str, ...] | None
) -> tuple[sp.csr_matrix, tuple[int, int]]:
    matrix = as_sparse_labels(L).copy()
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    n, m = matrix.shape
    if matrix.nnz:
        if not np.issubdtype(matrix.data.dtype, np.integer):
            with np.errstate(invalid="ignore"):
                fractional = np.mod(matrix.data, 1) != 0  # NaN and infinities give NaN
            if fractional.any():
                _raise_not_integral(matrix, fractional, lf_names)
        too_big = matrix.data > k
        if too_big.any():
            j = int(matrix.indices[np.argmax(too_big)])
            raise DataError(
                f"{_name(j, lf_names)} votes class {int(matrix.data[too_big].max()) - 1}, but the "
                f"label model has cardinality {k} (classes 0..{k - 1})"
            )
    indices = matrix.indices.astype(np.int64) * k + matrix.data.astype(np.int64) - 1
    indicator = sp.csr_matrix(
        (np.ones(matrix.nnz), indices.astype(np.int32), matrix.indptr.copy()), shape=(n, m * k)
    )
    return indicator, (n, m)


def _raise_not_integral(
    matrix: sp.csr_matrix, bad: np.ndarray, lf_names: tuple[str, ...] | None
) -> NoReturn:
    """Raise the error naming the column and row of the first stored value flagged ``bad``."""
    position = int(np.argmax(bad))
    row = int(np.searchsorted(matrix.indptr, position, side="right")) - 1
    raise DataError(
        f"{_name(int(matrix.indices[position]), lf_names)} holds "
        f"{float(matrix.data[position])!r} at row {row}; a sparse label matrix holds integers "
        "(class + 1, abstains are implicit zeros)"
    )


def _indicator_from_dense(
    values: np.ndarray, k: int, lf_names: tuple[str, ...] | None
) -> tuple[sp.csr_matrix, tuple[int, int]]:
    if values.ndim != 2:
        raise DataError(f"A label matrix must be 2-D; got shape {values.shape}")
    check_integral(values, lf_names)
    n, m = values.shape
    if values.dtype.kind == "f" and values.size and (values.min() < -1 or values.max() >= k):
        _raise_out_of_range(values, k, lf_names)  # before casting values that may not fit
    code_type = _code_type(m, k)
    offsets = (np.arange(m, dtype=code_type) * k)[None, :]
    count_type = np.uint8 if m <= np.iinfo(np.uint8).max else np.int64
    step = max(1, _DENSE_CHUNK_CELLS // max(m, 1))

    # Each thread reuses its chunk-sized work arrays: fresh memory costs a page fault per page,
    # as much as the conversion itself.
    work = threading.local()

    def convert(start: int) -> tuple[np.ndarray, np.ndarray, Any, Any]:
        block = np.asarray(values[start : start + step])
        if getattr(work, "shape", None) != block.shape:
            work.shape = block.shape
            work.voted = np.empty(block.shape, dtype=bool)
            work.codes = np.empty(block.shape, dtype=code_type)
        voted, codes = work.voted, work.codes
        np.greater_equal(block, 0, out=voted)
        # einsum sums the 1-byte flags in a narrow integer type, several times faster than
        # count_nonzero along rows; np.compress on the flat arrays is several times faster
        # than boolean indexing. The range is checked on the chunk while it is in cache.
        counts = np.einsum("ij->i", voted.view(np.uint8), dtype=count_type)
        # uint64 votes add in float64: one too large for the codes is reported below (after
        # the range check), not warned about by the cast.
        with np.errstate(invalid="ignore", over="ignore"):
            np.add(block, offsets, out=codes, casting="unsafe")
        low, high = (block.min(), block.max()) if block.size else (0, 0)
        return counts, np.compress(voted.ravel(), codes.ravel()), low, high

    starts = range(0, n, step)
    parts = _on_pool(convert, starts)
    if parts and (min(p[2] for p in parts) < -1 or max(p[3] for p in parts) >= k):
        _raise_out_of_range(values, k, lf_names)
    row_counts = np.concatenate([counts for counts, *_ in parts]) if parts else np.zeros(0)
    sizes = [codes.size for _, codes, *_ in parts]
    nnz = int(sum(sizes))
    index_dtype = np.int32 if nnz < np.iinfo(np.int32).max else np.int64
    indptr = np.zeros(n + 1, dtype=index_dtype)
    np.cumsum(row_counts, out=indptr[1:])
    indices = np.empty(nnz, dtype=np.int32)
    data = np.empty(nnz)
    ends = np.cumsum(sizes, dtype=np.int64)

    def place(part: int) -> None:
        start, stop = int(ends[part]) - sizes[part], int(ends[part])
        indices[start:stop] = parts[part][1]
        data[start:stop] = 1.0

    _on_pool(place, range(len(parts)))
    indicator = sp.csr_matrix((data, indices, indptr), shape=(n, m * k))
    return indicator, (n, m)


def _code_type(m: int, k: int) -> type[np.signedinteger[Any]]:
    """The narrowest integer type of the column index j * k + v of every vote (int32 at most).

    Raises
    ------
    DataError
        When m * k does not fit in int32, the index type of the indicator.
    """
    for kind in (np.int8, np.int16, np.int32):
        if m * k <= np.iinfo(kind).max:
            return kind
    raise DataError(
        f"The label matrix has {m} labeling functions and {k} classes: {m * k} (labeling "
        f"function, class) pairs, more than the {np.iinfo(np.int32).max} a label model indexes"
    )


def _on_pool(function: Callable[[Any], Any], items: Sequence[Any]) -> list[Any]:
    """``function`` over ``items`` in order, on the product threads when there are several.

    scipy's sparse products and numpy's loops release the GIL, so the items run in parallel.
    """
    return list(_pool().map(function, items)) if len(items) > 1 else list(map(function, items))


def _raise_out_of_range(values: np.ndarray, k: int, lf_names: tuple[str, ...] | None) -> None:
    """Raise the error naming the first column that votes below -1 or a class >= k."""
    low = values.min(axis=0)
    high = values.max(axis=0)
    if (low < -1).any():
        j = int(np.argmax(low < -1))
        raise DataError(f"{_name(j, lf_names)} holds {int(low[j])}; votes must be >= -1")
    j = int(np.argmax(high >= k))
    raise DataError(
        f"{_name(j, lf_names)} votes class {int(high[j])}, but the label model has "
        f"cardinality {k} (classes 0..{k - 1})"
    )
