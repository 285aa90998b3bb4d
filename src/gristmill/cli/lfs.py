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
from rich.markup import escape
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


_SUMMARY_HELP = (
    "Print each labeling function's polarity, coverage, overlaps, conflicts (and accuracy).\n\n"
    # One line per paragraph: the help wraps it to the terminal (it keeps a docstring's breaks).
    "For a multilabel task (--multilabel LABELS, or its --label-model), whose votes are j (label "
    "j applies) or k + j (it does not), each LF's polarity lists the labels it votes on (+label, "
    "-label) and --labels holds label sets; overlaps and conflicts between votes on different "
    "labels mean nothing there and are left out."
)


@lfs_app.command("summary", help=_SUMMARY_HELP)
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
        typer.Option(
            "--label-column",
            help="Column of --labels with the gold class indices (of a multilabel task: the "
            "gold label sets).",
        ),
    ] = None,
    label_model: Annotated[
        Path | None,
        typer.Option(
            "--label-model",
            help="Label model saved by 'gristmill label --save-model' (or a multilabel task's, "
            "binary_relevance.json and a folder per label): adds its estimate of each LF's "
            "accuracy (Est. Acc.). A multilabel label model summarises the votes per label.",
        ),
    ] = None,
    multilabel: Annotated[
        str | None,
        typer.Option(
            "--multilabel",
            metavar="LABELS",
            help="The labels of a multilabel task, comma-separated in order (its votes are j: "
            "label j applies, or k + j: it does not): summarise the votes per label. Read from "
            "a multilabel --label-model.",
        ),
    ] = None,
    delimiter: Annotated[
        str,
        typer.Option(
            "--delimiter",
            help="Multilabel gold labels: the delimiter of a label set written as text "
            '(a JSON list such as ["a", "b"] is read too).',
        ),
    ] = "|",
    out: Annotated[Path | None, typer.Option("--out", help="Also save the summary as CSV.")] = None,
) -> None:
    """Print each labeling function's summary (the command's help: ``_SUMMARY_HELP``)."""
    from gristmill.io import read_table, write_table
    from gristmill.labeling import LabelMatrix

    check_paths(
        {"LABEL_MATRIX": label_matrix, "--labels": labels, "--label-model": label_model},
        [Output("--out", out, "table")],
    )
    matrix = LabelMatrix.from_parquet(label_matrix)
    if (labels is None) != (label_column is None):
        raise DataError("--labels and --label-column go together; give both or neither")
    fitted = None
    if label_model is not None:
        from gristmill.labelmodel import load_label_model

        fitted = load_label_model(label_model)
    classes = _multilabel_classes(fitted, multilabel, label_model)
    if classes is not None:
        _check_multilabel_votes(matrix, classes, label_model)
    gold = None
    if labels is not None and label_column is not None:
        table = read_table(labels, columns=[label_column])
        if len(table) != len(matrix):
            raise DataError(
                f"{labels}: has {len(table):,} rows but the label matrix {label_matrix} has "
                f"{len(matrix):,}; the gold labels must be row-aligned"
            )
        column = table[label_column]
        gold = (
            _gold_for(matrix, column, labels, delimiter)
            if classes is None
            else _gold_label_sets(matrix, column, labels, classes, delimiter)
        )
    try:
        summary = _summary(matrix, gold, fitted, classes)
    except DataError as exc:  # the gold labels were checked: the label model does not fit
        raise DataError(f"{label_model}: {exc}") from exc
    # Piped output (logs, CI) is not limited to a terminal's width; keep every header whole.
    out_console = console if console.is_terminal else Console(width=max(console.width, 120))
    out_console.print(_rich_summary(summary, label_matrix, len(matrix), classes))
    if out is not None:
        frame = summary.copy()
        frame["Polarity"] = frame["Polarity"].map(lambda p: " ".join(map(str, p)))
        write_table(frame.rename_axis("LF"), out, index=True)
        console.print(f"Saved {out}")


def _multilabel_classes(label_model: Any, given: str | None, path: Path | None) -> list[str] | None:
    """The labels of a multilabel task: ``given`` (--multilabel) or the multilabel label
    model's; None for a single-label task.

    Raises
    ------
    DataError
        When --multilabel names no label, or a label twice, or disagrees with the label model.
    """
    from gristmill.labelmodel import BinaryRelevanceLabelModel

    fitted = (
        [str(c) for c in label_model.classes]
        if isinstance(label_model, BinaryRelevanceLabelModel)
        else None
    )
    if given is None:
        return fitted
    classes = [c.strip() for c in given.split(",")]
    if "" in classes or len(set(classes)) != len(classes):
        raise DataError(
            f"--multilabel {given!r}: expected the task's labels, each once, separated by "
            "commas (e.g. --multilabel music,money,video)"
        )
    if label_model is not None and classes != fitted:
        held = f"its labels are {', '.join(fitted)}" if fitted else "it is single-label"
        raise DataError(f"--multilabel {given!r} does not fit the label model {path}: {held}")
    return classes


def _check_multilabel_votes(matrix: Any, classes: list[str], label_model: Path | None) -> None:
    """Refuse a matrix holding a vote that is none of a multilabel task's (j, k + j or -1).

    Raises
    ------
    DataError
        Naming the LF, the row and the vote.
    """
    import numpy as np

    values = matrix.to_numpy()
    k = len(classes)
    bad = (values < -1) | (values >= 2 * k)
    if bad.any():
        row, column = (int(i) for i in np.unravel_index(np.argmax(bad), bad.shape))
        where = label_model if label_model is not None else "--multilabel"
        raise DataError(
            f"{where}: a multilabel task of {_count(k, 'label')} ({', '.join(classes)}) has "
            f"votes j (label j applies), {k} + j (it does not) or -1; labeling function "
            f"{matrix.lf_names[column]!r} votes {int(values[row, column])} at row "
            f"{matrix.index[row]!r} (is the matrix of another task?)"
        )


def _summary(matrix: Any, gold: Any, label_model: Any, classes: list[str] | None) -> Any:
    """The single-label summary of ``matrix``, or with ``classes`` its multilabel one.

    A label model that names its sources may have been fit on more than the matrix holds (a
    pipeline's is fit on the label columns of its training data too, which ``lfs apply`` does
    not output): Est. Acc. is then its estimate for each of the matrix's LFs, by name.
    """
    import numpy as np

    from gristmill.labeling import lf_summary
    from gristmill.pipeline._multilabel import multilabel_lf_summary

    names = [str(name) for name in matrix.lf_names]
    fitted = [str(name) for name in getattr(label_model, "lf_names_", None) or []]
    more = bool(fitted) and set(names) < set(fitted)
    model = None if more else label_model
    if classes is None:
        summary = lf_summary(matrix, gold, label_model=model)
    else:
        summary = multilabel_lf_summary(matrix.to_numpy(), names, classes, gold, label_model=model)
    if more:
        position = {name: j for j, name in enumerate(fitted)}
        accuracies = np.asarray(label_model.lf_accuracies_, dtype=float)
        summary["Est. Acc."] = accuracies[[position[name] for name in names]]
        others = ", ".join(name for name in fitted if name not in set(names))
        err_console.print(
            escape(f"note: the label model was also fit on sources the matrix lacks: {others}")
        )
    return summary


def _gold_label_sets(
    matrix: Any, column: Any, path: Path, classes: list[str], delimiter: str
) -> Any:
    """(n, k) indicators of the gold label set of each row of ``matrix`` (-1 where unknown).

    Rows are matched as :func:`_gold_for` matches them (by row label, else by position). A label
    set naming no label is not scored (it may hold a misspelt label), and a note says so.
    """
    from gristmill.pipeline._multilabel import label_sets

    rows = column.reindex(matrix.index) if _by_row_label(matrix.index, column) else column
    indicators, unknown = label_sets(rows, classes, delimiter)
    if unknown:
        listed = ", ".join(map(repr, unknown[:5])) + (", ..." if len(unknown) > 5 else "")
        err_console.print(
            escape(
                f"note: {path}: gold label sets naming no label ({', '.join(classes)}) are "
                f"not scored: {listed}"
            )
        )
    return indicators


def _by_row_label(index: Any, column: Any) -> bool:
    """Whether gold labels are matched to the matrix rows by row label (else by position)."""
    import pandas as pd

    named = not index.equals(pd.RangeIndex(len(index)))
    return bool(
        named and index.is_unique and column.index.is_unique and set(column.index) == set(index)
    )


def _gold_for(matrix: Any, column: Any, path: Path, delimiter: str) -> Any:
    """The gold labels to score ``matrix`` with: by row label when both files name the same
    rows (in any order), else by position (a CSV has no row labels of its own), checked here
    so that an error names the row as :func:`_numbered` does, and says what to pass when the
    column holds label sets (``delimiter``-joined, or JSON lists).
    """
    from gristmill.labeling._analysis import gold_labels

    index = matrix.index
    by_label = _by_row_label(index, column)
    if by_label:
        rows, where = column, str(path)
    else:
        numbered, numbering = _numbered(column.to_frame(), path)
        rows, where = numbered.iloc[:, 0], f"{path} ({numbering})"
    try:
        return gold_labels(rows, f"column {column.name!r}", index if by_label else None)
    except DataError as exc:
        text = column.dropna().astype(str).str.strip()
        sets = text.str.contains(delimiter, regex=False) | text.str.startswith("[")
        hint = (
            "; it holds label sets: summarise a multilabel task with --multilabel LABELS or "
            "its multilabel --label-model"
            if sets.any()
            else ""
        )
        raise DataError(f"{where}: {exc}{hint}") from None


def _rich_summary(
    summary: Any, source: Path, n_rows: int, classes: list[str] | None = None
) -> Table:
    n_lfs = _count(len(summary), "labeling function")
    title = f"{source.name}: {_count(n_rows, 'row')}, {n_lfs}"
    if classes is not None:
        title += f", multilabel ({', '.join(classes)})"
    table = Table(title=escape(title), box=box.SIMPLE_HEAD)
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
