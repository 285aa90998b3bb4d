"""The queue drained by one background thread: grouping, failures, waiting and restarting."""

from __future__ import annotations

import logging
import threading
import time

from gristmill.serving._queue_thread import QueueThread


def test_items_queued_during_a_call_come_in_the_next_call_within_take() -> None:
    release, calls = threading.Event(), []

    def handle(items: list[int]) -> None:
        calls.append(items)
        assert release.wait(30)

    queue: QueueThread[int] = QueueThread(handle, name="t", take=lambda items: 3)
    queue.put(0)
    while not calls:
        time.sleep(0.001)
    for i in range(1, 6):
        queue.put(i)
    assert queue.pending == 5
    release.set()
    assert queue.wait_handled(30)
    assert calls == [[0], [1, 2, 3], [4, 5]]
    queue.close()


def test_a_failing_call_is_logged_and_the_thread_goes_on(caplog) -> None:  # noqa: ANN001
    handled: list[int] = []

    def handle(items: list[int]) -> None:
        if 13 in items:
            raise ValueError("unlucky")
        handled.extend(items)

    queue: QueueThread[int] = QueueThread(handle, name="flaky")
    with caplog.at_level(logging.ERROR, logger="gristmill.serving"):
        queue.put(13)
        assert queue.wait_handled(30)
        queue.put(1)
        assert queue.wait_handled(30)
    assert handled == [1]
    assert "flaky: handling 1 queued items failed" in caplog.text


def test_close_drains_the_queue_and_put_restarts_the_thread() -> None:
    handled: list[int] = []
    queue: QueueThread[int] = QueueThread(handled.extend, name="t")
    for i in range(100):
        queue.put(i)
    queue.close()
    assert handled == list(range(100)) and queue.pending == 0
    queue.put(100)
    assert queue.wait_handled(30) and handled[-1] == 100
    queue.close()


def test_wait_handled_times_out() -> None:
    release = threading.Event()
    queue: QueueThread[int] = QueueThread(lambda items: release.wait(30), name="t")
    queue.put(1)
    assert queue.wait_handled(0.05) is False
    release.set()
    assert queue.wait_handled(30) is True
    queue.close()
