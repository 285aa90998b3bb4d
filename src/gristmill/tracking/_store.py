"""Where runs are stored: resolving the tracking URI, checking it is reachable, opening a client."""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gristmill._extras import require
from gristmill.exceptions import TrackingError

DB_FILENAME = "mlflow.db"
ARTIFACTS_DIRNAME = "mlartifacts"
_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
# Held while MLflow's process-wide fluent URIs are set and used (see fluent_api_on).
_FLUENT_LOCK = threading.RLock()


def resolve_tracking_uri(
    project_dir: str | os.PathLike[str] = ".", tracking_uri: str | None = None
) -> str:
    """Return the MLflow tracking URI gristmill uses for a project.

    Parameters
    ----------
    project_dir : path-like, default "."
        The project directory; the embedded store is ``<project_dir>/mlflow.db``.
    tracking_uri : str, optional
        An explicit URI; wins over the environment.

    Returns
    -------
    str
        ``tracking_uri`` when given, else ``$MLFLOW_TRACKING_URI`` when set, else
        ``sqlite:///<absolute project_dir>/mlflow.db``.

    Raises
    ------
    TrackingError
        When the URI is the path of a file (``mlflow.db``): MLflow reads a bare path as a file
        store directory; the message gives the ``sqlite:///`` URI to write instead.

    Examples
    --------
    >>> resolve_tracking_uri("/srv/spam", "http://127.0.0.1:5000")
    'http://127.0.0.1:5000'
    """
    if tracking_uri:
        _refuse_file_path(tracking_uri, "--tracking-uri")
        return tracking_uri
    from_env = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    if from_env:
        _refuse_file_path(from_env, "MLFLOW_TRACKING_URI")
        return from_env
    return f"sqlite:///{Path(project_dir).resolve() / DB_FILENAME}"


def _refuse_file_path(uri: str, given_as: str) -> None:
    """Refuse a URI that is the path of a file, which MLflow would take for a store directory.

    A SQLite database (an existing one, or a new path named ``.db``, ``.sqlite`` or
    ``.sqlite3``) is told the ``sqlite:///`` URI to write instead.
    """
    path = _file_store(uri)
    if path is None or path.is_dir():
        return
    if path.suffix.lower() in _SQLITE_SUFFIXES or _is_sqlite_file(path):
        raise TrackingError(
            f"{given_as} {uri!r} is a file path, which MLflow reads as a file store directory; "
            f"for an SQLite store write sqlite:///{path}"
        )
    if path.exists():
        raise TrackingError(
            f"{given_as} {uri!r} is a file, not an MLflow store: give a sqlite:/// URI, a "
            "tracking server's http(s):// URL or a file store directory"
        )


def _is_sqlite_file(path: Path) -> bool:
    """True when ``path`` is a readable file starting with the SQLite header."""
    try:
        with open(path, "rb") as handle:
            return handle.read(16) == b"SQLite format 3\x00"
    except OSError:
        return False


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, or None for any other URI."""
    if not uri.startswith("sqlite:///"):
        return None
    return Path(uri.removeprefix("sqlite:///"))


def is_http(uri: str) -> bool:
    """True when ``uri`` names a tracking server (http or https)."""
    return uri.startswith(("http://", "https://"))


def check_store(
    uri: str,
    *,
    timeout: float = 3.0,
    remedy: str = "start the server, or give another store (--tracking-uri or MLFLOW_TRACKING_URI)",
) -> None:
    """Fail fast, with a clear message, when the tracking store cannot be used.

    A tracking server is asked for its ``/health`` page with a short timeout; an embedded SQLite
    store must live in a writable directory (created when missing, for the run about to be
    tracked there) and, when it exists, be a SQLite database.

    Parameters
    ----------
    uri : str
        A resolved tracking URI (see :func:`resolve_tracking_uri`).
    timeout : float, default 3.0
        Seconds to wait for a tracking server.
    remedy : str, optional
        What the message about an unusable server tells the user to do (``gristmill run``
        adds "or run with --no-track").

    Raises
    ------
    TrackingError
        When the store is unreachable or unusable.
    """
    if is_http(uri):
        _check_server(uri, timeout, remedy)
    elif (db := sqlite_path(uri)) is not None:
        _check_sqlite(db)
    elif (directory := _local_store(uri)) is not None:
        _check_directory(directory)


def _check_server(uri: str, timeout: float, hint: str) -> None:
    health = uri.rstrip("/") + "/health"
    try:
        with urllib.request.urlopen(health, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        raise TrackingError(
            f"MLflow tracking server {uri} answered {health} with HTTP {exc.code}; {hint}"
        ) from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise TrackingError(
            f"MLflow tracking server {uri} is unreachable ({reason}); {hint}"
        ) from exc
    if status != 200:
        raise TrackingError(
            f"MLflow tracking server {uri} answered {health} with HTTP {status}; {hint}"
        )


def _check_sqlite(db: Path) -> None:
    _check_directory(db.parent)
    if not db.exists():
        return
    try:
        with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)) as con:
            con.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise TrackingError(f"tracking store {db} is not a usable SQLite database: {exc}") from exc


def _check_directory(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TrackingError(f"cannot create the tracking directory {directory}: {exc}") from exc
    if not os.access(directory, os.W_OK):
        raise TrackingError(f"the tracking directory {directory} is not writable")


@contextlib.contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """Serialise a block across processes sharing one embedded SQLite store.

    SQLite serialises single writes by itself; this lock covers the multi-step actions that must
    not interleave (creating the schema, creating an experiment or a registered model and its
    next version). It is a no-op for any other store, where the server does the serialising.
    """
    db = sqlite_path(uri)
    if db is None:
        yield
        return
    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".lock"), "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _use_wal(uri: str) -> None:
    """Switch an embedded store to write-ahead logging (persistent, once per database).

    With WAL, readers do not block the writer and a commit syncs one file instead of two,
    which matters for concurrent runs and for the many small writes a tracked run makes.
    """
    db = sqlite_path(uri)
    if db is None:
        return
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as con:
        if con.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            con.execute("PRAGMA journal_mode=WAL")


def artifact_root(uri: str) -> str | None:
    """Where an embedded store keeps artifacts (``<project>/mlartifacts``); None for servers."""
    db = sqlite_path(uri)
    if db is None:
        return None
    return (db.parent.resolve() / ARTIFACTS_DIRNAME).as_uri()  # a relative URI's too


def import_mlflow(feature: str = "gristmill tracking") -> Any:
    """Import mlflow, or explain that the 'tracking' extra provides it."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    return require("mlflow", extra="tracking", feature=feature)


def open_client(uri: str) -> Any:
    """Return an ``mlflow.MlflowClient`` on ``uri``, its schema created safely across processes.

    Also points MLflow's fluent API (tracking and registry) at ``uri``; code that uses it
    after other stores may have been opened takes :func:`fluent_api_on` instead.
    """
    mlflow = import_mlflow()
    with _FLUENT_LOCK:
        _point_fluent_api(mlflow, uri)
    # Building the client builds the store, which creates or migrates the schema: serialise it.
    with store_lock(uri):
        try:
            client = mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)
            client.search_experiments(max_results=1)
            _use_wal(uri)
        except Exception as exc:  # MLflow raises many types for a bad store; all mean the same
            raise TrackingError(f"cannot open the MLflow tracking store {uri}: {exc}") from exc
    return client


@contextlib.contextmanager
def fluent_api_on(uri: str) -> Iterator[Any]:
    """MLflow's fluent API pointed at ``uri`` for the block; yields the ``mlflow`` module.

    The fluent API (``mlflow.start_run``, ``log_artifact``, ``pyfunc.log_model``,
    ``register_model``, ``models:/`` URIs) reads one process-wide URI: a block holds it, so
    that another thread (or a client opened on another store) cannot redirect it midway.
    Blocks of other threads wait; the same thread may nest them.
    """
    mlflow = import_mlflow()
    with _FLUENT_LOCK:
        _point_fluent_api(mlflow, uri)
        yield mlflow


def _point_fluent_api(mlflow: Any, uri: str) -> None:
    """Point the fluent API's tracking and registry URIs at ``uri`` (the caller holds the lock)."""
    with _environment_kept("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI"):
        mlflow.set_tracking_uri(uri)
        mlflow.set_registry_uri(uri)


@contextlib.contextmanager
def _environment_kept(*keys: str) -> Iterator[None]:
    """Restore the environment variables ``keys`` after the block, even when it raises.

    ``mlflow.set_tracking_uri`` (and the registry one) also exports the URI to the
    environment; left there, it would redirect the next project resolved in this process.
    """
    saved = {key: os.environ.get(key) for key in keys}
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def experiment_id(client: Any, uri: str, name: str) -> str:
    """Id of the experiment called ``name``, created (with a project-local artifact root) if new."""
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        return str(existing.experiment_id)
    with store_lock(uri):
        existing = client.get_experiment_by_name(name)
        if existing is not None:
            return str(existing.experiment_id)
        root = artifact_root(uri)
        location = f"{root}/{name}" if root else None
        return str(client.create_experiment(name, artifact_location=location))


def connect(project_dir: str | os.PathLike[str] = ".", tracking_uri: str | None = None) -> Any:
    """Resolve the tracking URI of a project, check it, and return an open client.

    For the registry's commands, which read (or re-alias) what runs have tracked: an embedded
    store that does not exist yet is an error, and nothing is created on the way (only a
    tracked run creates a store).

    Raises
    ------
    TrackingError
        When the store is unreachable, unusable or (embedded) missing.
    """
    uri = resolve_tracking_uri(project_dir, tracking_uri)
    # Checked before check_store, which creates a missing store directory (as a run needs):
    # reading a mistyped path must not leave a directory tree behind.
    local = _local_store(uri)
    if local is not None and not local.exists():
        raise TrackingError(
            f"no MLflow store at {local}: nothing has been tracked there yet (run 'gristmill "
            "run' in the project, or pass --project-dir / --tracking-uri)"
        )
    check_store(uri)
    return open_client(uri)


def _local_store(uri: str) -> Path | None:
    """The database file or directory of an embedded store; None for a server."""
    db = sqlite_path(uri)
    return db if db is not None else _file_store(uri)


def _file_store(uri: str) -> Path | None:
    """The directory of a file store (a bare path or a ``file:`` URI); None for any other URI.

    ``databricks``, with no ``://``, names a Databricks workspace, not a path.
    """
    if uri.startswith("file:") or ("://" not in uri and uri != "databricks"):
        return Path(uri.removeprefix("file://").removeprefix("file:"))
    return None
