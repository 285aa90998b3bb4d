"""The label matrix: one row per data point, one column per labeling function, -1 = abstain."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from numbers import Number
from pathlib import Path
from typing import Any, NoReturn

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from gristmill.exceptions import DataError, LFError
from gristmill.io import atomic_path

ABSTAIN = -1
"""The vote of a labeling function that does not label a row."""

MAX_CLASS = np.iinfo(np.int32).max
"""The largest class index a vote may hold."""

_META_KEY = b"gristmill.label_matrix"
# Cells of a dense matrix converted to sparse per step; bounds the temporaries.
_SPARSE_CHUNK_CELLS = 1 << 20


def compact_label_dtype(max_label: int) -> np.dtype[Any]:
    """Smallest signed integer dtype that holds labels ``-1 .. max_label``.

    Examples
    --------
    >>> compact_label_dtype(5)
    dtype('int8')
    >>> compact_label_dtype(300)
    dtype('int16')
    """
    for dtype in (np.int8, np.int16, np.int32):
        if max_label <= np.iinfo(dtype).max:
            return np.dtype(dtype)
    return np.dtype(np.int64)


def describe_row(label: Any) -> str:
    """How an error message names a row: its index label, as the user wrote it.

    A numpy number or string, also within a MultiIndex label, is shown as its Python value
    (``7``, not ``np.int64(7)``).

    Examples
    --------
    >>> describe_row(np.int64(7)), describe_row("a"), describe_row(("doc", np.int64(2)))
    ('7', "'a'", "('doc', 2)")
    """
    if isinstance(label, tuple):
        return repr(tuple(_plain(part) for part in label))
    return repr(_plain(label))


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.number | np.bool_ | np.str_) else value


class LabelMatrix:
    """Votes of m labeling functions on n rows: an (n, m) integer matrix, ``-1`` = abstain.

    Stored in the smallest integer dtype that holds the classes (``int8`` up to 127 classes), so
    10 million rows by 20 functions take 200 MB.

    Parameters
    ----------
    values : array-like of shape (n, m)
        Integer votes; ``-1`` (:data:`ABSTAIN`) where a function abstains.
    lf_names : sequence of str
        One unique name per column.
    index : pandas.Index, optional
        Labels of the rows (defaults to ``RangeIndex(n)``).

    Raises
    ------
    LFError
        When names are not unique or do not match the number of columns.
    DataError
        When values are not integers >= -1.

    Examples
    --------
    >>> L = LabelMatrix([[0, -1], [1, 1]], ["a", "b"])
    >>> L.shape, L.values.dtype
    ((2, 2), dtype('int8'))
    >>> L.to_sparse().toarray()
    array([[1, 0],
           [2, 2]], dtype=int8)
    """

    __slots__ = ("_values", "_lf_names", "_index", "_failures")

    def __init__(
        self,
        values: Any,
        lf_names: Sequence[str],
        *,
        index: pd.Index | None = None,
    ) -> None:
        array = np.asarray(values)
        if array.ndim != 2:
            raise DataError(f"A label matrix must be 2-D; got shape {array.shape}")
        names = tuple(str(name) for name in lf_names)
        if len(names) != array.shape[1]:
            raise LFError(f"Got {len(names)} LF names for a matrix with {array.shape[1]} columns")
        _check_unique_names(names)
        check_integral(array, names, index)
        _check_range(array, names, index)
        max_label = int(array.max()) if array.size else 0
        self._values = np.ascontiguousarray(array, dtype=compact_label_dtype(max_label))
        self._lf_names = names
        if index is not None and len(index) != array.shape[0]:
            raise DataError(f"Index of length {len(index)} for a matrix with {array.shape[0]} rows")
        self._index = index
        self._failures: dict[str, int] = {}

    @property
    def values(self) -> np.ndarray:
        """The (n, m) compact integer array (read it, do not modify it in place)."""
        return self._values

    @property
    def lf_names(self) -> tuple[str, ...]:
        """Names of the labeling functions, one per column."""
        return self._lf_names

    @property
    def index(self) -> pd.Index:
        """Row labels."""
        return self._index if self._index is not None else pd.RangeIndex(self._values.shape[0])

    @property
    def failures(self) -> dict[str, int]:
        """Rows on which each LF raised and abstained (``apply_lfs(on_error="abstain")``).

        Empty when no LF failed; not saved by :meth:`to_parquet`.
        """
        return dict(self._failures)

    @property
    def shape(self) -> tuple[int, int]:
        """``(n_rows, n_lfs)``."""
        return (int(self._values.shape[0]), int(self._values.shape[1]))

    @property
    def nbytes(self) -> int:
        """Bytes held by the vote array."""
        return int(self._values.nbytes)

    def __len__(self) -> int:
        return int(self._values.shape[0])

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        return self._values if dtype is None else self._values.astype(dtype)

    def __repr__(self) -> str:
        names = list(self._lf_names)
        return f"LabelMatrix(shape={self.shape}, dtype={self._values.dtype}, lfs={names})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LabelMatrix):
            _refuse_elementwise(other, "==")
            return NotImplemented
        return self._lf_names == other._lf_names and np.array_equal(self._values, other._values)

    def __ne__(self, other: object) -> bool:
        if not isinstance(other, LabelMatrix):
            _refuse_elementwise(other, "!=")
            return NotImplemented
        return not self == other

    def __getitem__(self, key: Any) -> NoReturn:
        # Snorkel's appliers return an ndarray, so ported code indexes L[:, j].
        raise TypeError(
            "A LabelMatrix is not indexed like an array: index its votes, L.values[...] (a "
            "numpy array), take one LF's with L.column(name), or rows with "
            "LabelMatrix.from_frame(L.to_frame().iloc[rows])"
        )

    __hash__ = None  # type: ignore[assignment]

    def to_numpy(self, dtype: Any = None) -> np.ndarray:
        """Return the votes as a numpy array (a copy when ``dtype`` differs)."""
        return self._values if dtype is None else self._values.astype(dtype)

    def to_sparse(self) -> sp.csr_matrix:
        """Return a CSR matrix holding ``class + 1``; abstains are the implicit zeros.

        This is the sparse convention every gristmill label model accepts.
        """
        return _shift_to_sparse(self._values)

    def to_frame(self) -> pd.DataFrame:
        """Return a DataFrame with one column per labeling function."""
        return pd.DataFrame(self._values, columns=list(self._lf_names), index=self.index)

    def column(self, lf_name: str) -> np.ndarray:
        """Votes of one labeling function.

        Raises
        ------
        LFError
            When the matrix has no LF of that name (the message lists those it has).
        """
        try:
            return self._values[:, self._lf_names.index(lf_name)]
        except ValueError:
            raise LFError(
                f"No labeling function named {lf_name!r}; the matrix has {list(self._lf_names)}",
                lf_name=lf_name,
            ) from None

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> LabelMatrix:
        """Build from a DataFrame of votes, one column per labeling function (named by it).

        Columns may have numpy or pandas' nullable numeric dtypes; a missing vote is an error
        (abstain with -1), not an abstain.

        Raises
        ------
        DataError
            Naming the column (and row) of a non-numeric column, a missing vote or a vote that is
            not an integer.
        """
        names = [str(column) for column in frame.columns]
        for j, dtype in enumerate(frame.dtypes):
            if not pd.api.types.is_numeric_dtype(dtype):
                raise DataError(
                    f"column {names[j]!r} holds {dtype} values; a label matrix holds one column "
                    "of integer votes per labeling function (a class index, or -1 to abstain)"
                )
        if all(isinstance(dtype, np.dtype) for dtype in frame.dtypes):
            # pandas makes one object array of bool and number columns; votes need a number type.
            kinds = [np.dtype(np.int8) if d.kind == "b" else d for d in frame.dtypes]
            values = frame.to_numpy(dtype=np.result_type(*kinds) if kinds else None)
        else:
            missing = frame.isna().to_numpy()
            if missing.any():
                row, column = np.unravel_index(np.argmax(missing), missing.shape)
                raise DataError(
                    f"labeling function {names[column]!r} has a missing vote at row "
                    f"{describe_row(frame.index[row])}; abstain with -1"
                )
            values = frame.to_numpy(dtype=np.float64)
        return cls(values, names, index=frame.index)

    @classmethod
    def from_sparse(cls, matrix: sp.spmatrix, lf_names: Sequence[str]) -> LabelMatrix:
        """Build from a sparse matrix holding ``class + 1`` (implicit zero = abstain)."""
        return cls(_shift_from_sparse(matrix), lf_names)

    def to_parquet(self, path: str | os.PathLike[str]) -> Path:
        """Save atomically as Parquet: one int column per LF, and the row index unless it is
        ``0..n-1`` (any index pandas can store: strings, dates, a MultiIndex).

        Raises
        ------
        DataError
            When the row index cannot be stored (e.g. it mixes numbers and strings).
        """
        frame = pd.DataFrame(
            {name: self._values[:, j] for j, name in enumerate(self._lf_names)},
            index=None if self._index is None else self._index,
        )
        keep_index = not _is_positional(self.index)
        try:
            table = pa.Table.from_pandas(frame, preserve_index=keep_index)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise DataError(
                f"{path}: the label matrix's row index cannot be saved as Parquet ({exc}); "
                "give it one type per level (e.g. index.astype(str)) or reset_index()"
            ) from None
        meta = {"lf_names": list(self._lf_names), "has_index": "pandas" if keep_index else False}
        table = table.replace_schema_metadata(
            {**(table.schema.metadata or {}), _META_KEY: json.dumps(meta).encode()}
        )
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp)
        return Path(path)

    @classmethod
    def from_parquet(
        cls, path: str | os.PathLike[str], *, exclude: Sequence[str] = ()
    ) -> LabelMatrix:
        """Load a matrix saved by :meth:`to_parquet`, or any Parquet table of votes.

        A table written elsewhere (pandas, Spark, Snorkel's L as a frame) is read with one LF
        per column, named by it, except ``__row__`` (the row labels) and the columns in
        ``exclude`` (e.g. a gold-label column).

        Raises
        ------
        DataError
            When the file is missing or not Parquet, or (naming the column and row) when a
            column holds something other than integer votes.
        """
        path = Path(path)
        if not path.exists():
            raise DataError(f"{path}: no such file")
        try:
            table = pq.read_table(path)
        except (OSError, pa.ArrowInvalid) as exc:
            raise DataError(f"{path}: not a Parquet file: {exc}") from exc
        raw = (table.schema.metadata or {}).get(_META_KEY)
        if raw is None:
            frame = table.to_pandas()
            if "__row__" in frame.columns:
                frame = frame.set_index("__row__")
                frame.index.name = None
            frame = frame.drop(columns=[c for c in exclude if c in frame.columns])
            try:
                return cls.from_frame(frame)
            except DataError as exc:
                raise DataError(f"{path}: {exc}") from None
        names, has_index = _read_meta(path, raw, table.column_names)
        if not names:
            values = np.empty((table.num_rows, 0), dtype=np.int8)
        else:
            values = np.column_stack([table.column(n).to_numpy() for n in names])
        index = None
        if has_index == "pandas":
            index = table.drop_columns(names).to_pandas().index
        elif has_index:  # files written before the pandas index: a __row__ column
            index = pd.Index(table.column("__row__").to_numpy())
        return cls(values, names, index=index)


def _refuse_elementwise(other: object, operator: str) -> None:
    """Raise TypeError for ``L == -1`` and the like, which Python would answer with one bool.

    Snorkel's label matrices are ndarrays, compared element by element; a LabelMatrix compares
    as a whole with another, so ``(L != -1).sum()`` would silently count a single True.
    """
    if isinstance(other, Number | np.generic):
        operand = repr(_plain(other))
    elif isinstance(other, np.ndarray):
        operand = "array"
    else:
        return
    raise TypeError(
        f"A LabelMatrix is compared with {operator} as a whole, to another LabelMatrix; compare "
        f"its votes element by element on L.values (a numpy array): L.values {operator} {operand}"
    )


def _is_positional(index: pd.Index) -> bool:
    """Whether ``index`` is ``0..n-1`` as a RangeIndex, which a saved matrix leaves out."""
    return isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1


def _read_meta(path: Path, raw: bytes, columns: list[str]) -> tuple[list[str], Any]:
    """The LF names and index flag a saved matrix records, checked against its columns."""
    try:
        meta = json.loads(raw)
        names = [str(name) for name in meta["lf_names"]]
        has_index = meta.get("has_index", False)
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(
            f"{path}: its gristmill label-matrix metadata is damaged ({type(exc).__name__}: "
            f"{exc}); save the matrix again"
        ) from None
    missing = [name for name in names if name not in columns]
    if missing or (has_index is True and "__row__" not in columns):
        lacking = missing or ["__row__"]
        raise DataError(
            f"{path}: its metadata names column(s) {lacking} the file does not have (was it "
            "edited after LabelMatrix.to_parquet?)"
        )
    return names, has_index


def _check_range(values: np.ndarray, lf_names: Sequence[str], index: pd.Index | None) -> None:
    """Raise unless every vote is -1 (abstain) or a class index up to ``MAX_CLASS``."""
    if not values.size:
        return
    if values.min() >= ABSTAIN and values.max() <= MAX_CLASS:
        return
    bad = (values < ABSTAIN) | (values > MAX_CLASS)
    row, column = (int(i) for i in np.unravel_index(np.argmax(bad), bad.shape))
    label = row if index is None else index[row]
    raise DataError(
        f"labeling function {lf_names[column]!r} votes {values[row, column].item()!r} at row "
        f"{describe_row(label)}; votes must be -1 (abstain) or a class index 0..{MAX_CLASS}"
    )


def _shift_from_sparse(matrix: sp.spmatrix) -> np.ndarray:
    """Dense votes (``-1`` = abstain) of a sparse matrix holding ``class + 1``.

    The dense array is filled from the stored entries in the smallest integer dtype that holds
    the votes: no (n, m) temporary wider than the result (a crowd matrix of 200,000 rows by
    5,000 workers is 1 GB as int8, 8 GB as int64). Stored values that are not whole numbers,
    or too large for a class, come back as floats, for :class:`LabelMatrix` to name the
    labeling function and row at fault.
    """
    matrix = sp.csr_matrix(matrix, copy=True)
    if matrix.nnz and matrix.data.min() < 0:
        raise DataError(
            "A sparse label matrix holds class + 1 with abstains as implicit zeros; found "
            f"the negative value {matrix.data.min().item()!r}"
        )
    matrix.sum_duplicates()  # as toarray() adds them
    data = matrix.data
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    if data.dtype.kind not in "iub" and data.size:
        with np.errstate(invalid="ignore"):
            whole = bool(np.all(np.mod(data, 1) == 0))  # NaN and infinities give NaN
        if not whole or data.max() > MAX_CLASS + 1:
            votes = np.full(matrix.shape, float(ABSTAIN))
            votes[rows, matrix.indices] = data - 1.0
            return votes
    shifted = data.astype(np.int64) - 1
    top = int(shifted.max()) if shifted.size else 0
    votes = np.full(matrix.shape, ABSTAIN, dtype=compact_label_dtype(max(top, 0)))
    votes[rows, matrix.indices] = shifted
    return votes


def check_integral(
    values: np.ndarray, lf_names: Sequence[str] | None = None, index: pd.Index | None = None
) -> None:
    """Raise unless every vote is an integer (NaN and infinities included).

    Parameters
    ----------
    values : ndarray of shape (n, m)
        Votes.
    lf_names : sequence of str, optional
        Names of the columns, for the message (``column j`` otherwise).
    index : pandas.Index, optional
        Labels of the rows, for the message (positions otherwise).

    Raises
    ------
    DataError
        Naming the labeling function and row of the first vote that is not an integer.
    """
    if not values.size or values.dtype.kind in "iub":
        return
    if values.dtype.kind != "f":
        raise DataError(
            f"Label matrix values must be integers (a class index, or -1 to abstain); got "
            f"dtype {values.dtype}"
        )
    with np.errstate(invalid="ignore"):
        bad = np.mod(values, 1) != 0  # NaN and infinities give NaN
    if bad.any():
        row, column = (int(i) for i in np.unravel_index(np.argmax(bad), bad.shape))
        where = f"labeling function {lf_names[column]!r}" if lf_names else f"column {column}"
        label = row if index is None else index[row]
        raise DataError(
            f"{where} holds {float(values[row, column])!r} at row {describe_row(label)}; votes "
            "must be integers (a class index, or -1 to abstain)"
        )


def as_label_input(L: Any) -> Any:
    """A DataFrame of votes as a :class:`LabelMatrix` named by its columns; others as they are."""
    return LabelMatrix.from_frame(L) if isinstance(L, pd.DataFrame) else L


def _check_unique_names(names: Sequence[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise LFError(f"LF names must be unique; {name!r} appears twice", lf_name=name)
        seen.add(name)


def lf_positions(names: Sequence[str], wanted: Sequence[str], context: str) -> list[int]:
    """Position in ``names`` of each LF of ``wanted``, which must name the same LFs.

    Raises
    ------
    DataError
        ``"<context>: missing [...], not fit on [...]"`` when the two hold different LFs:
        those of ``wanted`` absent from ``names``, and those of ``names`` absent from ``wanted``
        (a part with none is left out).
    """
    position = {name: j for j, name in enumerate(names)}
    wanted_set = set(wanted)
    missing = [name for name in wanted if name not in position]
    unknown = [name for name in names if name not in wanted_set]
    if missing or unknown:
        parts = [f"missing {missing}"] if missing else []
        parts += [f"not fit on {unknown}"] if unknown else []
        raise DataError(f"{context}: " + ", ".join(parts))
    return [position[name] for name in wanted]


def in_lf_order(L: Any, names: Sequence[str] | None, context: str) -> Any:
    """``L`` with its columns in the order of ``names`` when both name their LFs.

    Anything but a :class:`LabelMatrix`, or no ``names``, is returned as it is.

    Raises
    ------
    DataError
        When ``L`` names other LFs than ``names`` (the message starts with ``context``).
    """
    L = as_label_input(L)
    if not names or not isinstance(L, LabelMatrix) or list(L.lf_names) == list(names):
        return L
    columns = lf_positions(L.lf_names, names, context)
    return LabelMatrix(L.values[:, columns], list(names), index=L.index)


def as_label_array(L: Any) -> np.ndarray:
    """Return the votes of any accepted label-matrix form as a dense integer array.

    Accepts a :class:`LabelMatrix`, a numpy array (``-1`` = abstain), or a scipy sparse matrix in
    the ``class + 1`` convention of :meth:`LabelMatrix.to_sparse`.

    Raises
    ------
    DataError
        When the input is not 2-D or holds values below -1.
    """
    L = as_label_input(L)
    if isinstance(L, LabelMatrix):
        return L.values
    if sp.issparse(L):
        return LabelMatrix.from_sparse(L, [str(j) for j in range(L.shape[1])]).values
    array = np.asarray(L)
    if array.ndim != 2:
        raise DataError(f"A label matrix must be 2-D; got shape {array.shape}")
    return LabelMatrix(array, [f"lf_{j}" for j in range(array.shape[1])]).values


def as_sparse_labels(L: Any) -> sp.csr_matrix:
    """Return any accepted label-matrix form as CSR holding ``class + 1`` (zero = abstain)."""
    if sp.issparse(L):
        matrix = sp.csr_matrix(L)
        if matrix.nnz and matrix.data.min() < 0:
            raise DataError(
                "A sparse label matrix holds class + 1 with abstains as implicit zeros; "
                "found negative values"
            )
        return matrix
    return _shift_to_sparse(as_label_array(L))


def _shift_to_sparse(values: np.ndarray) -> sp.csr_matrix:
    """CSR holding ``class + 1`` of dense votes (``-1`` = abstain, which it leaves out).

    Built block of rows by block of rows, so that temporaries are proportional to a block and
    to the votes, never to a shifted copy of the whole matrix.
    """
    n_rows, n_lfs = values.shape
    dtype = compact_label_dtype(int(values.max()) + 1 if values.size else 1)
    step = max(1, _SPARSE_CHUNK_CELLS // max(n_lfs, 1))
    per_row, indices, data = [], [], []
    flags = np.empty(min(step, n_rows) * n_lfs, dtype=bool)  # reused by every block
    for start in range(0, n_rows, step):
        block = np.ascontiguousarray(values[start : start + step])
        voted = np.not_equal(block, ABSTAIN, out=flags[: block.size].reshape(block.shape))
        per_row.append(np.count_nonzero(voted, axis=1))
        # Row by row, columns ascending: CSR order. (flatnonzero is several times faster than
        # a 2-D nonzero.)
        cells = np.flatnonzero(voted)
        indices.append(cells % n_lfs)
        data.append(block.ravel()[cells].astype(dtype) + 1)
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    if n_rows:
        np.cumsum(np.concatenate(per_row), out=indptr[1:])
    return sp.csr_matrix(
        (
            np.concatenate(data) if data else np.zeros(0, dtype=dtype),
            np.concatenate(indices) if indices else np.zeros(0, dtype=np.int64),
            indptr,
        ),
        shape=(n_rows, n_lfs),
    )
