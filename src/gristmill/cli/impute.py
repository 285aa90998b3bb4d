"""``gristmill impute``: fill the missing cells of a table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    max_epochs: int | None = typer.Option(
        None, "--max-epochs", min=1, help="attention only: epoch limit (default 100)."
    ),
) -> None:
    """Impute missing cells; the input file is never modified."""
    from gristmill.cleaning._files import has_own_index, write_imputed
    from gristmill.cleaning._impute_baselines import IMPUTER_NAMES, get_imputer
    from gristmill.exceptions import DataError
    from gristmill.io import table_format, write_table

    if method not in IMPUTER_NAMES:
        raise DataError(f"unknown --method {method!r}; expected one of {_METHODS}")
    if confidence is not None and method != "attention":
        raise DataError("--confidence needs --method attention")
    if max_epochs is not None and method != "attention":
        raise DataError("--max-epochs needs --method attention")
    check_paths(
        {"--data": data},
        [Output("--out", out, "table"), Output("--confidence", confidence, "table")],
    )
    both = sorted(set(_names(categorical)) & set(_names(numeric)))
    if both:
        raise DataError(f"--categorical and --numeric both name column(s) {both}; choose one")
    text, frame, missing = _read(data, _names(numeric))
    types = {name: "categorical" for name in _names(categorical)}
    types.update({name: "numeric" for name in _names(numeric)})
    params: dict[str, object] = {"columns": _names(columns) or None, "column_types": types or None}
    if method != "mean":
        params["seed"] = seed
    if max_epochs is not None:
        params["max_epochs"] = max_epochs
    imputer = get_imputer(method, **params)
    try:
        imputer.fit(frame)
        if confidence is not None:
            filled, scores = imputer.transform(frame, return_confidence=True)  # type: ignore[call-arg]
        else:
            filled = imputer.transform(frame)
    except DataError as exc:  # the imputers' messages name columns and rows, not the file
        raise DataError(f"{data}: {exc}") from None
    missing_before = int(missing[imputer.impute_columns_].to_numpy().sum())
    if text is not None and table_format(out) in ("csv", "tsv"):
        filled = write_imputed(text, filled, missing)
    else:  # text cells of a column declared numeric were hidden from the imputer, not missing
        if text is not None:
            _warn_text_dropped(text, ~missing & frame.isna(), out)
        filled = filled.where(missing | frame.notna())
    write_table(filled, out, index=has_own_index(frame), like=data)
    if confidence is not None:
        write_table(scores, confidence, index=has_own_index(frame))
    cells = "cell" if missing_before == 1 else "cells"
    console.print(
        f"{len(frame)} rows x {frame.shape[1]} columns: {missing_before} missing {cells} filled "
        f"with {method} -> {out}"
    )


def _read(path: Path, numeric: list[str]) -> tuple[Any, Any, Any]:
    """The table as written (CSV/TSV, else None), typed for the imputer, and its cells to fill.

    A CSV/TSV file is read as text and typed column by column (placeholders such as ``N/A``,
    ``-`` or blanks are missing), so that a CSV/TSV output holds the cells not imputed exactly
    as they were read; a Parquet or JSON output gets the typed table.
    """
    from gristmill.cleaning._files import parse_text_table
    from gristmill.exceptions import DataError
    from gristmill.io import read_table, table_format

    fmt = table_format(path)
    if fmt not in ("csv", "tsv"):
        frame = read_table(path)
        return None, frame, frame.isna()
    text = read_table(path, as_strings=True)
    try:
        frame, missing = parse_text_table(text, numeric=numeric)
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None
    return text, frame, missing


class TextDroppedWarning(UserWarning):
    """Text cells of a column declared numeric are written as missing values to a typed output."""


def _warn_text_dropped(text: Any, hidden: Any, out: Path) -> None:
    """Warn, per column, that the ``hidden`` cells of ``text`` do not reach ``out``: a numeric
    column of a Parquet or JSON table cannot hold text (a CSV/TSV output keeps it)."""
    import warnings

    import numpy as np

    for j in np.flatnonzero(hidden.to_numpy(dtype=bool).any(axis=0)):
        rows = np.flatnonzero(hidden.iloc[:, j].to_numpy(dtype=bool))
        warnings.warn(
            f"{out}: column {text.columns[j]!r} is declared numeric, so its {len(rows)} text "
            f"cell(s), such as {text.iloc[rows[0], j]!r} at row {rows[0]}, are written as "
            "missing values; write a CSV or TSV output to keep them as they are",
            TextDroppedWarning,
            stacklevel=2,
        )


def register(app: typer.Typer) -> None:
    """Add the ``impute`` command to the CLI."""
    app.command("impute")(impute_command)
