"""Partitioned tables: reading Dask DataFrames, writing one Parquet part atomically."""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path
from typing import Any

import pandas as pd

from gristmill._extras import require
from gristmill.exceptions import DataError

__all__ = ["DASK_TABLE_SUFFIXES", "read_dask_table", "write_parquet_part"]

DASK_TABLE_SUFFIXES = (".parquet", ".pq", ".csv", ".csv.gz")
"""Endings of the files the dask engine reads partition by partition (or a Parquet directory)."""


def read_dask_table(path: str | os.PathLike[str]) -> Any:
    """Read a Parquet or CSV table, a directory of Parquet parts or a glob, as a dask DataFrame.

    Raises
    ------
    DataError
        When the format is not recognised.
    """
    dd = require("dask.dataframe", extra="dask", feature="reading data with the dask engine")
    text = str(path)
    source = Path(text)
    if source.is_dir() or text.endswith((".parquet", ".pq")):
        return dd.read_parquet(text)
    if text.endswith((".csv", ".csv.gz")):
        return dd.read_csv(text)
    raise DataError(
        f"{path}: the dask engine reads Parquet (a file, glob or directory of parts) or CSV; "
        "convert other formats first"
    )


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
