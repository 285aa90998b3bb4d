"""CSV and TSV files read by pandas, refusing what pandas would misread silently.

pandas pads short rows, takes the first column as the index when rows are one field longer
than the header, renames repeated header names, reads a file separated by another character
as one column, and reads everything after a quote never closed into one field: each is
refused here with an error naming the file and the line.
"""

from __future__ import annotations

import codecs
import csv
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gristmill.exceptions import DataError

#: Characters separating the fields of text tables, as a message names them.
_SEPARATORS = {";": "semicolons", "\t": "tabs", "|": "pipes", ",": "commas"}

#: Byte-order marks of Unicode encodings other than UTF-8 (UTF-32 first: it begins like UTF-16).
_UNICODE_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)


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
                    trailing = len(record) == len(header) + 1 and not record[-1]
                    raise DataError(
                        f"{path}: line {reader.line_num} has {len(record)} fields, "
                        f"but the header has {len(header)}"
                        + (" (the last is empty: a separator ends the line)" if trailing else "")
                    )
    finally:
        csv.field_size_limit(limit)


def read_text_table(path: Path, sep: str, kwargs: dict[str, Any]) -> pd.DataFrame:
    """A CSV or TSV file read by pandas, refusing what pandas would misread silently."""
    check_csv_header(path, sep)
    try:
        frame = pd.read_csv(path, sep=sep, **kwargs)
    except pd.errors.ParserError as exc:
        _check_ragged(path, sep)
        if "EOF inside string" in str(exc):
            raise DataError(_unclosed_quote(path)) from None
        raise
    if len(frame.columns) and frame.shape[0] and _has_ragged_short_rows(path, sep):
        _check_ragged(path, sep)
    return frame


def check_csv_header(path: Path, sep: str) -> list[str]:
    """The names of a CSV or TSV file's header, refused when pandas would misread them.

    Raises
    ------
    DataError
        Naming the file when it has no header, is not UTF-8, repeats a name, reads as one
        column whose name holds another separator (``id;text``) the first row holds too, or
        its first row has more fields than the header (pandas would take the first as the
        index, shifting the others left).
    """
    try:
        names = header_names(path, sep)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: the file has no header or rows") from None
    except UnicodeDecodeError as exc:
        raise DataError(not_utf8_message(path, "tsv" if sep == "\t" else "csv", exc)) from exc
    repeated = sorted({name for name in names if name and names.count(name) > 1})
    if repeated:
        # pandas would rename them; blank names are no repeats: pandas names each by its
        # position (``Unnamed: 5``), as the empty columns of a spreadsheet's export
        raise DataError(f"{path}: the header repeats column name(s) {repeated}")
    if len(names) == 1 and path.suffix.lower() in (".csv", ".tsv"):  # not compressed
        _check_separator(path, sep, names[0])
    if _first_row_is_longer(path, sep):
        # pandas then makes the first column(s) the index (a separator ending each data line
        # does it), shifting every value to the left
        _check_ragged(path, sep)
        raise DataError(f"{path}: the first row has more fields than the header")
    return names


def _first_row_is_longer(path: Path, sep: str) -> bool:
    """Whether the first row of a CSV or TSV file has more fields than its header."""
    try:
        pd.read_csv(path, sep=sep, header=None, nrows=2, dtype=str)
    except pd.errors.ParserError:
        return True
    return False


def _check_separator(path: Path, sep: str, header: str) -> None:
    """Raise DataError when a table read as one column is separated by another character
    its header and first row hold (a spreadsheet in a locale whose decimal mark is ',' saves
    CSV separated by ';')."""
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        handle.readline()
        first_row = handle.readline()
    for other, name in _SEPARATORS.items():
        count = header.count(other)
        if other == sep or not count or (first_row and first_row.count(other) < count):
            continue
        fix = (
            "name it .tsv"
            if other == "\t"
            else "name it .csv"
            if other == ","
            else f"convert it: pandas.read_csv(path, sep={other!r}).to_csv(new_path, index=False)"
        )
        raise DataError(
            f"{path}: the header {header!r} reads as a single column: gristmill reads this "
            f"file as separated by {_SEPARATORS[sep]}, but it seems separated by {name}; {fix}"
        )


def _unclosed_quote(path: Path) -> str:
    """The message for a CSV file with a quoted field open at its end, naming the line that
    opens it: the last one to leave an odd number of quotes before it."""
    opening, inside = 1, False
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if line.count(b'"') % 2:
                inside = not inside
                if inside:
                    opening = number
    return (
        f"{path}: line {opening} opens a quoted field that is never closed, so the rest of the "
        'file would be read into it: a quote inside a field must be doubled ("") and the field '
        "quoted"
    )


def header_names(path: str | os.PathLike[str], sep: str) -> list[str]:
    """The column names of a CSV or TSV file's header as written (a blank name stays blank).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.csv"
    >>> _ = p.write_text("a,,c,\\n1,2,3,\\n")
    >>> header_names(p, ","), pd.read_csv(p).columns.tolist()
    (['a', '', 'c', ''], ['a', 'Unnamed: 1', 'c', 'Unnamed: 3'])
    """
    header = pd.read_csv(path, sep=sep, header=None, nrows=1, dtype=str, keep_default_na=False)
    return header.iloc[0].tolist() if header.shape[0] else []


def not_utf8_message(path: Path, fmt: str, exc: UnicodeDecodeError) -> str:
    """The message for a text table that is not UTF-8, naming its first line that is not.

    The decoder's own position counts from the start of a buffer pandas read, not of the file.
    """
    with path.open("rb") as handle:
        head = handle.read(4)
    for bom, encoding in _UNICODE_BOMS:
        if head.startswith(bom):
            return (
                f"{path}: the file is {encoding} text (it opens with its byte-order mark); "
                f"gristmill reads UTF-8: save the file as UTF-8 (iconv -f {encoding} -t utf-8 "
                "old > new)"
            )
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


def _has_ragged_short_rows(path: Path, sep: str) -> bool:
    """Cheap pre-check: pandas silently pads short rows, so look for any line with too few fields.

    A byte-level count of separators per line comes first; it over-reports where quoted fields
    hold separators or line breaks (every multi-line text cell), so Arrow's CSV parser, which
    refuses a row of another field count, confirms: several times faster than the exact check
    in :func:`_check_ragged` (Python's csv module), which then decides and names the line.
    """
    with path.open("rb") as handle:
        want = handle.readline().count(sep.encode())
        if not _any_short_line(handle, ord(sep), want):
            return False
    return not _arrow_reads_evenly(path, sep)


def _any_short_line(handle: Any, sep: int, want: int, chunk: int = 2**20) -> bool:
    """Whether a line of the binary ``handle`` that is not blank has fewer than ``want`` bytes
    ``sep``: counted per chunk of whole lines with numpy (a Python loop over the lines took
    as long as pandas' parse)."""
    rest = b""
    while True:
        block = handle.read(chunk)
        data = rest + block
        cut = len(data) if not block else data.rfind(b"\n") + 1
        lines, rest = data[:cut], data[cut:]
        if lines:
            array = np.frombuffer(lines, dtype=np.uint8)
            ends = np.flatnonzero(array == ord("\n"))
            if not len(ends) or ends[-1] != len(array) - 1:
                ends = np.append(ends, len(array))  # the last line, without a line break
            starts = np.concatenate(([0], ends[:-1] + 1))
            seps = np.flatnonzero(array == sep)
            short = np.searchsorted(seps, ends) - np.searchsorted(seps, starts) < want
            if any(lines[a:b].strip() for a, b in zip(starts[short], ends[short], strict=True)):
                return True
        if not block:
            return False


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
