"""Served column types follow the training spec's payload kinds: dates are dates, missing is null.

A real gristmill model (the bundled spam example, tracked) is served: its spec declares
``CONTENT: text, AUTHOR: categorical, DATE: datetime``, plus ``WORDS: numeric`` (the number of
words of the comment, a whole number in every training row), and its training rows miss some
dates.
"""

from __future__ import annotations

import datetime
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from fastapi.testclient import TestClient

import gristmill
from gristmill.serving import ModelHolder, ServedModel, create_app, load_served_model

EXAMPLE = Path(gristmill.__file__).parent / "examples" / "spam"
NAME = "youtube-spam"
COMMENT = {"CONTENT": "check out my channel", "AUTHOR": "x", "DATE": "2015-05-28T14:30:00",
           "WORDS": 4}


@pytest.fixture(scope="module")
def spam_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The spam example (and WORDS) trained and registered as youtube-spam/1; its tracking URI."""
    from gristmill.pipeline import Pipeline

    project = tmp_path_factory.mktemp("kinds") / "spam"
    shutil.copytree(EXAMPLE, project)
    spec_path = project / "gristmill.yaml"
    spec = yaml.safe_load(spec_path.read_text())
    spec["model"]["candidates"] = ["logreg"]  # a small search: the signature is what matters
    spec["model"]["budget"] = {"trials": 2}
    spec["payloads"]["WORDS"] = "numeric"
    data = project / "data" / "youtube.csv"
    comments = pd.read_csv(data)
    comments["WORDS"] = comments["CONTENT"].str.split().str.len().astype("int64")
    comments.to_csv(data, index=False)
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        result = Pipeline.from_yaml(spec_path).run(track=True)
    assert result.model_version == "1"
    return f"sqlite:///{project / 'mlflow.db'}"


@pytest.fixture(scope="module")
def spam_client(spam_store: str, tmp_path_factory: pytest.TempPathFactory
                ) -> Iterator[TestClient]:
    log = tmp_path_factory.mktemp("kinds-log") / "log.sqlite"
    app = create_app(f"{NAME}/1", tracking_uri=spam_store, log_path=log, poll_interval=0)
    with TestClient(app) as client:
        yield client


def _predict(client: TestClient, **fields: Any) -> Any:
    return client.post("/predict", json={"records": [{**COMMENT, **fields}]})


@pytest.mark.slow
def test_metadata_and_openapi_type_the_date_as_a_nullable_date_time(spam_client: TestClient
                                                                     ) -> None:
    meta = spam_client.get("/metadata").json()
    assert meta["column_types"] == {"CONTENT": "string", "AUTHOR": "string", "DATE": "datetime",
                                    "WORDS": "long"}
    schema = spam_client.get("/openapi.json").json()
    body = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    record = body["schema"]["properties"]["records"]["items"]
    date = record["properties"]["DATE"]["anyOf"]
    # Not JSON Schema's "date-time" format: RFC 3339 wants seconds and an offset, no plain date.
    assert date[0]["type"] == "string" and "format" not in date[0]
    assert re.search(date[0]["pattern"], "2015-05-28")
    assert re.search(date[0]["pattern"], "2015-05-28T14:30:00")
    assert date[1] == {"type": "null"}
    for column in ("CONTENT", "AUTHOR"):
        assert record["properties"][column] == {"anyOf": [{"type": "string"}, {"type": "null"}]}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("date", "msg"),
    [
        ("yesterday-ish", "ISO 8601"),
        ("", "ISO 8601"),
        ("99999-01-01", "ISO 8601"),
        ("now", "ISO 8601"),
        ("May 28, 2015", "ISO 8601"),
        ("1000-01-01", "years 1678 to 2261"),
        (20150528, "ISO 8601"),
    ],
)
def test_a_date_that_does_not_parse_is_a_422_naming_the_field(
    spam_client: TestClient, date: Any, msg: str
) -> None:
    before = spam_client.app.state.request_log.count()
    response = _predict(spam_client, DATE=date)
    assert response.status_code == 422
    (error,) = response.json()["detail"]
    assert error["loc"] == ["body", "records", 0, "DATE"] and msg in error["msg"]
    assert spam_client.app.state.request_log.count() == before


@pytest.mark.slow
def test_each_bad_date_of_a_request_is_named(spam_client: TestClient) -> None:
    records = [{**COMMENT, "DATE": "soon"}, COMMENT, {**COMMENT, "DATE": "later"}]
    response = spam_client.post("/predict", json={"records": records})
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [
        ["body", "records", 0, "DATE"], ["body", "records", 2, "DATE"]]


@pytest.mark.slow
def test_null_payloads_are_predicted_as_missing_values(spam_client: TestClient,
                                                       spam_store: str) -> None:
    nulls = dict.fromkeys(COMMENT)
    response = spam_client.post("/predict", json={"records": [COMMENT, {**COMMENT, **nulls}]})
    assert response.status_code == 200
    # What the end model says for the same rows with missing values, as it saw them in training.
    bundle = load_served_model(f"{NAME}/1", tracking_uri=spam_store).bundle
    frame = pd.DataFrame([COMMENT, dict.fromkeys(COMMENT, np.nan)])
    expected = bundle.end_model.predict_proba(frame)[:, 1]
    served = [p["spam"] for p in response.json()["probabilities"]]
    np.testing.assert_allclose(served, expected, rtol=1e-5)


@pytest.mark.slow
def test_a_whole_number_payload_accepts_null_as_a_missing_value(spam_client: TestClient,
                                                                spam_store: str) -> None:
    schema = spam_client.get("/openapi.json").json()
    body = schema["paths"]["/predict"]["post"]["requestBody"]["content"]["application/json"]
    record = body["schema"]["properties"]["records"]["items"]
    words = {"type": "integer", "format": "int64"}
    assert record["properties"]["WORDS"] == {"anyOf": [words, {"type": "null"}]}
    docs = spam_client.get("/docs").text
    assert "<td><code>WORDS</code></td><td>integer (int64) or null</td>" in docs
    records = [COMMENT, {**COMMENT, "WORDS": None}, {**COMMENT, "WORDS": 40.0}]
    response = spam_client.post("/predict", json={"records": records})
    assert response.status_code == 200
    # What the end model says for the same rows, the missing count as NaN.
    bundle = load_served_model(f"{NAME}/1", tracking_uri=spam_store).bundle
    frame = pd.DataFrame(records).astype({"WORDS": "float64"})
    expected = bundle.end_model.predict_proba(frame)[:, 1]
    served = [p["spam"] for p in response.json()["probabilities"]]
    np.testing.assert_allclose(served, expected, rtol=1e-5)
    assert served[1] != pytest.approx(served[0])  # the missing count is not read as some number
    for bad, msg in [(4.5, "must be an integer"),
                     (2**63, f"must be an integer from {-(2**63)} to {2**63 - 1}")]:
        refused = _predict(spam_client, WORDS=bad)
        assert refused.status_code == 422 and refused.json()["detail"][0]["msg"] == msg


@pytest.mark.slow
def test_dates_with_an_offset_are_read_as_instants(spam_client: TestClient) -> None:
    local = _predict(spam_client, DATE="2015-05-28T16:30:00+02:00").json()["probabilities"]
    utc = _predict(spam_client, DATE="2015-05-28T14:30:00Z").json()["probabilities"]
    assert local[0] == pytest.approx(utc[0])


@pytest.mark.slow
def test_the_signature_marks_the_dates_the_training_rows_miss_optional(spam_store: str) -> None:
    served = load_served_model(f"{NAME}/1", tracking_uri=spam_store)
    inputs = {spec.name: spec for spec in served.pyfunc.metadata.get_input_schema().inputs}
    # Text, as the training data holds it: MLflow's datetime type refuses date-time text.
    assert str(inputs["DATE"].type.name) == "string" and not inputs["DATE"].required
    assert served.optional_columns == {"CONTENT", "AUTHOR", "DATE", "WORDS"}


class _Recorder:
    """A pyfunc recording the frame it is given; predicts class ``a``."""

    def __init__(self) -> None:
        self.frames: list[pd.DataFrame] = []

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        self.frames.append(frame.copy())
        return pd.DataFrame({"prediction": ["a"] * len(frame), "proba_a": [1.0] * len(frame),
                             "proba_b": [0.0] * len(frame)})


def test_a_datetime_signature_gets_naive_utc_timestamps(tmp_path: Path) -> None:
    recorder = _Recorder()

    def loader(uri: str, *, tracking_uri: str | None = None) -> ServedModel:
        return ServedModel(name="when", version="1", alias=None, run_id=None, pyfunc=recorder,
                           classes=["a", "b"], payload_columns=["when"],
                           column_types={"when": "datetime"},
                           optional_columns=frozenset({"when"}))

    app = create_app(ModelHolder("when/1", loader=loader, poll_interval=0),
                     log_path=tmp_path / "log.sqlite")
    records = [{"when": "2015-05-28T16:30:00+02:00"}, {"when": None}, {"when": "2015-05-28"}]
    with TestClient(app) as client:
        assert client.post("/predict", json={"records": records}).status_code == 200
    (frame,) = recorder.frames
    assert str(frame["when"].dtype).startswith("datetime64") and frame["when"].dt.tz is None
    assert list(frame["when"]) == [pd.Timestamp("2015-05-28 14:30"), pd.NaT,
                                   pd.Timestamp("2015-05-28")]


def _date_app(recorder: _Recorder, tmp_path: Path) -> Any:
    """A service whose model takes one optional date-time column, ``when``."""

    def loader(uri: str, *, tracking_uri: str | None = None) -> ServedModel:
        return ServedModel(name="when", version="1", alias=None, run_id=None, pyfunc=recorder,
                           classes=["a", "b"], payload_columns=["when"],
                           column_types={"when": "datetime"},
                           optional_columns=frozenset({"when"}))

    return create_app(ModelHolder("when/1", loader=loader, poll_interval=0),
                      log_path=tmp_path / "log.sqlite")


def _date_schema(client: TestClient) -> dict[str, Any]:
    body = client.get("/openapi.json").json()["paths"]["/predict"]["post"]["requestBody"]
    record = body["content"]["application/json"]["schema"]["properties"]["records"]["items"]
    schema, null = record["properties"]["when"]["anyOf"]
    assert null == {"type": "null"}
    return dict(schema)


# (text, whether it is a date-time in the served years): each is answered iff it is.
DATE_TEXTS = [
    ("2015-05-28", True),
    ("2015-05-28T14:30", True),
    ("2015-05-28 14:30:00", True),
    ("2015-05-28T14:30:00.123456789", True),
    ("2015-05-28T14:30:00Z", True),
    ("2015-05-28T16:30:00+02:00", True),
    ("2015-05-28T16:30:00+0200", True),
    ("2015-05-28T12:30:00-02", True),
    ("2261-12-31T23:59:59-23:59", True),
    ("1678-01-01T00:00+23:59", True),
    ("2016-02-29", True),
    ("2000-02-29T12:00Z", True),
    ("1900-02-29", False),
    ("2015-02-29", False),
    ("2015-06-31", False),
    ("2015", False),
    ("2015-05", False),
    ("20150528", False),
    ("20150528T143000", False),
    (" 2015-05-28", False),
    ("2015-05-28T14", False),
    ("2015-05-28t14:30:00", False),
    ("2015-05-28T14:30:00.", False),
    ("2015-05-28T14:30:00.1234567890", False),
    ("2015-05-28T24:00:00", False),
    ("1000-01-01", False),
    ("2262-01-01", False),
]


def test_the_openapi_schema_states_the_date_forms_the_service_takes(tmp_path: Path) -> None:
    with TestClient(_date_app(_Recorder(), tmp_path)) as client:
        schema = _date_schema(client)
        assert "format" not in schema  # RFC 3339 date-time: seconds and offset required
        assert "2015-05-28T14:30:00" in schema["description"]
        assert "UTC" in schema["description"]
        docs = client.get("/docs").text
        assert "<td><code>when</code></td><td>string or null</td>" in docs
        for example in schema["examples"]:
            assert re.search(schema["pattern"], example)
            answer = client.post("/predict", json={"records": [{"when": example}]})
            assert answer.status_code == 200, example
        for text, valid in DATE_TEXTS:
            assert bool(re.search(schema["pattern"], text)) is valid, text
            answer = client.post("/predict", json={"records": [{"when": text}]})
            assert answer.status_code == (200 if valid else 422), text
            if not valid:
                (error,) = answer.json()["detail"]
                assert error["loc"] == ["body", "records", 0, "when"]


def test_every_date_text_the_schema_allows_is_read_as_a_date(tmp_path: Path) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    recorder = _Recorder()
    with TestClient(_date_app(recorder, tmp_path)) as client:
        pattern = _date_schema(client)["pattern"]

        @given(text=st.from_regex(pattern, fullmatch=True))
        @settings(max_examples=200, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        def answered(text: str) -> None:
            answer = client.post("/predict", json={"records": [{"when": text}]})
            assert answer.status_code == 200, (text, answer.text)
            # The instant Python reads (to the microsecond), in UTC.
            expected = datetime.datetime.fromisoformat(text)
            if expected.tzinfo is not None:
                expected = expected.astimezone(datetime.UTC).replace(tzinfo=None)
            assert recorder.frames[-1]["when"].iloc[0].floor("us") == pd.Timestamp(expected)

        answered()


def test_a_model_without_a_spec_keeps_its_signature_types(tracking_uri: str,
                                                          tmp_path: Path) -> None:
    served = load_served_model("kw/1", tracking_uri=tracking_uri)
    assert served.bundle is None and served.column_types == {"text": "string", "length": "double"}
    app = create_app("kw/1", tracking_uri=tracking_uri, log_path=tmp_path / "log.sqlite",
                     poll_interval=0)
    with TestClient(app) as client:
        response = client.post("/predict", json={"records": [{"text": None, "length": 1.0}]})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "records", 0, "text"]


@pytest.mark.slow
def test_the_api_honours_its_openapi_document_with_dates(spam_store: str, tmp_path: Path
                                                         ) -> None:
    import schemathesis
    from hypothesis import HealthCheck, given, settings

    app = create_app(f"{NAME}/1", tracking_uri=spam_store, log_path=tmp_path / "log.sqlite",
                     token="fuzz", poll_interval=0, max_records=20)
    operation = schemathesis.openapi.from_asgi("/openapi.json", app)["/predict"]["POST"]

    # Schema-valid records (dates in the declared years) are answered, others are a 422.
    @given(case=operation.as_strategy())
    @settings(max_examples=60, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def fuzz(case) -> None:  # noqa: ANN001
        case.call_and_validate(headers={"Authorization": "Bearer fuzz"})

    fuzz()
