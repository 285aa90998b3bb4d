"""``gristmill impute``: fill the missing cells of a table."""

from __future__ import annotations

from pathlib import Path

import typer

from gristmill.cli._common import Output, check_paths, console

_METHODS = "attention|trees|knn|iterative|mean"


def _names(values: list[str]) -> list[str]:
    """Column names from repeated and/or comma-separated options."""
    return [name.strip() for value in values for name in value.split(",") if name.strip()]


def impute_command(
    data: Path = typer.Option(..., "--data", help="The table with missing cells."),
    out: Path = typer.Option(..., "--out", help="Where to write the completed table."),
    columns: list[str] = typer.Option(
        [], "--columns", help="Columns to fill (comma-separated or repeated); default all."
    ),
    method: str = typer.Option("attention", "--method", help=f"One of {_METHODS}."),
    seed: int = typer.Option(
        0, "--seed", min=0, help="Random seed (attention, trees, knn, iterative)."
    ),
    categorical: list[str] = typer.Option(
        [], "--categorical", help="Treat these columns as categorical (overrides inference)."
    ),
    numeric: list[str] = typer.Option(
        [], "--numeric", help="Treat these columns as numeric (overrides inference)."
    ),
    confidence: Path | None = typer.Option(
        None, "--confidence", help="attention only: also write per-cell confidence here."
    ),
    max_epochs: int = typer.Option(
        100, "--max-epochs", min=1, help="attention only: epoch limit."
    ),
) -> None:
    """Impute missing cells; the input file is never modified."""
    from gristmill.cleaning._impute_baselines import IMPUTER_NAMES, get_imputer
    from gristmill.exceptions import DataError
    from gristmill.io import read_table, write_table

    if method not in IMPUTER_NAMES:
        raise DataError(f"unknown --method {method!r}; expected one of {_METHODS}")
    if confidence is not None and method != "attention":
        raise DataError("--confidence needs --method attention")
    check_paths(
        {"--data": data},
        [Output("--out", out, "table"), Output("--confidence", confidence, "table")],
    )
    frame = read_table(data)
    types = {name: "categorical" for name in _names(categorical)}
    types.update({name: "numeric" for name in _names(numeric)})
    params: dict[str, object] = {"columns": _names(columns) or None, "column_types": types or None}
    if method != "mean":
        params["seed"] = seed
    if method == "attention":
        params["max_epochs"] = max_epochs
    imputer = get_imputer(method, **params)
    imputer.fit(frame)
    missing_before = int(frame[imputer.impute_columns_].isna().sum().sum())
    if confidence is not None:
        filled, scores = imputer.transform(frame, return_confidence=True)  # type: ignore[call-arg]
    else:
        filled = imputer.transform(frame)
    write_table(filled, out)
    if confidence is not None:
        write_table(scores, confidence)
    console.print(
        f"{len(frame)} rows x {frame.shape[1]} columns: {missing_before} missing cells filled "
        f"with {method} -> {out}"
    )


def register(app: typer.Typer) -> None:
    """Add the ``impute`` command to the CLI."""
    app.command("impute")(impute_command)
