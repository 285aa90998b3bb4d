"""The request log: no lost rows under concurrent load, across threads, processes and workers."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pandas as pd
import pytest

from gristmill.exceptions import DataError, ServingError
from gristmill.serving import RequestLog, create_app

_WRITER = """
import sys
from gristmill.serving import RequestLog
log = RequestLog(sys.argv[1])
for i in range(int(sys.argv[3])):
    log.log_prediction(f"{sys.argv[2]}-{i}", "m", "1", [{"x": i}], ["a"], [{"a": 1.0}], 0.1)
"""


_SUBMITTER = """
import sys
from gristmill.serving import RequestLog
log = RequestLog(sys.argv[1])
for i in range(int(sys.argv[2])):
    log.submit_prediction(f"q{i}", "m", "1", [{"x": i}], ["a"], [{"a": 1.0}], 0.1)
"""  # exits without close(): the log must still write what it queued


def _write_many(path: str, prefix: str, n: int) -> None:
    log = RequestLog(path)
    for i in range(n):
        log.log_prediction(f"{prefix}-{i}", "m", "1", [{"x": i}], ["a"], [{"a": 1.0}], 0.1)


def test_records_round_trip_and_time_filter(tmp_path: Path) -> None:
    log = RequestLog(tmp_path / "log.sqlite")
    log.log_prediction("r1", "m", "1", [{"x": 1}, {"x": 2}], ["a", "b"],
                       [{"a": 0.9, "b": 0.1}, {"a": 0.2, "b": 0.8}], 1.5)
    middle = time.time()
    time.sleep(0.01)
    log.log_prediction("r2", "m", "2", [{"x": 3}], ["a"], [{"a": 0.6, "b": 0.4}], 1.0)
    frame = log.records()
    assert frame["x"].tolist() == [1, 2, 3]
    assert frame["_prediction"].tolist() == ["a", "b", "a"]
    assert frame["_proba_b"].tolist() == pytest.approx([0.1, 0.8, 0.4])
    assert frame["_model_version"].tolist() == ["1", "1", "2"]
    assert frame["_model_name"].tolist() == ["m", "m", "m"]
    assert log.records(since=middle)["_request_id"].tolist() == ["r2"]
    assert log.n_records("r1") == 2 and log.n_records("nope") is None
    with pytest.raises(DataError, match="no requests"):
        log.records(since=time.time() + 60)
    assert pd.isna(frame["_label"]).all()


def test_an_interval_ending_at_the_epoch_holds_no_request(tmp_path: Path) -> None:
    log = RequestLog(tmp_path / "log.sqlite")
    log.log_prediction("r1", "m", "1", [{"x": 1}], ["a"], [{"a": 1.0}], 1.0)
    assert log.records(until=time.time() + 60)["_request_id"].tolist() == ["r1"]
    with pytest.raises(DataError, match="no requests"):
        log.records(until=0)
    log.close()


def test_forget_feedback_deletes_only_the_named_rows_of_the_request(tmp_path: Path) -> None:
    log = RequestLog(tmp_path / "log.sqlite")
    for request_id in ("r1", "r2"):
        log.log_prediction(request_id, "m", "1", [{"x": 1}, {"x": 2}, {"x": 3}], ["a"] * 3,
                           [{"a": 1.0}] * 3, 1.0)
        log.log_feedback(request_id, ["a", "b", "a"])
    log.forget_feedback("r1", [0, 2])
    log.forget_feedback("r1", [])
    log.forget_feedback("r1", [1, 1])
    log.forget_feedback("r2", [2])

    def labels() -> list[str | None]:
        return [None if pd.isna(v) else v for v in log.records()["_label"]]

    assert labels() == [None, None, None, "a", "b", None]
    log.log_feedback("r1", ["b", None, None])  # a forgotten row can be labelled again
    assert labels() == ["b", None, None, "a", "b", None]
    log.close()


def test_background_writer_writes_every_queued_row(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite"
    log = RequestLog(path)
    records = [[{"x": i, "note": "é"}] for i in range(300)]
    for i, record in enumerate(records):
        log.submit_prediction(f"r{i}", "m", "1", record, ["a"], [{"a": 0.25}], 2.0)
    log.close()  # writes what is queued; another connection sees it all
    other = RequestLog(path)
    assert other.count() == 300
    frame = other.records()
    assert frame["x"].tolist() == list(range(300)) and set(frame["note"]) == {"é"}
    assert frame["_proba_a"].tolist() == [0.25] * 300
    # A closed log starts a new writer on the next row; reads wait for queued rows.
    log.submit_prediction("late", "m", "1", [{"x": -1}], ["a"], [{"a": 1.0}], 1.0)
    assert log.n_records("late") == 1 and log.count() == 301
    log.close()


def test_rows_queued_at_interpreter_exit_are_written(tmp_path: Path) -> None:
    path = str(tmp_path / "log.sqlite")
    subprocess.run([sys.executable, "-c", _SUBMITTER, path, "500"], check=True, timeout=120)
    assert RequestLog(path).count() == 500


def test_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "log.sqlite")
    RequestLog(path)
    workers = [subprocess.Popen([sys.executable, "-c", _WRITER, path, f"p{k}", "150"])
               for k in range(3)]
    _write_many(path, "main", 150)
    for worker in workers:
        assert worker.wait(timeout=120) == 0
    assert RequestLog(path).count() == 600


def test_threads_hammering_a_live_server_lose_nothing(tracking_uri, tmp_path, live_server) -> None:  # noqa: ANN001
    app = create_app("kw@champion", tracking_uri=tracking_uri, log_path=tmp_path / "log.sqlite",
                     poll_interval=0)
    n_requests = 240
    with live_server(app) as base_url, httpx.Client(base_url=base_url, timeout=30) as client:
        def call(i: int) -> int:
            records = [{"text": f"comment {i}", "length": float(i)}] * (1 + i % 3)
            return client.post("/predict", json={"records": records}).status_code

        with ThreadPoolExecutor(max_workers=16) as pool:
            statuses = list(pool.map(call, range(n_requests)))
    assert statuses == [200] * n_requests
    log = app.state.request_log
    assert log.count() == n_requests
    assert len(log.records()) == sum(1 + i % 3 for i in range(n_requests))




@pytest.mark.slow
def test_several_uvicorn_workers_share_the_log(tracking_uri, tmp_path, registry) -> None:  # noqa: ANN001
    port, log_path = registry.free_port(), tmp_path / "log.sqlite"
    code = (
        "from gristmill.serving import serve; "
        f"serve('kw@champion', port={port}, workers=2, tracking_uri={tracking_uri!r}, "
        f"log_path={str(log_path)!r}, poll_interval=0, log_level='warning')"
    )
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    stderr_path = tmp_path / "stderr.txt"
    with stderr_path.open("wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.DEVNULL,
                                stderr=stderr)
    try:
        base_url = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base_url, timeout=30) as client:
            registry.wait_until_healthy(client, proc, stderr_path)

            def call(i: int) -> int:
                body = {"records": [{"text": f"c{i}", "length": 1.0}]}
                return client.post("/predict", json=body).status_code

            with ThreadPoolExecutor(max_workers=12) as pool:
                statuses = list(pool.map(call, range(200)))
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    assert statuses == [200] * 200
    assert RequestLog(log_path).count() == 200


def test_a_file_that_is_no_request_log_is_named(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    path.write_text("these are my notes, not a database\n" * 20)
    with pytest.raises(ServingError, match="notes.sqlite is not a gristmill request log"):
        RequestLog(path)
    assert path.read_text().startswith("these are my notes")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_sqlite_database_of_another_program_is_refused_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "app.db"
    con = sqlite3.connect(path)
    con.executescript("CREATE TABLE users (id INTEGER, name TEXT); "
                      "INSERT INTO users VALUES (1, 'a');")
    con.close()
    before = _digest(path)
    for read_only in (False, True):
        with pytest.raises(ServingError, match=r"app\.db is not a gristmill request log but a "
                                               r"SQLite database with the tables users"):
            RequestLog(path, read_only=read_only)
    assert _digest(path) == before
    con = sqlite3.connect(path)
    tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master")}
    con.close()
    assert tables == {"users"}
    # A table named like the log's, with other columns, is someone else's too.
    other = tmp_path / "other.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE requests (id INTEGER)")
    con.close()
    with pytest.raises(ServingError, match="not a gristmill request log"):
        RequestLog(other)


def test_an_empty_file_becomes_a_log(tmp_path: Path) -> None:
    path = tmp_path / "log.sqlite"
    path.touch()
    RequestLog(path).log_prediction("r1", "m", "1", [{"x": 1}], ["a"], [{"a": 1.0}], 1.0)
    assert RequestLog(path).count() == 1


def test_a_read_only_log_creates_and_writes_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "none" / "log.sqlite"
    with pytest.raises(ServingError, match="no request log at"):
        RequestLog(missing, read_only=True)
    assert not missing.parent.exists()
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    with pytest.raises(ServingError, match="holds no gristmill request log"):
        RequestLog(empty, read_only=True)
    assert empty.stat().st_size == 0

    path = tmp_path / "log.sqlite"
    writer = RequestLog(path)
    writer.log_prediction("r1", "m", "1", [{"x": 1}], ["a"], [{"a": 1.0}], 1.0)
    reader = RequestLog(path, read_only=True)
    assert reader.records()["x"].tolist() == [1]
    with pytest.raises(ServingError, match="readonly"):
        reader.log_prediction("r2", "m", "1", [{"x": 2}], ["a"], [{"a": 1.0}], 1.0)
    assert writer.count() == 1
