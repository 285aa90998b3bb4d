"""The Python modules of a tracked run (LFs, slicing functions): their lineage and kept copies.

A run keeps each module under its *key*, its path from the spec's folder (``a/lfs.py``), so
modules of one name in different folders stay apart; the helper modules a module imports from
its folder are kept beside it, as they lay beside it in the project. Runs logged before keys
were paths kept each module under its file name, at the top of its artifact folder.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gristmill.exceptions import TrackingError
from gristmill.tracking._hashing import file_digest, lf_digest

# A module outside the spec's folder is kept below its artifact folder all the same: each
# ``..`` of its key is a folder of this name there.
_PARENT = "__parent__"


def module_key(path: str | os.PathLike[str], spec_dir: str | os.PathLike[str]) -> str:
    """The name a run keeps a module under: its path from the spec's folder.

    Examples
    --------
    >>> module_key("/project/a/lfs.py", "/project")
    'a/lfs.py'
    >>> module_key("/shared/lfs.py", "/project")
    '../shared/lfs.py'
    """
    return Path(os.path.relpath(Path(path).resolve(), Path(spec_dir).resolve())).as_posix()


def kept_path(key: str) -> str:
    """Where the module kept under ``key`` lies in its artifact folder (never outside it).

    Examples
    --------
    >>> kept_path("a/lfs.py")
    'a/lfs.py'
    >>> kept_path("../../shared/lfs.py")
    '__parent__/__parent__/shared/lfs.py'
    """
    return "/".join(_PARENT if part == ".." else part for part in key.split("/"))


def lf_lineage(result: Any) -> dict[str, dict[str, Any]]:
    """The lineage of each LF module of a pipeline result, by key.

    Each entry holds the module's file ``digest``, under ``functions`` each labeling
    function's digest by LF name (see :func:`lf_digest`) and under ``helpers`` the file digest
    of each helper module it imports from its folder, by path from that folder. The modules
    are taken as the run imported them (``result.lf_modules``); a result without them (one
    built by hand) has its modules imported here.

    Raises
    ------
    LFError
        When a module must be imported here and cannot be, or defines no labeling function.
    """
    return _module_lineage(result, result.lf_paths, "lf_modules", _import_lf_module, True)


def slice_lineage(result: Any) -> dict[str, dict[str, Any]]:
    """The lineage of each slicing-function module of a result, by key: ``digest``, ``helpers``.

    As :func:`lf_lineage`, from ``result.slice_modules`` when the result has them.

    Raises
    ------
    LFError
        When a module must be imported here and cannot be, or defines no slicing function.
    """
    paths = getattr(result, "slice_paths", None) or []
    return _module_lineage(result, paths, "slice_modules", _import_slicing_module, False)


def _module_lineage(
    result: Any, paths: list[Any], attribute: str, load: Any, functions: bool
) -> dict[str, dict[str, Any]]:
    """Each module's lineage by key, from ``result.<attribute>`` or else ``load(path)``."""
    imported = _imported(result, attribute)
    spec_dir = Path(result.spec_path).parent
    lineage = {}
    for path in map(Path, paths):
        files, defined = imported.get(path.resolve()) or load(path)
        entry: dict[str, Any] = {"digest": file_digest(path)}
        if functions:
            entry["functions"] = {function.name: lf_digest(function) for function in defined}
        entry["helpers"] = _helper_digests(path, files)
        lineage[module_key(path, spec_dir)] = entry
    return lineage


def stage_sources(
    paths: list[Path], entries: Mapping[str, Mapping[str, Any]], spec_dir: Path, target: Path
) -> Path:
    """Copy modules, each under its key, and the helper modules they import into ``target``.

    ``entries`` are the modules' lineage by key (see :func:`lf_lineage`), whose ``helpers``
    name each helper by its path from its module's folder. That path is kept beside the
    module's copy, so the copies import each other from ``target`` as the modules did in the
    project.

    Returns
    -------
    pathlib.Path
        ``target``.

    Raises
    ------
    TrackingError
        When two different files would be kept at one place (a folder of the spec's named
        like the one standing for ``..``).
    """
    copied: dict[Path, Path] = {}

    def keep(source: Path, copy: Path) -> None:
        if copied.setdefault(copy, source) != source:
            raise TrackingError(
                f"cannot keep both {copied[copy]} and {source} with the run: both would be "
                f"kept as {copy.relative_to(target).as_posix()}"
            )
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, copy)

    target.mkdir(parents=True, exist_ok=True)
    for path in map(Path, paths):
        key = module_key(path, spec_dir)
        module_copy = target / kept_path(key)
        keep(path.resolve(), module_copy)
        for helper in entries[key]["helpers"]:
            keep(path.resolve().parent / helper, module_copy.parent / helper)
    return target


def _imported(result: Any, attribute: str) -> dict[Path, tuple[list[Path], list[Any]]]:
    """The modules a pipeline result carries as the run imported them: files and functions."""
    return {
        Path(module.path).resolve(): (list(module.files), list(module.functions))
        for module in getattr(result, attribute, None) or []
    }


def _import_lf_module(path: Path) -> tuple[list[Path], list[Any]]:
    from gristmill.labeling._load import import_lf_module

    lfs, files = import_lf_module(path)
    return files, lfs


def _import_slicing_module(path: Path) -> tuple[list[Path], list[Any]]:
    from gristmill.training.slices import import_slicing_module

    functions, files = import_slicing_module(path)
    return files, list(functions)


def _helper_digests(path: Path, files: list[Path]) -> dict[str, str]:
    """File digests of a module's helpers (``files`` after the first), by path from its folder."""
    folder = path.resolve().parent
    return {f.relative_to(folder).as_posix(): file_digest(f) for f in files[1:]}
