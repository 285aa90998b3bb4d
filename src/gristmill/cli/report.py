"""``gristmill report``: find (and open) the HTML report of a pipeline run."""

from __future__ import annotations

import webbrowser
from pathlib import Path

import typer


def find_report(run: str, *, tracking_uri: str | None = None, out: Path | None = None) -> Path:
    """The report of ``run``: a run directory (or report file), or an MLflow run id.

    For a run id the tracked ``report/report.html`` artifact is downloaded to ``out`` (default
    ``.gristmill/reports/RUN_ID``).

    Raises
    ------
    TrackingError
        When the run or its report cannot be found.
    """
    from gristmill.exceptions import TrackingError

    local = Path(run)
    if local.is_file():
        if local.suffix.lower() not in (".html", ".htm"):
            raise TrackingError(
                f"{local} is not a report (an .html file); give a run directory, its "
                "report.html or an MLflow run id"
            )
        return local
    if (local / "report.html").is_file():
        return local / "report.html"
    if local.is_dir():
        raise TrackingError(f"{local} is not a run directory: it has no report.html")
    from gristmill.serving._model import registry_client, resolve_store

    client = registry_client(resolve_store(tracking_uri))
    target = out if out is not None else Path(".gristmill") / "reports" / run
    if target.is_file():
        raise TrackingError(f"{target}: --out needs a directory; this is a file")
    created = not target.exists()
    target.mkdir(parents=True, exist_ok=True)
    try:
        path = client.download_artifacts(run, "report/report.html", str(target))
    except Exception as exc:  # MLflow raises its own types for unknown runs and artifacts
        if created and not any(target.iterdir()):
            target.rmdir()
        raise TrackingError(f"no report for run {run!r}: not a run directory, and MLflow says: "
                            f"{exc}") from exc
    return Path(path)


def report_command(
    run: str = typer.Argument(..., help="MLflow run id, or a run directory."),
    open_: bool = typer.Option(False, "--open", help="Open the report in the default browser."),
    out: Path | None = typer.Option(None, "--out", help="Where to download a tracked report."),
    tracking_uri: str | None = typer.Option(
        None, "--tracking-uri", help="MLflow store (default: the project's mlflow.db)."),
) -> None:
    """Print the path of RUN's HTML report; --open shows it in a browser."""
    path = find_report(run, tracking_uri=tracking_uri, out=out).resolve()
    typer.echo(str(path))  # plain, unwrapped: scripts read this path
    if open_:
        webbrowser.open(path.as_uri())


def register(app: typer.Typer) -> None:
    """Add ``gristmill report`` to the app."""
    app.command("report")(report_command)
