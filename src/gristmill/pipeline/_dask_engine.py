"""The pipeline on Dask (``engine: dask``): the same spec, run partition by partition.

What each stage keeps where:

* **load** — train, dev and test are read as Dask DataFrames by the workers (Parquet: a file, a
  directory of parts or a glob; CSV). SQL, JSON lines and seeded ``sample`` sources are read by
  the client and split into partitions, and the run says so.
* **clean** — with a ``cleaning`` section, :class:`~gristmill.cleaning.Cleaner` with
  ``engine="dask"`` counts co-occurrences and constraint violations on the workers and infers
  repairs for the suspicious cells on the client; the repairs (row, column, new value) are then
  applied partition by partition, so the split stays distributed. Imputation needs the whole
  table in memory and is refused with this engine.
* **label** — LFs, label columns and gold votes run per partition; each split's label matrix is
  a directory of int8 Parquet parts (:class:`~gristmill.labeling.PartitionedLabelMatrix`),
  never gathered.
* **label model** — fit on the train matrix's distinct vote patterns with their counts (the
  counts are sufficient statistics of every gristmill label model).
* **probabilities** — written per part; the same pass returns each part's LF statistics and a
  seeded uniform sample of its covered rows.
* **train** — the end model is searched and fit in memory on at most ``model.sample_rows``
  covered training rows (and as many gold dev rows for selection).
* **evaluate** — each dev/test partition is scored by both models overall and per declared
  slice; only the k x k confusion counts reach the client, which sums them.

A LocalCluster (one single-threaded worker per core) is started when the spec names no
``scheduler``, and closed at the end. The run directory has the layout of the pandas engine,
except that ``label_matrix.parquet`` and ``probs.parquet`` are directories of parts (readable
as one table by ``pandas.read_parquet``) and the dev/test matrices are kept beside them.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import uuid
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from gristmill._dask import pandas_strings, share
from gristmill._extras import require
from gristmill.exceptions import DataError, GristmillError, LFError
from gristmill.io import (
    DASK_TABLE_SUFFIXES,
    atomic_write_text,
    read_dask_table,
    replace_directory,
    row_numbering,
    write_parquet_part,
)
from gristmill.io._dask import csv_row_offsets
from gristmill.labeling._lf import LabelingFunction
from gristmill.labeling._matrix import ABSTAIN, LabelMatrix
from gristmill.pipeline._cache import StageCache
from gristmill.pipeline._spec import PipelineSpec, Source, SpecSource, spec_to_dict
from gristmill.pipeline._stages import (
    SPLITS,
    LFModule,
    LoadedSplit,
    check_cleaning_columns,
    check_columns,
    check_vote_range,
    class_indices,
    gold_labels,
    label_column_votes,
    load_lf_modules,
    load_split,
    read_cleaning_constraints,
    train_end_model,
    with_repairs,
    without_labels,
)

if TYPE_CHECKING:
    from gristmill.pipeline._runner import (
        Pipeline,
        PipelineResult,
        PlanStep,
        SourceModule,
        _Progress,
    )

__all__ = ["plan_on_dask", "prepare_on_dask", "run_on_dask"]

# Rows per partition when the client reads a source itself and splits it.
CLIENT_PARTITION_ROWS = 250_000

# How the pandas engine numbers the rows of a CSV file, which an error names a row by.
_CSV_ROWS = row_numbering("rows.csv")


@dataclass
class DaskSplit:
    """One split as a lazy Dask DataFrame, where it came from, and its first rows (for checks).

    ``partition_rows`` says per partition how its index names its rows, for an error to name
    one a user can find: a split the client read is indexed by its rows' numbers in the source
    (see :class:`LoadedSplit`), one the workers read as :func:`~gristmill.io.read_dask_table`
    says (Parquet: the rows' numbers in their file). Both before any ``where`` filter. ``csv``
    is the CSV file or glob the workers read, whose partitions number their rows from 0.
    """

    frame: Any
    source: str
    head: pd.DataFrame
    partition_rows: tuple[str, ...]
    csv: str | None = None

    def numbered_in_files(self) -> tuple[Any, tuple[str, ...]]:
        """The frame with each row indexed by its number in its file, and how, per partition.

        Only a CSV split changes: its rows are counted again (a pass over the files) and
        numbered from 1, the header not counted, as the pandas engine numbers them.
        """
        if self.csv is None:
            return self.frame, self.partition_rows
        offsets = csv_row_offsets(self.csv)
        frame = self.frame.map_partitions(
            _shift_index, [offset + 1 for _, offset in offsets], meta=self.frame._meta
        )
        return frame, tuple(f"rows of {file} {_CSV_ROWS}" for file, _ in offsets)


@dataclass
class DaskPrepared:
    """Everything validated before any long work: splits, LF modules, slicing functions.

    ``slice_modules`` are the slicing-function modules as they were imported (for tracking).
    """

    splits: dict[str, DaskSplit]
    modules: list[LFModule]
    slicing_functions: list[Any]
    slice_modules: list[SourceModule]
    notes: list[str] = field(default_factory=list)
    constraints: Any = None

    def describe(self) -> str:
        """One line for the progress output."""
        return ", ".join(f"{s} {v.frame.npartitions} partitions" for s, v in self.splits.items())


# -- validation ---------------------------------------------------------------------------------


def _check_supported(spec: PipelineSpec, where: SpecSource) -> None:
    """What the dask engine refuses beyond the spec's own rules (one binary/multiclass task)."""
    if spec.cleaning is not None and spec.cleaning.imputation is not None:
        raise where.error(
            ("cleaning", "imputation"),
            "imputation fits the whole table in memory and is not supported with engine: dask; "
            "use engine: pandas, or repair with constraints only",
        )
    if spec.task.label_model_spec.use_dev:
        raise where.error(
            ("tasks", spec.task_name, "label_model", "use_dev"),
            "use_dev is not supported with engine: dask (the dev votes would be gathered)",
        )


def _head(frame: Any) -> pd.DataFrame:
    with warnings.catch_warnings():
        # dask warns when the first partition holds fewer rows than asked for; a short head is
        # all the checks need.
        warnings.simplefilter("ignore", UserWarning)
        return frame.head(5, npartitions=1)


def read_split(
    split: str, source: Source, root: Path, where: SpecSource, notes: list[str]
) -> DaskSplit:
    """Read one split lazily; sources the workers cannot read are read here and partitioned.

    Raises
    ------
    SpecError
        Naming the spec key when the file is missing or unreadable or the filter is invalid.
    """
    dd = require("dask.dataframe", extra="dask", feature="engine: dask")
    loc: tuple[Any, ...] = ("data", split)
    path = (root / source.path).resolve() if source.path is not None else None
    partitioned = (
        path is not None
        and source.sample is None
        and (path.is_dir() or str(path).lower().endswith(DASK_TABLE_SUFFIXES))
    )
    if not partitioned:
        loaded = load_split(split, source, root, where)
        reason = (
            "a SQL query"
            if source.sql is not None
            else "a seeded sample"
            if source.sample is not None
            else f"a {Path(str(source.path)).suffix} file"
        )
        notes.append(
            f"data.{split}: {reason} is read by the client and split into partitions of "
            f"{CLIENT_PARTITION_ROWS:,} rows (the workers read Parquet and CSV files themselves)"
        )
        frame = dd.from_pandas(loaded.numbered(), chunksize=CLIENT_PARTITION_ROWS, sort=False)
        return DaskSplit(
            frame=_with_pandas_strings(frame),
            source=loaded.source,
            head=loaded.frame.head(5),
            partition_rows=(loaded.numbering,) * frame.npartitions,
        )
    assert path is not None
    if not path.exists() and not glob.glob(str(path)):
        raise where.error((*loc, "path"), f"no such file: {path}")
    try:
        table = read_dask_table(path)
        frame = _with_pandas_strings(table.frame)
        head = _head(frame)
    except (DataError, OSError, ValueError) as exc:
        raise where.error((*loc, "path"), f"cannot read {path}: {exc}") from exc
    if source.where is not None:
        try:
            head = head.query(source.where, engine="python")
            frame = frame.query(source.where, engine="python")
        except Exception as exc:
            raise where.error(
                (*loc, "where"), f"cannot filter with {source.where!r}: {exc}"
            ) from exc
    return DaskSplit(
        frame=frame,
        source=str(path),
        head=head,
        partition_rows=table.partition_rows,
        csv=table.csv,
    )


def _with_pandas_strings(frame: Any) -> Any:
    """``frame`` with its text as the pandas engine holds it: missing strings are NaN, not the
    ``pd.NA`` of Dask's ``string[pyarrow]``, so that LFs, slicing functions and filters see the
    same values on both engines (see :func:`~gristmill._dask.pandas_strings`).
    """
    return frame.map_partitions(pandas_strings, meta=pandas_strings(frame._meta))


def _shift_index(
    part: pd.DataFrame, starts: Sequence[int], partition_info: Any = None
) -> pd.DataFrame:
    """A partition numbered from 0 with its index moved to start at its ``starts`` entry."""
    return part.set_axis(part.index + starts[partition_info["number"]])


def _distinct(values: pd.Series) -> pd.Series:
    return values.dropna().drop_duplicates()


def _check_gold(spec: PipelineSpec, splits: dict[str, DaskSplit], where: SpecSource) -> None:
    """Check every distinct gold value of every split is a class (one pass over the column).

    Raises
    ------
    SpecError
        As the pandas engine: naming the values outside the classes and the first row holding
        one (found by a second pass, on this error path only).
    """
    column = spec.task.gold
    classes = spec.task.classes
    for split, loaded in splits.items():
        if column is None or column not in loaded.head.columns:
            continue
        # Distinct values per partition, made unique here: a reduction, not a shuffle.
        series = loaded.frame[column]
        with _csv_types_agree(split, loaded, where):
            per_part = series.map_partitions(_distinct, meta=series._meta).compute()
        distinct = pd.Series(pd.unique(np.asarray(per_part, dtype=object)), dtype=object)
        if class_indices(distinct, classes)[1]:
            gold_labels(spec, split, _outside_classes(loaded, column, classes), where)


@contextlib.contextmanager
def _csv_types_agree(split: str, loaded: DaskSplit, where: SpecSource) -> Iterator[None]:
    """Raise Dask's error on a CSV block holding values of other types as a SpecError."""
    try:
        yield
    except ValueError as exc:
        # Dask's own words, which name the columns and the types seen, up to its advice to
        # pass dtypes to read_csv (a spec cannot).
        told = str(exc).partition("Usually this is due")[0].strip()
        if loaded.csv is None or not told.startswith("Mismatched dtypes"):
            raise
        raise where.error(
            ("data", split, "path"),
            f"cannot read {loaded.csv} with engine: dask, which takes the type of each CSV "
            "column from the file's first block of bytes: a later block holds values of "
            "another type (a missing value in a column of integers, text in a column of "
            "numbers). Convert the file to Parquet, whose columns keep one type, or run with "
            f"engine: pandas. Dask says: {told}",
        ) from exc


def _outside_classes(loaded: DaskSplit, column: str, classes: Sequence[str]) -> LoadedSplit:
    """The first row of each value of ``column`` that is no class, per partition, in order.

    Indexed and numbered as the rows are in their files, with the numbering of the first row.
    """
    dask = require("dask", extra="dask", feature="engine: dask")
    frame, numbering = loaded.numbered_in_files()
    first = dask.delayed(_first_outside_classes)
    parts = dask.compute(*[first(part, classes) for part in frame[column].to_delayed()])
    rows = pd.concat(parts)
    holding = next(i for i, part in enumerate(parts) if len(part))
    return LoadedSplit(
        rows.to_frame(column).reset_index(drop=True),
        loaded.source,
        "",
        rows=rows.index.to_numpy(),
        numbering=numbering[holding],
    )


def _first_outside_classes(values: pd.Series, classes: Sequence[str]) -> pd.Series:
    outside = (class_indices(values, classes)[0] == ABSTAIN) & values.notna().to_numpy()
    return values[outside].drop_duplicates()


def prepare_on_dask(pipeline: Pipeline) -> DaskPrepared:
    """Every check that needs no long work, with the splits read lazily.

    Raises
    ------
    SpecError
        For unsupported sections, missing files or columns, gold values outside the classes,
        LF or slice modules that fail to import.
    """
    spec, where = pipeline.spec, pipeline.source
    _check_supported(spec, where)
    constraints = read_cleaning_constraints(spec, pipeline.root, where)
    notes: list[str] = []
    splits = {
        split: read_split(split, source, pipeline.root, where, notes)
        for split in SPLITS
        if (source := getattr(spec.data, split)) is not None
    }
    heads = {s: LoadedSplit(v.head, v.source, "") for s, v in splits.items()}
    check_columns(spec, heads, where)
    check_cleaning_columns(spec, constraints, {s: v.frame.columns for s, v in heads.items()}, where)
    for split, loaded in heads.items():
        # checks the value maps of label columns
        label_column_votes(spec, loaded.frame, split, where, task=spec.task_name)
    _check_gold(spec, splits, where)
    modules = load_lf_modules(spec, pipeline.root, where)
    slicing_functions, slice_modules = pipeline._slicing_functions(heads)
    return DaskPrepared(splits, modules, slicing_functions, slice_modules, notes, constraints)


# -- labeling functions of a split ---------------------------------------------------------------


@dataclass(frozen=True)
class _ColumnVotes:
    """Votes read from a column (label columns, gold), as a vectorized LF for the workers."""

    column: str
    classes: tuple[str, ...]
    mapping: dict[str, str] | None = None
    abstain: bool = False

    def __call__(self, frame: pd.DataFrame) -> np.ndarray:
        if self.abstain or self.column not in frame.columns:
            return np.full(len(frame), ABSTAIN, dtype=np.int8)
        return class_indices(frame[self.column], self.classes, self.mapping)[0]


def split_lfs(spec: PipelineSpec, modules: Sequence[LFModule], split: str) -> list[Any]:
    """The LFs of a split, in the pandas engine's column order: modules, label columns, gold."""
    classes = tuple(spec.task.classes)
    sup = spec.task.supervision
    lfs: list[Any] = [lf for module in modules for lf in module.lfs]
    for column, options in sup.label_columns.items():
        votes = _ColumnVotes(column, classes, options.values if options is not None else None)
        lfs.append(LabelingFunction(f"column:{column}", votes, vectorized=True))
    if sup.gold_labels and spec.task.gold is not None:
        # Gold labels supervise training only; on dev/test they would leak the answer.
        votes = _ColumnVotes(spec.task.gold, classes, abstain=split != "train")
        lfs.append(LabelingFunction(f"gold:{spec.task.gold}", votes, vectorized=True))
    return lfs


def _matrix_name(split: str) -> str:
    return "label_matrix.parquet" if split == "train" else f"label_matrix.{split}.parquet"


# -- per-partition work (runs on the workers) ----------------------------------------------------


@dataclass
class _Shipped:
    """What every partition task needs, shipped once (:func:`gristmill._dask.share`)."""

    split: str
    classes: list[str]
    payload_columns: list[str]
    label_model: Any
    id_column: str | None
    lf_names: list[str] = field(default_factory=list)
    gold_column: str | None = None
    fraction: float = 1.0
    seed: int = 0
    end_model: Any = None
    slicing_functions: list[Any] = field(default_factory=list)


def _part_votes(path: str, shipped: _Shipped) -> tuple[np.ndarray, np.ndarray]:
    """A label part's votes and the label model's probabilities (one prediction per pattern)."""
    from gristmill.labelmodel._partitioned import _unique_rows

    values = pd.read_parquet(path).to_numpy(dtype=np.int8)
    patterns, inverse = _unique_rows(values)
    proba = np.asarray(shipped.label_model.predict_proba(patterns), dtype=np.float64)[inverse]
    # as many columns as classes, also for a part without rows
    return values, proba.reshape(len(values), len(shipped.classes))


def _write_probs(
    frame: pd.DataFrame,
    votes: np.ndarray,
    proba: np.ndarray,
    shipped: _Shipped,
    offset: int,
    target: str,
) -> None:
    part = pd.DataFrame({"split": shipped.split, "row": np.arange(offset, offset + len(votes))})
    if shipped.id_column is not None:
        part["id"] = frame[shipped.id_column].astype(str).to_numpy()
    part["covered"] = (votes != ABSTAIN).any(axis=1)
    for j, name in enumerate(shipped.classes):
        part[f"proba_{name}"] = proba[:, j]
    # Text typed as text in a part without rows too, so that the parts read as one table.
    text = {column: pd.StringDtype() for column in ("split", "id") if column in part}
    write_parquet_part(part.astype(text), target)


def _sample(keep: np.ndarray, shipped: _Shipped, partition: int) -> np.ndarray:
    """``keep`` thinned to a seeded uniform ``fraction`` of its rows (per partition stream)."""
    if shipped.fraction >= 1.0:
        return keep
    rng = np.random.default_rng([shipped.seed, partition])
    return keep & (rng.random(len(keep)) < shipped.fraction)


def _train_part(
    frame: pd.DataFrame,
    shipped: _Shipped,
    label_path: str,
    target: str,
    offset: int,
    partition: int,
) -> tuple[int, pd.DataFrame, pd.DataFrame, np.ndarray]:
    """Probabilities of a train part, its LF statistics and a sample of its covered rows."""
    from gristmill.labeling import lf_summary

    votes, proba = _part_votes(label_path, shipped)
    _write_probs(frame, votes, proba, shipped, offset, target)
    matrix = LabelMatrix(votes, shipped.lf_names)
    try:
        summary = lf_summary(matrix, label_model=shipped.label_model)
    except GristmillError:
        summary = lf_summary(matrix)
    keep = _sample((votes != ABSTAIN).any(axis=1), shipped, partition)
    sample = frame.loc[keep, shipped.payload_columns].reset_index(drop=True)
    return len(votes), summary, sample, proba[keep]


def _gold_part(
    frame: pd.DataFrame, shipped: _Shipped, partition: int
) -> tuple[pd.DataFrame, np.ndarray]:
    """A seeded sample of the rows with a gold label, and their class indices."""
    assert shipped.gold_column is not None
    gold = class_indices(frame[shipped.gold_column], shipped.classes)[0]
    keep = _sample(gold >= 0, shipped, partition)
    return frame.loc[keep, shipped.payload_columns].reset_index(drop=True), gold[keep]


def _confusion(y: np.ndarray, predicted: np.ndarray, masks: np.ndarray, k: int) -> np.ndarray:
    """Counts ``[slice][gold][predicted]``; slice 0 is every row."""
    counts = np.zeros((masks.shape[1], k, k), dtype=np.int64)
    for s in range(masks.shape[1]):
        rows = masks[:, s]
        np.add.at(counts[s], (y[rows], predicted[rows]), 1)
    return counts


def _evaluate_part(
    frame: pd.DataFrame,
    shipped: _Shipped,
    label_path: str,
    target: str,
    offset: int,
    partition: int,
) -> tuple[np.ndarray, int, tuple[int, pd.DataFrame] | None]:
    """Write a dev/test part's probabilities; confusion counts of both models on its gold rows.

    Returns
    -------
    (ndarray of shape (2, 1 + slices, k, k), int, (int, DataFrame) or None)
        Counts for the label model and the end model, the gold rows the LFs cover, and on dev
        the LF summary of the gold rows (with their number).
    """
    from gristmill.labeling import lf_summary
    from gristmill.pipeline._evaluate import label_model_predictions
    from gristmill.training import apply_slices

    votes, proba = _part_votes(label_path, shipped)
    _write_probs(frame, votes, proba, shipped, offset, target)
    k = len(shipped.classes)
    counts = np.zeros((2, 1 + len(shipped.slicing_functions), k, k), dtype=np.int64)
    if shipped.gold_column is None or shipped.gold_column not in frame.columns:
        return counts, 0, None
    gold = class_indices(frame[shipped.gold_column], shipped.classes)[0]
    rows = gold >= 0
    if not rows.any():
        return counts, 0, None
    scored = frame.loc[rows].reset_index(drop=True)
    y = gold[rows]
    masks = np.ones((len(y), 1), dtype=bool)
    if shipped.slicing_functions:
        try:
            sliced = apply_slices(shipped.slicing_functions, scored)
        except LFError as exc:
            raise LFError(
                f"partition {partition}: {exc}", lf_name=exc.lf_name, row=exc.row
            ) from None
        masks = np.hstack([masks, sliced.to_numpy(dtype=bool)])
    end_proba = shipped.end_model.predict_proba(scored)
    balance = np.asarray(shipped.label_model.class_balance_, dtype=np.float64)
    counts[0] = _confusion(y, label_model_predictions(proba[rows], balance), masks, k)
    counts[1] = _confusion(y, np.asarray(end_proba).argmax(axis=1), masks, k)
    covered = int((votes[rows] != ABSTAIN).any(axis=1).sum())
    on_gold = None
    if shipped.split == "dev":
        on_gold = (len(y), lf_summary(LabelMatrix(votes[rows], shipped.lf_names), y=y))
    return counts, covered, on_gold


# -- client side ----------------------------------------------------------------------------------


def _apply_repairs(frame: Any, repairs: pd.DataFrame) -> Any:
    """``frame`` (a Dask DataFrame) with each repair applied in the partition holding its row."""
    if repairs.empty:
        return frame
    offsets = _offsets([int(n) for n in frame.map_partitions(len).compute()])
    part_of = np.searchsorted(offsets, repairs["row"].to_numpy(), side="right") - 1
    by_part = {
        int(i): group.assign(row=group["row"] - offsets[int(i)])
        for i, group in repairs[["row", "column", "new"]].groupby(part_of)
    }
    return frame.map_partitions(_repair_part, by_part, meta=frame._meta)


def _repair_part(
    part: pd.DataFrame, by_part: dict[int, pd.DataFrame], partition_info: Any = None
) -> pd.DataFrame:
    """One partition with its repairs (rows numbered within the partition)."""
    repairs = by_part.get(partition_info["number"]) if partition_info else None
    return part if repairs is None else with_repairs(part, repairs)


def _vote_maxima(matrix: Any) -> np.ndarray:
    """Each LF's highest vote in a partitioned label matrix (-1 for none), from part footers."""
    import pyarrow.parquet as pq

    position = {name: j for j, name in enumerate(matrix.lf_names)}
    top = np.full(len(position), ABSTAIN, dtype=np.int64)
    for path in matrix.part_paths:
        metadata = pq.ParquetFile(path).metadata
        for g in range(metadata.num_row_groups):
            for c in range(metadata.num_columns):
                column = metadata.row_group(g).column(c)
                j, stats = position.get(column.path_in_schema), column.statistics
                if j is not None and stats is not None and stats.has_min_max:
                    top[j] = max(top[j], int(stats.max))
    return top


def _offsets(part_rows: Sequence[int]) -> list[int]:
    return [int(x) for x in np.concatenate([[0], np.cumsum(part_rows)[:-1]])] if part_rows else []


def _compute(client: Any, tasks: list[Any]) -> list[Any]:
    """Run delayed tasks; on failure cancel the rest so no late part lands after cleanup."""
    from gristmill.labeling._cluster import gather

    futures = client.compute(tasks)
    try:
        return gather(client, futures)
    except BaseException:
        client.cancel(futures)
        raise


def _part_name(split: str, i: int) -> str:
    # The split's position first, so a directory listing reads train, dev, test.
    return f"part.{SPLITS.index(split)}-{split}.{i:06d}.parquet"


def _frame_parts(frame: Any, columns: Sequence[str]) -> list[Any]:
    return list(frame[list(dict.fromkeys(columns))].to_delayed())


def _merge_summaries(parts: Sequence[tuple[int, pd.DataFrame]]) -> pd.DataFrame:
    """One LF summary from per-part summaries: rates weighted by rows, polarities united."""
    total = max(sum(rows for rows, _ in parts), 1)
    merged = parts[0][1].copy()
    for column in ("Coverage", "Overlaps", "Conflicts"):
        merged[column] = sum(rows * s[column].to_numpy() for rows, s in parts) / total
    merged["Polarity"] = [
        sorted(set().union(*(s["Polarity"].iloc[j] for _, s in parts))) for j in range(len(merged))
    ]
    if "Correct" in merged.columns:
        for column in ("Correct", "Incorrect"):
            merged[column] = sum(s[column].to_numpy() for _, s in parts)
        votes = (merged["Correct"] + merged["Incorrect"]).to_numpy()
        merged["Emp. Acc."] = np.where(votes > 0, merged["Correct"] / np.maximum(votes, 1), np.nan)
    return merged


def _confusion_metrics(counts: np.ndarray, k: int) -> dict[str, float]:
    """:func:`~gristmill.training.classification_metrics` of a k x k confusion matrix.

    The counts are expanded into (gold, predicted) pairs: transient, 16 bytes per scored row.
    """
    from gristmill.training import classification_metrics

    pairs = np.repeat(np.arange(k * k), counts.ravel())
    return classification_metrics(pairs // k, pairs % k, k)


def _take_sample(
    frames: Sequence[pd.DataFrame], labels: Sequence[np.ndarray], limit: int, seed: int
) -> tuple[pd.DataFrame, np.ndarray]:
    """Concatenate per-part samples; cut to ``limit`` rows with a seeded choice, order kept."""
    frame = pd.concat(frames, ignore_index=True)
    values = np.concatenate(labels)
    if len(frame) > limit:
        rows = np.sort(np.random.default_rng(seed).permutation(len(frame))[:limit])
        frame, values = frame.iloc[rows].reset_index(drop=True), values[rows]
    return frame, values


@dataclass
class _Outputs:
    """What the stages produce, for the result and the run directory."""

    matrices: dict[str, Any] = field(default_factory=dict)
    label_model: Any = None
    lf_summary: Any = None
    train: pd.DataFrame | None = None
    train_probs: np.ndarray | None = None
    dev: pd.DataFrame | None = None
    dev_gold: np.ndarray | None = None
    trained: Any = None
    metrics: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    engine: dict[str, Any] = field(default_factory=dict)
    repairs: dict[str, pd.DataFrame] = field(default_factory=dict)


class _DaskRun:
    """The stages of one run on a Dask client, writing into a staging directory."""

    def __init__(
        self,
        pipeline: Pipeline,
        prepared: DaskPrepared,
        client: Any,
        reporter: _Progress,
        cache: StageCache,
    ) -> None:
        self.pipeline = pipeline
        self.spec = pipeline.spec
        self.prepared = prepared
        self.client = client
        self.reporter = reporter
        self.cache = cache
        self.out = _Outputs()
        self.work = Path()

    def run(self, final: Path, tracker: Any) -> PipelineResult:
        """Every stage, written into a hidden sibling of ``final`` that is renamed at the end."""
        from gristmill.labeling._partitioned import remove_staging

        final.parent.mkdir(parents=True, exist_ok=True)
        self.work = final.parent / f".{final.name}.{uuid.uuid4().hex}.tmp"
        (self.work / "probs.parquet").mkdir(parents=True)
        try:
            if self.spec.cleaning is not None:
                self.clean()
            self.label()
            self.fit_label_model()
            self.probabilities()
            self.train(tracker)
            self.evaluate()
            with self.reporter.stage("report", "Writing the run directory") as record:
                result = self.result(final)
                _write_files(
                    result, self.pipeline.source.text, self.work, self.out, self.prepared.notes
                )
                replace_directory(self.work, final)
                self._open_matrix(result)
                record.detail = str(final)
        finally:
            remove_staging(self.work)
        return result

    def result(self, final: Path) -> PipelineResult:
        """The :class:`PipelineResult` of the finished stages (paths under ``final``)."""
        from gristmill.pipeline._runner import PipelineResult, SourceModule

        spec, out = self.spec, self.out
        result = PipelineResult(
            name=spec.name,
            spec=spec,
            spec_path=self.pipeline.spec_path,
            run_dir=final,
            classes=list(spec.task.classes),
            payload_columns=list(spec.payloads),
            metrics=out.metrics,
            model=out.trained.model,
            label_model=out.label_model,
            label_matrix=out.matrices["train"],
            lf_summary=out.lf_summary,
            lf_paths=[m.path for m in self.prepared.modules],
            lf_modules=[SourceModule(m.path, m.files, m.lfs) for m in self.prepared.modules],
            datasets=_sample_datasets(self.prepared, out),
            trials=out.trained.trials,
            report_path=final / "report.html",
            stages=self.reporter.records,
            selection=out.trained.selection,
            discovered_slices=out.details["discovered"],
            slice_paths=self.pipeline.slice_paths,
            slice_modules=self.prepared.slice_modules,
        )
        if out.repairs:
            result.cleaning = {
                "constraints": spec.cleaning.constraints if spec.cleaning else None,
                "repairs": {s: len(r) for s, r in out.repairs.items()},
            }
        result.tasks = {spec.task_name: _task_result(result, final)}
        return result

    def _open_matrix(self, result: PipelineResult) -> None:
        """Point the result at the train matrix in its final place."""
        from gristmill.labeling import PartitionedLabelMatrix

        opened = PartitionedLabelMatrix.open(result.run_dir / _matrix_name("train"))
        # The partitioned matrix stands where the pandas engine puts a LabelMatrix.
        result.label_matrix = cast(Any, opened)
        result.tasks[self.spec.task_name].label_matrix = result.label_matrix

    @property
    def classes(self) -> list[str]:
        return list(self.spec.task.classes)

    def _ship(self, **fields: Any) -> Any:
        shipped = _Shipped(
            classes=self.classes,
            payload_columns=list(self.spec.payloads),
            label_model=self.out.label_model,
            id_column=self.spec.data.id,
            seed=self.spec.seed,
            **fields,
        )
        return share(self.client, shipped)

    def clean(self) -> None:
        """Repair the cleaned splits: statistics on the workers, repairs applied per partition.

        As with the pandas engine, the tasks' gold columns are hidden from the repair.
        """
        from gristmill.cleaning import Cleaner

        cleaning = self.spec.cleaning
        assert cleaning is not None
        with self.reporter.stage("clean", "Repairing cells (statistics on Dask)") as record:
            for split in cleaning.splits:
                if split not in self.prepared.splits:
                    continue
                loaded = self.prepared.splits[split]
                cleaner = Cleaner(
                    constraints=self.prepared.constraints,
                    min_confidence=cleaning.min_confidence,
                    engine="dask",
                )
                repairs = cleaner.fit(without_labels(self.spec, loaded.frame)).repairs_
                loaded.frame = _apply_repairs(loaded.frame, repairs)
                self.out.repairs[split] = repairs
            record.detail = ", ".join(f"{s} {len(r)} repairs" for s, r in self.out.repairs.items())

    def label(self) -> None:
        from gristmill.labeling import apply_lfs_partitioned

        with self.reporter.stage("label", "Applying labeling functions per partition") as record:
            for split, loaded in self.prepared.splits.items():
                lfs = split_lfs(self.spec, self.prepared.modules, split)
                target = self.work / _matrix_name(split)
                # An error names its row as the pandas engine does: "the train data (rows of
                # FILE numbered from 1): ... row N".
                names = [f"the {split} data ({rows})" for rows in loaded.partition_rows]
                try:
                    with _csv_types_agree(split, loaded, self.pipeline.source):
                        matrix = apply_lfs_partitioned(
                            lfs, loaded.frame, target, client=self.client, partition_names=names
                        )
                except LFError as exc:
                    # the same error, worded for the user as the pandas engine words it
                    raise self._lf_error(split, loaded, lfs, exc) from None
                if matrix.n_rows == 0:
                    raise self.pipeline.source.error(
                        ("data", split), f"the {split} split has no rows ({loaded.source})"
                    )
                self._check_votes(matrix)
                self.out.matrices[split] = matrix
            record.detail = ", ".join(
                f"{s} {m.n_rows:,} rows x {len(m.lf_names)} sources in {m.n_partitions} parts"
                for s, m in self.out.matrices.items()
            )

    def _lf_error(self, split: str, loaded: DaskSplit, lfs: Sequence[Any], exc: LFError) -> LFError:
        """``exc`` as the pandas engine words it: its LF module first, its row in its file.

        The rows of a CSV split are numbered within their partition: the failing LF is applied
        again to them numbered in their files (reading the files twice more, on this error path
        only), and fails again on the same row. If it does not, ``exc`` is kept as it is.
        """
        from gristmill.labeling import apply_lfs_partitioned

        failing = [lf for lf in lfs if lf.name == exc.lf_name]
        if exc.row is not None and loaded.csv is not None and failing:
            frame, rows = loaded.numbered_in_files()
            try:
                apply_lfs_partitioned(
                    failing,
                    frame,
                    self.work / f"renumbered.{split}",
                    client=self.client,
                    partition_names=[f"the {split} data ({numbering})" for numbering in rows],
                )
            except LFError as again:
                exc = again
        for module in self.prepared.modules:
            if any(lf.name == exc.lf_name for lf in module.lfs):
                return LFError(f"{module.path}: {exc}", lf_name=exc.lf_name, row=exc.row)
        return exc

    def _check_votes(self, matrix: Any) -> None:
        """Raise the pandas engine's LFError when an LF module's LF votes no class of the task.

        Each LF's highest vote comes from the statistics in the parts' footers (no pass over
        the votes). The label columns and gold vote class indices only.
        """
        top = _vote_maxima(matrix)
        for module in self.prepared.modules:
            columns = [matrix.lf_names.index(lf.name) for lf in module.lfs]
            names = [matrix.lf_names[j] for j in columns]
            check_vote_range(module.path, names, top[columns], self.pipeline.spec.task)

    def fit_label_model(self) -> None:
        from gristmill.labelmodel import get_label_model
        from gristmill.labelmodel._partitioned import count_patterns

        spec = self.spec
        with self.reporter.stage("label_model", "Fitting the label model") as record:
            matrix = self.out.matrices["train"]
            patterns, counts = count_patterns(matrix, self.client)
            k = len(self.classes)
            lm_spec = spec.task.label_model_spec
            model = get_label_model(lm_spec.name, cardinality=k, **lm_spec.params)
            model.fit(LabelMatrix(patterns, matrix.lf_names), sample_weight=counts, seed=spec.seed)
            self.out.label_model = model
            covered = int(counts[(patterns != ABSTAIN).any(axis=1)].sum())
            self.out.engine["covered_train_rows"] = covered
            self.out.engine["vote_patterns"] = int(len(patterns))
            record.detail = f"{type(model).__name__} on {len(patterns):,} vote patterns"

    def _over_parts(
        self, function: Any, split: str, parts: Sequence[Any], shipped: Any
    ) -> list[Any]:
        """``function(data part, shipped, label part, probs part, first row, i)`` per part."""
        dask = require("dask", extra="dask", feature="engine: dask")
        matrix = self.out.matrices[split]
        task = dask.delayed(function, pure=False)
        tasks = [
            task(
                part,
                shipped,
                str(path),
                str(self.work / "probs.parquet" / _part_name(split, i)),
                offset,
                i,
            )
            for i, (part, path, offset) in enumerate(
                zip(parts, matrix.part_paths, _offsets(matrix.part_rows), strict=True)
            )
        ]
        return _compute(self.client, tasks)

    def probabilities(self) -> None:
        spec, matrix = self.spec, self.out.matrices["train"]
        limit = spec.model_spec.sample_rows
        covered = self.out.engine["covered_train_rows"]
        with self.reporter.stage("probs", "Writing probabilistic labels, sampling rows") as record:
            shipped = self._ship(
                split="train", lf_names=matrix.lf_names, fraction=limit / max(covered, 1)
            )
            frame = self.prepared.splits["train"].frame
            parts = _frame_parts(frame, [*spec.payloads, *([spec.data.id] if spec.data.id else [])])
            results = self._over_parts(_train_part, "train", parts, shipped)
            self.out.lf_summary = _merge_summaries([(r[0], r[1]) for r in results])
            self.out.train, self.out.train_probs = _take_sample(
                [r[2] for r in results], [r[3] for r in results], limit, spec.seed
            )
            self.out.engine["train_sample_rows"] = len(self.out.train)
            record.detail = (
                f"end model sample: {len(self.out.train):,} of {covered:,} covered rows "
                f"(model.sample_rows {limit:,})"
            )
            self._sample_dev(limit)

    def _sample_dev(self, limit: int) -> None:
        dask = require("dask", extra="dask", feature="engine: dask")
        gold = self.spec.task.gold
        dev = self.prepared.splits.get("dev")
        if dev is None or gold is None or gold not in dev.head.columns:
            return
        n_gold = int(dev.frame[gold].count().compute())
        if n_gold == 0:
            return
        shipped = self._ship(split="dev", gold_column=gold, fraction=limit / n_gold)
        gold_part = dask.delayed(_gold_part, pure=False)
        parts = _frame_parts(dev.frame, [*self.spec.payloads, gold])
        results = _compute(self.client, [gold_part(p, shipped, i) for i, p in enumerate(parts)])
        self.out.dev, self.out.dev_gold = _take_sample(
            [r[0] for r in results], [r[1] for r in results], limit, self.spec.seed
        )
        self.out.engine["dev_sample_rows"] = len(self.out.dev)

    def train(self, tracker: Any) -> None:
        assert self.out.train is not None and self.out.train_probs is not None
        with self.reporter.stage("train", "Searching and training the end model") as record:
            trained = train_end_model(
                self.spec,
                self.out.train,
                self.out.train_probs,
                self.out.dev,
                self.out.dev_gold,
                self.cache,
                on_trial=tracker.log_trial if tracker is not None else None,
            )
            assert trained is not None
            self.out.trained = trained
            record.cached = trained.cached
            record.detail = (
                f"on a sample of {len(self.out.train):,} covered rows; "
                f"{len(trained.trials)} trials; best {trained.model.learner}"
            )

    def evaluate(self) -> None:
        k = len(self.classes)
        names = [sf.name for sf in self.prepared.slicing_functions]
        metrics: dict[str, Any] = {"label_model": {}, "end_model": {}}
        details: dict[str, Any] = {
            "confusion": {"label_model": {}, "end_model": {}},
            "discovered": None,
            "slice_sizes": {},
        }
        with self.reporter.stage("evaluate", "Evaluating on dev/test and slices") as record:
            for split in ("dev", "test"):
                if split not in self.prepared.splits:
                    continue
                gold = self.spec.task.gold
                shipped = self._ship(
                    split=split,
                    lf_names=self.out.matrices[split].lf_names,
                    gold_column=gold,
                    end_model=self.out.trained.model,
                    slicing_functions=self.prepared.slicing_functions,
                )
                parts = list(self.prepared.splits[split].frame.to_delayed())
                results = self._over_parts(_evaluate_part, split, parts, shipped)
                on_gold = [r[2] for r in results if r[2] is not None]
                if on_gold:
                    dev = _merge_summaries(on_gold)
                    for column in ("Coverage", "Emp. Acc."):
                        self.out.lf_summary[f"Dev {column}"] = dev[column].to_numpy()
                counts = np.sum([r[0] for r in results], axis=0)
                covered = sum(r[1] for r in results)
                n = int(counts[0, 0].sum())
                if n == 0:
                    continue
                for model, c in (("label_model", counts[0]), ("end_model", counts[1])):
                    overall = _confusion_metrics(c[0], k)
                    if model == "label_model":
                        overall["coverage"] = covered / n
                    metrics[model][split] = {
                        "overall": overall,
                        "slices": {
                            name: _confusion_metrics(c[1 + i], k) for i, name in enumerate(names)
                        },
                    }
                    details["confusion"][model][split] = c[0].tolist()
                if names:
                    details["slice_sizes"][split] = {
                        name: int(counts[0, 1 + i].sum()) for i, name in enumerate(names)
                    }
            details["discovered"] = self._discover_on_dev_sample()
            self.out.metrics, self.out.details = metrics, details
            from gristmill.pipeline._runner import _headline

            record.detail = _headline(metrics)

    def _discover_on_dev_sample(self) -> dict[str, Any] | None:
        """Discovered slices on the in-memory sample of gold dev rows (when there is one)."""
        from gristmill.pipeline._evaluate import discover_settings, discovered_clusters

        settings = discover_settings(self.spec.slices.discover)
        frame, gold = self.out.dev, self.out.dev_gold
        if settings is None or frame is None or gold is None or len(frame) == 0:
            return None
        model = self.out.trained.model
        features = model.transform(frame)
        predicted = np.asarray(model.classifier_.predict(features))
        clusters = discovered_clusters(
            features, frame, predicted, gold, self.classes, settings, self.spec.seed
        )
        return {"split": f"dev (sample of {len(frame):,} gold rows)", "clusters": clusters}


def _write_files(
    result: PipelineResult, spec_text: str | None, work: Path, out: _Outputs, notes: list[str]
) -> None:
    """The run directory's small files, beside the parts the workers wrote.

    ``spec.yaml`` is ``spec_text``, the spec that was validated and ran, even if the file
    changed since (a copy of the file when the pipeline was built from a spec object).
    """
    from gristmill.report import write_run_report
    from gristmill.training import save_end_model

    if spec_text is not None:
        atomic_write_text(work / "spec.yaml", spec_text)
    else:
        shutil.copyfile(result.spec_path, work / "spec.yaml")
    atomic_write_text(work / "metrics.json", json.dumps(result.metrics, indent=2))
    result.lf_summary.to_csv(work / "lf_summary.csv")
    save_end_model(result.model, work / "model")
    atomic_write_text(work / "trials.json", json.dumps(result.trials, indent=1, default=str))
    atomic_write_text(
        work / "slices.json",
        json.dumps(
            {"discovered": out.details["discovered"], "sizes": out.details["slice_sizes"]},
            indent=1,
            default=str,
        ),
    )
    if out.repairs:
        table = pd.concat([r.assign(split=s) for s, r in out.repairs.items()], ignore_index=True)
        table.to_csv(work / "repairs.csv", index=False)
    engine = {"engine": "dask", **out.engine, "notes": notes}
    atomic_write_text(work / "engine.json", json.dumps(engine, indent=1))
    write_run_report(result, work / "report.html", details=out.details)


def run_on_dask(
    pipeline: Pipeline,
    *,
    track: bool = True,
    run_dir: str | os.PathLike[str] | None = None,
    progress: bool = False,
    use_cache: bool = True,
    tracking_uri: str | None = None,
) -> PipelineResult:
    """Run ``pipeline`` with the dask engine (see the module docs); as :meth:`Pipeline.run`.

    Labeling, label-model statistics, probabilities and evaluation run on the cluster named by
    the spec's ``scheduler``, else on a LocalCluster started for the run. Only the end-model
    stage is cached (its sample is small enough to hash).

    Raises
    ------
    SpecError, DataError, LFError
        As the pandas engine; an LF error names the LF module, the split, the file its row
        comes from, the LF and the row (numbered in the file as the pandas engine does).
    """
    from gristmill.labeling._partitioned import dask_client
    from gristmill.pipeline._runner import _Progress

    spec = pipeline.spec
    reporter = _Progress(progress)
    _check_supported(spec, pipeline.source)
    # The client before the other checks, so that their passes over the data run on it.
    with dask_client(scheduler=spec.scheduler) as client:
        with reporter.stage("validate", "Validating spec, data and LFs") as record:
            prepared = prepare_on_dask(pipeline)
            record.detail = prepared.describe()
        for note in prepared.notes:
            reporter.print(f"[yellow]![/] {note}")
        tracker = pipeline._tracker(track, tracking_uri)
        if tracker is not None:
            tracker.check()
            tracker.start(spec.name, spec_to_dict(spec), pipeline.spec_path)
        try:
            stages = _DaskRun(
                pipeline,
                prepared,
                client,
                reporter,
                StageCache(pipeline.cache_dir, enabled=use_cache),
            )
            result = stages.run(pipeline._run_dir(run_dir), tracker)
            if tracker is not None:
                result.model_version = tracker.finish(result)
                result.tracking_run_id = getattr(tracker, "run_id_", None)
        except BaseException as exc:
            if tracker is not None and getattr(tracker, "model_version_", None) is None:
                tracker.fail(exc)
            raise
    return result


def _task_result(result: PipelineResult, run_dir: Path) -> Any:
    """The single task's :class:`TaskResult` (no per-split arrays: nothing is gathered)."""
    from gristmill.pipeline._runner import TaskResult

    spec = result.spec
    return TaskResult(
        name=spec.task_name,
        kind=spec.task.kind,
        classes=result.classes,
        metrics=result.metrics,
        model=result.model,
        label_model=result.label_model,
        label_matrix=result.label_matrix,
        lf_summary=result.lf_summary,
        lf_paths=result.lf_paths,
        lf_modules=result.lf_modules,
        trials=result.trials,
        selection=result.selection,
        discovered_slices=result.discovered_slices,
        run_dir=run_dir,
    )


def _sample_datasets(prepared: DaskPrepared, out: _Outputs) -> dict[str, tuple[pd.DataFrame, str]]:
    """The in-memory rows the end model saw (train sample, dev selection sample)."""
    datasets = {}
    if out.train is not None:
        datasets["train"] = (out.train, prepared.splits["train"].source)
    if out.dev is not None:
        datasets["dev"] = (out.dev, prepared.splits["dev"].source)
    return datasets


def plan_on_dask(pipeline: Pipeline) -> list[PlanStep]:
    """Validate with the dask engine and list its stages (none is cached but the end model's)."""
    from gristmill.pipeline._runner import PlanStep

    prepared = prepare_on_dask(pipeline)
    spec = pipeline.spec
    where = spec.scheduler or "a LocalCluster started for the run"
    n_lfs = sum(len(m.lfs) for m in prepared.modules)
    return [
        PlanStep("load", f"{prepared.describe()} on {where}", "runs"),
        *[PlanStep("load", note, "runs") for note in prepared.notes],
        *(
            [PlanStep("clean", "repair cells: statistics on Dask, inference on the client", "runs")]
            if spec.cleaning is not None
            else []
        ),
        PlanStep("label", f"{n_lfs} LFs per partition -> int8 Parquet parts", "runs"),
        PlanStep(
            "label_model",
            f"{spec.task.label_model_spec.name} from vote-pattern counts",
            "runs",
        ),
        PlanStep("probs", "probabilistic labels per part; sample covered rows", "runs"),
        PlanStep(
            "train",
            f"on at most {spec.model_spec.sample_rows:,} covered rows",
            "runs if inputs changed",
        ),
        PlanStep("evaluate", "dev/test confusion counts per partition and slice", "runs"),
        PlanStep("report", "run directory and report.html", "runs"),
    ]
