"""A queue drained by one background thread, several items per call: the service's two helpers
(the prediction batcher and the request-log writer) are built on it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["QueueThread"]

logger = logging.getLogger("gristmill.serving")

Item = TypeVar("Item")


class QueueThread(Generic[Item]):
    """Items put from any thread, handed in order to ``handle`` by one daemon thread.

    Each call of ``handle`` gets every item queued at that moment, or the first ``take(items)``
    of them, so the work that piles up while one call runs is done in the next single call. The
    thread starts on the first :meth:`put` (and again after :meth:`close`).

    Parameters
    ----------
    handle : callable
        ``handle(items)``; an exception it raises is logged and the thread goes on.
    name : str
        Name of the thread.
    take : callable, optional
        ``take(queued_items) -> n``: how many of the queued items the next call gets (at least
        one is always taken); all of them by default.
    """

    def __init__(self, handle: Callable[[list[Item]], None], *, name: str,
                 take: Callable[[list[Item]], int] = len) -> None:
        self.name = name
        self._handle = handle
        self._take = take
        self._items: list[Item] = []
        self._queued = 0
        self._handled = 0
        self._closing = False
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    @property
    def pending(self) -> int:
        """Items queued and not yet taken by the thread."""
        with self._changed:
            return len(self._items)

    @property
    def closing(self) -> bool:
        """Whether :meth:`close` is waiting for the queue to drain."""
        return self._closing

    def put(self, item: Item) -> None:
        """Queue ``item``; start the thread when it is not running."""
        with self._changed:
            self._items.append(item)
            self._queued += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()
            self._changed.notify_all()

    def _run(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: self._items or self._closing)
                if not self._items:
                    return
                n = max(1, self._take(self._items))
                batch, self._items = self._items[:n], self._items[n:]
            try:
                self._handle(batch)
            except Exception:
                logger.exception("%s: handling %d queued items failed", self.name, len(batch))
            with self._changed:
                self._handled += len(batch)
                self._changed.notify_all()

    def wait_handled(self, timeout: float | None = None) -> bool:
        """Wait until every item queued before the call is handled; False on timeout."""
        with self._changed:
            target = self._queued
            return self._changed.wait_for(lambda: self._handled >= target, timeout)

    def close(self) -> None:
        """Handle every queued item, then stop the thread."""
        with self._changed:
            self._closing = True
            thread = self._thread
            self._changed.notify_all()
        if thread is not None:
            thread.join()
        with self._changed:
            self._closing = False
            if self._thread is thread:
                self._thread = None
