"""Importing a user's Python file (LFs, slicing functions) with the helper modules beside it."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import NamedTuple

from gristmill.exceptions import LFError

__all__ = ["UserModule", "import_user_module"]


class UserModule(NamedTuple):
    """An imported user file and every source file it was built from."""

    module: ModuleType
    files: list[Path]
    """The file first, then the helper modules it imported from its folder, by path."""


def import_user_module(path: str | os.PathLike[str], *, kind: str) -> UserModule:
    """Import a user's Python file afresh, with its folder on ``sys.path`` while it runs.

    Helper modules the file imports for the first time from its folder (or below; installed
    packages excepted) are taken out of ``sys.modules`` again, so they are imported afresh on
    every call: two projects with a ``helpers.py`` each do not see each other's, and an
    edited helper is read again. No longer importable by name, their functions are pickled by
    value (cloudpickle), like the file's own, so Dask workers receive them.

    Parameters
    ----------
    path : path-like
        The ``.py`` file.
    kind : str
        What the file defines, for error messages and the module's name, e.g.
        ``"labeling functions"``.

    Returns
    -------
    UserModule
        The module, and the files it depends on (for cache keys and lineage).

    Raises
    ------
    LFError
        Naming the file, when it is missing, a directory, or fails to import.
    """
    path = Path(path)
    if path.is_dir():
        raise LFError(f"{path}: is a directory; give the Python file defining the {kind}")
    if not path.is_file():
        raise LFError(f"{path}: no such file; give the Python file defining the {kind}")
    resolved = path.resolve()
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:10]
    module_name = f"gristmill_{_identifier(kind)}_{_identifier(resolved.stem)}_{digest}"
    spec = importlib.util.spec_from_file_location(module_name, resolved)
    if spec is None or spec.loader is None:
        raise LFError(f"{path}: cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    folder = resolved.parent
    before = set(sys.modules)
    sys.modules[module_name] = module
    sys.path.insert(0, str(folder))
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise LFError(f"{path}: importing the {kind} failed: {type(exc).__name__}: {exc}") from exc
    finally:
        if str(folder) in sys.path:
            sys.path.remove(str(folder))
        new = [name for name in sys.modules if name not in before and name != module_name]
        helpers = {name: sys.modules.pop(name) for name in _modules_under(folder, new)}
    _pickle_by_value(module)
    files = [resolved, *sorted(Path(str(h.__file__)).resolve() for h in helpers.values())]
    return UserModule(module, files)


def _modules_under(folder: Path, names: list[str]) -> list[str]:
    """Those of the modules ``names`` whose source lies in ``folder`` or below it.

    Only the modules the file imported for the first time are looked at (resolving the path of
    every loaded module took 0.4-1 s once MLflow and scikit-learn were loaded). Installed
    packages are never among them, even in a virtual environment kept inside the project's
    folder.
    """
    installed = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    found = []
    for name in names:
        source = getattr(sys.modules[name], "__file__", None)
        if not source:
            continue
        file = Path(source).resolve()
        if not file.is_relative_to(folder) or any(file.is_relative_to(p) for p in installed):
            continue
        if {"site-packages", "dist-packages"} & set(file.parts):
            continue
        found.append(name)
    return found


def _identifier(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in text)


def _pickle_by_value(module: ModuleType) -> None:
    """Let Dask workers, which cannot import this file by name, receive its functions by value."""
    try:
        import cloudpickle
    except ImportError:
        return
    cloudpickle.register_pickle_by_value(module)
