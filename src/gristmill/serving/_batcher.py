"""Continuous batching: prediction requests that arrive together share one model call.

A model call on one row costs nearly as much as one on a few dozen (the featuriser and the
pyfunc wrapper have a fixed cost per call), so under load one thread runs the model on every
request that queued up while the previous call ran. An idle service answers a lone request at
once: nothing waits for a batch to fill, and no timer needs tuning.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from typing import Any

from gristmill.exceptions import ServingError
from gristmill.serving._holder import ModelHolder
from gristmill.serving._log import RequestLog
from gristmill.serving._model import ServedModel
from gristmill.serving._queue_thread import QueueThread
from gristmill.serving._validate import check_records, records_frame

__all__ = ["PredictionBatcher"]

logger = logging.getLogger("gristmill.serving")


@dataclasses.dataclass
class _Job:
    payload: Any
    request_id: str
    started: float
    future: asyncio.Future[dict[str, Any]]
    loop: asyncio.AbstractEventLoop
    records: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def size(self) -> int:
        """Rows the request holds (1 for a payload that validation will refuse)."""
        records = self.payload.get("records") if isinstance(self.payload, dict) else None
        return len(records) if isinstance(records, list) else 1

    def settle(self, result: Any, error: BaseException | None) -> None:
        """Hand the outcome to the request's event loop (from the model thread)."""
        try:
            self.loop.call_soon_threadsafe(_settle, self.future, result, error)
        except RuntimeError:  # the loop has closed: nobody is waiting for the answer
            logger.info("request %s finished after its event loop closed", self.request_id)


def _settle(future: asyncio.Future[dict[str, Any]], result: Any, error: BaseException | None
            ) -> None:
    if future.done():  # the client went away and the request was cancelled
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class PredictionBatcher:
    """Run the served model on queued prediction requests, several requests per model call.

    Each batch reads :attr:`ModelHolder.current` once, so every request in it is validated,
    answered and logged by the same version, also while the alias moves. A request that fails
    validation gets its :class:`FieldError` and leaves the others alone; when a model call on
    several requests fails, each is retried alone so that an error reaches only the request
    that caused it.

    Parameters
    ----------
    holder : ModelHolder
        Supplies the served model.
    log : RequestLog
        Every answered request is queued to it.
    max_records : int
        Most records one request may hold.
    max_batch_rows : int, default 1024
        Requests are merged while their rows add up to at most this; a larger request runs alone.

    Attributes
    ----------
    n_batches, largest_batch : int
        Model calls made so far, and the most requests one of them answered.
    queue : QueueThread
        The requests waiting for the model thread.

    Notes
    -----
    Batched rows go through the same featuriser and model as a request holding them all, so
    predictions match one-row requests; probabilities can differ in the last bits of float32
    arithmetic (the matrix products sum in a batch-size-dependent order).
    """

    def __init__(self, holder: ModelHolder, log: RequestLog, *, max_records: int,
                 max_batch_rows: int = 1024) -> None:
        if max_batch_rows < 1:
            raise ServingError(f"max_batch_rows must be >= 1; got {max_batch_rows}")
        self.holder = holder
        self.log = log
        self.max_records = int(max_records)
        self.max_batch_rows = int(max_batch_rows)
        self.n_batches = 0
        self.largest_batch = 0
        self.queue: QueueThread[_Job] = QueueThread(self._run_batch, name="gristmill-predict",
                                                     take=self._fitting)

    async def predict(self, payload: Any, request_id: str, started: float) -> dict[str, Any]:
        """Validate and predict a ``{"records": [...]}`` payload; return the response body.

        Raises
        ------
        FieldError
            When the payload does not fit the served model's signature.
        Exception
            Whatever the model raised on this request.
        """
        loop = asyncio.get_running_loop()
        job = _Job(payload, request_id, started, loop.create_future(), loop)
        self.queue.put(job)
        return await job.future

    def close(self) -> None:
        """Answer the requests already queued, then stop the model thread."""
        self.queue.close()

    def _fitting(self, jobs: list[_Job]) -> int:
        """How many of the queued ``jobs`` the next batch takes: their rows fit the limit."""
        taken, rows = 0, 0
        for job in jobs:
            if taken and rows + job.size > self.max_batch_rows:
                break
            taken += 1
            rows += job.size
        return taken

    def _run_batch(self, batch: list[_Job]) -> None:
        """The model thread's work: validate, predict and answer the jobs of one batch."""
        served = self.holder.current  # read once: an alias switch cannot split a batch
        valid = [job for job in batch if self._validate(served, job)]
        if not valid:
            return
        self.n_batches += 1
        self.largest_batch = max(self.largest_batch, len(valid))
        try:
            outcomes: list[tuple[Any, BaseException | None]] = [
                (result, None) for result in self._answer(served, valid)
            ]
        except Exception as exc:
            if len(valid) == 1:
                outcomes = [(None, exc)]
            else:
                outcomes = [self._answer_alone(served, job) for job in valid]
        for job, (result, error) in zip(valid, outcomes, strict=True):
            job.settle(result, error)

    def _validate(self, served: ServedModel, job: _Job) -> bool:
        """Check the job's payload against the served signature; settle it with the error if not.

        Raises nothing: the error goes to the request (a :class:`FieldError` becomes a 422).
        """
        try:
            job.records = check_records(job.payload, served.payload_columns, served.column_types,
                                        max_records=self.max_records,
                                        optional=served.optional_columns)
        except Exception as exc:  # FieldError: 422; anything else is the service's fault: 500
            job.settle(None, exc)
            return False
        return True

    def _answer_alone(self, served: ServedModel, job: _Job) -> tuple[Any, BaseException | None]:
        try:
            return self._answer(served, [job])[0], None
        except Exception as exc:
            return None, exc

    def _answer(self, served: ServedModel, batch: list[_Job]) -> list[dict[str, Any]]:
        """Run the model once on every record of ``batch``; log and return each response."""
        records = [record for job in batch for record in job.records]
        out = served.predict_frame(records_frame(records, served.payload_columns,
                                                 served.column_types))
        if len(out) != len(records):
            raise ServingError(f"model {served.name}/{served.version} returned {len(out)} rows "
                               f"for {len(records)} records")
        predictions = [str(p) for p in out["prediction"].tolist()]
        proba = out[[f"proba_{c}" for c in served.classes]].to_numpy(dtype=float).tolist()
        model = {"name": served.name, "version": served.version, "alias": served.alias}
        results, start = [], 0
        for job in batch:
            end = start + len(job.records)
            job_predictions = predictions[start:end]
            probabilities = [dict(zip(served.classes, row, strict=True))
                             for row in proba[start:end]]
            start = end
            latency_ms = (time.perf_counter() - job.started) * 1000
            self.log.submit_prediction(job.request_id, served.name, served.version, job.records,
                                       job_predictions, probabilities, latency_ms)
            results.append({"request_id": job.request_id, "model": model,
                            "predictions": job_predictions, "probabilities": probabilities})
        return results
