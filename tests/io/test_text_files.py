"""The pre-check for short CSV lines, chunk by chunk (through read_table in test_tables.py)."""

from __future__ import annotations

import io

import pytest

from gristmill.io._text_files import _any_short_line


@pytest.mark.parametrize(
    ("body", "short"),
    [
        (b"a,b,c\n1,2,3\n\n  \r\n4,5,6", False),  # blank lines are no rows
        (b"a,b,c\n1,2,3\n4,5", True),  # the last line, without a line break
        (b"a,b,c\n1,2,3\n" + b"x" * 40 + b",y\n7,8,9\n", True),  # across chunks
        (b"a,b,c\n" + b"1,2,3\n" * 20, False),
    ],
)
def test_short_lines_are_found_chunk_by_chunk(body: bytes, short: bool) -> None:
    handle = io.BytesIO(body)
    assert handle.readline().count(b",") == 2
    assert _any_short_line(handle, ord(","), 2, chunk=7) is short
