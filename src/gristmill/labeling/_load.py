"""Loading labeling functions from a Python file."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from pathlib import Path

from gristmill.exceptions import LFError
from gristmill.labeling._lf import LabelingFunction

__all__ = ["load_lfs"]


def load_lfs(path: str | os.PathLike[str]) -> list[LabelingFunction]:
    """Import a Python file and return its module-level labeling functions in definition order.

    The file's folder is on ``sys.path`` while it runs, so it may import helper modules beside
    it. An object bound to several names is returned once.

    Parameters
    ----------
    path : path-like
        A ``.py`` file defining labeling functions (with ``@labeling_function()`` or the
        factories) at module level.

    Returns
    -------
    list of LabelingFunction

    Raises
    ------
    LFError
        Naming the file, when it is missing, fails to import, defines no labeling function, or
        defines two with the same name.
    """
    path = Path(path)
    if path.is_dir():
        raise LFError(f"{path}: is a directory; give the Python file defining the LFs")
    if not path.is_file():
        raise LFError(f"{path}: no such labeling-function file")
    resolved = path.resolve()
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:10]
    module_name = f"gristmill_lfs_{_identifier(resolved.stem)}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, resolved)
    if spec is None or spec.loader is None:
        raise LFError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    folder = str(resolved.parent)
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise LFError(
            f"{path}: importing the labeling functions failed: {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    _pickle_by_value(module)
    lfs: list[LabelingFunction] = []
    seen_ids: set[int] = set()
    names: dict[str, str] = {}
    for attribute, value in vars(module).items():
        if not isinstance(value, LabelingFunction) or id(value) in seen_ids:
            continue
        if value.name in names:
            raise LFError(
                f"{path}: LF names must be unique; {value.name!r} is defined by both "
                f"{names[value.name]!r} and {attribute!r}",
                lf_name=value.name,
            )
        seen_ids.add(id(value))
        names[value.name] = attribute
        lfs.append(value)
    if not lfs:
        raise LFError(
            f"{path}: defines no labeling functions; decorate functions with "
            "@labeling_function() or assign factory results (keyword_lf, ...) at module level"
        )
    return lfs


def _identifier(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in text)


def _pickle_by_value(module: object) -> None:
    """Let Dask workers, which cannot import this file by name, receive its functions by value."""
    try:
        import cloudpickle
    except ImportError:
        return
    cloudpickle.register_pickle_by_value(module)
