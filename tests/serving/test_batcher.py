"""Continuous batching: concurrent requests share model calls, each gets its own answer."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import threading

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from gristmill.exceptions import ServingError
from gristmill.serving import (
    ModelHolder,
    PredictionBatcher,
    RequestLog,
    create_app,
    load_served_model,
)

TEXTS = ["subscribe now", "nice song", "check out my channel", "free money", "love it",
         "hello", "great song subscribe"]


class _Gate:
    """Delegates to a pyfunc, holding its first call until released; records rows per call."""

    def __init__(self, pyfunc) -> None:  # noqa: ANN001
        self.pyfunc = pyfunc
        self.release = threading.Event()
        self.calls: list[int] = []

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        self.calls.append(len(frame))
        assert self.release.wait(30)
        if (frame["text"] == "boom").any():
            raise RuntimeError("the model cannot score 'boom'")
        return self.pyfunc.predict(frame)


def _gated_app(tracking_uri: str, tmp_path) -> tuple[object, _Gate]:  # noqa: ANN001
    gate: dict[str, _Gate] = {}

    def loader(uri: str, *, tracking_uri: str | None = None):  # noqa: ANN202
        served = load_served_model(uri, tracking_uri=tracking_uri)
        gate["gate"] = _Gate(served.pyfunc)
        return dataclasses.replace(served, pyfunc=gate["gate"])

    holder = ModelHolder("kw/1", tracking_uri=tracking_uri, loader=loader, poll_interval=0)
    return create_app(holder, log_path=tmp_path / "log.sqlite"), gate["gate"]


def _body(text: str) -> dict:
    return {"records": [{"text": text, "length": float(len(text))}]}


async def _queued_behind_one_call(app, gate: _Gate, bodies: list[dict]) -> list[httpx.Response]:  # noqa: ANN001
    """Send bodies[0], and the rest while the model holds it; then let the model go."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        first = asyncio.create_task(client.post("/predict", json=bodies[0]))
        while not gate.calls:
            await asyncio.sleep(0.005)
        rest = [asyncio.create_task(client.post("/predict", json=body)) for body in bodies[1:]]
        batcher = app.state.batcher
        for _ in range(3000):
            if batcher.queue.pending == len(rest):
                break
            await asyncio.sleep(0.005)
        gate.release.set()
        return await asyncio.gather(first, *rest)


def test_queued_requests_share_one_model_call_with_their_own_answers(tracking_uri, tmp_path
                                                                     ) -> None:  # noqa: ANN001
    app, gate = _gated_app(tracking_uri, tmp_path)
    responses = asyncio.run(_queued_behind_one_call(app, gate, [_body(t) for t in TEXTS]))
    assert gate.calls == [1, len(TEXTS) - 1]
    assert app.state.batcher.largest_batch == len(TEXTS) - 1
    assert [r.status_code for r in responses] == [200] * len(TEXTS)

    alone = app.state.holder.current.pyfunc.pyfunc  # the real model, one request at a time
    log = app.state.request_log.records().set_index("_request_id")
    for text, response in zip(TEXTS, responses, strict=True):
        body = response.json()
        single = alone.predict(pd.DataFrame([_body(text)["records"][0]]))
        assert body["predictions"] == single["prediction"].tolist()
        assert body["probabilities"][0]["spam"] == pytest.approx(single["proba_spam"].iloc[0],
                                                                 rel=1e-9)
        assert body["model"] == {"name": "kw", "version": "1", "alias": None}
        logged = log.loc[body["request_id"]]
        assert (logged["text"], logged["_prediction"]) == (text, body["predictions"][0])
    assert len(log) == len(TEXTS)


def test_a_bad_request_in_a_batch_fails_alone(tracking_uri, tmp_path) -> None:  # noqa: ANN001
    app, gate = _gated_app(tracking_uri, tmp_path)
    bodies = [_body("hello"), _body("subscribe"), {"records": [{"text": "no length"}]},
              _body("boom"), _body("free money")]
    responses = asyncio.run(_queued_behind_one_call(app, gate, bodies))
    assert [r.status_code for r in responses] == [200, 200, 422, 500, 200]
    assert responses[2].json()["detail"][0]["loc"] == ["body", "records", 0, "length"]
    assert responses[3].json() == {"detail": "internal server error"}
    # The three valid queued requests failed together once, then each ran alone.
    assert gate.calls == [1, 3, 1, 1, 1]
    assert responses[1].json()["predictions"] == ["spam"]
    assert app.state.request_log.count() == 3


def test_service_freezes_the_heap_while_it_runs(tracking_uri, tmp_path) -> None:  # noqa: ANN001
    app = create_app("kw/1", tracking_uri=tracking_uri, log_path=tmp_path / "log.sqlite",
                     poll_interval=0)
    with TestClient(app) as client:
        assert gc.get_freeze_count() > 0
        assert client.post("/predict", json=_body("hi")).status_code == 200
    assert gc.get_freeze_count() == 0


def test_batch_size_must_be_positive(tracking_uri, tmp_path) -> None:  # noqa: ANN001
    holder = ModelHolder("kw/1", tracking_uri=tracking_uri, poll_interval=0)
    with pytest.raises(ServingError, match="max_batch_rows must be >= 1; got 0"):
        PredictionBatcher(holder, RequestLog(tmp_path / "log.sqlite"), max_records=10,
                          max_batch_rows=0)
