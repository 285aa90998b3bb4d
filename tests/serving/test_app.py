"""The REST service: endpoint contracts and every error status, through the public API."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from gristmill.exceptions import ServingError
from gristmill.serving import ModelHolder, ServedModel, create_app, load_served_model

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def client(tracking_uri, tmp_path):  # noqa: ANN001, ANN201
    app = create_app("kw@champion", tracking_uri=tracking_uri, log_path=tmp_path / "log.sqlite",
                     token=TOKEN, max_body_bytes=20_000, poll_interval=0)
    with TestClient(app) as test_client:
        yield test_client


def _predict(client, records, headers=AUTH):  # noqa: ANN001, ANN202
    return client.post("/predict", json={"records": records}, headers=headers)


def test_predict_contract(client) -> None:  # noqa: ANN001
    records = [{"text": "subscribe to my channel", "length": 23.0}, {"text": "nice", "length": 4}]
    response = _predict(client, records)
    assert response.status_code == 200
    body = response.json()
    assert body["request_id"] == response.headers["X-Request-ID"]
    assert body["model"] == {"name": "kw", "version": "1", "alias": "champion"}
    assert body["predictions"] == ["spam", "ham"]
    for proba in body["probabilities"]:
        assert set(proba) == {"ham", "spam"}
        assert sum(proba.values()) == pytest.approx(1.0)
    assert body["probabilities"][0]["spam"] > 0.5 > body["probabilities"][1]["spam"]
    assert client.app.state.request_log.count() == 1


def test_predict_null_number_is_accepted(client) -> None:  # noqa: ANN001
    assert _predict(client, [{"text": "hi", "length": None}]).status_code == 200


@pytest.mark.parametrize(
    ("records", "loc", "msg"),
    [
        ([{"text": "hi"}], ["body", "records", 0, "length"], "field required"),
        ([{"text": "hi", "length": 1.0}, {"text": 3, "length": 1.0}],
         ["body", "records", 1, "text"], "must be a string"),
        ([{"text": "hi", "length": "long"}], ["body", "records", 0, "length"], "must be a number"),
        ([{"text": "hi", "length": True}], ["body", "records", 0, "length"], "must be a number"),
        ([{"text": "hi", "length": 1.0, "colour": "red"}], ["body", "records", 0, "colour"],
         "unknown field"),
        ([], ["body", "records"], "non-empty list"),
        (["not an object"], ["body", "records", 0], "must be an object"),
    ],
)
def test_predict_422_names_the_field(client, records, loc, msg) -> None:  # noqa: ANN001
    response = _predict(client, records)
    assert response.status_code == 422
    first = response.json()["detail"][0]
    assert first["loc"] == loc
    assert msg in first["msg"]
    assert client.app.state.request_log.count() == 0


def test_predict_422_on_bad_json_and_missing_records(client) -> None:  # noqa: ANN001
    bad = client.post("/predict", content=b"{not json", headers=AUTH)
    assert bad.status_code == 422 and bad.json()["detail"][0]["type"] == "json_invalid"
    missing = client.post("/predict", json={"rows": []}, headers=AUTH)
    assert missing.status_code == 422 and missing.json()["detail"][0]["loc"] == ["body", "records"]


def test_bad_json_is_a_422_saying_what_is_wrong_and_where(client) -> None:  # noqa: ANN001
    for endpoint in ("/predict", "/feedback"):
        cut = client.post(endpoint, content=b'{"records": [', headers=AUTH)
        assert cut.status_code == 422
        assert cut.json()["detail"][0]["msg"] == ("the body is not valid UTF-8 JSON: unexpected "
                                                  "end of data: line 1 column 14 (char 13)")


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity"])
def test_nan_in_the_body_is_a_422_saying_to_send_null(client, number) -> None:  # noqa: ANN001
    body = json.dumps({"records": [{"text": "a", "length": float(number)}]})
    assert number in body  # as Python's json module writes it
    response = client.post("/predict", content=body.encode(), headers=AUTH)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body"] and error["msg"].startswith("the body is not valid UTF-8 JSON")
    assert error["msg"].endswith("; NaN and Infinity are no JSON numbers: send null for a "
                                 "missing value")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded",
                                          "multipart/form-data; boundary=x", "application/xml"])
def test_a_body_sent_as_another_type_than_json_is_a_415(client, content_type) -> None:  # noqa: ANN001
    # A web page may post form and plain-text bodies to a local service without asking first;
    # read as JSON, they would be predicted, logged and taken as feedback.
    request_id = _predict(client, [{"text": "a", "length": 1.0}]).json()["request_id"]
    bodies = {"/predict": {"records": [{"text": "a", "length": 1.0}]},
              "/feedback": {"request_id": request_id, "labels": ["spam"]}}
    for endpoint, body in bodies.items():
        response = client.post(endpoint, content=json.dumps(body).encode(),
                               headers={**AUTH, "Content-Type": content_type})
        assert response.status_code == 415
        assert response.json()["detail"] == ("the body must be JSON sent as Content-Type: "
                                             f"application/json; got {content_type!r}")
    assert client.app.state.request_log.count() == 1
    assert client.app.state.request_log.records()["_label"].isna().all()


@pytest.mark.parametrize("content_type", [None, "application/json",
                                          "Application/JSON; charset=utf-8",
                                          "application/merge-patch+json"])
def test_a_json_body_is_read_whatever_its_json_type(client, content_type) -> None:  # noqa: ANN001
    headers = AUTH if content_type is None else {**AUTH, "Content-Type": content_type}
    body = json.dumps({"records": [{"text": "subscribe", "length": 9.0}]}).encode()
    response = client.post("/predict", content=body, headers=headers)
    assert response.status_code == 200 and response.json()["predictions"] == ["spam"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "x"}])
def test_401_without_the_token(client, headers) -> None:  # noqa: ANN001
    for response in (_predict(client, [{"text": "a", "length": 1.0}], headers),
                     client.get("/metadata", headers=headers),
                     client.post("/feedback", json={"request_id": "x", "labels": ["ham"]},
                                 headers=headers)):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/health").status_code == 200


def test_413_when_the_body_is_too_large(client) -> None:  # noqa: ANN001
    records = [{"text": "x" * 1000, "length": 1.0}] * 30
    response = _predict(client, records)
    assert response.status_code == 413
    assert "20000 bytes" in response.json()["detail"]
    # Also without a Content-Length header (chunked upload).
    chunks = iter([json.dumps({"records": records}).encode()])
    response = client.post("/predict", content=chunks, headers=AUTH)
    assert response.status_code == 413


def test_health_and_metadata(client) -> None:  # noqa: ANN001
    assert client.get("/health").json() == {"status": "ok", "model_version": "1"}
    meta = client.get("/metadata", headers=AUTH).json()
    assert meta["model"] == {"name": "kw", "version": "1", "alias": "champion"}
    assert meta["classes"] == ["ham", "spam"]
    assert meta["payload_columns"] == ["text", "length"]
    assert meta["column_types"] == {"text": "string", "length": "double"}
    assert meta["follows_alias"] is True


def test_feedback_round_trip_and_errors(client) -> None:  # noqa: ANN001
    request_id = _predict(client, [{"text": "a", "length": 1.0}, {"text": "b", "length": 1.0}]
                          ).json()["request_id"]
    ok = client.post("/feedback", json={"request_id": request_id, "labels": ["spam", None]},
                     headers=AUTH)
    assert ok.status_code == 200 and ok.json() == {"request_id": request_id, "accepted": 1}
    frame = client.app.state.request_log.records()
    assert frame["_label"].iloc[0] == "spam" and pd.isna(frame["_label"].iloc[1])

    unknown = client.post("/feedback", json={"request_id": "nope", "labels": ["ham"]}, headers=AUTH)
    assert unknown.status_code == 404 and "nope" in unknown.json()["detail"]
    wrong_class = client.post("/feedback", json={"request_id": request_id,
                                                 "labels": ["ham", "eggs"]}, headers=AUTH)
    assert wrong_class.status_code == 422
    assert wrong_class.json()["detail"][0]["loc"] == ["body", "labels", 1]
    wrong_count = client.post("/feedback", json={"request_id": request_id, "labels": ["ham"]},
                              headers=AUTH)
    assert wrong_count.status_code == 422 and "2 records" in wrong_count.json()["detail"][0]["msg"]
    no_id = client.post("/feedback", json={"labels": ["ham"]}, headers=AUTH)
    assert no_id.status_code == 422 and no_id.json()["detail"][0]["loc"] == ["body", "request_id"]


class _Broken:
    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        raise RuntimeError("secret internal detail at /srv/model.py line 3")


def test_500_hides_the_stack_trace(tmp_path) -> None:  # noqa: ANN001
    def loader(uri: str, *, tracking_uri: str | None = None) -> ServedModel:
        return ServedModel(name="broken", version="1", alias=None, run_id=None, pyfunc=_Broken(),
                           classes=["a", "b"], payload_columns=["x"], column_types={"x": "double"})

    holder = ModelHolder("broken/1", loader=loader, poll_interval=0)
    app = create_app(holder, log_path=tmp_path / "log.sqlite")
    with TestClient(app, raise_server_exceptions=False) as test_client:
        response = test_client.post("/predict", json={"records": [{"x": 1.0}]})
    assert response.status_code == 500
    assert response.json() == {"detail": "internal server error"}
    assert "secret" not in response.text and "Traceback" not in response.text


def test_unknown_model_or_alias_raises(tracking_uri) -> None:  # noqa: ANN001
    with pytest.raises(ServingError, match="kw@nosuchalias"):
        load_served_model("kw@nosuchalias", tracking_uri=tracking_uri)
    with pytest.raises(ServingError, match="cannot parse"):
        load_served_model("kw@", tracking_uri=tracking_uri)


def test_bad_limits_are_refused(tracking_uri, tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(ServingError, match="max_body_bytes"):
        create_app("kw/1", tracking_uri=tracking_uri, log_path=tmp_path / "l.sqlite",
                   max_body_bytes=0)


@pytest.mark.parametrize("token", ["", " s3cret"])
def test_a_token_no_request_can_present_is_refused(token, tmp_path) -> None:  # noqa: ANN001
    def loader(uri: str, *, tracking_uri: str | None = None) -> ServedModel:
        return ServedModel(name="echo", version="1", alias=None, run_id=None, pyfunc=_Echo(),
                           classes=["a", "b"], payload_columns=["note"],
                           column_types={"note": "string"})

    with pytest.raises(ServingError, match="token must be a non-empty string"):
        create_app(ModelHolder("echo/1", loader=loader, poll_interval=0), token=token,
                   log_path=tmp_path / "log.sqlite")
    with pytest.raises(ServingError, match="token must be a non-empty string"):
        create_app("echo/1", token=token, log_path=tmp_path / "log.sqlite")  # before loading


def test_alias_switch_swaps_without_failed_requests(tracking_uri, registry, tmp_path) -> None:  # noqa: ANN001
    registry.set_alias(tracking_uri, "live", "1")
    app = create_app("kw@live", tracking_uri=tracking_uri, log_path=tmp_path / "log.sqlite",
                     poll_interval=0.2)
    record = [{"text": "subscribe", "length": 1.0}]
    with TestClient(app) as test_client:
        assert _predict(test_client, record, {}).json()["predictions"] == ["spam"]
        registry.set_alias(tracking_uri, "live", "2")
        versions = []
        for _ in range(400):
            response = _predict(test_client, record, {})
            assert response.status_code == 200
            versions.append(response.json()["model"]["version"])
            if versions[-1] == "2":
                break
        assert versions[-1] == "2", "the service did not follow the alias"
        # Version 2 has no keywords: it says ham.
        assert _predict(test_client, record, {}).json()["predictions"] == ["ham"]
        assert test_client.get("/health").json()["model_version"] == "2"


class _Echo:
    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        missing = frame["note"].isna().to_numpy()
        return pd.DataFrame({"prediction": ["b" if m else "a" for m in missing],
                             "proba_a": [0.0 if m else 1.0 for m in missing],
                             "proba_b": [1.0 if m else 0.0 for m in missing]})


def test_optional_string_columns_accept_null(tmp_path) -> None:  # noqa: ANN001
    def loader(uri: str, *, tracking_uri: str | None = None) -> ServedModel:
        return ServedModel(name="echo", version="3", alias=None, run_id=None, pyfunc=_Echo(),
                           classes=["a", "b"], payload_columns=["note", "title"],
                           column_types={"note": "string", "title": "string"},
                           optional_columns=frozenset({"note"}))

    app = create_app(ModelHolder("echo/3", loader=loader, poll_interval=0),
                     log_path=tmp_path / "log.sqlite")
    with TestClient(app) as test_client:
        ok = test_client.post("/predict", json={"records": [{"note": None, "title": "t"},
                                                            {"note": "n", "title": "t"}]})
        assert ok.status_code == 200 and ok.json()["predictions"] == ["b", "a"]
        required = test_client.post("/predict", json={"records": [{"note": "n", "title": None}]})
        assert required.status_code == 422
        assert required.json()["detail"][0]["loc"] == ["body", "records", 0, "title"]
        schema = test_client.get("/openapi.json").json()
    body = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    record = body["schema"]["properties"]["records"]["items"]
    assert record["properties"]["note"] == {"anyOf": [{"type": "string"}, {"type": "null"}]}
    assert record["required"] == ["note", "title"]


def test_loading_leaves_the_environment_alone(tracking_uri, monkeypatch) -> None:  # noqa: ANN001
    import os

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    assert load_served_model("kw/2", tracking_uri=tracking_uri).version == "2"
    assert "MLFLOW_TRACKING_URI" not in os.environ
    assert "MLFLOW_REGISTRY_URI" not in os.environ


class _TwoTasks:
    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        n = len(frame)
        return pd.DataFrame({"spam:prediction": ["ham"] * n, "spam:proba_ham": [0.9] * n,
                             "spam:proba_spam": [0.1] * n, "tone:prediction": ["calm"] * n,
                             "tone:proba_calm": [0.7] * n, "tone:proba_loud": [0.3] * n})


def test_one_task_of_a_several_task_model_is_served_like_a_one_task_model(tmp_path) -> None:  # noqa: ANN001
    asked: list[str | None] = []

    def loader(uri: str, *, tracking_uri: str | None = None, task: str | None = None
               ) -> ServedModel:
        asked.append(task)
        return ServedModel(name="two", version="1", alias="champion", run_id=None,
                           pyfunc=_TwoTasks(), classes=["calm", "loud"],
                           payload_columns=["text"], column_types={"text": "string"}, task=task)

    holder = ModelHolder("two@champion", loader=loader, poll_interval=0, task="tone")
    app = create_app(holder, log_path=tmp_path / "log.sqlite")
    with TestClient(app) as test_client:
        answer = test_client.post("/predict", json={"records": [{"text": "hi"}]}).json()
        assert answer["predictions"] == ["calm"]
        assert answer["probabilities"] == [{"calm": 0.7, "loud": 0.3}]
        assert test_client.get("/metadata").json()["task"] == "tone"
    assert asked == ["tone"]


def test_null_feedback_forgets_an_earlier_label(client) -> None:  # noqa: ANN001
    records = [{"text": "a", "length": 1.0}, {"text": "b", "length": 1.0}]
    request_id = _predict(client, records).json()["request_id"]

    def labels() -> list:
        frame = client.app.state.request_log.records()
        return [None if pd.isna(v) else v for v in frame["_label"]]

    both = client.post("/feedback", json={"request_id": request_id, "labels": ["spam", "ham"]},
                       headers=AUTH)
    assert both.json()["accepted"] == 2 and labels() == ["spam", "ham"]
    cleared = client.post("/feedback", json={"request_id": request_id, "labels": [None, "spam"]},
                          headers=AUTH)
    assert cleared.status_code == 200 and cleared.json()["accepted"] == 1
    assert labels() == [None, "spam"]
    none = client.post("/feedback", json={"request_id": request_id, "labels": [None, None]},
                       headers=AUTH)
    assert none.json()["accepted"] == 0 and labels() == [None, None]


def test_feedback_the_log_cannot_take_whole_stores_none_of_it(tracking_uri, tmp_path) -> None:  # noqa: ANN001
    import sqlite3

    app = create_app("kw@champion", tracking_uri=tracking_uri, log_path=tmp_path / "log.sqlite",
                     poll_interval=0)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        records = [{"text": "a", "length": 1.0}, {"text": "b", "length": 1.0}]
        request_id = _predict(test_client, records, {}).json()["request_id"]
        log = test_client.app.state.request_log
        assert test_client.post("/feedback", json={"request_id": request_id,
                                                   "labels": ["ham", "ham"]}).status_code == 200
        # The database refuses to forget a label (as a full disk or a lock held too long would).
        with sqlite3.connect(log.path) as con:
            con.execute("CREATE TRIGGER keep BEFORE DELETE ON feedback "
                        "BEGIN SELECT RAISE(ABORT, 'no deletes'); END")
        refused = test_client.post("/feedback", json={"request_id": request_id,
                                                      "labels": ["spam", None]})
        assert refused.status_code == 500
        assert list(log.records()["_label"]) == ["ham", "ham"]  # not half of it: spam, ham


def test_docs_page_is_self_contained(client) -> None:  # noqa: ANN001
    response = client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    # Nothing is fetched from elsewhere (FastAPI's page loads Swagger UI from a CDN).
    assert "http://" not in page and "https://" not in page and "<script" not in page
    assert 'href="openapi.json"' in page
    for endpoint in ("POST /predict", "POST /feedback", "GET /health", "GET /metadata"):
        assert endpoint in page
    assert "<code>length</code></td><td>number or null" in page
    assert client.get("/redoc").status_code == 404  # also a CDN page: not served


@pytest.mark.parametrize("seconds", [float("nan"), float("inf"), -1.0, 1e300, "5"])
def test_unusable_poll_intervals_are_refused_before_loading(seconds, tmp_path) -> None:  # noqa: ANN001
    loaded: list[str] = []

    def loader(uri: str, *, tracking_uri: str | None = None) -> ServedModel:
        loaded.append(uri)
        raise AssertionError("the model must not load")

    with pytest.raises(ServingError, match="poll interval must be a number of seconds from 0"):
        ModelHolder("kw@champion", loader=loader, poll_interval=seconds)
    with pytest.raises(ServingError, match="poll interval"):
        create_app("kw@champion", log_path=tmp_path / "log.sqlite", poll_interval=seconds)
    assert loaded == []


@pytest.mark.parametrize("uri", ["kw/01", "models:/kw/001"])
def test_version_numbers_lose_leading_zeros(uri, tracking_uri, tmp_path) -> None:  # noqa: ANN001
    from gristmill.serving import parse_model_uri

    assert parse_model_uri(uri) == ("kw", None, "1")
    app = create_app(uri, tracking_uri=tracking_uri, log_path=tmp_path / "log.sqlite",
                     poll_interval=0)
    with TestClient(app) as test_client:
        assert test_client.get("/health").json()["model_version"] == "1"
        answer = _predict(test_client, [{"text": "hi", "length": 2.0}], {}).json()
        assert answer["model"]["version"] == "1"
        frame = test_client.app.state.request_log.records()
    assert list(frame["_model_version"]) == ["1"]


def test_an_alias_resolves_in_its_store_after_another_store_was_opened(tracking_uri, tmp_path
                                                                      ) -> None:  # noqa: ANN001
    from gristmill.tracking._store import open_client

    # Opening a store points MLflow's process-wide registry at it (as a pipeline run does).
    open_client(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        assert load_served_model("kw@champion", tracking_uri=tracking_uri).version == "1"
    finally:
        open_client(tracking_uri)


def test_openapi_describes_the_version_served_after_the_alias_moved(tmp_path) -> None:  # noqa: ANN001
    def echo(version: str, columns: list[str], classes: list[str]) -> ServedModel:
        return ServedModel(name="echo", version=version, alias="live", run_id=None,
                           pyfunc=_Echo(), classes=classes, payload_columns=columns,
                           column_types=dict.fromkeys(columns, "string"))

    holder = ModelHolder("echo@live", loader=lambda uri, **_: echo("3", ["note", "title"],
                                                                   ["a", "b"]),
                         poll_interval=0)
    app = create_app(holder, log_path=tmp_path / "log.sqlite")
    with TestClient(app) as test_client:
        assert test_client.get("/openapi.json").json()["info"]["version"] == "3"
        holder.current = echo("4", ["note"], ["a", "b", "c"])  # the alias moved
        schema = test_client.get("/openapi.json").json()
        assert schema["info"]["version"] == "4"
        body = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
        assert body["schema"]["properties"]["records"]["items"]["required"] == ["note"]
        feedback = schema["paths"]["/feedback"]["post"]["requestBody"]["content"]
        labels = feedback["application/json"]["schema"]["properties"]["labels"]["items"]
        assert labels["anyOf"][0]["enum"] == ["a", "b", "c"]
        assert "<code>title</code>" not in test_client.get("/docs").text


@pytest.mark.timeout(90)  # MLflow's client alone retries an unreachable server for minutes
def test_metadata_reports_a_tracking_server_that_stopped_answering(registry, tmp_path) -> None:  # noqa: ANN001
    import time

    def loaded(uri: str, **_: object) -> ServedModel:
        return ServedModel(name="echo", version="3", alias="live", run_id=None, pyfunc=_Echo(),
                           classes=["a", "b"], payload_columns=["note"],
                           column_types={"note": "string"})

    server = f"http://127.0.0.1:{registry.free_port()}"  # the server is gone: nothing listens
    holder = ModelHolder("echo@live", tracking_uri=server, loader=loaded, poll_interval=0.05)
    with TestClient(create_app(holder, log_path=tmp_path / "log.sqlite")) as test_client:
        while (error := test_client.get("/metadata").json()["last_alias_error"]) is None:
            time.sleep(0.05)
        assert error.startswith(f"MLflow tracking server {server} is unreachable")
        # The loaded version goes on answering.
        answer = test_client.post("/predict", json={"records": [{"note": "hi"}]})
        assert answer.status_code == 200 and answer.json()["model"]["version"] == "3"
