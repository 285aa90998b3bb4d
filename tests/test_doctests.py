"""The examples in every module's docstrings run and print what they show."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import gristmill

# Every module of the package (the CLI's entry point runs the CLI when imported).
MODULES = [
    info.name
    for info in pkgutil.walk_packages(gristmill.__path__, "gristmill.")
    if not info.name.endswith("__main__")
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_the_modules_hold_examples() -> None:
    examples = [
        doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS).attempted
        for name in ("gristmill.labeling._factories", "gristmill.labelmodel._votes")
    ]
    assert all(count > 0 for count in examples)
