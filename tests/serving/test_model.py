"""The served model outside HTTP: predict_frame on frames read from files."""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType, SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from gristmill.exceptions import ServingError
from gristmill.serving import load_served_model
from gristmill.serving._model import _as_signature_type, _task_view, served_model


def test_numbers_in_a_text_column_are_read_as_text(tracking_uri: str) -> None:
    model = load_served_model("kw/1", tracking_uri=tracking_uri)
    assert model.column_types["text"] == "string"
    numeric = pd.DataFrame({"text": [1234, 5678], "length": [4.0, 4.0]})
    as_text = pd.DataFrame({"text": ["1234", "5678"], "length": [4.0, 4.0]})
    pd.testing.assert_frame_equal(model.predict_frame(numeric), model.predict_frame(as_text))


def test_rows_the_signature_refuses_are_one_short_error(tracking_uri: str) -> None:
    model = load_served_model("kw/1", tracking_uri=tracking_uri)
    bad = pd.DataFrame({"text": ["subscribe"] * 50, "length": ["long"] * 50})
    with pytest.raises(ServingError, match=r"^model kw/1 cannot predict these rows: ") as caught:
        model.predict_frame(bad)
    assert "\n" not in str(caught.value) and len(str(caught.value)) < 400


def test_whole_number_payloads_take_null_and_leave_the_loaded_model_as_logged(
    registry: ModuleType, tmp_path: Path
) -> None:
    import mlflow
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    # The keyword model, saved with whole-number lengths: its signature types them ``long``.
    weights = tmp_path / "weights.json"
    weights.write_text(json.dumps({"weights": {"subscribe": 4.0}, "bias": -2.0,
                                   "classes": ["ham", "spam"]}))
    signature = ModelSignature(
        Schema([ColSpec("string", "text"), ColSpec("long", "length")]),
        Schema([ColSpec("string", "prediction"), ColSpec("double", "proba_ham"),
                ColSpec("double", "proba_spam")]),
    )
    mlflow.pyfunc.save_model(
        tmp_path / "model", python_model=str(registry.MODEL_CODE),
        artifacts={"weights": str(weights)}, signature=signature,
        input_example=pd.DataFrame({"text": ["subscribe"], "length": [9]}),
        pip_requirements=["mlflow"],
    )
    pyfunc = mlflow.pyfunc.load_model(str(tmp_path / "model"))
    logged = pyfunc.metadata.signature
    as_logged = logged.to_dict()
    bundle = SimpleNamespace(spec={"payloads": {"text": "text", "length": "numeric"}})

    served = served_model("kw", "1", None, None, pyfunc, bundle)
    assert served.column_types == {"text": "string", "length": "long"}
    assert "length" in served.optional_columns
    rows = pd.DataFrame({"text": ["subscribe", "subscribe", "hello"],
                         "length": pd.array([9, None, 5], dtype="Int64")})
    proba = served.predict_frame(rows)["proba_spam"].to_numpy()
    # bias + 4 per "subscribe" + 0.01 per character; the missing length adds nothing.
    np.testing.assert_allclose(proba, 1 / (1 + np.exp(-np.array([2.09, 2.0, -1.95]))))

    assert served.pyfunc is pyfunc and pyfunc.metadata.signature is logged
    assert logged.to_dict() == as_logged
    (length,) = [c for c in pyfunc.metadata.get_input_schema().inputs if c.name == "length"]
    assert length.type.name == "long" and length.required
    # Untouched, the loaded model still refuses a missing whole number, as MLflow does.
    with pytest.raises(mlflow.exceptions.MlflowException, match="length"):
        pyfunc.predict(rows.astype({"length": "float64"}))


def test_nullable_columns_with_gaps_from_a_file_reach_the_signature_as_it_takes_them() -> None:
    # MLflow's schema check turns pd.NA into NaN, which its boolean columns refuse.
    flags = pd.Series(pd.array([True, None, False], dtype="boolean"))
    assert _as_signature_type(flags, "boolean").tolist() == [True, None, False]
    counts = pd.Series(pd.array([4, None], dtype="Int64"))
    assert _as_signature_type(counts, "double").dtype == "float64"


def test_a_several_task_model_without_a_task_asks_for_one_in_words_serve_and_monitor_share() -> (
    None
):
    # serve and monitor both load models through this check: it must not say "serve" to monitor
    bundle = SimpleNamespace(tasks=[{"name": "spam"}, {"name": "rating"}])
    with pytest.raises(ServingError, match=r"several tasks \(spam, rating\); choose one") as info:
        _task_view(bundle, None, "m/1")
    assert "serve" not in str(info.value)


@pytest.mark.timeout(90)  # MLflow's client alone retries an unreachable server for minutes
@pytest.mark.parametrize("uri", ["kw@champion", "kw/1"])
def test_a_tracking_server_that_does_not_answer_is_named_at_once(
    uri: str, registry: ModuleType
) -> None:
    server = f"http://127.0.0.1:{registry.free_port()}"
    with pytest.raises(ServingError, match=rf"^MLflow tracking server {server} is unreachable"):
        load_served_model(uri, tracking_uri=server)


def test_a_plain_pyfunc_loads_from_its_store_while_another_store_is_opened(
    tracking_uri: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # MLflow resolves models:/ URIs on one process-wide store, which opening a client on
    # another store (another thread serving or tracking elsewhere) moves.
    from gristmill.tracking import _store

    opened = _store.open_client
    other = f"sqlite:///{tmp_path / 'other.db'}"

    def open_then_another(uri: str) -> object:
        client = opened(uri)
        opened(other)
        return client

    monkeypatch.setattr(_store, "open_client", open_then_another)
    model = load_served_model("kw/1", tracking_uri=tracking_uri)
    assert model.version == "1"
