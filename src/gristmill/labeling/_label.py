"""Labeling one partition: the single code path every engine runs, so all engines agree."""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from gristmill.exceptions import LFError
from gristmill.labeling._factories import partition_cache
from gristmill.labeling._lf import LabelingFunction
from gristmill.labeling._matrix import ABSTAIN, compact_label_dtype, describe_row
from gristmill.labeling._preprocess import Preprocessor, Row

ON_ERROR = ("raise", "abstain")

# Frames at least this long run GIL-releasing vectorized LFs on one thread per core.
THREAD_MIN_ROWS = 20_000


@dataclass
class Failures:
    """Rows on which each LF raised (and abstained), with the first error seen per LF."""

    counts: dict[str, int] = field(default_factory=dict)
    first: dict[str, str] = field(default_factory=dict)

    def add(self, lf_name: str, n_rows: int, where: str, exc: BaseException) -> None:
        self.counts[lf_name] = self.counts.get(lf_name, 0) + n_rows
        self.first.setdefault(lf_name, f"{where}{_cause(exc)}")

    def merge(self, other: Failures) -> None:
        for name, count in other.counts.items():
            self.counts[name] = self.counts.get(name, 0) + count
        for name, message in other.first.items():
            self.first.setdefault(name, message)


class _PreprocessorFailed(Exception):
    """A preprocessor raised while preparing an LF's input: the error names it, not the LF."""

    def __init__(self, step: Preprocessor, error: Exception) -> None:
        super().__init__(f" in its preprocessor {step.name!r}: {type(error).__name__}: {error}")


def _cause(exc: BaseException) -> str:
    """What went wrong, to follow "failed on <rows>" in a message."""
    if isinstance(exc, _PreprocessorFailed):
        return str(exc)
    return f": {type(exc).__name__}: {exc}"


def _names_its_row(exc: Exception, lf_name: str) -> bool:
    """Whether ``exc`` already is the error to raise: an LFError naming this LF and its row."""
    return isinstance(exc, LFError) and exc.lf_name == lf_name and exc.row is not None


def _row_failure(lf_name: str, row_label: Any, exc: BaseException) -> LFError:
    return LFError(
        f"Labeling function {lf_name!r} failed on row {describe_row(row_label)}{_cause(exc)}",
        lf_name=lf_name,
        row=row_label,
    )


def _frame_failure(lf_name: str, frame: pd.DataFrame, exc: BaseException) -> LFError:
    where = _rows_span(frame)
    return LFError(
        f"Labeling function {lf_name!r} failed on {where}{_cause(exc)}",
        lf_name=lf_name,
        row=frame.index[0] if len(frame) else None,
    )


def _rows_span(frame: pd.DataFrame) -> str:
    if not len(frame):
        return "an empty partition"
    return f"the partition of rows {describe_row(frame.index[0])}..{describe_row(frame.index[-1])}"


def label_vectorized(
    lfs: Sequence[LabelingFunction],
    frame: pd.DataFrame,
    on_error: str,
    failures: Failures,
    done: Callable[[int, np.ndarray], None],
) -> None:
    """Run vectorized LFs on one frame; call ``done(position, votes)`` as each finishes.

    Preprocessor chains are computed once per frame and shared by the LFs that list them. An
    empty frame (a Dask partition may be empty) is not passed to the LFs.
    """
    if not len(frame):
        for position in range(len(lfs)):
            done(position, np.empty(0, dtype=np.int8))
        return
    prepared: dict[tuple[Preprocessor, ...], pd.DataFrame] = {(): frame}
    outcomes: dict[int, Future[np.ndarray]] = {}
    with partition_cache(), contextlib.ExitStack() as stack:
        threaded = _threaded_positions(lfs, len(frame))
        if threaded:
            pool = stack.enter_context(ThreadPoolExecutor(max_workers=n_cores()))
            for position in threaded:
                getattr(lfs[position].f, "prepare", lambda frame: None)(frame)
            for position in threaded:
                task = contextvars.copy_context().run
                outcomes[position] = pool.submit(task, lfs[position].label_prepared_frame, frame)
        for position, lf in enumerate(lfs):
            try:
                if position in outcomes:
                    votes = outcomes[position].result()
                else:
                    votes = lf.label_prepared_frame(_prepare(lf.pre, prepared))
            except Exception as exc:
                if on_error == "raise":
                    # An LFError (a bad vote) is raised as it is: ``raise exc from exc`` would make
                    # it its own cause, a loop that Dask recurses into when it pickles the error.
                    if isinstance(exc, LFError):
                        raise
                    raise _frame_failure(lf.name, frame, exc) from exc
                failures.add(lf.name, len(frame), _rows_span(frame), exc)
                votes = np.full(len(frame), ABSTAIN, dtype=np.int8)
            done(position, votes)


def n_cores() -> int:
    """Cores this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _threaded_positions(lfs: Sequence[LabelingFunction], n_rows: int) -> list[int]:
    """LFs worth running on threads: built-in ones whose work releases the GIL, on big frames."""
    if n_rows < THREAD_MIN_ROWS or n_cores() < 2:
        return []
    positions = [
        j for j, lf in enumerate(lfs) if not lf.pre and getattr(lf.f, "releases_gil", False)
    ]
    return positions if len(positions) >= 2 else []


def _prepare(chain: tuple[Preprocessor, ...], prepared: dict[tuple[Preprocessor, ...], Any]) -> Any:
    if chain in prepared:
        return prepared[chain]
    parent = _prepare(chain[:-1], prepared)
    step = chain[-1]
    try:
        result = step.apply_frame(parent) if step.vectorized else step.apply_row(parent)
    except Exception as exc:
        raise _PreprocessorFailed(step, exc) from exc
    prepared[chain] = result
    return result


def label_rows(
    lfs: Sequence[LabelingFunction],
    frame: pd.DataFrame,
    on_error: str,
    failures: Failures,
) -> list[np.ndarray]:
    """Run row LFs over every row of ``frame``; return one compact vote array per LF."""
    n_rows, n_lfs = len(frame), len(lfs)
    votes = [[ABSTAIN] * n_rows for _ in range(n_lfs)]
    columns = [str(c) for c in frame.columns]
    calls = [(j, lf.name, lf.pre, lf.label_prepared_row) for j, lf in enumerate(lfs)]
    any_pre = any(lf.pre for lf in lfs)
    index = frame.index
    # Whole columns as Python lists: much faster to walk than itertuples on Arrow strings. A
    # frame without columns still has rows, each an empty Row (zip of no columns yields none).
    columns_values = [frame.iloc[:, k].tolist() for k in range(frame.shape[1])]
    rows = zip(*columns_values, strict=True) if columns_values else itertools.repeat((), n_rows)
    for position, values in enumerate(rows):
        row = Row(zip(columns, values, strict=True))
        prepared: dict[tuple[Preprocessor, ...], Any] = {(): row} if any_pre else {}
        for j, lf_name, pre, label in calls:
            try:
                vote = label(_prepare(pre, prepared) if pre else row)
            except Exception as exc:
                if on_error == "raise":
                    if _names_its_row(exc, lf_name):
                        raise
                    raise _row_failure(lf_name, index[position], exc) from exc
                failures.add(lf_name, 1, f"row {describe_row(index[position])}", exc)
                continue
            votes[j][position] = vote
    return [_compact(column) for column in votes]


def _compact(column: list[int]) -> np.ndarray:
    # Every vote passed LabelingFunction.label_prepared_row's check: -1 <= vote <= MAX_VOTE.
    array = np.array(column, dtype=np.int64)
    if not array.size:
        return array.astype(np.int8)
    return array.astype(compact_label_dtype(int(array.max())))


class MatrixBuilder:
    """Fills an (n, m) vote matrix column block by block in the smallest dtype that fits.

    Starting at int8 and widening only when a vote needs it keeps the peak memory at about the
    size of the final matrix, with no int64 copy of the whole matrix.
    """

    def __init__(self, n_rows: int, n_lfs: int) -> None:
        self.values = np.full((n_rows, n_lfs), ABSTAIN, dtype=np.int8)

    def put(self, rows: slice, column: int, votes: np.ndarray) -> None:
        if votes.dtype.itemsize > self.values.dtype.itemsize:
            self.values = self.values.astype(votes.dtype)
        self.values[rows, column] = votes

    def put_block(self, rows: slice, columns: Sequence[int], block: Sequence[np.ndarray]) -> None:
        for column, votes in zip(columns, block, strict=True):
            self.put(rows, column, votes)
