"""The model currently served, and the background watcher that follows a registry alias."""

from __future__ import annotations

import functools
import logging
import numbers
import threading
import time
from collections.abc import Callable

from gristmill.exceptions import ServingError
from gristmill.serving._model import (
    ServedModel,
    load_served_model,
    parse_model_uri,
    resolve_version,
)

__all__ = ["ModelHolder", "check_poll_interval"]

logger = logging.getLogger("gristmill.serving")

# How long stop() waits for the watcher: it wakes at once, unless an alias check (a registry
# query, or loading the new version) is under way.
_STOP_TIMEOUT_S = 60.0


def check_poll_interval(seconds: float) -> float:
    """Return ``seconds`` as a float if it is a usable interval between alias checks.

    Parameters
    ----------
    seconds : float
        0 turns the watcher off; otherwise at most ``threading.TIMEOUT_MAX`` (the longest wait
        the operating system takes, about 292 years).

    Raises
    ------
    ServingError
        When ``seconds`` is not a number, negative, NaN or too large.
    """
    usable = isinstance(seconds, numbers.Real) and not isinstance(seconds, bool)
    if not (usable and 0 <= seconds <= threading.TIMEOUT_MAX):
        raise ServingError(
            f"the poll interval must be a number of seconds from 0 (no alias checks) to "
            f"{threading.TIMEOUT_MAX:.0f}; got {seconds!r}"
        )
    return float(seconds)


class ModelHolder:
    """Hold the served model and swap it when the registry alias moves.

    Requests read :attr:`current` once and use that model to the end, so a swap (one reference
    assignment, atomic in CPython) never affects a request in flight and no request is dropped.

    Parameters
    ----------
    model_uri : str
        ``NAME@ALIAS`` (followed) or ``NAME/VERSION`` (pinned).
    tracking_uri : str or None
        MLflow tracking/registry URI.
    poll_interval : float, default 5.0
        Seconds between alias checks; 0 disables the watcher.
    loader : callable, optional
        ``loader(uri, tracking_uri=...) -> ServedModel``; defaults to :func:`load_served_model`.
    task : str, optional
        The task to serve of a model that predicts several (passed to the loader as ``task``);
        every version the alias moves to must have it.

    Raises
    ------
    ServingError
        When ``poll_interval`` is negative, NaN or infinite (before loading anything), or the
        model cannot be loaded.
    """

    def __init__(
        self,
        model_uri: str,
        *,
        tracking_uri: str | None = None,
        poll_interval: float = 5.0,
        loader: Callable[..., ServedModel] = load_served_model,
        task: str | None = None,
    ) -> None:
        self.model_uri = model_uri
        self.tracking_uri = tracking_uri
        self.poll_interval = check_poll_interval(poll_interval)
        self.task = task
        self._loader = loader if task is None else functools.partial(loader, task=task)
        self.current: ServedModel = self._loader(model_uri, tracking_uri=tracking_uri)
        self.last_check: float = time.time()
        self.last_error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def follows_alias(self) -> bool:
        """Whether the URI names an alias (which can move) rather than a fixed version."""
        return parse_model_uri(self.model_uri)[1] is not None

    def check_now(self) -> bool:
        """Resolve the alias once; load and swap in the new version if it moved.

        Returns True when the served version changed.
        """
        version = resolve_version(self.model_uri, tracking_uri=self.tracking_uri)
        self.last_check = time.time()
        if version == self.current.version:
            return False
        name = parse_model_uri(self.model_uri)[0]
        fresh = self._loader(self.model_uri, tracking_uri=self.tracking_uri)
        if fresh.version != version:
            # The alias moved again while loading; the next poll settles it.
            logger.info("alias of %s moved during load; keeping version %s", name, fresh.version)
        previous = self.current
        self.current = fresh
        logger.info("%s: switched from version %s to %s", name, previous.version, fresh.version)
        return True

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_interval):
            try:
                self.check_now()
                self.last_error = None
            except Exception as exc:  # keep serving the loaded version; report on /metadata
                self.last_error = str(exc)
                logger.warning("alias check for %s failed: %s", self.model_uri, exc)

    def start(self) -> None:
        """Start the background watcher (no-op for pinned versions or ``poll_interval=0``)."""
        if self._thread is not None or not self.follows_alias or self.poll_interval <= 0:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._watch, name="gristmill-alias-watch",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background watcher and wait for it."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=_STOP_TIMEOUT_S)
            self._thread = None
