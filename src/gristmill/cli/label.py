"""``gristmill label``: fit a label model on a label matrix and write class probabilities."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from gristmill.cli._common import Output, check_paths, console

_DEV_HELP = (
    "Labeled dev rows: a label matrix Parquet file (same labeling functions as --matrix) with "
    "one more integer column holding each row's gold class "
    "(named by --dev-label-column). Models that can use it do: LabelModel (auto) takes its class "
    "balance and mixture weight from it, dawid_skene adds the rows with fixed labels, "
    "weighted_majority_vote takes the accuracies from it."
)
_MODEL_HELP = (
    "auto (LabelModel), majority_vote, weighted_majority_vote, dawid_skene, matrix_completion "
    "or triplet."
)


def label_command(
    matrix: Annotated[
        Path,
        typer.Option(
            "--matrix",
            help="Label matrix Parquet (LabelMatrix.to_parquet, or any table with one integer "
            "column of votes per labeling function, -1 = abstain), or a directory of parts "
            "written by 'gristmill lfs apply --engine dask' (then fit and predicted on Dask).",
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="Where to write probabilities: one proba_<c> per class, after a __row__ column "
            "of row labels when the matrix has them (a directory of Parquet parts, with the "
            "data's index, for a partitioned matrix).",
        ),
    ],
    model: Annotated[str, typer.Option("--model", help=_MODEL_HELP)] = "auto",
    dev: Annotated[Path | None, typer.Option("--dev", help=_DEV_HELP)] = None,
    dev_label_column: Annotated[
        str, typer.Option("--dev-label-column", help="Gold-label column of --dev.")
    ] = "label",
    cardinality: Annotated[
        int | None,
        typer.Option("--cardinality", min=2, help="Number of classes (default: inferred)."),
    ] = None,
    save_model: Annotated[
        Path | None, typer.Option("--save-model", help="Also save the fitted model here (a dir).")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", min=0, help="Random seed of the fit.")] = 0,
    engine: Annotated[
        str,
        typer.Option("--engine", help="auto (dask for a directory --matrix), pandas or dask."),
    ] = "auto",
    scheduler: Annotated[
        str | None,
        typer.Option("--scheduler", help="Dask scheduler address (default: a LocalCluster)."),
    ] = None,
) -> None:
    """Fit a label model on labeling-function votes and write each row's class probabilities."""
    import pandas as pd

    from gristmill.exceptions import DataError, GristmillError
    from gristmill.io import write_table
    from gristmill.labeling import LabelMatrix
    from gristmill.labelmodel import get_label_model

    if engine not in ("auto", "pandas", "dask"):
        raise GristmillError(f"--engine must be auto, pandas or dask; got {engine!r}")
    partitioned = engine == "dask" or (engine == "auto" and matrix.is_dir())
    check_paths(
        {"--matrix": matrix, "--dev": dev},
        [
            Output("--out", out, "directory" if partitioned else "table"),
            Output("--save-model", save_model, "directory"),
        ],
    )
    dev_matrix, dev_labels = (None, None) if dev is None else _read_dev(dev, dev_label_column)
    estimator = get_label_model(model, cardinality=cardinality)
    if partitioned:
        _label_partitioned(matrix, out, estimator, (dev, dev_matrix, dev_labels), seed, scheduler)
        if save_model is not None:
            estimator.save(save_model)
        return
    label_matrix = LabelMatrix.from_parquet(matrix)
    if label_matrix.shape[1] == 0:
        raise DataError(
            f"{matrix}: no labeling-function columns (one integer column of votes per "
            "labeling function)"
        )
    if label_matrix.shape[0] == 0:
        raise DataError(f"{matrix}: the label matrix has no rows; a label model is fit on some")
    _check_dev_lfs(dev, dev_matrix, matrix, label_matrix.lf_names)
    _check_classes(
        {matrix: label_matrix, dev: dev_matrix}, (dev, dev_label_column, dev_labels), cardinality
    )
    estimator.fit(label_matrix, L_dev=dev_matrix, y_dev=dev_labels, seed=seed)
    proba = estimator.predict_proba(label_matrix)
    frame = pd.DataFrame(proba, columns=[f"proba_{c}" for c in range(proba.shape[1])])
    index = label_matrix.index
    if not isinstance(index, pd.RangeIndex):
        frame.insert(0, "__row__", index.to_numpy())
    write_table(frame, out)
    if save_model is not None:
        estimator.save(save_model)
    console.print(
        f"{type(estimator).__name__}: {proba.shape[0]} rows, {label_matrix.shape[1]} labeling "
        f"functions, {proba.shape[1]} classes -> {out}"
    )


def _label_partitioned(
    matrix: Path,
    out: Path,
    estimator: Any,
    dev_set: tuple[Path | None, Any, Any],
    seed: int,
    scheduler: str | None,
) -> None:
    from gristmill.io import check_replaceable
    from gristmill.labeling import PartitionedLabelMatrix
    from gristmill.labeling._partitioned import dask_client
    from gristmill.labelmodel import fit_partitioned, predict_proba_partitioned

    dev, dev_matrix, dev_labels = dev_set
    partitioned = PartitionedLabelMatrix.open(matrix)
    _check_dev_lfs(dev, dev_matrix, matrix, partitioned.lf_names)
    check_replaceable(out, "_probabilities.json", "directory of partitioned probabilities")
    with dask_client(scheduler=scheduler) as client:
        fit_partitioned(
            estimator, partitioned, client=client, L_dev=dev_matrix, y_dev=dev_labels, seed=seed
        )
        predict_proba_partitioned(estimator, partitioned, out, client=client, overwrite=True)
    console.print(
        f"{type(estimator).__name__}: {partitioned.n_rows} rows in {partitioned.n_partitions} "
        f"parts, {len(partitioned.lf_names)} labeling functions, {estimator.cardinality_} "
        f"classes -> {out}/"
    )


def _check_dev_lfs(dev: Path | None, dev_matrix: Any, matrix: Path, lf_names: Any) -> None:
    """Raise, naming both files, unless the dev file holds the LFs of the label matrix."""
    from gristmill.exceptions import DataError

    if dev_matrix is None or set(dev_matrix.lf_names) == set(lf_names):
        return
    missing = sorted(set(lf_names) - set(dev_matrix.lf_names))
    extra = sorted(set(dev_matrix.lf_names) - set(lf_names))
    parts = [f"missing {missing}"] if missing else []
    parts += [f"not in {matrix.name}: {extra}"] if extra else []
    raise DataError(f"{dev}: its labeling functions are not those of {matrix}: " + ", ".join(parts))


def _check_classes(
    matrices: dict[Path | None, Any], gold: tuple[Path | None, str, Any], cardinality: int | None
) -> None:
    """Raise, naming the file, column and row, on a vote or gold class the task cannot have.

    The classes are 0..``cardinality`` - 1, or (without ``--cardinality``) 0 to the largest
    class any labeling function votes in either file, as the label model infers them.
    """
    import numpy as np

    from gristmill.exceptions import DataError
    from gristmill.labelmodel._votes import infer_cardinality

    k = cardinality or 2
    for path, label_matrix in matrices.items():
        if cardinality is None and label_matrix is not None:
            try:
                k = max(k, infer_cardinality(label_matrix))
            except DataError as exc:  # a vote beyond the class limit: say which file holds it
                raise DataError(f"{path}: {exc}") from None
    bound = (
        f"--cardinality is {k} (classes 0..{k - 1})"
        if cardinality
        else f"no labeling function votes a class above {k - 1}; pass --cardinality if the "
        "task has more classes"
    )
    for path, label_matrix in matrices.items():
        if label_matrix is None or not label_matrix.values.size:
            continue
        over = label_matrix.values >= k
        if over.any():
            row, column = divmod(int(np.argmax(over)), over.shape[1])
            raise DataError(
                f"{path}: labeling function {label_matrix.lf_names[column]!r} votes class "
                f"{label_matrix.values[row, column]} at row {label_matrix.index[row]!r}, but "
                f"{bound}"
            )
    path, column, labels = gold
    if labels is not None and labels.max() >= k:
        row = int(np.argmax(labels >= k))
        raise DataError(
            f"{path}: column {column!r} holds class {labels[row]} at row {row}, but {bound}"
        )


def _read_dev(path: Path, label_column: str) -> tuple[Any, Any]:
    import numpy as np
    import pyarrow.parquet as pq

    from gristmill.exceptions import DataError
    from gristmill.labeling import LabelMatrix

    dev_matrix = LabelMatrix.from_parquet(path, exclude=[label_column])
    if label_column in dev_matrix.lf_names:
        raise DataError(f"{path}: {label_column!r} is a labeling function, not a gold-label column")
    names = pq.read_schema(path).names
    if label_column not in names:
        raise DataError(
            f"{path}: no gold-label column {label_column!r} (columns: {names}); "
            "pass --dev-label-column"
        )
    column = pq.read_table(path, columns=[label_column]).column(label_column)
    if column.null_count:
        row = int(np.argmax(column.is_null().to_numpy(zero_copy_only=False)))
        raise DataError(
            f"{path}: column {label_column!r} has no gold class at row {row} (a missing value); "
            "every dev row needs one"
        )
    labels = column.to_numpy()
    if labels.dtype.kind not in "iu":
        raise DataError(
            f"{path}: column {label_column!r} must hold integer classes, got {labels.dtype}"
        )
    if labels.size == 0:
        raise DataError(f"{path}: the dev file has no rows")
    if labels.min() < 0:
        row = int(np.argmax(labels < 0))
        raise DataError(
            f"{path}: column {label_column!r} holds {labels[row]} at row {row}; gold classes "
            "are 0, 1, ..."
        )
    return dev_matrix, np.asarray(labels, dtype=np.int64)


def register(app: typer.Typer) -> None:
    """Add the ``label`` command to the gristmill CLI."""
    app.command("label", help="Fit a label model and write class probabilities.")(label_command)
