"""Literal keyword search over a whole ASCII text column at once, with numpy.

Matching a regular expression string by string pays a fixed cost per row; for short texts that
cost dominates. Here a column's characters are one contiguous byte buffer (Arrow's layout): a
keyword is found by comparing its first two bytes against the whole buffer, checking its other
bytes only at the few candidate positions, and mapping each match to its row through the
offsets. Only ASCII text and keywords take this path, so its answers equal the regular
expression's: ASCII case folding and word characters are unambiguous.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

_WORD_BYTES = np.zeros(256, dtype=bool)
for _ch in b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_":
    _WORD_BYTES[_ch] = True


class AsciiText:
    """A text column as one byte buffer plus row offsets (``None`` rows hold no bytes)."""

    def __init__(self, data: np.ndarray, offsets: np.ndarray) -> None:
        self.data = data
        self.offsets = offsets

    @property
    def n_rows(self) -> int:
        return len(self.offsets) - 1

    @classmethod
    def from_arrow(cls, array: Any, *, lower: bool) -> AsciiText | None:
        """Build from an Arrow string array; ``None`` when any value is not pure ASCII."""
        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        if len(array) and pc.all(pc.string_is_ascii(array)).as_py() is False:
            return None
        if lower:
            array = pc.ascii_lower(array)
        array = array.cast(pa.large_string())
        _, offsets_buffer, data_buffer = array.buffers()
        offsets = np.frombuffer(offsets_buffer, dtype=np.int64)[
            array.offset : array.offset + len(array) + 1
        ]
        data = (
            np.frombuffer(data_buffer, dtype=np.uint8)
            if data_buffer is not None
            else np.zeros(0, dtype=np.uint8)
        )
        return cls(data, offsets)

    def rows_containing(self, keyword: bytes, *, word_boundary: bool) -> np.ndarray:
        """Boolean mask of the rows whose text contains ``keyword``.

        With ``word_boundary``, a keyword edge that is a word character (letter, digit,
        underscore) must not touch another word character.
        """
        data, offsets, size = self.data, self.offsets, len(keyword)
        hits = np.zeros(self.n_rows, dtype=bool)
        last_start = len(data) - size
        if size == 0 or last_start < 0:
            return hits
        if size == 1:
            starts = np.flatnonzero(data[: last_start + 1] == keyword[0])
        else:
            starts = np.flatnonzero(
                (data[: last_start + 1] == keyword[0]) & (data[1 : last_start + 2] == keyword[1])
            )
        for shift in range(2, size):
            starts = starts[data[starts + shift] == keyword[shift]]
        rows = np.searchsorted(offsets, starts, side="right") - 1
        row_starts, row_ends = offsets[rows], offsets[rows + 1]
        ends = starts + size
        keep = ends <= row_ends
        if word_boundary and _WORD_BYTES[keyword[0]]:
            before = data[np.maximum(starts - 1, 0)]
            keep &= (starts == row_starts) | ~_WORD_BYTES[before]
        if word_boundary and _WORD_BYTES[keyword[-1]]:
            after = data[np.minimum(ends, len(data) - 1)]
            keep &= (ends == row_ends) | ~_WORD_BYTES[after]
        hits[rows[keep]] = True
        return hits
