"""What Dask tasks of a gristmill run share: values every task needs, kept recoverable."""

from __future__ import annotations

import warnings
from typing import Any


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
