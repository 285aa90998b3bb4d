"""``gristmill lfs``: apply labeling functions to a table and summarise their votes."""

from __future__ import annotations

import contextlib
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.table import Table

from gristmill.cli._common import Output, check_paths, console, err_console
from gristmill.exceptions import DataError, GristmillError, LFError, OutputError

lfs_app = typer.Typer(
    help="Apply labeling functions and summarise their votes.",
    no_args_is_help=True,
)


@lfs_app.command("apply")
def apply_command(
    data: Annotated[
        Path, typer.Option("--data", help="Table to label (CSV, Parquet or JSON lines).")
    ],
    lfs: Annotated[
        Path, typer.Option("--lfs", help="Python file defining the labeling functions.")
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Where to save the label matrix: a Parquet file, or with --engine dask a "
            "directory (no suffix) of Parquet parts written by the workers, never gathered.",
        ),
    ],
    engine: Annotated[
        str, typer.Option("--engine", help="auto, pandas, processes or dask.")
    ] = "auto",
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler", help="Dask scheduler address (--engine dask; default: a LocalCluster)."
        ),
    ] = None,
    on_error: Annotated[
        str,
        typer.Option(
            "--on-error", help="raise: stop at the first failing LF; abstain: count failures."
        ),
    ] = "raise",
    progress: Annotated[
        bool | None,
        typer.Option("--progress/--no-progress", help="Show a progress bar (default: long runs)."),
    ] = None,
) -> None:
    """Apply every labeling function in --lfs to --data and save the label matrix to --out."""
    from gristmill.io import read_table
    from gristmill.labeling import LabelMatrix, LFFailureWarning, apply_lfs, load_lfs
    from gristmill.labeling._apply import ENGINES, ON_ERROR

    # Before the data is read and the LFs imported, which may take long.
    for option, value, allowed in (
        ("--engine", engine, ENGINES),
        ("--on-error", on_error, ON_ERROR),
    ):
        if value not in allowed:
            raise GristmillError(f"{option} must be one of {', '.join(allowed)}; got {value!r}")
    partitioned = engine == "dask" and (out.is_dir() or not out.suffix)
    check_paths(
        {"--data": data, "--lfs": lfs},
        [Output("--out", out, "directory" if partitioned else "file")],
    )
    if out.suffix.lower() in (".csv", ".tsv", ".json", ".jsonl", ".ndjson"):
        raise OutputError(
            f"{out}: a label matrix is saved as Parquet (it keeps the LF names); name --out "
            "*.parquet"
        )
    functions = load_lfs(lfs)
    if partitioned:
        _apply_partitioned(functions, data, out, on_error, scheduler)
        return
    table = read_table(data)
    frame, numbering = _numbered(table, data)
    started = time.perf_counter()
    with (
        warnings.catch_warnings(record=True) as caught,
        _scheduler_client(scheduler if engine == "dask" else None) as client,
    ):
        warnings.simplefilter("always", LFFailureWarning)
        try:
            matrix = apply_lfs(
                functions, frame, engine=engine, on_error=on_error, progress=progress, client=client
            )
        except LFError as exc:
            raise LFError(f"{data} ({numbering}): {exc}", lf_name=exc.lf_name, row=exc.row) from exc
    elapsed = time.perf_counter() - started
    for warning in caught:
        if not issubclass(warning.category, LFFailureWarning):
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
    # The rows were numbered for error messages only: the saved matrix has the table's index.
    LabelMatrix(matrix.to_numpy(), matrix.lf_names, index=table.index).to_parquet(out)
    n_rows, n_lfs = matrix.shape
    console.print(
        f"Labeled {_count(n_rows, 'row')} with {_count(n_lfs, 'labeling function')} in "
        f"{elapsed:.2f} s; saved {out}"
    )
    _print_failures(matrix.failures)


def _count(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural unless ``n`` is 1: "1 row", "1,953 rows"."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _numbered(frame: Any, path: Path) -> tuple[Any, str]:
    """``frame`` indexed so that an error names a row the user finds in the file, and how.

    A table read with the default index (0, 1, ...) is numbered from 1 instead, the header
    not counted; a table whose file stores its own index keeps it.
    """
    import pandas as pd

    from gristmill.io import row_numbering

    if not frame.index.equals(pd.RangeIndex(len(frame))):
        return frame, "rows named by the file's index"
    return frame.set_axis(pd.RangeIndex(1, len(frame) + 1)), f"rows {row_numbering(path)}"


def _print_failures(failures: dict[str, int]) -> None:
    if failures:
        table = Table(title="Labeling functions that raised (counted as abstains)")
        table.add_column("LF")
        table.add_column("Rows failed", justify="right")
        for name, count in failures.items():
            table.add_row(name, f"{count:,}")
        err_console.print(table)


@contextlib.contextmanager
def _scheduler_client(scheduler: str | None) -> Iterator[Any]:
    if scheduler is None:
        yield None
        return
    from gristmill.labeling._partitioned import dask_client

    with dask_client(scheduler=scheduler) as client:
        yield client


def _apply_partitioned(
    functions: Any, data: Path, out: Path, on_error: str, scheduler: str | None
) -> None:
    from gristmill.io import read_dask_table
    from gristmill.labeling import apply_lfs_partitioned

    started = time.perf_counter()
    table = read_dask_table(data)
    matrix = apply_lfs_partitioned(
        functions,
        table.frame,
        out,
        on_error=on_error,
        scheduler=scheduler,
        overwrite=True,
        partition_names=[f"{data} ({rows})" for rows in table.partition_rows],
    )
    elapsed = time.perf_counter() - started
    n_rows, n_lfs = matrix.shape
    console.print(
        f"Labeled {_count(n_rows, 'row')} with {_count(n_lfs, 'labeling function')} in "
        f"{elapsed:.2f} s on Dask; saved {_count(matrix.n_partitions, 'part')} to {out}/"
    )
    _print_failures(matrix.failures)


@lfs_app.command("summary")
def summary_command(
    label_matrix: Annotated[
        Path, typer.Argument(help="Label matrix saved by 'gristmill lfs apply'.")
    ],
    labels: Annotated[
        Path | None,
        typer.Option(
            "--labels",
            help="Table holding gold labels, row-aligned with the matrix (matched by row label "
            "instead when both files store the same row labels, e.g. a Parquet index).",
        ),
    ] = None,
    label_column: Annotated[
        str | None,
        typer.Option("--label-column", help="Column of --labels with the gold class indices."),
    ] = None,
    label_model: Annotated[
        Path | None,
        typer.Option(
            "--label-model",
            help="Label model saved by 'gristmill label --save-model': adds its estimate of "
            "each LF's accuracy (Est. Acc.).",
        ),
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", help="Also save the summary as CSV.")] = None,
) -> None:
    """Print each labeling function's polarity, coverage, overlaps, conflicts (and accuracy)."""
    from gristmill.io import read_table, write_table
    from gristmill.labeling import LabelMatrix, lf_summary

    check_paths(
        {"LABEL_MATRIX": label_matrix, "--labels": labels, "--label-model": label_model},
        [Output("--out", out, "table")],
    )
    matrix = LabelMatrix.from_parquet(label_matrix)
    gold = None
    if (labels is None) != (label_column is None):
        raise DataError("--labels and --label-column go together; give both or neither")
    if labels is not None and label_column is not None:
        table = read_table(labels, columns=[label_column])
        if len(table) != len(matrix):
            raise DataError(
                f"{labels}: has {len(table):,} rows but the label matrix {label_matrix} has "
                f"{len(matrix):,}; the gold labels must be row-aligned"
            )
        gold = _gold_for(matrix, table[label_column], labels)
    fitted = None
    if label_model is not None:
        from gristmill.labelmodel import load_label_model

        fitted = load_label_model(label_model)
    try:
        summary = lf_summary(matrix, gold, label_model=fitted)
    except DataError as exc:  # the gold labels were checked: the label model does not fit
        raise DataError(f"{label_model}: {exc}") from exc
    # Piped output (logs, CI) is not limited to a terminal's width; keep every header whole.
    out_console = console if console.is_terminal else Console(width=max(console.width, 120))
    out_console.print(_rich_summary(summary, label_matrix, len(matrix)))
    if out is not None:
        frame = summary.copy()
        frame["Polarity"] = frame["Polarity"].map(lambda p: " ".join(map(str, p)))
        write_table(frame.rename_axis("LF"), out, index=True)
        console.print(f"Saved {out}")


def _gold_for(matrix: Any, column: Any, path: Path) -> Any:
    """The gold labels to score ``matrix`` with: by row label when both files name the same
    rows (in any order), else by position (a CSV has no row labels of its own), checked here
    so that an error names the row as :func:`_numbered` does.
    """
    import pandas as pd

    from gristmill.labeling._analysis import gold_labels

    index = matrix.index
    named = not index.equals(pd.RangeIndex(len(index)))
    by_label = (
        named and index.is_unique and column.index.is_unique and set(column.index) == set(index)
    )
    if by_label:
        rows, where = column, str(path)
    else:
        numbered, numbering = _numbered(column.to_frame(), path)
        rows, where = numbered.iloc[:, 0], f"{path} ({numbering})"
    try:
        return gold_labels(rows, f"column {column.name!r}", index if by_label else None)
    except DataError as exc:
        raise DataError(f"{where}: {exc}") from None


def _rich_summary(summary: Any, source: Path, n_rows: int) -> Table:
    n_lfs = _count(len(summary), "labeling function")
    table = Table(title=f"{source.name}: {_count(n_rows, 'row')}, {n_lfs}", box=box.SIMPLE_HEAD)
    table.add_column("LF", no_wrap=True)
    shown = [c for c in summary.columns if c != "j"]
    for column in shown:
        table.add_column(str(column), justify="left" if column == "Polarity" else "right")
    for name, row in summary[shown].iterrows():
        cells = [str(name)]
        for column, value in row.items():
            if column == "Polarity":
                cells.append(", ".join(map(str, value)) or "-")
            elif isinstance(value, float):
                cells.append(_number(value))
            else:
                cells.append(str(value))
        table.add_row(*cells)
    return table


def _number(value: float) -> str:
    """As the reports write it (:func:`~gristmill.report._html.fmt`); NaN (an LF with no vote to
    score, or that the label model has no estimate for) as the table's other dashes."""
    from gristmill.report._html import fmt

    return "-" if value != value else fmt(value)


def register(app: typer.Typer) -> None:
    """Add the ``lfs`` command group to the root app."""
    app.add_typer(lfs_app, name="lfs")
