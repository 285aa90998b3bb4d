"""``gristmill models …``, ``gristmill lineage`` and ``gristmill reproduce``: the tracking CLI."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from gristmill.cli._common import console

_PROJECT = typer.Option(
    Path("."), "--project-dir", "-p", help="Project directory (its mlflow.db is the default store)."
)
_URI = typer.Option(
    None,
    "--tracking-uri",
    help="MLflow tracking URI; default $MLFLOW_TRACKING_URI or the project's.",
)

models_app = typer.Typer(
    name="models",
    help=(
        "The model registry: list versions, promote to champion, roll back, diff.\n\n"
        "Each tracked 'gristmill run' registers a new version of the model named after the "
        "spec, with the alias 'challenger'; 'champion' is the version to serve "
        "('gristmill serve NAME@champion')."
    ),
    epilog=(
        "Examples (in the project folder; or pass -p DIR / --tracking-uri URI):\n\n"
        "  gristmill models list youtube-spam\n\n"
        "  gristmill models promote youtube-spam 3 --tolerance 0.01\n\n"
        "  gristmill models rollback youtube-spam\n\n"
        "  gristmill models diff youtube-spam 2 3"
    ),
    no_args_is_help=True,
)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4f}"
    if isinstance(value, dict):  # per-task values of a model of several tasks
        return " ".join(f"{escape(str(k))}={_cell(v)}" for k, v in value.items())
    return escape(str(value)) if value is not None else ""


def _print_frame(frame: Any, title: str) -> None:
    table = Table(title=title, title_justify="left")
    for column in frame.columns:
        # folded, not cut with an ellipsis: a narrow (or piped, 80-column) output keeps every
        # run id and metric key whole enough to tell apart
        table.add_column(str(column), overflow="fold")
    for row in frame.itertuples(index=False):
        table.add_row(*(_cell(v) for v in row))
    console.print(table)


@models_app.command("list")
def list_command(
    name: str = typer.Argument(..., help="Registered model name (the spec name)."),
    project_dir: Path = _PROJECT,
    tracking_uri: str | None = _URI,
) -> None:
    """List the versions of a registered model, newest first, with aliases and test metric.

    For a model of several tasks, 'value' is the mean of the tasks' values, and 'by_task'
    lists each task's. When the versions come from several projects (spec folders sharing
    one store and spec name), 'project' names each version's.
    """
    from gristmill.tracking import list_versions

    frame = list_versions(name, project_dir=project_dir, tracking_uri=tracking_uri)
    frame = frame.assign(created=frame["created"].map(lambda t: t.strftime("%Y-%m-%d %H:%M:%S")))
    if not frame["by_task"].map(bool).any():
        frame = frame.drop(columns="by_task")
    if frame["project"].nunique() < 2:
        frame = frame.drop(columns="project")
    _print_frame(frame, f"{name}: {len(frame)} version(s)")


@models_app.command("promote")
def promote_command(
    name: str = typer.Argument(..., help="Registered model name."),
    version: str = typer.Argument(..., help="The version to make champion."),
    tolerance: float = typer.Option(
        0.0, "--tolerance", help="Largest allowed regression of the test metric (metric units)."
    ),
    force: bool = typer.Option(
        False, "--force", help="Promote even if the candidate regresses or cannot be compared."
    ),
    metric: str | None = typer.Option(
        None,
        "--metric",
        help="Test metric to compare (each task's, for several tasks); default the primary one.",
    ),
    project_dir: Path = _PROJECT,
    tracking_uri: str | None = _URI,
) -> None:
    """Move the 'champion' alias to VERSION unless it regresses versus the champion.

    The test metric (the spec's model.metric) is compared overall and on every slice; a drop
    larger than --tolerance refuses the promotion. Promoting the champion again changes nothing.
    """
    from gristmill.tracking import promote

    outcome = promote(
        name,
        version,
        tolerance=tolerance,
        force=force,
        metric=metric,
        project_dir=project_dir,
        tracking_uri=tracking_uri,
    )
    if outcome.previous == outcome.version:
        console.print(
            f"{escape(name)} version {outcome.version} is already champion; nothing changed"
        )
        return
    if len(outcome.comparisons):
        _print_frame(
            outcome.comparisons, f"version {outcome.version} vs champion {outcome.previous}"
        )
    note = ""
    if outcome.forced:
        note = " (forced despite regressions)" if len(outcome.comparisons) else " (forced)"
    console.print(f"{escape(name)} version {outcome.version} is now champion{note}")


@models_app.command("rollback")
def rollback_command(
    name: str = typer.Argument(..., help="Registered model name."),
    project_dir: Path = _PROJECT,
    tracking_uri: str | None = _URI,
) -> None:
    """Move 'champion' back to the previous champion (recorded in the model's tags).

    Earlier champions deleted from the registry since are skipped.
    """
    from gristmill.tracking import rollback

    replaced, current = rollback(name, project_dir=project_dir, tracking_uri=tracking_uri)
    console.print(f"{escape(name)} champion rolled back from version {replaced} to {current}")


@models_app.command("diff")
def diff_command(
    name: str = typer.Argument(..., help="Registered model name."),
    v1: str = typer.Argument(..., help="First version."),
    v2: str = typer.Argument(..., help="Second version."),
    project_dir: Path = _PROJECT,
    tracking_uri: str | None = _URI,
) -> None:
    """Show spec, LF, data-digest and metric differences between two versions."""
    from gristmill.tracking import diff_versions

    diff = diff_versions(name, v1, v2, project_dir=project_dir, tracking_uri=tracking_uri)
    for title, frame in (
        ("spec", diff.spec),
        ("labeling functions (source digests)", diff.lfs),
        ("data", diff.data),
    ):
        if frame is None:
            console.print(f"{title}: not compared (see the note below)")
        elif len(frame):
            _print_frame(frame, title)
        else:
            console.print(f"{title}: identical")
    _print_frame(diff.metrics, "metrics")
    for note in diff.notes:
        console.print(f"note: {escape(note)}", highlight=False)


def lineage_command(
    ref: str | None = typer.Argument(None, help="NAME@ALIAS or NAME/VERSION."),
    dataset: str | None = typer.Option(
        None,
        "--dataset",
        help="List models trained on this data: the digest (or a prefix) of a table or of its "
        "file, as 'gristmill lineage NAME@ALIAS' prints them.",
    ),
    lf: str | None = typer.Option(
        None,
        "--lf",
        help="List models trained with this LF: the digest (or a prefix) of its module file, "
        "of the function or of a helper module the file imports.",
    ),
    project_dir: Path = _PROJECT,
    tracking_uri: str | None = _URI,
) -> None:
    """Print a model's lineage, or with --dataset / --lf the models derived from an input."""
    from gristmill.exceptions import TrackingError
    from gristmill.tracking import lineage, models_trained_on, render_lineage

    given = sum(x is not None for x in (ref, dataset, lf))
    if given != 1:
        raise TrackingError("give exactly one of NAME@ALIAS, --dataset DIGEST or --lf DIGEST")
    if ref is not None:
        doc = lineage(ref, project_dir=project_dir, tracking_uri=tracking_uri)
        console.print(escape(render_lineage(doc)), highlight=False)
        return
    frame = models_trained_on(
        dataset_digest=dataset, lf_digest=lf, project_dir=project_dir, tracking_uri=tracking_uri
    )
    what = f"dataset {dataset}" if dataset is not None else f"LF {lf}"
    if not len(frame):
        console.print(f"no registered model was trained on {escape(what)}")
        return
    _print_frame(frame, f"models trained on {what}")


def reproduce_command(
    run_id: str = typer.Argument(..., help="The MLflow run id to reproduce."),
    tolerance: float = typer.Option(1e-6, "--tolerance", help="Largest metric difference allowed."),
    track: bool = typer.Option(
        False,
        "--track",
        help="Track the rerun as a new run (a new model version) in the store of the run "
        "reproduced.",
    ),
    workdir: Path | None = typer.Option(
        None,
        "--workdir",
        help="Keep the rerun (spec, LF files, run directory) in this new or empty folder; "
        "default a temporary one, removed when done.",
    ),
    project_dir: Path = _PROJECT,
    tracking_uri: str | None = _URI,
) -> None:
    """Rerun a tracked run from its logged spec, LF and slice modules and compare its metrics."""
    if workdir is None:
        with tempfile.TemporaryDirectory(prefix="gristmill-reproduce-") as temporary:
            _reproduce(run_id, tolerance, track, Path(temporary), project_dir, tracking_uri)
    else:
        _reproduce(run_id, tolerance, track, workdir, project_dir, tracking_uri)


def _reproduce(
    run_id: str,
    tolerance: float,
    track: bool,
    workdir: Path,
    project_dir: Path,
    tracking_uri: str | None,
) -> None:
    from gristmill.tracking import reproduce

    outcome = reproduce(
        run_id,
        tolerance=tolerance,
        track=track,
        workdir=workdir,
        project_dir=project_dir,
        tracking_uri=tracking_uri,
    )
    _print_frame(outcome.metrics, f"reproduction of run {run_id} (tolerance {tolerance})")
    for path in outcome.from_working_copy:
        console.print(
            f"note: run {run_id} did not log {escape(path.name)}; "
            f"the rerun used the working copy {escape(str(path))}",
            highlight=False,
        )
    if not outcome.matches:
        hint = (
            "; the working copies noted above may have changed since the run"
            if outcome.from_working_copy
            else ""
        )
        console.print(f"[bold red]metrics differ beyond the tolerance[/]{hint}")
        raise typer.Exit(1)
    console.print("reproduced: every metric within the tolerance")


def register(app: typer.Typer) -> None:
    """Add the tracking commands to the ``gristmill`` app."""
    app.add_typer(models_app, name="models")
    app.command("lineage")(lineage_command)
    app.command("reproduce")(reproduce_command)
