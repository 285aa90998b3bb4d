"""``gristmill report``: find (and open) the HTML report of a pipeline run."""

from __future__ import annotations

import shutil
import tempfile
import webbrowser
from pathlib import Path

import typer


def find_report(
    run: str,
    *,
    project_dir: Path = Path("."),
    tracking_uri: str | None = None,
    out: Path | None = None,
) -> Path:
    """The report of ``run``: a run directory (or report file), or an MLflow run id.

    For a run id the tracked ``report/report.html`` artifact is downloaded from the store of
    ``project_dir`` (or ``tracking_uri``) to ``out`` (default ``.gristmill/reports/RUN_ID``).

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
    from gristmill.io import atomic_path
    from gristmill.tracking._store import connect

    client = connect(project_dir, tracking_uri)
    target = out if out is not None else Path(".gristmill") / "reports" / run
    if target.is_file():
        raise TrackingError(f"{target}: --out needs a directory; this is a file")
    # Downloaded aside, then moved in whole: a failed download leaves no folder behind, and
    # an earlier copy of the report is replaced only by a complete one.
    with tempfile.TemporaryDirectory(prefix="gristmill-report-") as scratch:
        try:
            downloaded = client.download_artifacts(run, "report/report.html", scratch)
        except Exception as exc:  # MLflow raises its own types for unknown runs and artifacts
            raise TrackingError(f"no report for run {run!r}: not a run directory, and MLflow "
                                f"says: {exc}") from exc
        with atomic_path(target / "report.html") as partial:
            shutil.copyfile(downloaded, partial)
    return target / "report.html"


def report_command(
    run: str = typer.Argument(..., help="MLflow run id, or a run directory."),
    open_: bool = typer.Option(False, "--open", help="Open the report in the default browser."),
    out: Path | None = typer.Option(None, "--out", help="Where to download a tracked report."),
    project_dir: Path = typer.Option(
        Path("."), "--project-dir", "-p", help="Project directory (its mlflow.db is the store)."
    ),
    tracking_uri: str | None = typer.Option(
        None, "--tracking-uri",
        help="MLflow store (default: $MLFLOW_TRACKING_URI, else the mlflow.db of --project-dir)."),
) -> None:
    """Print the path of RUN's HTML report; --open shows it in a browser."""
    path = find_report(run, project_dir=project_dir, tracking_uri=tracking_uri, out=out).resolve()
    typer.echo(str(path))  # plain, unwrapped: scripts read this path
    if open_:
        webbrowser.open(path.as_uri())


def register(app: typer.Typer) -> None:
    """Add ``gristmill report`` to the app."""
    app.command("report")(report_command)
