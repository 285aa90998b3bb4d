"""Dask clusters: the LocalCluster started when none is given, and waiting for results.

Both keep Ctrl-C to one line: the workers leave it to the client, and the client waits so that
an interrupt leaves no task behind to report an error of its own. Importing this module imports
the dask extra.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Sequence
from typing import Any

from distributed import LocalCluster, wait
from distributed.diagnostics.plugin import WorkerPlugin

from gristmill.exceptions import GristmillError
from gristmill.labeling._label import n_cores

__all__ = ["gather", "local_cluster"]


class _LeaveInterruptsToClient(WorkerPlugin):
    """Makes a worker ignore Ctrl-C, which reaches every process of the terminal's job.

    The client stops on it and closes the cluster; a worker stopped by it would print a
    traceback of its own. Set up again in each worker the nanny restarts.
    """

    def setup(self, worker: Any) -> None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def local_cluster(**options: Any) -> LocalCluster:
    """A LocalCluster of one single-threaded worker process per core, on 127.0.0.1.

    Parameters
    ----------
    **options
        More keyword arguments of :class:`distributed.LocalCluster` (e.g. ``silence_logs``).
    """
    try:
        return LocalCluster(
            n_workers=n_cores(),
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",
            plugins={_LeaveInterruptsToClient()},
            **options,
        )
    except RuntimeError as exc:  # Dask's "Nanny failed to start."
        raise GristmillError(
            f"Could not start a local Dask cluster ({exc}){_script_hint()}; or pass a running "
            "cluster's client= (scheduler= from the command line)"
        ) from exc


def _script_hint() -> str:
    """The usual reason workers fail to start when run from a script: no main guard."""
    main = sys.modules.get("__main__")
    if getattr(main, "__file__", None) is None:  # an interactive session or notebook
        return ""
    return (
        ". Dask starts each worker by importing the script that runs: put the script's code "
        'under `if __name__ == "__main__":` so that its workers do not run it again'
    )


def gather(client: Any, futures: Sequence[Any]) -> list[Any]:
    """The results of ``futures`` in order, or the first error of their tasks.

    Waiting with :func:`distributed.wait` first, not in ``client.gather``: an interrupted
    gather leaves tasks in the client that print "Task exception was never retrieved" once the
    caller cancels the futures.

    Raises
    ------
    Exception
        The first error a task raised (or ``CancelledError``), once it is known.
    """
    pending = set(futures)
    while pending:
        done, pending = wait(pending, return_when="FIRST_COMPLETED")
        for future in done:
            if future.status != "finished":
                future.result()  # raises the task's error
    return list(client.gather(list(futures)))
