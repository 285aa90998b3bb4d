"""What Dask tasks of a gristmill run share: values every task needs, kept recoverable, and
partitions that hold text as pandas does."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd


def _same(value: Any) -> Any:
    return value


def share(client: Any, value: Any) -> Any:
    """A future of ``value`` (LFs, a fitted model) for tasks to take, rebuilt if it is lost.

    ``client.scatter(value, broadcast=True)`` puts a copy on every worker, but Dask's active
    memory manager soon drops the copies no waiting task needs (its ``ReduceReplicas`` policy,
    on by default), and scattered data whose last holder dies cannot be recomputed: a worker
    lost mid-run would fail the run. A task returning ``value`` is recomputed instead (the
    scheduler keeps its spec, with ``value`` pickled once), so the run goes on. Dask's warning
    about a large graph (from 10 MB) is silenced: sending ``value`` once is the point.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sending large graph", category=UserWarning)
        return client.submit(_same, value, pure=False)


def pandas_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with Dask's text columns in pandas' default string dtype.

    Dask holds text as ``string[pyarrow]``, whose missing value is ``pd.NA`` (``x.text !=
    x.text`` raises, ``.str.contains`` gives NA); pandas reads the same file or keeps the same
    frame with missing strings as NaN. LFs see the pandas form on every engine, so they return
    the same votes. The Arrow data is shared, not copied.
    """
    columns = [
        k
        for k, dtype in enumerate(frame.dtypes)
        if isinstance(dtype, pd.StringDtype) and dtype.na_value is pd.NA
    ]
    if not columns:
        return frame
    frame = frame.copy(deep=False)
    for k in columns:
        dtype = frame.dtypes.iloc[k]
        frame.isetitem(k, frame.iloc[:, k].astype(pd.StringDtype(dtype.storage, na_value=np.nan)))
    return frame
