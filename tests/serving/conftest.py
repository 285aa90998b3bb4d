"""Fixtures for the serving tests: a real MLflow store with the keyword model registered."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest


def _registry_module():  # noqa: ANN202
    name = "gristmill_test_registry"
    if name not in sys.modules:
        path = Path(__file__).with_name("_registry.py")
        spec = importlib.util.spec_from_file_location(name, path)
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


class LiveServer:
    """A real uvicorn server on 127.0.0.1 and a random port, run in a background thread."""

    def __init__(self, app) -> None:  # noqa: ANN001
        import threading

        import uvicorn

        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning")
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> str:
        import time

        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


@pytest.fixture
def live_server():  # noqa: ANN201
    return LiveServer
