"""Fixtures for the serving tests: a real MLflow store with the keyword model registered."""

from __future__ import annotations

import pytest


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
