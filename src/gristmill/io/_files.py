"""The files a table path names: one file, a glob of files, or a directory of Parquet parts.

Both engines list them here, so that a table reads in the same order whichever reads it.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Sequence
from pathlib import Path

from gristmill.exceptions import DataError

__all__ = [
    "PARQUET_SUFFIXES",
    "check_same_columns",
    "is_glob",
    "is_hive_directory",
    "natural_key",
    "table_files",
]

PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
"""Endings of the Parquet files a directory of parts holds (other files are not read)."""

_DIGITS = re.compile(r"(\d+)")


def natural_key(path: str | os.PathLike[str]) -> tuple[tuple[int, int | str], ...]:
    """A sort key ordering numbers in names by value: ``part-2`` before ``part-10``.

    Examples
    --------
    >>> sorted(["p-10.csv", "p-2.csv", "p-1.csv"], key=natural_key)
    ['p-1.csv', 'p-2.csv', 'p-10.csv']
    """
    pieces = _DIGITS.split(str(path))
    return tuple((1, int(piece)) if piece.isdigit() else (0, piece) for piece in pieces)


def is_glob(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a pattern (``*``, ``?`` or ``[``) rather than an existing path.

    A file whose name holds such a character is read as that file.
    """
    return not Path(path).exists() and any(char in str(path) for char in "*?[")


def table_files(path: str | os.PathLike[str]) -> list[Path]:
    """The files ``path`` names, in the order their rows are read.

    Parameters
    ----------
    path : path-like
        A file; a glob (``data/part-*.csv``; ``**`` matches folders at any depth; names
        starting with ``.`` are not matched, as a shell does not, so half-written temporary
        files are skipped); or a directory, whose Parquet files (ending
        ``.parquet``, ``.pq`` or ``.parq``) at any depth are its parts, skipping files and
        folders whose names start with ``.`` or ``_`` (as Dask and Arrow do).

    Returns
    -------
    list of pathlib.Path
        A file alone, or a glob's or directory's files in natural order: numbers in names by
        value (``part-2`` before ``part-10``), the rest as text.

    Raises
    ------
    DataError
        Naming ``path`` when nothing exists there, a glob matches no file, or a directory holds
        no Parquet file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for i in (10, 2, 1):
    ...     _ = (folder / f"part-{i}.csv").write_text("a\\n1\\n")
    >>> [p.name for p in table_files(folder / "part-*.csv")]
    ['part-1.csv', 'part-2.csv', 'part-10.csv']
    """
    source = Path(path)
    if source.is_dir():
        files = [
            p
            for p in source.rglob("*")
            if p.is_file()
            and p.name.lower().endswith(PARQUET_SUFFIXES)
            and not any(part.startswith((".", "_")) for part in p.relative_to(source).parts)
        ]
        if not files:
            raise DataError(f"{path}: no Parquet files (ending {', '.join(PARQUET_SUFFIXES)})")
    elif source.exists():
        return [source]
    elif is_glob(source):
        files = [Path(p) for p in glob.glob(str(source), recursive=True) if Path(p).is_file()]
        if not files:
            raise DataError(f"{path}: no file matches the pattern")
    else:
        raise DataError(f"{path}: no such file")
    return sorted(files, key=natural_key)


def is_hive_directory(path: str | os.PathLike[str], files: list[Path]) -> bool:
    """Whether the directory ``path`` holds its ``files`` in ``key=value`` folders (Hive style),
    whose names are columns."""
    source = Path(path)
    return source.is_dir() and any(
        "=" in part for file in files for part in file.relative_to(source).parent.parts
    )


def check_same_columns(
    path: str | os.PathLike[str], columns: Sequence[tuple[Path, list[str]]]
) -> None:
    """Raise DataError naming the first file whose columns are not the first file's, in order.

    ``columns`` holds each file of the table ``path`` and its column names.
    """
    first, want = columns[0]
    for file, got in columns[1:]:
        if got == want:
            continue
        lacks = [c for c in want if c not in got]
        extra = [c for c in got if c not in want]
        how = "; ".join(
            [f"it lacks {lacks}"] * bool(lacks)
            + [f"it has {extra} too"] * bool(extra)
            + [f"its columns are in another order: {got}"] * (not lacks and not extra)
        )
        raise DataError(
            f"{file}: the files of {path} must have the same columns as its first file, "
            f"{first}, {want}; {how}"
        )
