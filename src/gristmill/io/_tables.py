"""Table reading and writing by file extension, with errors that name the file."""

from __future__ import annotations

import codecs
import csv
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gristmill.exceptions import DataError
from gristmill.io._atomic import atomic_path

TABLE_FORMATS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
    ".pq": "parquet",
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


def _check_ragged(path: Path, sep: str) -> None:
    """Raise a DataError naming the first CSV line whose field count differs from the header."""
    # No field is longer than the file, which may hold cells beyond the csv module's default
    # limit of 128 KiB (pandas has none); the limit is a C long.
    limit = csv.field_size_limit(min(path.stat().st_size + 1, 2**31 - 1))
    try:
        with path.open(newline="", encoding="utf-8", errors="replace") as handle:
            reader = csv.reader(handle, delimiter=sep)
            header = next(reader, None)
            if header is None:
                return
            for record in reader:
                if record and len(record) != len(header):
                    raise DataError(
                        f"{path}: line {reader.line_num} has {len(record)} fields, "
                        f"but the header has {len(header)}"
                    )
    finally:
        csv.field_size_limit(limit)


def read_table(
    path: str | os.PathLike[str],
    *,
    columns: list[str] | None = None,
    as_strings: bool = False,
) -> pd.DataFrame:
    """Read a CSV, TSV, Parquet or JSON-lines table (a ``.json`` file may also hold one array).

    Parameters
    ----------
    path : path-like
        The file; its extension chooses the reader.
    columns : list of str, optional
        Columns that must be present (others are kept too). A missing one is an error.
    as_strings : bool, default False
        Read every CSV/TSV value as a string, so nothing is retyped (``"007"`` stays ``"007"``).
        Empty fields become missing values.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    DataError
        When the file is missing, empty, unreadable, has ragged rows, repeats a header name
        (CSV/TSV), or lacks a column.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_text("zip,city\\n007,a\\n")
    >>> read_table(p, as_strings=True)["zip"].tolist()
    ['007']
    """
    path = Path(path)
    fmt = table_format(path)
    if not path.exists():
        raise DataError(f"{path}: no such file")
    if path.is_dir() and fmt != "parquet":
        raise DataError(f"{path}: is a directory, not a {fmt} file")
    if path.is_file() and path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty")
    kwargs: dict[str, Any] = {}
    try:
        if fmt in ("csv", "tsv"):
            sep = "\t" if fmt == "tsv" else ","
            if as_strings:
                kwargs = {"dtype": str, "keep_default_na": False, "na_values": [""]}
            try:
                frame = pd.read_csv(path, sep=sep, **kwargs)
            except pd.errors.ParserError:
                _check_ragged(path, sep)
                raise
            if len(frame.columns) and frame.shape[0] and _has_ragged_short_rows(path, sep):
                _check_ragged(path, sep)
            _check_unique_header(path, sep)
        elif fmt == "parquet":
            frame = pd.read_parquet(path)
        else:
            # JSON lines, or (a .json file opening with '[') one array of row objects
            lines = not _opens_with(path, b"[")
            frame = pd.read_json(
                path,
                lines=lines,
                orient="records",
                dtype=not as_strings,
                dtype_backend="numpy_nullable",
            )
            frame = _with_default_dtypes(frame)
    except DataError:
        raise
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file has no header or rows") from None
    except UnicodeDecodeError as exc:
        raise DataError(_not_utf8(path, fmt, exc)) from exc
    except (ValueError, OSError) as exc:
        raise DataError(f"{path}: cannot read as {fmt}: {exc}") from exc
    if frame.columns.empty:
        raise DataError(f"{path}: the table has no columns")
    if columns:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise DataError(
                f"{path}: missing column(s) {missing}; the table has {list(frame.columns)}"
            )
    return frame


def row_numbering(path: str | os.PathLike[str]) -> str:
    """How the rows of a table file are numbered for a user to find one: from 1, the header of
    a CSV or TSV file not counted.

    Examples
    --------
    >>> row_numbering("data/train.csv")
    'numbered from 1, the header not counted'
    """
    if table_format(Path(path)) in ("csv", "tsv"):
        return "numbered from 1, the header not counted"
    return "numbered from 1"


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


def _check_unique_header(path: Path, sep: str) -> None:
    """Raise DataError naming the repeated names of the header (pandas would rename them).

    Blank names are not repeats: pandas names each by its position (``Unnamed: 5``), as it
    does the empty columns that trailing separators of a spreadsheet's export add.
    """
    names = _header_names(path, sep)
    repeated = sorted({name for name in names if name and names.count(name) > 1})
    if repeated:
        raise DataError(f"{path}: the header repeats column name(s) {repeated}")


def _header_names(path: str | os.PathLike[str], sep: str) -> list[str]:
    """The column names of a CSV or TSV file's header as written (a blank name stays blank).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_text("a,,c,\\n1,2,3,\\n")
    >>> _header_names(p, ","), read_table(p).columns.tolist()
    (['a', '', 'c', ''], ['a', 'Unnamed: 1', 'c', 'Unnamed: 3'])
    """
    header = pd.read_csv(path, sep=sep, header=None, nrows=1, dtype=str, keep_default_na=False)
    return header.iloc[0].tolist() if header.shape[0] else []


def _not_utf8(path: Path, fmt: str, exc: UnicodeDecodeError) -> str:
    """The message for a text table that is not UTF-8, naming its first line that is not.

    The decoder's own position counts from the start of a buffer pandas read, not of the file.
    """
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as bad:
                return (
                    f"{path}: line {number} is not UTF-8 text (byte "
                    f"0x{line[bad.start]:02x} at byte {bad.start + 1} of the line); gristmill "
                    "reads UTF-8: save the file as UTF-8 (from Windows-1252 or Latin-1: "
                    "iconv -f cp1252 -t utf-8 old > new)"
                )
    return f"{path}: cannot read as {fmt}: {exc}"


def _opens_with(path: Path, prefix: bytes) -> bool:
    """Whether the file's first non-blank bytes are ``prefix``."""
    with path.open("rb") as handle:
        head = handle.read(4096).lstrip()
    return head.startswith(prefix)


def _has_ragged_short_rows(path: Path, sep: str) -> bool:
    """Cheap pre-check: pandas silently pads short rows, so look for any line with too few fields.

    A byte-level count of separators per line comes first; it over-reports where quoted fields
    hold separators or line breaks (every multi-line text cell), so Arrow's CSV parser, which
    refuses a row of another field count, confirms: several times faster than the exact check
    in :func:`_check_ragged` (Python's csv module), which then decides and names the line.
    """
    with path.open("rb") as handle:
        header = handle.readline()
        want = header.count(sep.encode())
        if not any(line.strip() and line.count(sep.encode()) < want for line in handle):
            return False
    return not _arrow_reads_evenly(path, sep)


def _arrow_reads_evenly(path: Path, sep: str) -> bool:
    """Whether Arrow parses every row of a CSV file into as many fields as its header has.

    False also when Arrow cannot read the file for another reason: the exact check decides.
    """
    from pyarrow import csv as arrow_csv

    try:
        arrow_csv.read_csv(
            path,
            parse_options=arrow_csv.ParseOptions(delimiter=sep, newlines_in_values=True),
            convert_options=arrow_csv.ConvertOptions(include_columns=[]),
        )
    except Exception:  # any refusal sends the file to the exact check
        return False
    return True


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
    names = _header_names(path, sep)
    if len(names) == n_columns:
        style["header"] = names
    return style
