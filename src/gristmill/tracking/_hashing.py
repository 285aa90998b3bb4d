"""Content digests: of tables, of files, and of the labeling functions of an LF module."""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import os
import pickle
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from gristmill.labeling import LabelingFunction

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
    """Digest of every labeling function an LF module defines, keyed by LF name.

    The module is imported (as :func:`gristmill.labeling.load_lfs` does) and each labeling
    function is digested by its definition (see :func:`lf_digest`), so editing one LF changes
    its digest and leaves the others alone, whether it was written with
    ``@labeling_function()`` or built by a factory (``keyword_lf``, ``regex_lf``, ...).
    Preprocessors are not labeling functions: they count in the digest of each LF using them.

    Raises
    ------
    LFError
        When the module cannot be imported or defines no labeling function.
    """
    from gristmill.labeling import load_lfs

    return {lf.name: lf_digest(lf) for lf in load_lfs(path)}


def lf_digest(lf: LabelingFunction) -> str:
    """Digest of a labeling function's definition.

    What is digested is what decides its votes: its name, kind, columns and resources, its
    preprocessors' definitions, and its function: the source (decorators included) of a
    written function, or the parameters (keywords, pattern, column, label, ...) a factory
    built it with.

    Examples
    --------
    >>> from gristmill.labeling import keyword_lf
    >>> lf_digest(keyword_lf(["free"], 1)) == lf_digest(keyword_lf(["free"], 1))
    True
    >>> lf_digest(keyword_lf(["free"], 1)) == lf_digest(keyword_lf(["free", "win"], 1))
    False
    """
    definition = {
        "name": lf.name,
        "vectorized": lf.vectorized,
        "columns": _canonical(list(lf.columns)),
        "resources": _canonical(lf.resources),
        "pre": [
            {"name": p.name, "f": _callable(p.f), "resources": _canonical(p.resources)}
            for p in lf.pre
        ],
        "f": _callable(lf.f),
    }
    text = json.dumps(definition, sort_keys=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:DIGEST_LENGTH]


def _callable(f: Any) -> str:
    """A written function by its source; a callable object (a factory's) by its parameters."""
    if inspect.isfunction(f) or inspect.ismethod(f):
        return _function_source(f)
    if isinstance(f, functools.partial):
        return f"partial({_callable(f.func)}, {_canonical(f.args)}, {_canonical(f.keywords)})"
    state = getattr(f, "__dict__", None)
    if state is None:
        return _canonical(f)
    public = {k: v for k, v in sorted(state.items()) if not k.startswith("_")}
    return f"{type(f).__name__}({_canonical(public)})"


def _function_source(f: Any) -> str:
    try:
        return inspect.getsource(f)
    except (OSError, TypeError):
        # No source file (defined in a notebook cell or by exec): its compiled code.
        code = f.__code__
        return f"{code.co_code.hex()} {_canonical(list(code.co_consts))} {code.co_names}"


def _canonical(value: Any) -> str:
    """A text that equals for equal values, stable across processes (no object addresses)."""
    if value is None or isinstance(value, bool | int | float | str | bytes):
        return repr(value)
    if isinstance(value, np.generic):
        return repr(value.item())
    if isinstance(value, Mapping):
        items = sorted((_canonical(k), _canonical(v)) for k, v in value.items())
        return "{" + ", ".join(f"{k}: {v}" for k, v in items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_canonical(v) for v in value) + "]"
    if isinstance(value, set | frozenset):
        return "{" + ", ".join(sorted(_canonical(v) for v in value)) + "}"
    if isinstance(value, re.Pattern):
        return f"re({value.pattern!r}, {int(value.flags)})"
    if isinstance(value, np.ndarray):
        return f"array({value.dtype}, {_canonical(value.tolist())})"
    if isinstance(value, pd.Index):
        return f"index({_canonical(list(value))})"
    if inspect.isfunction(value) or inspect.ismethod(value):
        return _function_source(value)
    try:
        # Anything else (a fitted model of model_lf, ...) by its pickled state.
        return f"{type(value).__name__}:{hashlib.sha256(pickle.dumps(value)).hexdigest()}"
    except Exception:  # an object pickle refuses (open handles, ...) in any of many ways
        return type(value).__name__
