"""Partitioned tables: reading Dask DataFrames, writing one Parquet part atomically.

A Parquet table is split into partitions from its files' footers alone (no pass over the
data): each partition is a run of row groups of one file, and is indexed by the rows' numbers
in that file (from 1), or by the index the file stores (written by pandas or Dask), so an error
about a row names a row a user can find. A CSV file is
split by Dask into blocks of bytes, whose rows cannot be numbered in the file without reading
every earlier block: its partitions keep Dask's index, numbered from 0 within the partition, and
:func:`csv_row_offsets` reads every block (a second pass, for an error to name a row in its file).
"""

from __future__ import annotations

import contextlib
import glob
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from gristmill._extras import require
from gristmill.exceptions import DataError

__all__ = ["DASK_TABLE_SUFFIXES", "DaskTable", "read_dask_table", "write_parquet_part"]

DASK_TABLE_SUFFIXES = (".parquet", ".pq", ".csv", ".csv.gz")
"""Endings of the files the dask engine reads partition by partition (or a Parquet directory)."""

_PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
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


def read_dask_table(path: str | os.PathLike[str], *, blocksize: int = 256 * 2**20) -> DaskTable:
    """Read a Parquet or CSV table, a directory of Parquet parts or a glob, as a dask DataFrame.

    Parameters
    ----------
    path : path-like
        A Parquet file, a directory of Parquet parts (files and folders starting with ``.`` or
        ``_`` are skipped), a glob of Parquet files, or a CSV file or glob.
    blocksize : int, default 256 MiB
        A Parquet file whose row groups hold more than twice this many bytes (uncompressed) is
        split into runs of row groups of at most this size, one partition each (as Dask's own
        reader does); a smaller file is one partition.

    Returns
    -------
    DaskTable
        Partitions of Parquet files are indexed by the rows' numbers in their file, from 1
        (or by the index the file stores); those of CSV files by Dask, from 0 in each.

    Raises
    ------
    DataError
        When the format is not recognised or no Parquet file matches.

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
    if Path(text).is_dir() or suffix.endswith(_PARQUET_SUFFIXES):
        files = _parquet_files(text)
        if _hive_style(text, files):
            # Its folders' names (key=value) are columns, which Dask's own reader adds.
            frame = dd.read_parquet(text)
            return DaskTable(frame, _by_block(frame, text, "named by the partition's index"))
        return _read_parquet(dd, files, blocksize)
    if suffix.endswith(_CSV_SUFFIXES):
        frame = dd.read_csv(text)
        numbering = "numbered from 0 within the partition"
        return DaskTable(frame, _by_block(frame, text, numbering), csv=text)
    raise DataError(
        f"{path}: the dask engine reads Parquet (a file, glob or directory of parts) or CSV; "
        "convert other formats first"
    )


def _by_block(frame: Any, text: str, numbering: str) -> tuple[str, ...]:
    n = frame.npartitions
    return tuple(f"rows of {text} in partition {i} of {n}, {numbering}" for i in range(n))


def csv_row_offsets(path: str | os.PathLike[str]) -> list[tuple[str, int]]:
    """Per partition of the CSV table ``read_dask_table(path)``: its file, and how many rows of
    that file come before it.

    The partition's rows are then the file's rows ``offset + 1`` onwards, numbered as
    :func:`pandas.read_csv` reads the file: from 1, the header not counted, a record spanning
    lines (a quoted newline) counted once, blank lines not counted. Every block is read again.

    Parameters
    ----------
    path : path-like
        The CSV file or glob given to :func:`read_dask_table`.

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
    frame = dd.read_csv(str(path), dtype=str, include_path_column=_FILE_COLUMN)
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


def _parquet_files(text: str) -> list[str]:
    """The Parquet files of a file, directory or glob, in Dask's (natural) order."""
    from dask.utils import natural_sort_key

    source = Path(text)
    if source.is_dir():
        files = [
            str(p)
            for p in source.rglob("*")
            if p.is_file()
            and p.name.lower().endswith(_PARQUET_SUFFIXES)
            and not any(part.startswith((".", "_")) for part in p.relative_to(source).parts)
        ]
    elif source.is_file():
        files = [text]
    else:
        files = glob.glob(text)
    if not files:
        raise DataError(f"{text}: no Parquet files (ending {', '.join(_PARQUET_SUFFIXES)})")
    return sorted(files, key=natural_sort_key)


def _hive_style(text: str, files: Sequence[str]) -> bool:
    source = Path(text)
    return source.is_dir() and any(
        "=" in part for file in files for part in Path(file).relative_to(source).parent.parts
    )


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


def _read_parquet(dd: Any, files: Sequence[str], blocksize: int) -> DaskTable:
    from dask.dataframe.utils import clear_known_categories

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
