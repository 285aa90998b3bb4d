"""Tracking against a real `mlflow server` on 127.0.0.1 (a random free port)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

from gristmill.exceptions import TrackingError
from gristmill.tracking import (
    RunTracker,
    lineage,
    list_versions,
    load_bundle,
    models_trained_on,
    promote,
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(
    tmp_path_factory: pytest.TempPathFactory, empty_store: Path, store_copier: Callable
) -> Iterator[str]:
    root = tmp_path_factory.mktemp("server")
    store_copier(empty_store, root / "backend.db")
    port = _free_port()
    log = open(root / "server.log", "w")  # noqa: SIM115 (closed below, after the process)
    mlflow_cli = Path(sys.executable).with_name("mlflow")
    proc = subprocess.Popen(
        [
            str(mlflow_cli),
            "server",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--backend-store-uri",
            f"sqlite:///{root / 'backend.db'}",
            "--artifacts-destination",
            str(root / "artifacts"),
            "--workers",
            "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: the server's workers stop with it
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(uri + "/health", timeout=1) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((root / "server.log").read_text()[-2000:])
            time.sleep(0.5)
        yield uri
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


@pytest.mark.slow
def test_track_register_promote_and_load_through_a_server(
    server: str, tmp_path: Path, fakes: ModuleType
) -> None:
    spec_path = fakes.write_project(tmp_path / "project")
    tracker = RunTracker(project_dir=tmp_path / "project", tracking_uri=server)
    fakes.tracked_run(spec_path, tracker)
    assert not (tmp_path / "project" / "mlflow.db").exists()
    table = list_versions("spam", tracking_uri=server)
    assert list(table["version"]) == ["1"] and list(table["aliases"]) == ["challenger"]
    promote("spam", 1, tracking_uri=server)
    doc = lineage("spam@champion", tracking_uri=server)
    assert doc["run"]["run_id"] == tracker.run_id_
    found = models_trained_on(dataset_digest=doc["data"]["train"]["digest"], tracking_uri=server)
    assert list(found["version"]) == ["1"]
    bundle = load_bundle("spam@champion", tracking_uri=server)
    out = bundle.predict(pd.DataFrame({"text": ["subscribe to my channel"]}))
    assert out.loc[0, "prediction"] == "spam"


def test_unreachable_server_is_refused_before_training(fakes: ModuleType, tmp_path: Path) -> None:
    port = _free_port()  # nothing listens there
    tracker = RunTracker(project_dir=tmp_path, tracking_uri=f"http://127.0.0.1:{port}", timeout=1)
    spec_path = fakes.write_project(tmp_path / "p")
    with pytest.raises(TrackingError, match="unreachable"):
        fakes.tracked_run(spec_path, tracker)
    assert tracker.run_id_ is None
