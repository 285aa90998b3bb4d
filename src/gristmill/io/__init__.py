"""Reading and writing tables (CSV, Parquet, JSON lines) with clear errors and atomic writes."""

from gristmill.io._atomic import (
    atomic_path,
    atomic_write_text,
    check_replaceable,
    replace_directory,
)
from gristmill.io._dask import (
    DASK_TABLE_SUFFIXES,
    DaskTable,
    read_dask_table,
    write_parquet_part,
)
from gristmill.io._files import table_files
from gristmill.io._tables import (
    TABLE_FORMATS,
    read_table,
    read_table_parts,
    row_numbering,
    table_format,
    write_table,
)

__all__ = [
    "DASK_TABLE_SUFFIXES",
    "TABLE_FORMATS",
    "DaskTable",
    "atomic_path",
    "atomic_write_text",
    "check_replaceable",
    "read_dask_table",
    "read_table",
    "read_table_parts",
    "replace_directory",
    "row_numbering",
    "table_files",
    "table_format",
    "write_parquet_part",
    "write_table",
]
