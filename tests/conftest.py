"""Test-wide settings (no telemetry, no model downloads) and the shared served-model store."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TQDM_DISABLE", "1")


_SERVED_MODELS = Path(__file__).parent / "serving" / "_registry.py"


def _load_module(name: str, path: Path) -> ModuleType:
    """A helper module of the tests, loaded once (the tests use importlib mode, not packages)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def load_helper_module() -> Callable[[str, Path], ModuleType]:
    """Load a non-test helper file of the suite as a module (once per session)."""
    return _load_module


@pytest.fixture(scope="session")
def registry() -> ModuleType:
    """Helpers that log and register tiny real MLflow pyfunc models (tests/serving/_registry.py)."""
    return _load_module("gristmill_test_registry", _SERVED_MODELS)


@pytest.fixture(scope="session")
def tracking_uri(tmp_path_factory: Any, registry: ModuleType) -> str:
    """One SQLite MLflow store per session with the keyword model as kw@champion / kw@challenger."""
    return str(registry.cached_store(tmp_path_factory))
