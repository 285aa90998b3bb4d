"""Loading labeling functions from a Python file."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import NamedTuple

from gristmill.exceptions import LFError
from gristmill.labeling._lf import LabelingFunction

__all__ = ["LFModule", "import_lf_module", "load_lfs"]


class LFModule(NamedTuple):
    """An imported labeling-function file: its LFs and every source file they were built from."""

    lfs: list[LabelingFunction]
    files: list[Path]
    """The LF file first, then the helper modules it imported from its folder, by path."""


def load_lfs(path: str | os.PathLike[str]) -> list[LabelingFunction]:
    """Import a Python file and return its module-level labeling functions in definition order.

    The file's folder is on ``sys.path`` while it runs, so it may import helper modules beside
    it (see :func:`import_lf_module`). An object bound to several names is returned once.

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
    return import_lf_module(path).lfs


def import_lf_module(path: str | os.PathLike[str]) -> LFModule:
    """Import a labeling-function file afresh, with the helper modules it imports beside it.

    Helper modules the file imports for the first time from its folder (or below; installed
    packages excepted) are taken out of ``sys.modules`` again, so they are imported afresh on
    every call: two projects with a ``helpers.py`` each do not see each other's, and an
    edited helper is read again. No longer importable by name, their functions are pickled by
    value (cloudpickle), like the file's own, so Dask workers receive them. The returned
    ``files`` are what the LFs depend on, for cache keys.

    Raises
    ------
    LFError
        As :func:`load_lfs`.
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
    folder = resolved.parent
    before = set(sys.modules)
    sys.modules[module_name] = module
    sys.path.insert(0, str(folder))
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(module_name, None)
        raise LFError(
            f"{path}: importing the labeling functions failed: {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        if str(folder) in sys.path:
            sys.path.remove(str(folder))
        helpers = {
            name: sys.modules.pop(name)
            for name in _modules_under(folder, exclude=module_name)
            if name not in before
        }
    _pickle_by_value(module)
    files = [resolved, *sorted(Path(str(h.__file__)).resolve() for h in helpers.values())]
    return LFModule(_module_lfs(module, path), files)


def _modules_under(folder: Path, *, exclude: str) -> list[str]:
    """Names of the imported modules whose source lies in ``folder`` or below it.

    Installed packages are never among them, even in a virtual environment kept inside the
    project's folder.
    """
    installed = {Path(p).resolve() for p in (sys.prefix, sys.base_prefix, sys.exec_prefix)}
    names = []
    for name, module in list(sys.modules.items()):
        source = getattr(module, "__file__", None)
        if name == exclude or not source:
            continue
        file = Path(source).resolve()
        if not file.is_relative_to(folder) or any(file.is_relative_to(p) for p in installed):
            continue
        if {"site-packages", "dist-packages"} & set(file.parts):
            continue
        names.append(name)
    return names


def _module_lfs(module: object, path: Path) -> list[LabelingFunction]:
    """The module's labeling functions in definition order, each once, names unique."""
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
