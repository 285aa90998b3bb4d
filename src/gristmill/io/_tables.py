"""Table reading and writing by file extension, with errors that name the file."""

from __future__ import annotations

import codecs
import contextlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gristmill.exceptions import DataError
from gristmill.io._atomic import atomic_path
from gristmill.io._files import check_same_columns, is_hive_directory, table_files
from gristmill.io._text_files import header_names, not_utf8_message, read_text_table

TABLE_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".parq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}

#: Compressed files pandas could read, and the command that decompresses each.
_COMPRESSIONS = {
    ".gz": "gunzip -k",
    ".bz2": "bunzip2 -k",
    ".xz": "unxz -k",
    ".zst": "unzstd",
    ".zip": "unzip",
}


def table_format(path: str | os.PathLike[str]) -> str:
    """Return the table format (``csv``, ``tsv``, ``parquet`` or ``jsonl``) named by an extension.

    Raises
    ------
    DataError
        When the extension is not one gristmill reads.
    """
    suffix = Path(path).suffix.lower()
    try:
        return TABLE_FORMATS[suffix]
    except KeyError:
        known = ", ".join(sorted(TABLE_FORMATS))
        inner = Path(path).with_suffix("").suffix.lower()
        if suffix in _COMPRESSIONS and inner in TABLE_FORMATS:
            raise DataError(
                f"{path}: compressed tables are neither read nor written; use a {inner} file "
                f"(decompress one with {_COMPRESSIONS[suffix]})"
            ) from None
        raise DataError(
            f"{path}: unknown table format {suffix!r}; expected one of {known}"
        ) from None


def read_table(
    path: str | os.PathLike[str],
    *,
    columns: list[str] | None = None,
    as_strings: bool = False,
) -> pd.DataFrame:
    """Read a CSV, TSV, Parquet or JSON-lines table (a ``.json`` file may also hold one array),
    from one file, a glob of files, or a directory of Parquet parts.

    Parameters
    ----------
    path : path-like
        The file, whose extension chooses the reader; or a glob of files of one format
        (``data/part-*.csv``), or a directory of Parquet parts, read as one table in the order
        of :func:`table_files` (as the dask engine reads them). A directory of ``key=value``
        folders (Hive style) is read by Arrow, with its folders' keys as columns.
    columns : list of str, optional
        Columns that must be present (others are kept too). A missing one is an error.
    as_strings : bool, default False
        Read every CSV/TSV value as a string, so nothing is retyped (``"007"`` stays ``"007"``).
        Empty fields become missing values.

    Returns
    -------
    pandas.DataFrame
        The rows of several files one after the other, indexed from 0 (or by the index the
        Parquet files store).

    Raises
    ------
    DataError
        When a file is missing, empty, unreadable or not UTF-8 text, repeats a column name,
        or lacks a column; when a CSV/TSV file has ragged rows (a separator ending each line,
        too), a quoted field never closed, or seems separated by another character (``;``);
        when a glob matches no file; or when the files of a glob or directory do not have the
        same columns. The message names the file (and line).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_text("zip,city\\n007,a\\n")
    >>> read_table(p, as_strings=True)["zip"].tolist()
    ['007']
    """
    parts = read_table_parts(path, as_strings=as_strings)
    if len(parts) == 1:
        frame = parts[0][1]
    else:
        # A file of no rows (a header alone) adds none, and no dtype either.
        frames = [part for _, part in parts if len(part)] or [parts[0][1]]
        keep_index = any(not isinstance(part.index, pd.RangeIndex) for part in frames)
        frame = pd.concat(frames, ignore_index=not keep_index)
    if columns:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise DataError(
                f"{path}: missing column(s) {missing}; the table has {list(frame.columns)}"
            )
    return frame


def read_table_parts(
    path: str | os.PathLike[str], *, as_strings: bool = False
) -> list[tuple[Path, pd.DataFrame]]:
    """The files of a table (see :func:`read_table`) and the rows of each, indexed as read.

    For an error to name a row's file: a row is then named by its file and its number there.
    A column that some CSV/TSV files type as text and others as numbers or booleans is read as
    text from all (as :func:`pandas.read_csv` reads a column mixing them in one file).

    Raises
    ------
    DataError
        As :func:`read_table` does.
    """
    source = Path(path)
    fmt = _source_format(source)
    if source.is_dir() and fmt != "parquet":
        raise DataError(f"{path}: is a directory, not a {fmt} file")
    files = table_files(source)
    if source.is_dir() and is_hive_directory(source, files):
        return [(source, _read_file(source, fmt, as_strings=as_strings))]
    parts = [(file, _read_file(file, fmt, as_strings=as_strings)) for file in files]
    check_same_columns(path, [(file, list(frame.columns)) for file, frame in parts])
    if fmt in ("csv", "tsv") and not as_strings:
        parts = _text_where_mixed(parts, fmt)
    return parts


def _text_where_mixed(
    parts: list[tuple[Path, pd.DataFrame]], fmt: str
) -> list[tuple[Path, pd.DataFrame]]:
    """The parts with each column that some files read as text and others as numbers or
    booleans read again as text in those others, so that ``007`` stays ``"007"`` wherever a
    column holds text somewhere, as it would in one file."""
    frames = [frame for _, frame in parts if len(frame)]
    mixed = [
        column
        for column in parts[0][1].columns
        if any(_is_text(f[column]) for f in frames)
        and any(not _is_text(f[column]) and f[column].notna().any() for f in frames)
    ]
    if not mixed:
        return parts
    return [
        (file, frame)
        if not len(frame) or all(_is_text(frame[c]) for c in mixed)
        else (file, _read_file(file, fmt, as_strings=False, text_columns=mixed))
        for file, frame in parts
    ]


def _is_text(column: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(column.dtype)


def _read_file(
    path: Path, fmt: str, *, as_strings: bool, text_columns: list[str] | None = None
) -> pd.DataFrame:
    """One file (or a Hive-style directory, read by Arrow) as ``read_table`` reads it."""
    if path.is_file() and path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty")
    kwargs: dict[str, Any] = {}
    try:
        if fmt in ("csv", "tsv"):
            sep = "\t" if fmt == "tsv" else ","
            if as_strings:
                kwargs = {"dtype": str, "keep_default_na": False, "na_values": [""]}
            elif text_columns:
                kwargs = {"dtype": dict.fromkeys(text_columns, str)}
            frame = read_text_table(path, sep, kwargs)
        elif fmt == "parquet":
            frame = _read_parquet_file(path)
        else:
            # JSON lines, or (a .json file opening with '[') one array of row objects; a
            # byte-order mark (Notepad writes one) is skipped, as it is in CSV files
            lines = not _opens_with(path, b"[")
            frame = pd.read_json(
                path,
                lines=lines,
                orient="records",
                dtype=not as_strings,
                dtype_backend="numpy_nullable",
                encoding="utf-8-sig",
            )
            frame = _with_default_dtypes(frame)
    except DataError:
        raise
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file has no header or rows") from None
    except UnicodeDecodeError as exc:
        raise DataError(not_utf8_message(path, fmt, exc)) from exc
    except (ValueError, OSError) as exc:
        raise DataError(f"{path}: cannot read as {fmt}: {exc}") from exc
    if frame.columns.empty:
        raise DataError(f"{path}: the table has no columns")
    return frame


def _read_parquet_file(path: Path) -> pd.DataFrame:
    """A Parquet file (or Hive-style directory) read by pandas; a repeated column name, which
    Arrow refuses cryptically, is named."""
    try:
        return pd.read_parquet(path)
    except Exception:
        names: list[str] = []
        if path.is_file():
            import pyarrow.parquet as pq

            with contextlib.suppress(Exception):  # not Parquet: pandas' error says so
                names = pq.read_schema(path).names
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise DataError(f"{path}: the file repeats column name(s) {repeated}") from None
        raise


def row_numbering(path: str | os.PathLike[str]) -> str:
    """How the rows of a table file are numbered for a user to find one: from 1, the header of
    a CSV or TSV file not counted.

    Examples
    --------
    >>> row_numbering("data/train.csv")
    'numbered from 1, the header not counted'
    """
    if _source_format(Path(path)) in ("csv", "tsv"):
        return "numbered from 1, the header not counted"
    return "numbered from 1"


def _source_format(source: Path) -> str:
    """The format of a file or glob by its extension; a directory without one holds Parquet."""
    if source.is_dir() and source.suffix.lower() not in TABLE_FORMATS:
        return "parquet"
    return table_format(source)


def _with_default_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` read with nullable dtypes, back in pandas' defaults where nothing is lost.

    JSON read with numpy dtypes turns integers or booleans with a null into floats (``85.0``,
    ``1.0``); read with nullable dtypes they stay ``Int64`` / ``boolean``. Only those columns
    keep a nullable dtype: integers and booleans without nulls, floats and text get pandas'
    default dtypes, as a JSON file without nulls reads.
    """
    typed = {}
    for position, (_, column) in enumerate(frame.items()):
        dtype = column.dtype
        if isinstance(dtype, pd.StringDtype):
            typed[position] = column.astype(pd.StringDtype(na_value=np.nan))
        elif isinstance(dtype, pd.Float64Dtype | pd.Float32Dtype):
            typed[position] = column.astype(dtype.numpy_dtype)
        elif isinstance(dtype, pd.BooleanDtype | pd.core.arrays.integer.IntegerDtype):
            if not column.hasnans:
                typed[position] = column.astype(dtype.numpy_dtype)
    if not typed:
        return frame
    out = frame.copy()
    for position, column in typed.items():
        out.isetitem(position, column)
    return out


def _opens_with(path: Path, prefix: bytes) -> bool:
    """Whether the file's first non-blank bytes are ``prefix``."""
    with path.open("rb") as handle:
        head = handle.read(4096).removeprefix(codecs.BOM_UTF8).lstrip()
    return head.startswith(prefix)


def write_table(
    frame: pd.DataFrame,
    path: str | os.PathLike[str],
    *,
    index: bool = False,
    like: str | os.PathLike[str] | None = None,
) -> Path:
    """Write a table atomically; the extension chooses the format.

    Parameters
    ----------
    frame : pandas.DataFrame
    path : path-like
        Destination (``.csv``, ``.tsv``, ``.parquet``, ``.jsonl``).
    index : bool, default False
        Whether to write the index. Parquet keeps it as the index; the text formats, which have
        none, get it as the leading column(s) (named ``index`` when unnamed).
    like : path-like, optional
        The CSV or TSV file ``frame`` was read from: a CSV or TSV output is written as it is,
        with its byte-order mark, its line endings and its header's names as written (a blank
        name stays blank, not pandas' ``Unnamed: 5``), so that the cells left as they were
        read are written byte for byte as they were. Ignored for other formats.

    Returns
    -------
    pathlib.Path
        The written path.
    """
    fmt = table_format(path)
    if index and fmt != "parquet":
        frame, index = frame.reset_index(allow_duplicates=True), False
    text = {"csv": ",", "tsv": "\t"}
    style: dict[str, Any] = {}
    if like is not None and fmt in text and table_format(like) in text:
        style = _text_style(Path(like), text[table_format(like)], frame.shape[1])
    with atomic_path(path) as tmp:
        if fmt in text:
            frame.to_csv(tmp, index=index, sep=text[fmt], **style)
        elif fmt == "parquet":
            frame.to_parquet(tmp, index=index)
        else:
            frame.to_json(tmp, orient="records", lines=True, index=None)
    return Path(path)


def _text_style(path: Path, sep: str, n_columns: int) -> dict[str, Any]:
    """``to_csv`` arguments writing a table as the CSV/TSV file ``path`` is: byte-order mark,
    line endings, and header names when it has ``n_columns`` of them."""
    with path.open("rb") as handle:
        first = handle.readline()
    style: dict[str, Any] = {
        "encoding": "utf-8-sig" if first.startswith(codecs.BOM_UTF8) else "utf-8",
        "lineterminator": "\r\n" if first.endswith(b"\r\n") else "\n",
    }
    names = header_names(path, sep)
    if len(names) == n_columns:
        style["header"] = names
    return style
