"""Applying labeling functions to data: in-process, over processes, or on a Dask cluster.

All engines run the same partition code (:mod:`gristmill.labeling._label`), so they return the
same matrix. Vectorized LFs label a whole frame (or Dask partition) at once; row LFs label one row
at a time. Row LFs must not depend on other rows, and vectorized LFs must label each row
independently of the others, because engines split the data differently.
"""

from __future__ import annotations

import contextlib
import logging
import math
import multiprocessing
import signal
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any

import numpy as np
import pandas as pd

from gristmill._dask import pandas_strings, share
from gristmill._extras import require
from gristmill._snorkel import snorkel_keywords
from gristmill.exceptions import DataError, GristmillError, LFError
from gristmill.labeling._label import (
    ON_ERROR,
    Failures,
    MatrixBuilder,
    label_rows,
    label_vectorized,
    n_cores,
)
from gristmill.labeling._lf import LabelingFunction
from gristmill.labeling._matrix import LabelMatrix, describe_row

__all__ = ["ENGINES", "LFFailureWarning", "apply_lfs"]

ENGINES = ("auto", "pandas", "processes", "dask")

# Rows at which "auto" moves row LFs to all cores, and the progress bar turns on by itself.
_PARALLEL_MIN_ROWS = 50_000
_PROGRESS_MIN_ROWS = 50_000
_ROW_CHUNK = 5_000
# Times a chunk of a pandas frame is sent again to Dask after the worker holding it died.
_RESENDS = 3


class LFFailureWarning(UserWarning):
    """Some labeling functions raised on some rows and abstained there (``on_error="abstain"``)."""


@snorkel_keywords(
    df="pass the DataFrame as the second argument: apply_lfs(lfs, df)",
    progress_bar="use progress= (True, False, or None: on for 50,000 rows or more)",
    fault_tolerant=(
        'use on_error="abstain": failures become abstains, counted in LabelMatrix.failures'
    ),
    return_meta="failures are counted in the returned LabelMatrix's failures",
)
def apply_lfs(
    lfs: Sequence[LabelingFunction],
    data: Any,
    *,
    engine: str = "auto",
    on_error: str = "raise",
    progress: bool | None = None,
    client: Any = None,
) -> LabelMatrix:
    """Apply labeling functions to every row of a table and return their votes.

    Parameters
    ----------
    lfs : sequence of LabelingFunction
        Functions with unique names; their order gives the matrix columns.
    data : pandas.DataFrame or dask.dataframe.DataFrame
        One row per data point.
    engine : {"auto", "pandas", "processes", "dask"}, default "auto"
        ``"pandas"``: in this process. ``"processes"``: row LFs on all cores (fork start method),
        vectorized LFs in this process. ``"dask"``: every LF per partition on a Dask cluster,
        using ``client`` or a LocalCluster started (and closed) for the call. ``"auto"`` picks
        ``"dask"`` for a Dask DataFrame or when ``client`` is given, ``"processes"`` for row LFs
        on at least 50,000 rows with several cores, else ``"pandas"``.
    on_error : {"raise", "abstain"}, default "raise"
        ``"raise"`` stops at the first LF that raises, with an :class:`LFError` naming the LF,
        the row and the original exception. ``"abstain"`` records the vote as an abstain, counts
        the failures per LF in ``LabelMatrix.failures`` and warns with :class:`LFFailureWarning`.
    progress : bool, optional
        Show a progress bar on stderr. Default: on for 50,000 rows or more when stderr is a
        terminal.
    client : dask.distributed.Client, optional
        Cluster for the Dask engine.

    Returns
    -------
    LabelMatrix
        (n, m) votes in the smallest integer dtype (int8 below 128 classes), ``-1`` = abstain.

    Raises
    ------
    LFError
        When an LF raises (``on_error="raise"``), returns an invalid vote, needs a column the
        data lacks, or names are not unique; with the Dask engine, when an LF cannot be pickled
        for the workers (it holds a lock, an open file...); with ``"processes"``, when a
        process labeling rows dies without an error (naming the rows it was labeling).
    DataError
        When ``data`` is not a DataFrame, or two of its columns have the same name (as strings:
        row LFs see column names as strings).

    Examples
    --------
    >>> import pandas as pd
    >>> from gristmill.labeling import keyword_lf, labeling_function
    >>> @labeling_function()
    ... def short(x):
    ...     return 0 if len(x.text) < 12 else -1
    >>> frame = pd.DataFrame({"text": ["nice song", "check out my channel"]})
    >>> L = apply_lfs([short, keyword_lf("check out", 1)], frame, engine="pandas")
    >>> L.values.tolist()
    [[0, -1], [-1, 1]]
    """
    lfs = _check_lfs(lfs)
    if on_error not in ON_ERROR:
        raise GristmillError(f"on_error must be 'raise' or 'abstain'; got {on_error!r}")
    if engine not in ENGINES:
        raise GristmillError(f"engine must be one of {list(ENGINES)}; got {engine!r}")
    is_dask = _is_dask_frame(data)
    if not is_dask and not isinstance(data, pd.DataFrame):
        raise DataError(f"apply_lfs needs a pandas or dask DataFrame; got {type(data).__name__}")
    _check_columns(lfs, data)
    engine = _choose_engine(engine, lfs, data, is_dask, client)
    if is_dask and engine != "dask":
        raise GristmillError(f"A dask DataFrame needs engine='dask' (or 'auto'); got {engine!r}")
    failures = Failures()
    if engine == "dask":
        values, index = _apply_dask(lfs, data, on_error, failures, progress, client)
    else:
        values = _apply_local(lfs, data, on_error, failures, progress, engine == "processes")
        index = data.index
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        index = None
    elif index is not None and _is_default_index(index):
        index = None
    matrix = LabelMatrix(values, [lf.name for lf in lfs], index=index)
    if failures.counts:
        matrix._failures = dict(failures.counts)
        details = "; ".join(
            f"{name}: {count} row(s), first {failures.first[name]}"
            for name, count in failures.counts.items()
        )
        warnings.warn(
            f"{len(failures.counts)} labeling function(s) raised and abstained: {details}",
            LFFailureWarning,
            stacklevel=3,  # past apply_lfs's snorkel_keywords wrapper, to the user's call
        )
    return matrix


def _is_default_index(index: pd.Index) -> bool:
    return bool(
        pd.api.types.is_integer_dtype(index.dtype) and index.equals(pd.RangeIndex(len(index)))
    )


def _check_lfs(lfs: Sequence[LabelingFunction]) -> list[LabelingFunction]:
    if isinstance(lfs, LabelingFunction):
        lfs = [lfs]
    lfs = list(lfs)
    if not lfs:
        raise LFError("apply_lfs needs at least one labeling function")
    seen: dict[str, int] = {}
    for position, lf in enumerate(lfs):
        if not isinstance(lf, LabelingFunction):
            raise LFError(
                f"apply_lfs takes LabelingFunction objects (use @labeling_function()); "
                f"got {type(lf).__name__}"
            )
        if lf.name in seen:
            raise LFError(
                f"LF names must be unique; {lf.name!r} appears twice (LFs {seen[lf.name]} and "
                f"{position} of the list): give one of them another name with name=...",
                lf_name=lf.name,
            )
        seen[lf.name] = position
    return lfs


def _check_columns(lfs: Sequence[LabelingFunction], data: Any) -> None:
    """Check the data's column names are unique and hold every column the LFs need.

    A needed column matches a data column of the same label or of the same string (``"0"``
    matches column ``0``), as row LFs see the column names as strings.
    """
    _check_unique_columns(data.columns)
    labels = set(data.columns)
    names = {str(c) for c in data.columns}
    for lf in lfs:
        missing = [c for c in lf.columns if c not in labels and str(c) not in names]
        if missing:
            raise LFError(
                f"Labeling function {lf.name!r} needs column(s) {missing}; "
                f"the data has {list(data.columns)}",
                lf_name=lf.name,
            )


def _check_unique_columns(columns: pd.Index) -> None:
    names = pd.Index([str(c) for c in columns])
    if names.has_duplicates:
        repeated = set(names[names.duplicated()])
        raise DataError(
            "Labeling needs unique column names (row LFs see them as strings); the data has "
            f"{[c for c in columns if str(c) in repeated]}: rename or drop the duplicates"
        )


def _is_dask_frame(data: Any) -> bool:
    return type(data).__module__.split(".")[0] == "dask" and hasattr(data, "to_delayed")


def _can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods()


def _choose_engine(
    engine: str, lfs: Sequence[LabelingFunction], data: Any, is_dask: bool, client: Any
) -> str:
    if engine != "auto":
        return engine
    if is_dask or client is not None:
        return "dask"
    has_row_lfs = any(not lf.vectorized for lf in lfs)
    if has_row_lfs and len(data) >= _PARALLEL_MIN_ROWS and n_cores() > 1 and _can_fork():
        return "processes"
    return "pandas"


@contextlib.contextmanager
def _progress_bar(
    total: int, n_rows: int, enabled: bool | None, description: str = "labeling (votes)"
) -> Iterator[Callable[[int], None]]:
    if enabled is None:
        enabled = n_rows >= _PROGRESS_MIN_ROWS and sys.stderr.isatty()
    if not enabled:
        yield lambda _: None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    columns = (
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n: bar.advance(task, n)


def _apply_local(
    lfs: Sequence[LabelingFunction],
    frame: pd.DataFrame,
    on_error: str,
    failures: Failures,
    progress: bool | None,
    use_processes: bool,
) -> np.ndarray:
    n_rows = len(frame)
    builder = MatrixBuilder(n_rows, len(lfs))
    vectorized = [j for j, lf in enumerate(lfs) if lf.vectorized]
    row_wise = [j for j, lf in enumerate(lfs) if not lf.vectorized]
    row_lfs = [lfs[j] for j in row_wise]
    everything = slice(0, n_rows)
    forked = use_processes and bool(row_wise)
    chunks = _chunks(n_rows, forked)
    with (
        contextlib.ExitStack() as stack,
        _progress_bar(n_rows * len(lfs), n_rows, progress) as advance,
    ):

        def done(position: int, votes: np.ndarray) -> None:
            builder.put(everything, vectorized[position], votes)
            advance(n_rows)

        # Forked before the vectorized LFs start threads of their own.
        pending = _fork_chunks(row_lfs, frame, on_error, chunks, stack) if forked else None
        label_vectorized([lfs[j] for j in vectorized], frame, on_error, failures, done)
        if pending is not None:
            for (start, stop), future in zip(chunks, pending.futures, strict=True):
                block, chunk_failures = pending.result(future)
                failures.merge(chunk_failures)
                builder.put_block(slice(start, stop), row_wise, block)
                advance((stop - start) * len(row_wise))
        elif row_wise:
            for start, stop in chunks:
                block = label_rows(row_lfs, frame.iloc[start:stop], on_error, failures)
                builder.put_block(slice(start, stop), row_wise, block)
                advance((stop - start) * len(row_wise))
    return builder.values


def _chunks(n_rows: int, forked: bool) -> list[tuple[int, int]]:
    size = _ROW_CHUNK
    if forked:
        size = max(500, min(_ROW_CHUNK, math.ceil(n_rows / (4 * n_cores()))))
    return [(start, min(start + size, n_rows)) for start in range(0, n_rows, size)]


# What a forked worker labels, set by _start_worker: the row LFs, the frame, on_error and the
# shared state of every chunk. Inherited through fork (copy-on-write), nothing is pickled on
# the way in: decorated functions, lambdas and closures work as they are.
_FORK_JOB: tuple[list[LabelingFunction], pd.DataFrame, str, Any] | None = None

# States of a chunk in the array the workers share with the parent (zeroed: not started).
_RUNNING, _DONE = 1, 2


class _ForkedChunks:
    """Chunks of rows labeled by forked processes, whose results come back in order.

    A worker that dies without an error (``os._exit``, a crash in compiled code, the kernel's
    out-of-memory killer) breaks the pool; the parent then raises an LFError naming the row LFs
    and the chunks that were being labeled, where ``multiprocessing.Pool`` would wait forever.
    """

    def __init__(
        self,
        executor: ProcessPoolExecutor,
        chunks: list[tuple[int, int]],
        states: Any,
        lfs: list[LabelingFunction],
        index: pd.Index,
    ) -> None:
        self.chunks, self.states, self.lfs, self.index = chunks, states, lfs, index
        self.futures = [
            executor.submit(_run_forked_chunk, i, start, stop)
            for i, (start, stop) in enumerate(chunks)
        ]

    def result(self, future: Future[Any]) -> tuple[list[np.ndarray], Failures]:
        """A chunk's vote block and failures, or the LFError it raised, or the pool's death."""
        try:
            block, failures, error = future.result()
        except BrokenProcessPool as exc:
            raise self._died() from exc
        if error is not None:
            raise error
        return block, failures

    def _died(self) -> LFError:
        running = [self.chunks[i] for i, state in enumerate(self.states) if state == _RUNNING]
        spans = ", ".join(
            f"{describe_row(self.index[start])}..{describe_row(self.index[stop - 1])}"
            for start, stop in running
        )
        names = [lf.name for lf in self.lfs]
        which = "A process" if len(running) < 2 else "One of the processes"
        return LFError(
            f"{which} labeling rows {spans or '(unknown)'} with the row LF(s) {names} ended "
            "without raising an error: an LF (or code it calls) ended the process (os._exit, a "
            "crash in compiled code) or the system killed it, e.g. out of memory. Label those "
            "rows with engine='pandas' to see which LF and row",
            lf_name=names[0] if len(names) == 1 else None,
        )


def _fork_chunks(
    lfs: list[LabelingFunction],
    frame: pd.DataFrame,
    on_error: str,
    chunks: list[tuple[int, int]],
    stack: contextlib.ExitStack,
) -> _ForkedChunks:
    """Start labeling ``chunks`` of ``frame`` in forked processes, one per core."""
    if not _can_fork():
        raise GristmillError(
            "engine='processes' needs the 'fork' start method (Linux); use engine='dask'"
        )
    context = multiprocessing.get_context("fork")
    states = context.RawArray("b", len(chunks))
    executor = ProcessPoolExecutor(
        max_workers=n_cores(),
        mp_context=context,
        initializer=_start_worker,
        initargs=(lfs, frame, on_error, states),  # not pickled: the workers are forked
    )
    # On an error, leave no chunk to start; running ones finish, their workers then exit.
    stack.callback(executor.shutdown, wait=False, cancel_futures=True)
    return _ForkedChunks(executor, chunks, states, lfs, frame.index)


def _start_worker(
    lfs: list[LabelingFunction], frame: pd.DataFrame, on_error: str, states: Any
) -> None:
    """Hold the job, and leave Ctrl-C to the parent: each worker would print a traceback."""
    global _FORK_JOB
    _FORK_JOB = (lfs, frame, on_error, states)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _run_forked_chunk(position: int, start: int, stop: int) -> tuple[Any, ...]:
    assert _FORK_JOB is not None, "worker started without a job"
    lfs, frame, on_error, states = _FORK_JOB
    states[position] = _RUNNING
    failures = Failures()
    try:
        block = label_rows(lfs, frame.iloc[start:stop], on_error, failures)
    except LFError as exc:
        return None, failures, _picklable(exc)
    finally:
        states[position] = _DONE
    return block, failures, None


def _picklable(exc: LFError) -> LFError:
    error = LFError(str(exc), lf_name=exc.lf_name, row=exc.row)
    try:
        import pickle

        pickle.dumps(error)
    except Exception:
        error = LFError(str(exc), lf_name=exc.lf_name, row=repr(exc.row))
    return error


class _LFBundle:
    """The LFs shipped once to Dask workers, opaque to Dask's graph traversal.

    Raises
    ------
    LFError
        Naming the first LF that cannot be pickled, which Dask would only report as a graph it
        "could not serialize", after logging a traceback per attempt.
    """

    def __init__(self, lfs: Sequence[LabelingFunction]) -> None:
        self.lfs = list(lfs)
        for lf in self.lfs:
            _check_picklable(lf)


def _check_picklable(lf: LabelingFunction) -> None:
    """Pickle ``lf`` as Dask will (cloudpickle: lambdas and closures are fine) or say why not."""
    import cloudpickle

    try:
        cloudpickle.dumps(lf)
    except Exception as exc:
        raise LFError(
            f"Labeling function {lf.name!r} cannot be sent to Dask workers, which receive LFs "
            f"pickled: {type(exc).__name__}: {exc}. Create such objects (locks, open files or "
            "connections, generators) inside the function or a preprocessor, or label on this "
            "machine with apply_lfs(..., engine='processes'), which pickles no LF",
            lf_name=lf.name,
        ) from exc


def _label_partition(
    frame: pd.DataFrame, bundle: _LFBundle, on_error: str, *, dask_strings: bool = True
) -> tuple[np.ndarray, pd.Index, Failures]:
    """Label one partition with every LF (runs on a worker).

    A partition of a Dask DataFrame (``dask_strings``) holds text as Dask made it: it is
    turned back into pandas' form first. A chunk of a pandas frame is labeled as it is, as
    the other engines label it.
    """
    if dask_strings:
        frame = pandas_strings(frame)
    lfs = bundle.lfs
    failures = Failures()
    builder = MatrixBuilder(len(frame), len(lfs))
    everything = slice(0, len(frame))
    vectorized = [j for j, lf in enumerate(lfs) if lf.vectorized]
    row_wise = [j for j, lf in enumerate(lfs) if not lf.vectorized]
    label_vectorized(
        [lfs[j] for j in vectorized],
        frame,
        on_error,
        failures,
        lambda position, votes: builder.put(everything, vectorized[position], votes),
    )
    if row_wise:
        block = label_rows([lfs[j] for j in row_wise], frame, on_error, failures)
        builder.put_block(everything, row_wise, block)
    return builder.values, frame.index, failures


def _apply_dask(
    lfs: Sequence[LabelingFunction],
    data: Any,
    on_error: str,
    failures: Failures,
    progress: bool | None,
    client: Any,
) -> tuple[np.ndarray, pd.Index]:
    feature = "apply_lfs(engine='dask')"
    distributed = require("dask.distributed", extra="dask", feature=feature)
    if isinstance(data, pd.DataFrame) and not len(data):
        # Nothing to scatter (Dask cannot scatter an empty list), nor a cluster to start.
        return np.empty((0, len(lfs)), dtype=np.int8), data.index
    lf_bundle = _LFBundle(lfs)  # before starting a cluster: an LF may not be sendable
    with contextlib.ExitStack() as stack:
        if client is None:
            from gristmill.labeling._cluster import local_cluster

            # A failing LF is reported once, by the LFError raised here; the workers' own log
            # ("Compute Failed" with a traceback, at ERROR) would repeat it.
            cluster = stack.enter_context(local_cluster(silence_logs=logging.CRITICAL))
            client = stack.enter_context(distributed.Client(cluster))
        chunks: list[pd.DataFrame] = []
        if isinstance(data, pd.DataFrame):
            # Scattered, not embedded in the task graph: the data goes to the workers once.
            n_workers = max(1, len(client.scheduler_info().get("workers", {})))
            size = max(1, math.ceil(len(data) / max(1, min(4 * n_workers, len(data) // 5_000))))
            chunks = [data.iloc[a : a + size] for a in range(0, len(data), size)]
            parts = client.scatter(chunks)
        else:
            parts = client.compute(data.to_delayed())
        bundle = share(client, lf_bundle)
        options = {
            "bundle": bundle,
            "on_error": on_error,
            "dask_strings": not chunks,
            "pure": False,
        }
        futures = client.map(_label_partition, parts, **options)
        position = {future.key: i for i, future in enumerate(futures)}
        results: list[Any] = [None] * len(futures)
        resent = [0] * len(futures)
        show = progress if progress is not None else sys.stderr.isatty()
        with _progress_bar(len(futures), 0, show, "labeling (partitions)") as advance:
            pending = distributed.as_completed(futures)
            for future in pending:
                i = position[future.key]
                if future.status == "cancelled" and chunks and resent[i] < _RESENDS:
                    # A scattered chunk dies with its worker and Dask cannot recompute it:
                    # the client still holds it, so it is sent again. (Partitions of a Dask
                    # frame are tasks, which Dask reruns by itself.)
                    resent[i] += 1
                    retry = client.submit(_label_partition, client.scatter(chunks[i]), **options)
                    position[retry.key] = i
                    pending.add(retry)
                    continue
                results[i] = future.result()
                advance(1)
    blocks, indexes = [], []
    for values, index, part_failures in results:
        blocks.append(values)
        indexes.append(index)
        failures.merge(part_failures)
    dtype = max((b.dtype for b in blocks), key=lambda d: d.itemsize, default=np.dtype(np.int8))
    values = (
        np.concatenate([b.astype(dtype, copy=False) for b in blocks])
        if blocks
        else (np.empty((0, len(lfs)), dtype=np.int8))
    )
    index = indexes[0].append(indexes[1:]) if indexes else pd.RangeIndex(0)
    return values, index
