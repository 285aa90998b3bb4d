"""Running the service: uvicorn workers build their app from the parent's settings."""

from __future__ import annotations

import json

import pytest

from gristmill.exceptions import ServingError
from gristmill.serving import serve
from gristmill.serving._runner import app_from_env


def _settings(tracking_uri: str, tmp_path, **extra) -> str:  # noqa: ANN001
    return json.dumps({
        "model": "kw@champion", "tracking_uri": tracking_uri, "token": None, "task": None,
        "log_path": str(tmp_path / "log.sqlite"), "max_body_bytes": 1000, "poll_interval": 0,
        **extra,
    })


def test_a_worker_builds_the_app_its_parent_configured(tracking_uri, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("GRISTMILL_SERVE_CONFIG", _settings(tracking_uri, tmp_path))
    app = app_from_env()
    assert app.state.holder.current.name == "kw" and app.state.holder.task is None
    monkeypatch.setenv("GRISTMILL_SERVE_CONFIG", _settings(tracking_uri, tmp_path, task="spam"))
    with pytest.raises(ServingError, match="not a gristmill model bundle.*without a task"):
        app_from_env()


def test_bad_settings_are_refused_before_serving(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.delenv("GRISTMILL_SERVE_CONFIG", raising=False)
    with pytest.raises(ServingError, match="GRISTMILL_SERVE_CONFIG is missing"):
        app_from_env()
    with pytest.raises(ServingError, match="workers must be >= 1"):
        serve("kw@champion", workers=0)
    with pytest.raises(ServingError, match="port must be in 0..65535"):
        serve("kw@champion", port=70000)


def test_serve_on_a_busy_port_raises_before_loading_the_model(tmp_path) -> None:  # noqa: ANN001
    import socket

    # No store at this URI: were the model loaded first, the error would say so instead.
    nowhere = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ServingError) as raised:
            serve("kw@champion", port=port, tracking_uri=nowhere, poll_interval=0)
    assert str(raised.value) == f"cannot listen on 127.0.0.1:{port}: Address already in use"


def test_serve_on_an_unknown_host_raises(tracking_uri) -> None:  # noqa: ANN001
    with pytest.raises(ServingError, match=r"^cannot listen on no-such-host\.invalid:8000: "):
        serve("kw@champion", host="no-such-host.invalid", tracking_uri=tracking_uri)
