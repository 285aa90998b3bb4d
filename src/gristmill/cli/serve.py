"""``gristmill serve``: serve a registered model over HTTP (FastAPI + uvicorn)."""

from __future__ import annotations

from pathlib import Path

import typer

from gristmill.cli._common import Output, check_paths, err_console

_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _poll_interval(seconds: float) -> float:
    """Refuse a poll interval the alias watcher cannot wait (NaN, infinite, negative)."""
    from gristmill.exceptions import ServingError
    from gristmill.serving._holder import check_poll_interval

    try:
        return check_poll_interval(seconds)
    except ServingError as exc:
        raise typer.BadParameter(str(exc)) from exc


def serve_command(
    model: str = typer.Argument(
        ..., help="NAME, NAME@ALIAS (followed when it moves) or NAME/VERSION."),
    task: str | None = typer.Option(
        None, "--task", help="The task to serve, for a model that predicts several."),
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to bind."),
    port: int = typer.Option(8000, "--port", min=0, max=65535, help="TCP port."),
    token: str | None = typer.Option(
        None, "--token", envvar="GRISTMILL_SERVE_TOKEN",
        help="Require 'Authorization: Bearer TOKEN' (also from $GRISTMILL_SERVE_TOKEN)."),
    workers: int = typer.Option(1, "--workers", help="uvicorn worker processes."),
    log: Path | None = typer.Option(
        None, "--log",
        help="SQLite request log (default .gristmill/serving/NAME[.TASK].sqlite)."),
    tracking_uri: str | None = typer.Option(
        None, "--tracking-uri",
        help="MLflow store (default: $MLFLOW_TRACKING_URI, else mlflow.db in the current folder)."),
    max_body_bytes: int = typer.Option(8 * 1024 * 1024, "--max-body-bytes", min=1,
                                       help="Refuse larger request bodies with 413."),
    poll_interval: float = typer.Option(5.0, "--poll-interval", callback=_poll_interval,
                                        help="Seconds between alias checks; 0 disables."),
    access_log: bool = typer.Option(
        False, "--access-log/--no-access-log",
        help="uvicorn's line per request on stderr (the request log records every answered "
        "prediction, not refused requests)."),
) -> None:
    """Serve MODEL: POST /predict, POST /feedback, GET /health, GET /metadata."""
    from gristmill.serving import serve
    from gristmill.serving._model import resolve_store

    # Before the model loads: a log path that is a folder (or lies under a file) fails fast.
    check_paths({}, [Output("--log", log)])
    if host not in _LOOPBACK and token is None:
        err_console.print(f"[yellow]warning:[/] serving on {host} without --token: anyone who "
                          "can reach it may call the model")
    serve(model, host=host, port=port, workers=workers, token=token,
          tracking_uri=resolve_store(tracking_uri), log_path=log,
          max_body_bytes=max_body_bytes, poll_interval=poll_interval, access_log=access_log,
          task=task)


def register(app: typer.Typer) -> None:
    """Add ``gristmill serve`` to the app."""
    app.command("serve")(serve_command)
