"""The public surface: one sorted __all__, every name importable, and a cheap import."""

from __future__ import annotations

import subprocess
import sys

import gristmill


def test_all_is_sorted_and_unique() -> None:
    assert list(gristmill.__all__) == sorted(set(gristmill.__all__))


def test_every_public_name_resolves() -> None:
    for name in gristmill.__all__:
        assert getattr(gristmill, name) is not None, name


def test_public_names_equal_all() -> None:
    public = {name for name in dir(gristmill) if not name.startswith("_")} | {"__version__"}
    # dir() lists loaded submodules too; those are not public API names.
    submodules = {name for name in public if type(getattr(gristmill, name)).__name__ == "module"}
    assert public - submodules == set(gristmill.__all__)


def test_unknown_attribute_raises() -> None:
    try:
        gristmill.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("expected AttributeError")


def _python(code: str) -> str:
    """What a fresh interpreter running ``code`` prints."""
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout


def test_import_is_cheap() -> None:
    code = (
        "import sys, gristmill; "
        "heavy = [m for m in ('torch', 'mlflow', 'dask', 'sklearn', 'optuna', 'fastapi') "
        "if m in sys.modules]; print(','.join(heavy))"
    )
    assert _python(code).strip() == ""


def test_subpackages_load_on_first_attribute_access() -> None:
    # As scikit-learn's: `import gristmill` then gristmill.labelmodel.LabelModel, no import of it.
    code = (
        "import sys, gristmill; "
        "assert 'gristmill.labelmodel' not in sys.modules; "
        "print(gristmill.labelmodel.LabelModel.__name__, gristmill.cleaning.Cleaner.__name__)"
    )
    assert _python(code).split() == ["LabelModel", "Cleaner"]
