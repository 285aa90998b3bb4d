"""Loading labeling functions from a Python file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from gristmill._user_modules import import_user_module
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

    Module level means bound to a name of the module, or held in a list or tuple bound to one
    (``lfs = [keyword_lf(w, SPAM) for w in WORDS]``, as Snorkel users write them). The file's
    folder is on ``sys.path`` while it runs, so it may import helper modules beside it (see
    :func:`import_lf_module`). An object bound to several names, or also listed, is returned
    once.

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

    See :func:`~gristmill._user_modules.import_user_module`: helpers are each project's own,
    read again on every call and pickled by value. The returned ``files`` are what the LFs
    depend on, for cache keys.

    Raises
    ------
    LFError
        As :func:`load_lfs`.
    """
    module, files = import_user_module(path, kind="labeling functions")
    return LFModule(_module_lfs(module, Path(path)), files)


def _module_lfs(module: object, path: Path) -> list[LabelingFunction]:
    """The module's labeling functions in definition order, each once, names unique."""
    lfs: list[LabelingFunction] = []
    seen_ids: set[int] = set()
    names: dict[str, str] = {}
    for attribute, value in _module_level(module):
        if id(value) in seen_ids:
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


def _module_level(module: object) -> list[tuple[str, LabelingFunction]]:
    """(name, LF) of each LF bound to a module name or held in a module-level list or tuple."""
    found: list[tuple[str, LabelingFunction]] = []
    for attribute, value in vars(module).items():
        if isinstance(value, LabelingFunction):
            found.append((attribute, value))
        elif isinstance(value, list | tuple):
            found.extend(
                (f"{attribute}[{i}]", item)
                for i, item in enumerate(value)
                if isinstance(item, LabelingFunction)
            )
    return found
