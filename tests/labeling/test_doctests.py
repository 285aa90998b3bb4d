"""The examples in the labeling modules' docstrings run and print what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = [
    "gristmill.labeling._analysis",
    "gristmill.labeling._apply",
    "gristmill.labeling._factories",
    "gristmill.labeling._lf",
    "gristmill.labeling._matrix",
    "gristmill.labeling._preprocess",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
