"""Fixtures for the monitoring tests: the serving tests' MLflow store with the keyword model."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

_REGISTRY = Path(__file__).parents[1] / "serving" / "_registry.py"


def _registry_module():  # noqa: ANN202
    name = "gristmill_test_registry"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, _REGISTRY)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def registry():  # noqa: ANN201
    return _registry_module()


@pytest.fixture(scope="session")
def tracking_uri(tmp_path_factory, registry) -> str:  # noqa: ANN001
    return registry.cached_store(tmp_path_factory)
