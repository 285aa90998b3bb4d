"""Reading and writing tables (CSV, Parquet, JSON lines) with clear errors and atomic writes."""

from gristmill.io._atomic import atomic_path, atomic_write_text
from gristmill.io._tables import TABLE_FORMATS, read_table, table_format, write_table

__all__ = [
    "TABLE_FORMATS",
    "atomic_path",
    "atomic_write_text",
    "read_table",
    "table_format",
    "write_table",
]
