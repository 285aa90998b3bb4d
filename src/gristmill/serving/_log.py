"""The request log: every prediction request and response, and feedback labels, in SQLite (WAL).

Each process and thread opens its own connection; writers wait on a busy database
(``busy_timeout``) and retry, so several uvicorn workers can log to one file without losing rows.
The service hands rows to a background writer thread (:meth:`RequestLog.submit_prediction`),
which inserts whatever has queued up in one transaction, off the request path; reads, and
:meth:`RequestLog.close` (also run at interpreter exit), wait until the queue is written.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from gristmill.exceptions import DataError, ServingError
from gristmill.serving._queue_thread import QueueThread

__all__ = ["RequestLog"]

logger = logging.getLogger("gristmill.serving")

# One transaction, so that another process never sees the log half created.
_SCHEMA = """
BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS requests (
    request_id TEXT PRIMARY KEY,
    ts REAL NOT NULL,
    model_name TEXT NOT NULL,
    model_version TEXT NOT NULL,
    n_records INTEGER NOT NULL,
    records TEXT NOT NULL,
    predictions TEXT NOT NULL,
    probabilities TEXT NOT NULL,
    latency_ms REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS requests_ts ON requests (ts);
CREATE TABLE IF NOT EXISTS feedback (
    request_id TEXT NOT NULL REFERENCES requests (request_id),
    row INTEGER NOT NULL,
    label TEXT NOT NULL,
    ts REAL NOT NULL,
    PRIMARY KEY (request_id, row)
);
COMMIT;
"""
_TABLES = {
    "requests": ["request_id", "ts", "model_name", "model_version", "n_records", "records",
                 "predictions", "probabilities", "latency_ms"],
    "feedback": ["request_id", "row", "label", "ts"],
}

_RETRIES = 20
_INSERT_REQUEST = "INSERT INTO requests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
_UPSERT_FEEDBACK = "INSERT OR REPLACE INTO feedback VALUES (?, ?, ?, ?)"
_DELETE_FEEDBACK = "DELETE FROM feedback WHERE request_id = ? AND row IN ({marks})"
_FORGET_FEEDBACK_ROW = "DELETE FROM feedback WHERE request_id = ? AND row = ?"
# How long reads wait for queued rows to be written before reading anyway.
_FLUSH_TIMEOUT_S = 60.0
# Pause before the writer retries rows the database refused (it keeps them, never drops them).
_WRITER_BACKOFF_S = 0.5

PredictionRow = tuple[str, float, str, str, Sequence[dict[str, Any]], Sequence[str],
                      Sequence[dict[str, float]], float]


def _encode(row: PredictionRow) -> tuple[Any, ...]:
    request_id, ts, model_name, model_version, records, predictions, probabilities, latency = row
    return (request_id, ts, model_name, model_version, len(records),
            json.dumps(list(records), default=str), json.dumps(list(predictions)),
            json.dumps(list(probabilities)), float(latency))


def _feedback_rows(request_id: str, labels: Sequence[str | None]) -> list[tuple[Any, ...]]:
    """The feedback table's rows of ``labels`` (record, label) not None, stamped now."""
    now = time.time()
    return [(request_id, i, label, now) for i, label in enumerate(labels) if label is not None]


def _write_all(con: sqlite3.Connection, *statements: tuple[str, Sequence[tuple[Any, ...]]]
               ) -> None:
    """Run each ``(sql, rows)`` statement on its rows in one write transaction (all or none)."""
    con.execute("BEGIN IMMEDIATE")
    try:
        for sql, rows in statements:
            con.executemany(sql, rows)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _read_only_connection(path: Path, timeout_s: float) -> sqlite3.Connection:
    """A connection that cannot change the file (nor create it)."""
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=timeout_s,
                           isolation_level=None)


class RequestLog:
    """Append-only log of served requests in a SQLite database in WAL mode.

    Parameters
    ----------
    path : path-like
        Database file; created (with its directory) when missing, unless ``read_only``. An
        existing file must be a gristmill request log (or an empty database): any other SQLite
        database is refused untouched.
    busy_timeout_ms : int, default 10000
        How long a writer waits for the write lock before retrying.
    read_only : bool, default False
        Open an existing log for reading only: nothing is created or written (reading commands
        such as ``gristmill monitor --since`` use this).

    Raises
    ------
    ServingError
        When ``path`` is not a SQLite file, is a SQLite database with other tables than a
        request log's, or (``read_only``) does not exist or holds no request log.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> log = RequestLog(pathlib.Path(tempfile.mkdtemp()) / "log.sqlite")
    >>> log.log_prediction("r1", "spam", "1", [{"text": "hi"}], ["ham"], [{"ham": 0.9}], 1.0)
    >>> log.count()
    1
    >>> log.submit_prediction("r2", "spam", "1", [{"text": "yo"}], ["ham"], [{"ham": 0.8}], 1.0)
    >>> log.count()  # waits for the background writer
    2
    >>> log.close()
    """

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout_ms: int = 10_000,
                 read_only: bool = False) -> None:
        self.path = Path(path)
        self.busy_timeout_ms = int(busy_timeout_ms)
        self.read_only = read_only
        self._local = threading.local()
        if read_only and not self.path.is_file():
            raise ServingError(f"no request log at {self.path}")
        found = self._log_tables() if self.path.exists() else set()
        if read_only and found != set(_TABLES):
            raise ServingError(f"{self.path} holds no gristmill request log (tables "
                               f"{', '.join(sorted(_TABLES))})")
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._retry(lambda con: con.executescript(_SCHEMA))
        self._writer: QueueThread[PredictionRow] = QueueThread(
            self._write_rows, name="gristmill-request-log"
        )
        self._closes_at_exit = False

    def _log_tables(self) -> set[str]:
        """The request-log tables of the existing file, read without changing it.

        Raises ServingError when the file is no SQLite database, or one with any other table
        (or a table of the log's name with other columns): some other program's database.
        """
        try:
            con = _read_only_connection(self.path, self.busy_timeout_ms / 1000)
            try:
                names = {row[0] for row in con.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' "
                    "AND name NOT LIKE 'sqlite_%'")}
                foreign = [name for name in names if name not in _TABLES or [
                    row[1] for row in con.execute(f"PRAGMA table_info({name})")] != _TABLES[name]]
            finally:
                con.close()
        except sqlite3.OperationalError as exc:
            raise ServingError(f"request log {self.path} cannot be read: {exc}") from exc
        except sqlite3.DatabaseError as exc:
            raise ServingError(
                f"request log {self.path} is not a gristmill request log (SQLite): {exc}"
            ) from exc
        if foreign:
            listed = sorted(names)
            more = f" and {len(listed) - 5} more" if len(listed) > 5 else ""
            raise ServingError(
                f"{self.path} is not a gristmill request log but a SQLite database with the "
                f"tables {', '.join(listed[:5])}{more}; it is left unchanged: give the request "
                "log a path of its own"
            )
        return names

    def _connection(self) -> sqlite3.Connection:
        # One connection per (process, thread): sqlite3 connections must not cross threads, and a
        # forked worker must not reuse its parent's.
        con = getattr(self._local, "con", None)
        if con is None or getattr(self._local, "pid", None) != os.getpid():
            if self.read_only:
                con = _read_only_connection(self.path, self.busy_timeout_ms / 1000)
            else:
                con = sqlite3.connect(self.path, timeout=self.busy_timeout_ms / 1000,
                                      isolation_level=None)
            con.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms}")
            if not self.read_only:
                con.execute("PRAGMA journal_mode = WAL")
                con.execute("PRAGMA synchronous = NORMAL")
            self._local.con = con
            self._local.pid = os.getpid()
        return con

    def _retry(self, action: Any) -> Any:
        delay = 0.005
        for attempt in range(_RETRIES):
            try:
                con = self._connection()
                return action(con)
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc):
                    raise ServingError(f"request log {self.path}: {exc}") from exc
                if attempt == _RETRIES - 1:
                    raise ServingError(
                        f"request log {self.path} stayed locked after {_RETRIES} attempts"
                    ) from exc
                time.sleep(delay)
                delay = min(delay * 2, 0.5)
            except sqlite3.DatabaseError as exc:  # not a SQLite file, or a damaged one
                raise ServingError(
                    f"request log {self.path} is not a gristmill request log (SQLite): {exc}"
                ) from exc
        raise AssertionError("unreachable")

    def log_prediction(
        self,
        request_id: str,
        model_name: str,
        model_version: str,
        records: Sequence[dict[str, Any]],
        predictions: Sequence[str],
        probabilities: Sequence[dict[str, float]],
        latency_ms: float,
    ) -> None:
        """Append one served request and its response now, in the calling thread."""
        row = _encode((request_id, time.time(), model_name, model_version, records, predictions,
                       probabilities, latency_ms))
        self._retry(lambda con: _write_all(con, (_INSERT_REQUEST, [row])))

    def submit_prediction(
        self,
        request_id: str,
        model_name: str,
        model_version: str,
        records: Sequence[dict[str, Any]],
        predictions: Sequence[str],
        probabilities: Sequence[dict[str, float]],
        latency_ms: float,
    ) -> None:
        """Queue one served request and its response for the background writer; return at once.

        The writer thread starts on first use. Queued rows are written in order, several per
        transaction; the records must not be changed after the call.
        """
        row = (request_id, time.time(), model_name, model_version, records, predictions,
               probabilities, float(latency_ms))
        self._writer.put(row)
        if not self._closes_at_exit:
            self._closes_at_exit = True
            atexit.register(self.close)

    def _write_rows(self, batch: list[PredictionRow]) -> None:
        """The writer thread's work: insert ``batch`` in one transaction, retrying until written."""
        rows = [_encode(row) for row in batch]
        while True:
            try:
                self._retry(lambda con: _write_all(con, (_INSERT_REQUEST, rows)))
                return
            except Exception as exc:  # keep the rows and try again; never drop them silently
                if self._writer.closing:
                    logger.error("request log %s: %d rows could not be written at shutdown: %s",
                                 self.path, len(rows), exc)
                    return
                logger.warning("request log %s: writing %d rows failed (%s); retrying",
                               self.path, len(rows), exc)
                time.sleep(_WRITER_BACKOFF_S)

    def flush(self, timeout: float | None = _FLUSH_TIMEOUT_S) -> bool:
        """Wait until every row queued so far is written; return False on timeout."""
        return self._writer.wait_handled(timeout)

    def n_records(self, request_id: str) -> int | None:
        """Number of records in request ``request_id``, or None when it was never logged."""
        self.flush()

        def query(con: sqlite3.Connection) -> Any:
            return con.execute(
                "SELECT n_records FROM requests WHERE request_id = ?", (request_id,)
            ).fetchone()

        found = self._retry(query)
        return None if found is None else int(found[0])

    def log_feedback(self, request_id: str, labels: Sequence[str | None]) -> int:
        """Store gold labels (None = unknown) for the rows of an earlier request; return how many.

        A later label for the same row replaces the earlier one.
        """
        rows = _feedback_rows(request_id, labels)
        self._retry(lambda con: _write_all(con, (_UPSERT_FEEDBACK, rows)))
        return len(rows)

    def set_feedback(self, request_id: str, labels: Sequence[str | None]) -> int:
        """Store the gold labels of an earlier request's records; return how many are stored.

        A label replaces an earlier one of its record; None forgets it (the label is unknown).
        All of it is written in one transaction, or nothing is.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> log = RequestLog(pathlib.Path(tempfile.mkdtemp()) / "log.sqlite")
        >>> log.log_prediction("r1", "spam", "1", [{"text": "a"}, {"text": "b"}], ["ham", "ham"],
        ...                    [{"ham": 0.9}, {"ham": 0.8}], 1.0)
        >>> log.set_feedback("r1", ["spam", "ham"])
        2
        >>> log.set_feedback("r1", [None, "spam"])
        1
        >>> log.records()["_label"].isna().tolist()
        [True, False]
        >>> log.close()
        """
        stored = _feedback_rows(request_id, labels)
        forgotten = [(request_id, i) for i, label in enumerate(labels) if label is None]
        self._retry(lambda con: _write_all(con, (_UPSERT_FEEDBACK, stored),
                                           (_FORGET_FEEDBACK_ROW, forgotten)))
        return len(stored)

    def forget_feedback(self, request_id: str, rows: Sequence[int]) -> None:
        """Delete the stored labels of ``rows`` (record positions) of request ``request_id``.

        Rows without a stored label are left as they are: their label stays unknown.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> log = RequestLog(pathlib.Path(tempfile.mkdtemp()) / "log.sqlite")
        >>> log.log_prediction("r1", "spam", "1", [{"text": "a"}, {"text": "b"}], ["ham", "ham"],
        ...                    [{"ham": 0.9}, {"ham": 0.8}], 1.0)
        >>> log.log_feedback("r1", ["spam", "ham"])
        2
        >>> log.forget_feedback("r1", [0])
        >>> log.records()["_label"].isna().tolist()
        [True, False]
        >>> log.close()
        """
        if not rows:
            return
        sql = _DELETE_FEEDBACK.format(marks=", ".join("?" * len(rows)))
        self._retry(lambda con: con.execute(sql, (request_id, *rows)))

    def count(self) -> int:
        """Number of logged requests (after writing any queued ones)."""
        self.flush()
        found = self._retry(lambda con: con.execute("SELECT COUNT(*) FROM requests").fetchone())
        return int(found[0])

    def _rows(self, since: float | None, until: float | None) -> Iterator[tuple[Any, ...]]:
        query = (
            "SELECT r.request_id, r.ts, r.model_name, r.model_version, r.records, r.predictions, "
            "r.probabilities FROM requests r WHERE r.ts >= ? AND r.ts < ? ORDER BY r.ts"
        )
        bounds = (since if since is not None else float("-inf"),
                  until if until is not None else float("inf"))
        self.flush()
        return iter(self._retry(lambda con: con.execute(query, bounds).fetchall()))

    def records(self, *, since: float | None = None, until: float | None = None) -> pd.DataFrame:
        """Logged records as one row each, with the served prediction and any feedback label.

        Columns: the payload columns, then ``_request_id``, ``_row``, ``_ts`` (UNIX seconds),
        ``_model_name`` and ``_model_version`` (of the model that served the row),
        ``_prediction``, ``_proba_<class>`` and ``_label`` (gold, or missing).

        Raises
        ------
        DataError
            When no request was logged in the interval.
        """
        rows: list[dict[str, Any]] = []
        for request_id, ts, name, version, records, predictions, probabilities in self._rows(
            since, until
        ):
            for i, (record, prediction, proba) in enumerate(
                zip(json.loads(records), json.loads(predictions), json.loads(probabilities),
                    strict=True)
            ):
                rows.append({
                    **record, "_request_id": request_id, "_row": i, "_ts": ts,
                    "_model_name": name, "_model_version": version, "_prediction": prediction,
                    **{f"_proba_{k}": v for k, v in proba.items()},
                })
        if not rows:
            raise DataError(f"request log {self.path} has no requests in the given time range")
        frame = pd.DataFrame(rows)
        labels = self._retry(
            lambda con: con.execute("SELECT request_id, row, label FROM feedback").fetchall()
        )
        gold = {(rid, int(row)): label for rid, row, label in labels}
        frame["_label"] = [gold.get(key) for key in zip(frame["_request_id"], frame["_row"],
                                                                 strict=True)]
        return frame

    def close(self) -> None:
        """Write every queued row, stop the writer and close this thread's connection.

        Other threads' connections close when their thread ends. Runs at interpreter exit too;
        a later :meth:`submit_prediction` starts a new writer.
        """
        self._writer.close()
        if self._closes_at_exit:
            self._closes_at_exit = False
            atexit.unregister(self.close)
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None
