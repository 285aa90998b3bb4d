"""Partitioned tables: reading Dask DataFrames, writing one Parquet part atomically.

A Parquet table is split into partitions from its files' footers alone (no pass over the
data): each partition is a run of row groups of one file, and is indexed by the rows' numbers
in that file (from 1), or by the index the file stores (written by pandas or Dask), so an error
about a row names a row a user can find. A CSV file is
split by Dask into blocks of bytes, whose rows cannot be numbered in the file without reading
every earlier block: its partitions keep Dask's index, numbered from 0 within the partition, and
:func:`csv_row_offsets` reads every block (a second pass, for an error to name a row in its file).
Blocks are cut at line breaks, so a file with a line break inside a quoted field is not cut
(see :func:`read_dask_table`).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gristmill._extras import require
from gristmill.exceptions import DataError
from gristmill.io._files import (
    PARQUET_SUFFIXES,
    check_same_columns,
    is_hive_directory,
    table_files,
)
from gristmill.io._text_files import check_csv_header

__all__ = ["DASK_TABLE_SUFFIXES", "DaskTable", "read_dask_table", "write_parquet_part"]

DASK_TABLE_SUFFIXES = (".parquet", ".pq", ".csv", ".csv.gz")
"""Endings of the files the dask engine reads partition by partition (or a Parquet directory)."""

_CSV_SUFFIXES = (".csv", ".csv.gz")

# The column naming each row's file when CSV blocks are counted (a name no table uses).
_FILE_COLUMN = "__gristmill_file__"


@dataclass(frozen=True)
class DaskTable:
    """A table as a lazy Dask DataFrame, and how each partition's index names its rows.

    Attributes
    ----------
    frame : dask.dataframe.DataFrame
        The rows.
    partition_rows : tuple of str
        One phrase per partition, e.g. ``"rows of data/part.1.parquet numbered from 1"``, for
        errors that name a row by its index label.
    csv : str or None
        The CSV file or glob read, whose partitions number their rows from 0 within the
        partition (:func:`csv_row_offsets` places them in their files); None for Parquet.
    """

    frame: Any
    partition_rows: tuple[str, ...]
    csv: str | None = None


@dataclass(frozen=True)
class _ParquetPiece:
    """Consecutive row groups of one Parquet file, the first of them starting at ``first_row``
    (0-based), read as one partition indexed by the rows' numbers in the file (from 1), or by
    the index the file stores (``stored_index``)."""

    path: str
    row_groups: tuple[int, ...]
    first_row: int
    stored_index: bool

    def describe(self) -> str:
        numbering = "named by its stored index" if self.stored_index else "numbered from 1"
        return f"rows of {self.path} {numbering}"


def read_dask_table(
    path: str | os.PathLike[str],
    *,
    blocksize: int = 256 * 2**20,
    csv_blocksize: int | None = None,
) -> DaskTable:
    """Read a Parquet or CSV table, a directory of Parquet parts or a glob, as a dask DataFrame.

    The files of a glob or directory are those :func:`~gristmill.io.table_files` lists, in its
    (natural) order, which :func:`~gristmill.io.read_table` reads too.

    Parameters
    ----------
    path : path-like
        A Parquet file, a directory of Parquet parts (files and folders starting with ``.`` or
        ``_`` are skipped), a glob of Parquet files, or a CSV file or glob.
    blocksize : int, default 256 MiB
        A Parquet file whose row groups hold more than twice this many bytes (uncompressed) is
        split into runs of row groups of at most this size, one partition each (as Dask's own
        reader does); a smaller file is one partition.
    csv_blocksize : int, optional
        CSV files are split into blocks of this many bytes (default: Dask's, 64 MiB or less
        on a small machine), each one partition, cut at line breaks. A line break within a
        quoted field would be cut there too, misreading the rows around it: when a file of
        more than one block holds one, every file is read whole, one partition each (found
        by a pass over the bytes of the files larger than a block, counting the quotes
        before each line break: RFC 4180 quoting is assumed, a quote character inside an
        unquoted field may make a file read whole needlessly). A compressed file is read whole.

    Returns
    -------
    DaskTable
        Partitions of Parquet files are indexed by the rows' numbers in their file, from 1
        (or by the index the file stores); those of CSV files by Dask, from 0 in each.

    Raises
    ------
    DataError
        When the format is not recognised, nothing matches, the files of a glob or directory
        do not have the first file's columns in its order, or a CSV file's header would be
        misread (none, a repeated name, another separator, a first row one field longer): as
        :func:`~gristmill.io.read_table` refuses them.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for i in range(2):
    ...     pd.DataFrame({"text": ["a", "b"]}).to_parquet(folder / f"part.{i}.parquet")
    >>> table = read_dask_table(folder)
    >>> table.frame.compute().index.tolist()
    [1, 2, 1, 2]
    >>> [rows.replace(str(folder), "data") for rows in table.partition_rows]
    ['rows of data/part.0.parquet numbered from 1', 'rows of data/part.1.parquet numbered from 1']
    """
    dd = require("dask.dataframe", extra="dask", feature="reading data with the dask engine")
    text = str(path)
    suffix = text.lower()  # DATA.CSV is a CSV file, as read_table reads it
    if Path(text).is_dir() or suffix.endswith(PARQUET_SUFFIXES):
        files = table_files(text)
        if is_hive_directory(text, files):
            # Its folders' names (key=value) are columns, which Dask's own reader adds.
            frame = dd.read_parquet(text)
            return DaskTable(frame, _by_block(frame, text, "named by the partition's index"))
        return _read_parquet(dd, text, [str(file) for file in files], blocksize)
    if suffix.endswith(_CSV_SUFFIXES):
        files = table_files(text)
        check_same_columns(text, [(file, check_csv_header(file, ",")) for file in files])
        frame = _read_csv(dd, files, csv_blocksize)
        numbering = "numbered from 0 within the partition"
        return DaskTable(frame, _by_block(frame, text, numbering), csv=text)
    raise DataError(
        f"{path}: the dask engine reads Parquet (a file, glob or directory of parts) or CSV; "
        "convert other formats first"
    )


def _by_block(frame: Any, text: str, numbering: str) -> tuple[str, ...]:
    n = frame.npartitions
    return tuple(f"rows of {text} in partition {i} of {n}, {numbering}" for i in range(n))


def _read_csv(dd: Any, files: Sequence[Path], blocksize: int | None, **kwargs: Any) -> Any:
    """The CSV files as one dask DataFrame, split into blocks unless that would cut a row."""
    return dd.read_csv(
        [str(f) for f in files], blocksize=_csv_blocksize(files, blocksize), **kwargs
    )


def _csv_blocksize(files: Sequence[Path], blocksize: int | None) -> int | None:
    """``blocksize`` (Dask's default when None), or None (every file whole) when the files are
    compressed or a file of more than one block holds a line break within a quoted field."""
    from dask.dataframe.io.csv import AUTO_BLOCKSIZE

    size = AUTO_BLOCKSIZE if blocksize is None else blocksize
    if any(file.name.lower().endswith(".gz") for file in files):
        return None
    if any(file.stat().st_size > size and _has_quoted_line_break(file) for file in files):
        return None
    return int(size)


def _has_quoted_line_break(path: Path, chunk: int = 2**20) -> bool:
    """Whether a line break of the CSV file ``path`` follows an odd number of quotes: lies
    within a quoted field. Read in chunks of ``chunk`` bytes; chunks without quotes are skipped
    at the speed of a byte search (about 150 MiB/s on chunks with quotes)."""
    inside = 0  # 1 while the quotes so far are odd in number
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            if not inside and b'"' not in block:
                continue
            data = np.frombuffer(block, dtype=np.uint8)
            quotes = np.flatnonzero(data == ord('"'))
            quotes_before = np.searchsorted(quotes, np.flatnonzero(data == ord("\n"))) + inside
            if np.any(quotes_before % 2):
                return True
            inside = (inside + len(quotes)) % 2
    return False


def csv_row_offsets(
    path: str | os.PathLike[str], *, csv_blocksize: int | None = None
) -> list[tuple[str, int]]:
    """Per partition of the CSV table ``read_dask_table(path)``: its file, and how many rows of
    that file come before it.

    The partition's rows are then the file's rows ``offset + 1`` onwards, numbered as
    :func:`pandas.read_csv` reads the file: from 1, the header not counted, a record spanning
    lines (a quoted newline) counted once, blank lines not counted. Every block is read again.

    Parameters
    ----------
    path : path-like
        The CSV file or glob given to :func:`read_dask_table`.
    csv_blocksize : int, optional
        The ``csv_blocksize`` given to :func:`read_dask_table`.

    Returns
    -------
    list of (str, int)
        One (file, offset) per partition, in order; an empty partition's file is ``""``.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for name, n in (("a", 3), ("b", 2)):
    ...     pd.DataFrame({"text": ["x"] * n}).to_csv(folder / f"{name}.csv", index=False)
    >>> [(pathlib.Path(file).name, offset) for file, offset in csv_row_offsets(folder / "*.csv")]
    [('a.csv', 0), ('b.csv', 0)]
    """
    dd = require("dask.dataframe", extra="dask", feature="reading data with the dask engine")
    # The same blocks as read_dask_table's (the blocks depend on the bytes alone); as text, so
    # that no block's values can fail to parse.
    frame = _read_csv(
        dd, table_files(path), csv_blocksize, dtype=str, include_path_column=_FILE_COLUMN
    )
    counts = (
        frame[[_FILE_COLUMN]]
        .map_partitions(_file_and_rows, meta={"file": object, "rows": "int64"})
        .compute()
    )
    offsets: list[tuple[str, int]] = []
    before: dict[str, int] = {}
    for file, rows in zip(counts["file"], counts["rows"], strict=True):
        offsets.append((file, before.get(file, 0)))
        before[file] = before.get(file, 0) + int(rows)
    return offsets


def _file_and_rows(part: pd.DataFrame) -> pd.DataFrame:
    file = str(part[_FILE_COLUMN].iloc[0]) if len(part) else ""
    return pd.DataFrame({"file": [file], "rows": [len(part)]})


def _pieces(path: str, blocksize: int) -> list[_ParquetPiece]:
    """A file's partitions, planned from its footer: runs of row groups of ``blocksize``."""
    import pyarrow.parquet as pq

    footer = pq.ParquetFile(path)
    metadata = footer.metadata
    pandas_metadata = footer.schema_arrow.pandas_metadata or {}
    stored_index = any(isinstance(c, str) for c in pandas_metadata.get("index_columns", []))
    groups = [metadata.row_group(g) for g in range(metadata.num_row_groups)]
    if sum(g.total_byte_size for g in groups) <= 2 * blocksize:
        return [_ParquetPiece(path, tuple(range(len(groups))), 0, stored_index)]
    pieces: list[_ParquetPiece] = []
    run: list[int] = []
    first_row = run_bytes = 0
    for g, group in enumerate(groups):
        if run and run_bytes + group.total_byte_size > blocksize:
            pieces.append(_ParquetPiece(path, tuple(run), first_row, stored_index))
            first_row += sum(groups[r].num_rows for r in run)
            run, run_bytes = [], 0
        run.append(g)
        run_bytes += group.total_byte_size
    pieces.append(_ParquetPiece(path, tuple(run), first_row, stored_index))
    return pieces


def _read_piece(piece: _ParquetPiece, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """One partition (runs on a worker); ``columns`` lets Dask read only the columns it needs."""
    import pyarrow.parquet as pq

    table = pq.ParquetFile(piece.path).read_row_groups(
        list(piece.row_groups),
        columns=None if columns is None else list(columns),
        use_pandas_metadata=True,
    )
    frame = table.to_pandas()
    if piece.stored_index:
        return frame
    start = piece.first_row + 1
    return frame.set_axis(pd.RangeIndex(start, start + len(frame)))


def _parquet_columns(path: str) -> list[str]:
    """The columns of a Parquet file as pandas reads them: without the index it stores."""
    import pyarrow.parquet as pq

    schema = pq.read_schema(path)
    index = (schema.pandas_metadata or {}).get("index_columns", [])
    return [name for name in schema.names if name not in index]


def _read_parquet(dd: Any, text: str, files: Sequence[str], blocksize: int) -> DaskTable:
    from dask.dataframe.utils import clear_known_categories

    check_same_columns(text, [(Path(file), _parquet_columns(file)) for file in files])
    pieces = [piece for file in files for piece in _pieces(file, blocksize)]
    # Reading no row group gives the columns and dtypes from the first footer alone.
    meta = _read_piece(_ParquetPiece(files[0], (), 0, pieces[0].stored_index))
    frame = dd.from_map(
        _read_piece, pieces, meta=clear_known_categories(meta), label="read-parquet"
    )
    return DaskTable(frame, tuple(piece.describe() for piece in pieces))


def write_parquet_part(frame: pd.DataFrame, target: str | os.PathLike[str]) -> None:
    """Write ``frame`` (with its index) to ``target`` through a hidden temporary file.

    The temporary name starts with a dot, so a part left half-written by a killed worker is
    ignored by Parquet dataset readers; the parent directory is not created (a writer that
    outlives a cancelled run must fail rather than recreate a removed staging directory).
    """
    final = Path(target)
    tmp = final.with_name(f".{final.name}.{uuid.uuid4().hex}.tmp")
    try:
        frame.to_parquet(tmp, index=True)
        os.replace(tmp, final)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
