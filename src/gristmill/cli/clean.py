"""``gristmill clean``: detect and repair erroneous cells of a table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from gristmill.cli._common import Output, check_paths, console


def clean_command(
    data: Path = typer.Option(..., "--data", help="The dirty table (CSV, TSV, Parquet, JSONL)."),
    out: Path = typer.Option(..., "--out", help="Where to write the repaired table."),
    constraints: Path | None = typer.Option(
        None, "--constraints", help="Denial constraints / FDs (text) or YAML rules."
    ),
    dictionary: list[Path] = typer.Option(
        [],
        "--dictionary",
        help="Reference table; matched on the columns it shares with the data "
        "whose values are unique in it. Repeatable.",
    ),
    examples: Path | None = typer.Option(
        None,
        "--examples",
        help="Corrected rows: the data's header plus a leading _row column, the row's number "
        "in the data from 0 (the header not counted), as in the --repairs table.",
    ),
    repairs: Path | None = typer.Option(None, "--repairs", help="Write the repairs table here."),
    truth: Path | None = typer.Option(
        None,
        "--truth",
        help="Clean table, rows in the data's order: print P/R/F1 scores. Columns are matched "
        "by name when it has the data's, else by position.",
    ),
    min_confidence: float = typer.Option(
        0.3, "--min-confidence", min=0.0, max=1.0, help="Least probability to change a cell."
    ),
) -> None:
    """Detect and repair erroneous cells; the input file is never modified."""
    from gristmill.cleaning import Cleaner, Constraints, evaluate, read_constraints
    from gristmill.cleaning._examples import read_examples
    from gristmill.cleaning._files import has_own_index
    from gristmill.exceptions import ConstraintError, DataError
    from gristmill.io import read_table, write_table

    check_paths(
        {
            "--data": data,
            "--constraints": constraints,
            "--examples": examples,
            "--truth": truth,
            **{f"--dictionary {p}": p for p in dictionary},
        },
        [Output("--out", out, "table"), Output("--repairs", repairs, "table")],
    )
    frame = read_table(data, as_strings=True)
    if frame.empty:
        raise DataError(f"{data}: the table has no rows: nothing to clean")
    clean_frame = None if truth is None else read_table(truth, as_strings=True)
    if clean_frame is not None and set(clean_frame.columns) == set(frame.columns):
        clean_frame = clean_frame[list(frame.columns)]  # the same columns in another order
    rules = Constraints()
    if constraints is not None:
        rules = read_constraints(constraints)
        try:
            rules.check_columns(frame.columns, where=str(data))
        except ConstraintError as exc:
            raise ConstraintError(f"{constraints}: {exc}") from None
    for path in dictionary:
        rules.dictionaries.append(_dictionary(path, list(frame.columns)))
    corrected = None
    if examples is not None:
        corrected = read_examples(str(examples), list(frame.columns), len(frame))
        corrected = corrected.assign(_row=corrected.index)
    cleaner = Cleaner(constraints=rules, min_confidence=min_confidence).fit(
        frame, examples=corrected
    )
    repaired = cleaner.repaired_
    repaired.columns = frame.columns
    scores = None
    if clean_frame is not None:
        try:
            scores = evaluate(frame, repaired, clean_frame)
        except DataError as exc:
            raise DataError(f"{truth}: {exc}") from None
    write_table(repaired, out, index=has_own_index(frame), like=data)
    if repairs is not None:
        write_table(cleaner.repairs_, repairs)
    n_cells = frame.shape[0] * frame.shape[1]
    console.print(
        f"{len(frame)} rows x {frame.shape[1]} columns: {len(cleaner.detections_)} of {n_cells} "
        f"cells flagged, {len(cleaner.repairs_)} repaired -> {out}"
    )
    if len(cleaner.repairs_):
        per_column = cleaner.repairs_["column"].value_counts()
        console.print("repairs per column: " + ", ".join(f"{c}={n}" for c, n in per_column.items()))
    if scores is not None:
        for stage in ("detection", "repair"):
            console.print(
                f"{stage}: precision {scores[f'{stage}_precision']:.3f}  "
                f"recall {scores[f'{stage}_recall']:.3f}  f1 {scores[f'{stage}_f1']:.3f}"
            )


def _dictionary(path: Path, columns: list[str]) -> Any:
    """A reference table keyed on the shared columns whose values are unique in it."""
    from gristmill.cleaning import Dictionary
    from gristmill.exceptions import ConstraintError
    from gristmill.io import read_table

    table = read_table(path, as_strings=True)
    shared = [c for c in table.columns if c in columns]
    keys = [c for c in shared if table[c].notna().all() and table[c].is_unique]
    if not keys or len(shared) < 2:
        raise ConstraintError(
            f"{path}: a dictionary needs a key column with unique values and at least one more "
            f"column shared with the data; shared columns: {shared}"
        )
    return Dictionary(table[shared], (keys[0],), name=str(path))


def register(app: typer.Typer) -> None:
    """Add the ``clean`` command to the CLI."""
    app.command("clean")(clean_command)
