"""``gristmill run``, ``gristmill init`` and ``gristmill schema``: the declarative pipeline."""

from __future__ import annotations

import json
import shlex
import shutil
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from gristmill.cli._common import Interrupted, console
from gristmill.exceptions import GristmillError

EXAMPLES = ("spam", "hospital")
_ENGINES = ("pandas", "processes", "auto", "dask")


def run(
    spec: Path = typer.Argument(Path("gristmill.yaml"), help="The pipeline spec file."),
    dry_run: bool = typer.Option(False, "--dry-run", help="Validate and print the plan only."),
    no_track: bool = typer.Option(False, "--no-track", help="Do not record the run in MLflow."),
    tracking_uri: str | None = typer.Option(
        None,
        "--tracking-uri",
        help="MLflow store to record the run in (default: $MLFLOW_TRACKING_URI, else mlflow.db "
        "beside the spec).",
    ),
    run_dir: Path | None = typer.Option(
        None,
        "--run-dir",
        help="Where to write the outputs: a new or empty directory, or an earlier run's "
        "(replaced). Default: runs/<name>-<UTC time>/ beside the spec.",
    ),
    no_cache: bool = typer.Option(
        False, "--no-cache", help="Rerun every stage (their outputs still refresh the cache)."
    ),
    engine: str | None = typer.Option(
        None, "--engine", help="Override the spec's engine: pandas, processes, auto or dask."
    ),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="Dask scheduler address (implies --engine dask)."
    ),
) -> None:
    """Run the pipeline of SPEC: label, train, evaluate, report (and track)."""
    from gristmill.pipeline import Pipeline

    if engine is not None and engine not in _ENGINES:
        raise typer.BadParameter(
            f"{engine!r} is not one of {', '.join(_ENGINES)}", param_hint="'--engine'"
        )
    if tracking_uri is not None and no_track:
        raise typer.BadParameter(
            "--tracking-uri names where to record the run; --no-track records nothing: "
            "give one of them",
            param_hint="'--tracking-uri'",
        )
    pipeline = Pipeline.from_yaml(spec)
    if engine is not None or scheduler is not None:
        pipeline = pipeline.with_engine(engine or "dask", scheduler=scheduler)
    if dry_run:
        table = Table(title=f"plan for {pipeline.spec.name}", show_lines=False)
        for column in ("stage", "status", "detail"):
            table.add_column(column)
        for step in pipeline.plan(run_dir=run_dir):
            style = "green" if step.status == "cached" else "yellow"
            table.add_row(step.stage, f"[{style}]{step.status}[/]", escape(step.detail))
        console.print(table)
        console.print(f"spec {escape(str(pipeline.spec_path))} is valid", soft_wrap=True)
        return
    try:
        result = pipeline.run(
            track=not no_track,
            run_dir=run_dir,
            progress=True,
            use_cache=not no_cache,
            tracking_uri=tracking_uri,
        )
    except KeyboardInterrupt:
        named = "" if run_dir is None else f" {run_dir}"
        raise Interrupted(f"the run directory{named} was not written") from None
    _print_summary(result)


def _print_summary(result: object) -> None:
    tasks = getattr(result, "tasks", None) or {}
    several = len(tasks) > 1
    per_task = {n: t.metrics for n, t in tasks.items()} if several else {"": result.metrics}  # type: ignore[attr-defined]
    table = Table(title="results")
    for column in (("task",) if several else ()) + ("split", "model", "accuracy", "f1"):
        table.add_column(column)
    for task, metrics in per_task.items():
        for split in ("dev", "test"):
            for key, label in (("label_model", "label model"), ("end_model", "end model")):
                overall = metrics.get(key, {}).get(split, {}).get("overall")
                if overall:
                    scores = (f"{overall['accuracy']:.3f}", f"{overall['f1']:.3f}")
                    table.add_row(*((task,) if several else ()), split, label, *scores)
    if table.row_count:
        console.print(table)
    else:  # an empty table would read as a failed evaluation
        console.print("results: no dev or test row has a gold label, so nothing was scored")
    # paths are printed unwrapped, to be copied whole
    run_dir, report = result.run_dir, result.report_path  # type: ignore[attr-defined]
    console.print(f"run directory: {escape(str(run_dir))}", soft_wrap=True)
    console.print(f"report: {escape(str(report))}", soft_wrap=True)


def init(
    directory: Path = typer.Argument(..., help="The project directory to create."),
    example: str = typer.Option(
        "spam", "--example", help=f"Example project: {', '.join(EXAMPLES)}."
    ),
) -> None:
    """Create a working example project in DIRECTORY."""
    if example not in EXAMPLES:
        raise GristmillError(f"unknown example {example!r}; choose one of {list(EXAMPLES)}")
    if directory.is_file():
        raise GristmillError(f"{directory}: is a file; choose a new directory")
    if directory.exists() and any(directory.iterdir()):
        raise GristmillError(f"{directory}: exists and is not empty; choose a new directory")
    import gristmill

    folder = Path(gristmill.__file__).parent / "examples" / example
    try:
        shutil.copytree(
            folder,
            directory,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns(
                "__pycache__", "runs", ".gristmill", "mlflow.db", "mlruns"
            ),
        )
    except shutil.Error as exc:  # one (source, target, reason) per file that failed
        _, target, reason = exc.args[0][0]
        raise GristmillError(f"{target}: cannot create the example: {reason}") from exc
    console.print(
        escape(
            f"created the {example!r} example in {directory}; "
            f"next: cd {shlex.quote(str(directory))} && gristmill run"
        ),
        soft_wrap=True,
    )


def schema() -> None:
    """Print the JSON schema of gristmill.yaml (for editors)."""
    from gristmill.pipeline import spec_json_schema

    print(json.dumps(spec_json_schema(), indent=2))


def register(app: typer.Typer) -> None:
    """Add the pipeline commands to the ``gristmill`` app."""
    app.command("run")(run)
    app.command("init")(init)
    app.command("schema")(schema)
