"""Content-addressed stage cache: a stage's outputs are stored under a hash of its inputs.

An entry is a directory ``<root>/<stage>/<key>/`` that appears only once complete: it is written
as a temporary sibling and renamed into place, so an interrupted stage leaves nothing a later
run could mistake for a result, and the next run resumes from the last complete stage.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["StageCache", "digest", "file_digest", "frame_digest"]


def digest(*parts: Any) -> str:
    """SHA-256 (hex, 24 chars) of JSON-able parts; numpy arrays are hashed by their bytes."""
    hasher = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            hasher.update(str((part.dtype.str, part.shape)).encode())
            hasher.update(np.ascontiguousarray(part).tobytes())
        else:
            hasher.update(json.dumps(part, sort_keys=True, default=str).encode())
        hasher.update(b"\x00")
    return hasher.hexdigest()[:24]


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 (hex, 24 chars) of a file's bytes."""
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()[:24]


def frame_digest(frame: pd.DataFrame) -> str:
    """Digest of a DataFrame's column names, dtypes and values (row order matters).

    Columns holding cells pandas cannot hash (lists, arrays and mappings, as Parquet and JSON
    lines store them) are hashed by the canonical JSON text of each cell (:func:`_cell_text`);
    their positions enter the digest too, so a list never digests like the text of that list.

    Examples
    --------
    >>> a = pd.DataFrame({"tags": [["x", "y"], []]})
    >>> frame_digest(a) == frame_digest(a.copy())
    True
    >>> frame_digest(a) == frame_digest(pd.DataFrame({"tags": [["y", "x"], []]}))
    False
    """
    try:
        return _digest_hashable(frame)
    except TypeError:
        pass
    unhashable = [i for i in range(frame.shape[1]) if not _hashable(frame.iloc[:, i])]
    texts = frame.copy(deep=False)
    for i in unhashable:
        texts.isetitem(i, frame.iloc[:, i].map(_cell_text))
    return digest(_digest_hashable(texts), unhashable)


def _digest_hashable(frame: pd.DataFrame) -> str:
    """:func:`frame_digest` of a frame whose cells pandas can hash (else TypeError)."""
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return digest([str(c) for c in frame.columns], [str(t) for t in frame.dtypes], hashed)


def _hashable(column: pd.Series) -> bool:
    """Whether pandas can hash the cells of ``column``."""
    try:
        pd.util.hash_pandas_object(column, index=False)
    except TypeError:
        return False
    return True


def _cell_text(value: Any) -> str:
    """A canonical JSON text of one cell: arrays as lists, mapping keys sorted, sets sorted.

    Examples
    --------
    >>> _cell_text(np.array([1, 2])) == _cell_text([1, 2]), _cell_text({"b": 1, "a": None})
    (True, '{"a": null, "b": 1}')
    >>> _cell_text("[1, 2]")
    '"[1, 2]"'
    """
    return json.dumps(value, sort_keys=True, default=_jsonable)


def _jsonable(value: Any) -> Any:
    """``value`` as something :func:`json.dumps` encodes (its ``default`` hook)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, set | frozenset):
        return sorted(value, key=_cell_text)
    return {"type": f"{type(value).__module__}.{type(value).__qualname__}", "text": str(value)}


class StageCache:
    """Directory of completed stage outputs keyed by stage name and input digest.

    Parameters
    ----------
    root : path-like
        Cache directory (the pipeline uses ``<project>/.gristmill/cache``).
    enabled : bool, default True
        When False, lookups always miss (outputs are still stored).
    """

    def __init__(self, root: str | os.PathLike[str], *, enabled: bool = True) -> None:
        self.root = Path(root)
        self.enabled = enabled

    def path(self, stage: str, key: str) -> Path:
        """Where the entry of ``stage`` with ``key`` lives (whether or not it exists)."""
        return self.root / stage / key

    def lookup(self, stage: str, key: str) -> Path | None:
        """The entry directory when a complete one exists, else None."""
        entry = self.path(stage, key)
        return entry if self.enabled and entry.is_dir() else None

    @contextlib.contextmanager
    def store(self, stage: str, key: str) -> Iterator[Path]:
        """Yield a temporary directory that becomes the entry when the block succeeds."""
        final = self.path(stage, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", suffix=".tmp", dir=final.parent))
        try:
            yield tmp
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
