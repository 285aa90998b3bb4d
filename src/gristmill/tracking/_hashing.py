"""Content digests: of tables, of files, and of the functions defined in an LF module."""

from __future__ import annotations

import ast
import hashlib
import os
from pathlib import Path

import pandas as pd

DIGEST_LENGTH = 16


def dataset_digest(frame: pd.DataFrame) -> str:
    """A digest of a table's full content: column names, dtypes, index and every value.

    Examples
    --------
    >>> import pandas as pd
    >>> a = pd.DataFrame({"x": [1, 2]})
    >>> dataset_digest(a) == dataset_digest(a.copy()), dataset_digest(a) == dataset_digest(a + 1)
    (True, False)
    """
    hasher = hashlib.sha256()
    header = "\x1f".join(f"{name}:{dtype}" for name, dtype in frame.dtypes.items())
    hasher.update(header.encode("utf-8"))
    rows = pd.util.hash_pandas_object(frame, index=True, categorize=False)
    hasher.update(rows.to_numpy().tobytes())
    return hasher.hexdigest()[:DIGEST_LENGTH]


def file_digest(path: str | os.PathLike[str]) -> str:
    """SHA-256 (hex, first 16 characters) of a file's bytes."""
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()[:DIGEST_LENGTH]


def function_digests(path: str | os.PathLike[str]) -> dict[str, str]:
    """Digest of the source (decorators included) of every top-level function in a Python file.

    A labeling function's version is the digest of its source, so editing one function changes
    its digest and leaves the others alone. Unparsable files yield an empty dict.
    """
    source = Path(path).read_text(encoding="utf-8")
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    lines = source.splitlines(keepends=True)
    digests: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
            text = "".join(lines[start : node.end_lineno])
            digests[node.name] = hashlib.sha256(text.encode("utf-8")).hexdigest()[:DIGEST_LENGTH]
    return digests
