"""Label matrices kept partitioned on disk: labeled per partition on Dask, never gathered.

A :class:`PartitionedLabelMatrix` is a directory of Parquet part files, one per partition of the
data, each holding one int8 column per labeling function (``-1`` = abstain) and the data's index,
plus ``_label_matrix.json`` naming the LFs and counting the rows. Workers write the parts; the
client only sees row counts and failure counts. The directory appears whole or not at all: parts
are written into a hidden temporary directory beside it, which is renamed when every part is in.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gristmill._dask import share
from gristmill._extras import require
from gristmill.exceptions import DataError, GristmillError, LFError
from gristmill.io import (
    atomic_write_text,
    check_replaceable,
    replace_directory,
    write_parquet_part,
)
from gristmill.labeling._apply import _check_columns, _check_lfs, _label_partition, _LFBundle
from gristmill.labeling._label import ON_ERROR, Failures
from gristmill.labeling._lf import LabelingFunction

__all__ = ["PartitionedLabelMatrix", "apply_lfs_partitioned", "dask_client"]

_META_FILE = "_label_matrix.json"
_FORMAT = "gristmill.partitioned_label_matrix"


@dataclass(frozen=True)
class PartitionedLabelMatrix:
    """A label matrix stored as a directory of Parquet parts (see :func:`apply_lfs_partitioned`).

    Attributes
    ----------
    path : pathlib.Path
        The directory.
    lf_names : list of str
        Labeling function names, in column order.
    n_rows : int
        Total number of rows.
    part_rows : list of int
        Rows per part, in order.
    failures : dict of str to int
        Rows on which each LF raised and abstained (``on_error="abstain"``).
    """

    path: Path
    lf_names: list[str]
    n_rows: int
    part_rows: list[int]
    failures: dict[str, int]

    @property
    def n_partitions(self) -> int:
        """Number of part files."""
        return len(self.part_rows)

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, labeling functions)."""
        return self.n_rows, len(self.lf_names)

    @property
    def part_paths(self) -> list[Path]:
        """Paths of the part files, in row order."""
        return [self.path / _part_name(i) for i in range(self.n_partitions)]

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> PartitionedLabelMatrix:
        """Open a directory written by :func:`apply_lfs_partitioned` (reads only its metadata).

        Raises
        ------
        DataError
            When the directory holds no partitioned label matrix or misses part files.
        """
        directory = Path(path)
        meta_path = directory / _META_FILE
        if not meta_path.is_file():
            raise DataError(f"{directory}: not a partitioned label matrix (no {_META_FILE})")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise DataError(f"{meta_path}: not valid JSON: {exc}") from exc
        if meta.get("format") != _FORMAT:
            raise DataError(f"{meta_path}: not a gristmill partitioned label matrix")
        matrix = cls(
            directory,
            list(meta["lf_names"]),
            int(meta["n_rows"]),
            [int(r) for r in meta["part_rows"]],
            {str(k): int(v) for k, v in meta.get("failures", {}).items()},
        )
        missing = [p.name for p in matrix.part_paths if not p.is_file()]
        if missing:
            raise DataError(f"{directory}: part file(s) missing: {missing[:5]}")
        return matrix

    def to_dask(self) -> Any:
        """The votes as a lazy dask DataFrame (one partition per part, int8 columns)."""
        dd = require("dask.dataframe", extra="dask", feature="PartitionedLabelMatrix.to_dask")
        return dd.read_parquet([str(p) for p in self.part_paths])

    def read_part(self, i: int) -> pd.DataFrame:
        """Part ``i`` as a pandas DataFrame (LF columns, the data's index)."""
        return pd.read_parquet(self.part_paths[i])


def _part_name(i: int) -> str:
    return f"part.{i:06d}.parquet"


@contextlib.contextmanager
def dask_client(client: Any = None, scheduler: str | None = None) -> Iterator[Any]:
    """Yield ``client``, a client of ``scheduler``, or one of a LocalCluster closed on exit.

    The LocalCluster has one single-threaded worker process per core, on 127.0.0.1.
    """
    distributed = require("dask.distributed", extra="dask", feature="the dask engine")
    if client is not None:
        yield client
        return
    with contextlib.ExitStack() as stack:
        if scheduler is not None:
            yield stack.enter_context(distributed.Client(scheduler))
            return
        from gristmill.labeling._cluster import local_cluster

        # A failing task is reported once, by gristmill's error; the workers' own log
        # ("Compute Failed" with a traceback, at ERROR) would repeat it.
        cluster = stack.enter_context(local_cluster(silence_logs=logging.CRITICAL))
        yield stack.enter_context(distributed.Client(cluster))


def _label_and_write(
    frame: pd.DataFrame, bundle: _LFBundle, on_error: str, target: str, name: str
) -> tuple[int, Failures]:
    """Label one partition and write its part file atomically (runs on a worker).

    An LF error is prefixed by ``name``, what the partition's rows are (for the row it names).
    """
    try:
        values, index, failures = _label_partition(frame, bundle, on_error)
    except LFError as exc:
        raise LFError(f"{name}: {exc}", lf_name=exc.lf_name, row=exc.row) from None
    names = [lf.name for lf in bundle.lfs]
    _check_int8_votes(values, names, index, name)
    part = pd.DataFrame(values.astype("int8", copy=False), columns=names, index=index)
    write_parquet_part(part, target)
    return len(frame), failures


def _check_int8_votes(values: Any, names: Sequence[str], index: pd.Index, name: str) -> None:
    """Raise LFError, naming the LF and row, on a vote the int8 parts cannot hold."""
    top = np.iinfo(np.int8).max
    if not values.size or values.max() <= top:
        return
    row, column = (int(i) for i in np.unravel_index(int(np.argmax(values > top)), values.shape))
    raise LFError(
        f"{name}: labeling function {names[column]!r} votes class {int(values[row, column])} on "
        f"row {index[row]!r}; a partitioned label matrix stores int8 votes (classes 0..{top}): "
        "use apply_lfs for more classes",
        lf_name=names[column],
        row=index[row],
    )


def apply_lfs_partitioned(
    lfs: Sequence[LabelingFunction],
    data: Any,
    out_dir: str | os.PathLike[str],
    *,
    on_error: str = "raise",
    client: Any = None,
    scheduler: str | None = None,
    overwrite: bool = False,
    partition_names: Sequence[str] | None = None,
) -> PartitionedLabelMatrix:
    """Apply labeling functions per partition on Dask and write the votes partitioned.

    Parameters
    ----------
    lfs : sequence of LabelingFunction
        Functions with unique names; their order gives the columns.
    data : dask.dataframe.DataFrame or pandas.DataFrame
        The rows; a pandas frame is split into one partition per 250,000 rows.
    out_dir : path-like
        Directory to create. Workers must be able to write to it (shared storage on a cluster).
    on_error : {"raise", "abstain"}, default "raise"
        As in :func:`~gristmill.labeling.apply_lfs`; a raise names the partition, LF and row
        (the row's index label).
    client : dask.distributed.Client, optional
        Cluster to use. Default: ``scheduler``, else a LocalCluster for the call.
    scheduler : str, optional
        Address of a running Dask scheduler.
    overwrite : bool, default False
        Replace an existing ``out_dir``.
    partition_names : sequence of str, optional
        What an LF error calls each partition, in place of ``"partition i"``: what its rows are
        and how its index numbers them, e.g. ``"data.parquet (rows of data.parquet/part.1.parquet
        numbered from 1)"`` for a table from :func:`gristmill.io.read_dask_table` (see
        :attr:`~gristmill.io.DaskTable.partition_rows`).

    Returns
    -------
    PartitionedLabelMatrix

    Raises
    ------
    LFError
        When an LF raises (``on_error="raise"``) or votes a class above 127, which the int8
        parts cannot hold; nothing is left at ``out_dir``. Before any work, when an LF cannot be
        pickled for the workers (it holds a lock, an open file...).
    GristmillError
        When ``out_dir`` exists and ``overwrite`` is False, or ``partition_names`` does not
        name every partition.
    """
    lfs = _check_lfs(lfs)
    if on_error not in ON_ERROR:
        raise GristmillError(f"on_error must be 'raise' or 'abstain'; got {on_error!r}")
    target = Path(out_dir)
    if target.exists() and not overwrite:
        raise GristmillError(f"{target} already exists; pass overwrite=True to replace it")
    check_replaceable(target, _META_FILE, "partitioned label matrix")
    if isinstance(data, pd.DataFrame):
        dd = require("dask.dataframe", extra="dask", feature="apply_lfs_partitioned")
        data = dd.from_pandas(data, chunksize=250_000, sort=False)
    elif not hasattr(data, "to_delayed"):
        raise DataError(f"apply_lfs_partitioned needs a DataFrame; got {type(data).__name__}")
    _check_columns(lfs, data)
    bundle = _LFBundle(lfs)  # before starting a cluster: an LF may not be sendable
    parts = data.to_delayed()
    names = _partition_names(partition_names, len(parts))
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.{uuid.uuid4().hex}.tmp"
    staging.mkdir()
    try:
        with dask_client(client, scheduler) as active:
            results = _label_parts(active, bundle, parts, names, on_error, staging)
        failures = Failures()
        part_rows = []
        for rows, part_failures in results:
            part_rows.append(rows)
            failures.merge(part_failures)
        meta = {
            "format": _FORMAT,
            "lf_names": [lf.name for lf in lfs],
            "n_rows": sum(part_rows),
            "part_rows": part_rows,
            "failures": dict(failures.counts),
        }
        atomic_write_text(staging / _META_FILE, json.dumps(meta, indent=2))
        replace_directory(staging, target)
    finally:
        remove_staging(staging)
    return PartitionedLabelMatrix.open(target)


def _partition_names(names: Sequence[str] | None, n_partitions: int) -> list[str]:
    if names is None:
        return [f"partition {i}" for i in range(n_partitions)]
    if isinstance(names, str) or len(names) != n_partitions:
        got = repr(names) if isinstance(names, str) else f"{len(names)} names"
        raise GristmillError(
            f"partition_names must name each of the data's {n_partitions} partitions; got {got}"
        )
    return list(names)


def remove_staging(staging: Path, *, attempts: int = 100) -> None:
    """Remove a staging directory, retrying while cancelled tasks may still write into it.

    Cancelling a failed run does not stop a part that is already being written, so one removal
    can race with it and leave the directory behind; once the directory is gone, a late writer
    fails on the missing directory instead of recreating it.
    """
    for _ in range(attempts):
        if not staging.exists():
            return
        shutil.rmtree(staging, ignore_errors=True)
        if staging.exists():
            time.sleep(0.05)


def _label_parts(
    client: Any,
    bundle: _LFBundle,
    parts: Sequence[Any],
    names: Sequence[str],
    on_error: str,
    staging: Path,
) -> list[tuple[int, Failures]]:
    distributed = require("dask.distributed", extra="dask", feature="apply_lfs_partitioned")
    dask = require("dask", extra="dask", feature="apply_lfs_partitioned")
    from gristmill.labeling._cluster import gather

    shared = share(client, bundle)
    # One graph from reading each partition to writing its part: the client holds futures of
    # the (tiny) results only, so the scheduler frees every data partition once it is labeled
    # and worker memory stays bounded by the partition size.
    label = dask.delayed(_label_and_write, pure=False)
    tasks = [
        label(part, shared, on_error, str(staging / _part_name(i)), name)
        for i, (part, name) in enumerate(zip(parts, names, strict=True))
    ]
    futures = client.compute(tasks)
    try:
        return gather(client, futures)
    except BaseException:
        client.cancel(futures)
        with contextlib.suppress(Exception):
            distributed.wait(futures, timeout=30)
        raise
