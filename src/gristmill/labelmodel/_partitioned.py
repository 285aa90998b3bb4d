"""Fitting label models on partitioned label matrices from vote-pattern counts, on Dask.

Every statistic a gristmill label model uses is a sum over rows of a function of the row's votes,
so the multiset of distinct vote patterns with their counts is sufficient: with m LFs and k
classes there are at most (k + 1) ** m patterns, and in practice a few thousand. Each worker
counts the patterns of its parts, the counts are merged in a tree, and only the merged patterns
reach the client, which fits the model with the counts as row weights. Probabilities are then
computed per part on the workers and written back as Parquet parts.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gristmill._dask import share
from gristmill.exceptions import GristmillError
from gristmill.io import (
    atomic_write_text,
    check_replaceable,
    replace_directory,
    write_parquet_part,
)
from gristmill.labeling import PartitionedLabelMatrix
from gristmill.labeling._partitioned import remove_staging
from gristmill.labelmodel._base import BaseLabelModel

__all__ = ["fit_partitioned", "predict_proba_partitioned", "vote_patterns"]

# Parts whose pattern counts are merged per task in the reduction tree.
_MERGE_FAN_IN = 8


def vote_patterns(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct rows of a dense vote matrix and how often each occurs.

    Parameters
    ----------
    values : ndarray of shape (n, m)
        Votes, ``-1`` = abstain.

    Returns
    -------
    patterns : ndarray of shape (p, m), int8
        The distinct rows, sorted.
    counts : ndarray of shape (p,), int64
        Occurrences of each pattern.

    Examples
    --------
    >>> patterns, counts = vote_patterns(np.array([[0, -1], [1, 1], [0, -1]]))
    >>> patterns.tolist(), counts.tolist()
    ([[0, -1], [1, 1]], [2, 1])
    """
    patterns, inverse = _unique_rows(np.asarray(values))
    counts = np.bincount(inverse, minlength=patterns.shape[0]).astype(np.int64)
    return patterns, counts


def _unique_rows(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct rows (int8) and, for every row, the position of its pattern."""
    n, m = values.shape
    if n == 0:
        return np.zeros((0, m), dtype=np.int8), np.zeros(0, dtype=np.int64)
    shifted = np.ascontiguousarray(values.astype(np.int16) + 1)
    base = int(shifted.max()) + 1
    if base**m < 2**62:
        # Each row as one integer in base (k + 1): unique on int64 is far faster than on rows.
        codes = np.zeros(n, dtype=np.int64)
        for j in range(m):
            codes *= base
            codes += shifted[:, j]
        _, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
        return values[first].astype(np.int8), inverse.ravel().astype(np.int64)
    unique, inverse = np.unique(shifted, axis=0, return_inverse=True)
    return (unique - 1).astype(np.int8), inverse.ravel().astype(np.int64)


def _merge_patterns(
    pieces: Sequence[tuple[np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray]:
    patterns = np.concatenate([p for p, _ in pieces])
    counts = np.concatenate([c for _, c in pieces])
    if patterns.shape[0] == 0:
        return patterns, counts
    unique, inverse = np.unique(patterns, axis=0, return_inverse=True)
    merged = np.bincount(inverse.ravel(), weights=counts, minlength=unique.shape[0])
    return unique.astype(np.int8), merged.astype(np.int64)


def _part_patterns(path: str) -> tuple[np.ndarray, np.ndarray]:
    """Vote patterns of one part file (runs on a worker)."""
    frame = pd.read_parquet(path)
    return vote_patterns(frame.to_numpy(dtype=np.int8))


def count_patterns(matrix: PartitionedLabelMatrix, client: Any) -> tuple[np.ndarray, np.ndarray]:
    """Distinct vote patterns of every part with their total counts, reduced on the cluster."""
    level = client.map(_part_patterns, [str(p) for p in matrix.part_paths], pure=False)
    while len(level) > 1:
        level = [
            client.submit(_merge_patterns, level[i : i + _MERGE_FAN_IN], pure=False)
            for i in range(0, len(level), _MERGE_FAN_IN)
        ]
    if not level:
        width = len(matrix.lf_names)
        return np.zeros((0, width), dtype=np.int8), np.zeros(0, dtype=np.int64)
    patterns, counts = level[0].result()
    return patterns, counts


def _open(matrix: PartitionedLabelMatrix | str | os.PathLike[str]) -> PartitionedLabelMatrix:
    if isinstance(matrix, PartitionedLabelMatrix):
        return matrix
    return PartitionedLabelMatrix.open(matrix)


def fit_partitioned(
    model: BaseLabelModel,
    matrix: PartitionedLabelMatrix | str | os.PathLike[str],
    *,
    client: Any = None,
    scheduler: str | None = None,
    **fit_params: Any,
) -> BaseLabelModel:
    """Fit ``model`` on a partitioned label matrix without gathering it.

    Workers count the distinct vote patterns of their parts; the merged counts (a few thousand
    rows at most in practice) are fit on the client as row weights, which gives the same model
    as fitting every row.

    Parameters
    ----------
    model : BaseLabelModel
        Any gristmill label model (unfitted or to refit).
    matrix : PartitionedLabelMatrix or path-like
        As written by :func:`~gristmill.labeling.apply_lfs_partitioned`.
    client : dask.distributed.Client, optional
        Cluster to use. Default: ``scheduler``, else a LocalCluster for the call.
    scheduler : str, optional
        Address of a running Dask scheduler.
    **fit_params
        Passed to ``model.fit`` (``class_balance``, ``L_dev``, ``y_dev``, ``seed``).

    Returns
    -------
    BaseLabelModel
        ``model``, fitted.
    """
    from gristmill.labeling import LabelMatrix
    from gristmill.labeling._partitioned import dask_client

    if "sample_weight" in fit_params:
        raise GristmillError("fit_partitioned computes the row weights itself; drop sample_weight")
    matrix = _open(matrix)
    with dask_client(client, scheduler) as active:
        patterns, counts = count_patterns(matrix, active)
    votes = LabelMatrix(patterns, matrix.lf_names)
    model.fit(votes, sample_weight=counts, **fit_params)
    return model


def _predict_part(model: BaseLabelModel, source: str, target: str) -> int:
    """Probabilities of one part, written atomically to ``target`` (runs on a worker)."""
    frame = pd.read_parquet(source)
    values = frame.to_numpy(dtype=np.int8)
    # Rows share few patterns: predict each distinct pattern once and broadcast.
    patterns, inverse = _unique_rows(values)
    proba = model.predict_proba(patterns)[inverse]
    columns = [f"proba_{c}" for c in range(proba.shape[1])]
    write_parquet_part(pd.DataFrame(proba, columns=columns, index=frame.index), target)
    return len(frame)


def predict_proba_partitioned(
    model: BaseLabelModel,
    matrix: PartitionedLabelMatrix | str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    client: Any = None,
    scheduler: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write each row's class probabilities as Parquet parts, one per label-matrix part.

    Part ``i`` of ``out_dir`` holds columns ``proba_0 .. proba_{k-1}`` for the rows of part ``i``
    of ``matrix``, with the same index. The directory appears complete or not at all.

    Parameters
    ----------
    model : BaseLabelModel
        A fitted label model.
    matrix : PartitionedLabelMatrix or path-like
    out_dir : path-like
        Directory to create.
    client, scheduler
        As in :func:`fit_partitioned`.
    overwrite : bool, default False
        Replace an existing ``out_dir``.

    Returns
    -------
    pathlib.Path
        ``out_dir``; read it with ``dask.dataframe.read_parquet`` or ``pandas.read_parquet``.
    """
    model._check_fitted()
    matrix = _open(matrix)
    target = Path(out_dir)
    if target.exists() and not overwrite:
        raise GristmillError(f"{target} already exists; pass overwrite=True to replace it")
    check_replaceable(target, "_probabilities.json", "directory of partitioned probabilities")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.{uuid.uuid4().hex}.tmp"
    staging.mkdir()
    try:
        from gristmill.labeling._partitioned import dask_client

        with dask_client(client, scheduler) as active:
            shipped = share(active, model)
            futures = [
                active.submit(
                    _predict_part, shipped, str(path), str(staging / path.name), pure=False
                )
                for path in matrix.part_paths
            ]
            rows = active.gather(futures)
        meta = {"format": "gristmill.partitioned_probabilities", "part_rows": rows}
        atomic_write_text(staging / "_probabilities.json", json.dumps(meta))
        replace_directory(staging, target)
    finally:
        remove_staging(staging)
    return target
