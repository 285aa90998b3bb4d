"""Resolving and checking the tracking store."""

from __future__ import annotations

import http.server
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gristmill.exceptions import TrackingError
from gristmill.tracking import check_store, resolve_tracking_uri


def test_uri_resolution_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_tracking_uri(tmp_path) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert resolve_tracking_uri(tmp_path) == "http://127.0.0.1:5999"
    assert resolve_tracking_uri(tmp_path, "sqlite:///x.db") == "sqlite:///x.db"


def test_unreachable_server_fails_fast() -> None:
    start = time.perf_counter()
    with pytest.raises(TrackingError, match=r"http://127.0.0.1:9 is unreachable") as info:
        check_store("http://127.0.0.1:9", timeout=1.0)
    # Read commands (models, lineage, report) have no --no-track to suggest.
    assert "--tracking-uri or MLFLOW_TRACKING_URI" in str(info.value)
    assert "--no-track" not in str(info.value)
    assert time.perf_counter() - start < 3


@pytest.fixture
def unhealthy_server() -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            self.send_response(503)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_unhealthy_server_is_reported(unhealthy_server: str) -> None:
    with pytest.raises(TrackingError, match="HTTP 503"):
        check_store(unhealthy_server)


def test_corrupt_sqlite_store_is_reported(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    db.write_text("this is not a database, it is a text file of some length " * 20)
    with pytest.raises(TrackingError, match="not a usable SQLite database"):
        check_store(f"sqlite:///{db}")


def test_missing_directory_is_created_and_fresh_store_passes(tmp_path: Path) -> None:
    check_store(f"sqlite:///{tmp_path}/new/dir/mlflow.db")
    assert (tmp_path / "new" / "dir").is_dir()


def test_unwritable_directory_is_reported(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(TrackingError, match="cannot create the tracking directory"):
        check_store(f"sqlite:///{blocker}/sub/mlflow.db")


def test_reading_a_missing_store_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gristmill.tracking import list_versions, models_trained_on

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(TrackingError, match=r"no MLflow store at .*x/y/z/mlflow.db"):
        list_versions("spam", project_dir=tmp_path / "x" / "y" / "z")
    with pytest.raises(TrackingError, match=r"no MLflow store at .*runs/here"):
        models_trained_on(lf_digest="abcd", tracking_uri=f"file:{tmp_path}/runs/here")
    assert list(tmp_path.iterdir()) == []


def test_a_database_file_given_as_a_path_is_refused_with_the_uri_to_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with sqlite3.connect(tmp_path / "store.bin") as con:
        con.execute("CREATE TABLE t (x)")
    (tmp_path / "notes.txt").write_text("not a store")
    refusals = {
        "mlflow.db": "sqlite:///mlflow.db",  # new, named like a database
        "store.bin": "sqlite:///store.bin",  # existing, a database by its content
        f"file:{tmp_path}/store.bin": f"sqlite:///{tmp_path}/store.bin",
    }
    for uri, instead in refusals.items():
        expected = rf"^--tracking-uri '{re.escape(uri)}' is a file path.* {re.escape(instead)}$"
        with pytest.raises(TrackingError, match=expected):
            resolve_tracking_uri(tmp_path, uri)
    with pytest.raises(TrackingError, match=r"^--tracking-uri 'notes.txt' is a file, not an"):
        resolve_tracking_uri(tmp_path, "notes.txt")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "mlflow.db")
    with pytest.raises(TrackingError, match=r"^MLFLOW_TRACKING_URI 'mlflow.db' is a file path"):
        resolve_tracking_uri(tmp_path)
    assert resolve_tracking_uri(tmp_path, "sqlite:///new/mlflow.db") == "sqlite:///new/mlflow.db"
    assert resolve_tracking_uri(tmp_path, str(tmp_path)) == str(tmp_path)  # a file store
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.txt", "store.bin"]


def test_databricks_is_a_workspace_not_a_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_tracking_uri(tmp_path, "databricks") == "databricks"
    check_store("databricks")
    assert list(tmp_path.iterdir()) == []


def test_opening_a_client_leaves_the_environment_as_it_was_even_when_it_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlflow
    import mlflow.tracking._tracking_service.utils as mlflow_uris

    from gristmill.tracking._store import open_client

    # MLflow's own process-wide URI is set on the way: put it back after the test.
    monkeypatch.setattr(mlflow_uris, "_tracking_uri", mlflow_uris._tracking_uri)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MLFLOW_REGISTRY_URI", "sqlite:///registry.db")

    def refused(uri: str) -> None:
        raise mlflow.exceptions.MlflowException(f"unsupported registry {uri}")

    monkeypatch.setattr(mlflow, "set_registry_uri", refused)
    with pytest.raises(mlflow.exceptions.MlflowException, match="unsupported registry"):
        open_client(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert "MLFLOW_TRACKING_URI" not in os.environ
    assert os.environ["MLFLOW_REGISTRY_URI"] == "sqlite:///registry.db"
