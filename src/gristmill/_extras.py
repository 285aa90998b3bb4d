"""Polite imports of optional dependencies."""

from __future__ import annotations

import importlib
from types import ModuleType

from gristmill.exceptions import MissingExtraError


def require(module: str, *, extra: str, feature: str) -> ModuleType:
    """Import an optional module or explain which extra provides it.

    Parameters
    ----------
    module : str
        Dotted module name, e.g. ``"mlflow"``.
    extra : str
        Name of the gristmill extra that installs it, e.g. ``"tracking"``.
    feature : str
        What the user tried to do, e.g. ``"gristmill serve"``.

    Returns
    -------
    types.ModuleType
        The imported module.

    Raises
    ------
    MissingExtraError
        When the module is not installed.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"{feature} needs the '{extra}' extra: pip install 'gristmill[{extra}]' "
            f"(could not import {module}: {exc})"
        ) from exc


def installed(module: str) -> bool:
    """Whether the top-level package of ``module`` can be imported (found, not imported)."""
    import importlib.util

    return importlib.util.find_spec(module.split(".")[0]) is not None
