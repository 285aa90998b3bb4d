"""``gristmill monitor``: check current data against the training reference for drift."""

from __future__ import annotations

import datetime as dt
import math
import re
import time
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from gristmill.cli._common import Output, check_paths, console

#: Exit status when drift exceeds the thresholds (errors exit with 1, usage errors with 2).
DRIFT_EXIT_CODE = 3

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, *, now: float | None = None) -> float:
    """UNIX time from ``24h`` / ``30m`` / ``7d`` (ago) or an ISO 8601 date-time (UTC if naive)."""
    from gristmill.exceptions import DataError

    now = time.time() if now is None else now
    match = _RELATIVE.match(text.strip())
    if match:
        return now - float(match.group(1)) * _SECONDS[match.group(2)]
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise DataError(
            f"--since {text!r}: expected e.g. 24h, 30m, 7d or 2026-11-24T08:00"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def monitor_command(
    model: str = typer.Argument(..., help="NAME, NAME@ALIAS or NAME/VERSION."),
    task: str | None = typer.Option(
        None, "--task", help="The task to monitor, for a model that predicts several."),
    current: Path | None = typer.Option(
        None, "--current", help="Current data (CSV, Parquet, JSONL)."),
    since: str | None = typer.Option(
        None, "--since", help="Use the serving log from this time: 24h, 30m, 7d or ISO 8601."),
    reference: Path | None = typer.Option(
        None, "--reference", help="Reference data (default: the model bundle's training sample)."),
    out: Path | None = typer.Option(
        None, "--out", help="Directory for monitor.json and monitor.html "
        "(default .gristmill/monitor/NAME-TIME)."),
    log: Path | None = typer.Option(
        None, "--log",
        help="Serving request log (default .gristmill/serving/NAME[.TASK].sqlite)."),
    tracking_uri: str | None = typer.Option(
        None, "--tracking-uri",
        help="MLflow store (default: $MLFLOW_TRACKING_URI, else mlflow.db in the current folder)."),
    mlflow_log: bool = typer.Option(True, "--mlflow/--no-mlflow",
                                    help="Log the metrics as an MLflow run."),
) -> None:
    """Compare current data with the training reference; exit 3 when drift exceeds thresholds."""
    from gristmill.exceptions import DataError
    from gristmill.io import read_table
    from gristmill.monitoring import monitor
    from gristmill.serving import RequestLog, default_log_path, load_served_model
    from gristmill.serving._model import resolve_store

    if (current is None) == (since is None):
        raise DataError("give exactly one of --current FILE and --since TIME")
    check_paths(
        {"--current": current, "--reference": reference, "--log": log},
        [Output("--out", out, "directory")],
    )
    uri = resolve_store(tracking_uri)
    served = load_served_model(model, tracking_uri=uri, task=task)
    if current is not None:
        frame = read_table(current)
        source = str(current)
    else:
        log_path = log if log is not None else default_log_path(served.name, served.task)
        if not log_path.exists():
            raise DataError(f"{log_path}: no serving log here; pass --log or --current")
        # Read only: monitoring never creates or changes a log (nor a file that is none).
        frame = RequestLog(log_path, read_only=True).records(since=parse_since(since or ""))
        source = f"{log_path} since {since}"
    result = monitor(served, current=frame,
                     reference=read_table(reference) if reference is not None else None)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    paths = result.save(out if out is not None else Path(".gristmill") / "monitor" /
                        f"{served.name}-{stamp}")
    task = f" task {served.task}" if served.task else ""
    # Names and paths are printed as text: a '[' in them is no rich markup.
    console.print(f"{escape(served.name)} v{served.version}{escape(task)}: {result.n_current} "
                  f"current rows from {escape(source)} vs {result.n_reference} reference rows")
    for feature in result.features:  # why a feature is not tested is among the notes
        if not feature.tested:
            console.print(f"  {escape(feature.column):<24} not tested")
            continue
        mark = "[red]drift[/]" if feature.drifted else "ok"
        missing = (f"  missing {feature.missing_reference:.0%} -> {feature.missing_current:.0%}"
                   if feature.missing_reference or feature.missing_current else "")
        console.print(f"  {escape(feature.column):<24} {feature.method:<14} "
                      f"{feature.statistic:9.4g} (threshold {feature.threshold:.4g})  "
                      f"{mark}{missing}")
    for lf in result.lfs:
        mark = "[red]drift[/]" if lf.drifted else "ok"
        console.print(f"  LF {escape(lf.name):<21} coverage {lf.coverage_reference:.3f} -> "
                      f"{lf.coverage_current:.3f}  {mark}")
    if result.agreement is not None:
        _print_agreement(result)
    for note in result.notes:
        console.print(f"[dim]note:[/] {escape(note)}")
    if mlflow_log:
        run_id = result.log_to_mlflow(tracking_uri=uri)
        console.print(f"MLflow run: {run_id}")
    console.print(f"report: {escape(str(paths['html']))}\nresult: {escape(str(paths['json']))}")
    if result.drifted:
        for reason in result.reasons:
            console.print(f"[bold red]drift:[/] {escape(reason)}")
        raise typer.Exit(DRIFT_EXIT_CODE)
    console.print("no drift beyond the thresholds")


def _print_agreement(result: Any) -> None:
    """The label-free accuracy estimate, saying what it compares the served model with; per
    label too for a multilabel task (whose estimate counts (row, label) pairs)."""
    agreement = result.agreement
    target = result.agreement_target or "label model"
    pairs = "(row, label) pairs" if agreement.labels else "rows"
    console.print(f"  estimated accuracy ({target} vs served): "
                  f"{_estimate(agreement.current, agreement.n_current, pairs)}")
    for label, stats in agreement.labels.items():
        console.print(f"    {escape(label):<22} "
                      f"{_estimate(stats['current'], stats['n_current'], 'rows')}")


def _estimate(share: float, n: int, unit: str) -> str:
    """``0.963 on 567 rows``; a dash when no LF vote could be compared."""
    if n == 0 or math.isnan(share):
        return "- (no LF vote to compare with)"
    return f"{share:.3f} on {n:,} {unit}"


def register(app: typer.Typer) -> None:
    """Add ``gristmill monitor`` to the app."""
    app.command("monitor")(monitor_command)
