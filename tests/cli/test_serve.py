"""``gristmill serve``: the command serves a registered model on 127.0.0.1 with a token."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest
from typer.testing import CliRunner

from gristmill.cli import app


def test_serve_command_serves_with_a_token(tracking_uri, tmp_path, registry) -> None:  # noqa: ANN001
    port = registry.free_port()
    command = [sys.executable, "-m", "gristmill", "serve", "kw@champion", "--port", str(port),
               "--tracking-uri", tracking_uri, "--log", str(tmp_path / "log.sqlite"),
               "--poll-interval", "0", "--access-log"]
    env = {**os.environ, "GRISTMILL_SERVE_TOKEN": "t0ken", "MLFLOW_DISABLE_TELEMETRY": "true"}
    with (tmp_path / "stderr.txt").open("wb") as stderr, \
            (tmp_path / "stdout.txt").open("wb") as stdout:
        proc = subprocess.Popen(command, env=env, stdout=stdout, stderr=stderr)
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=30) as client:
            registry.wait_until_healthy(client, proc, tmp_path / "stderr.txt")
            body = {"records": [{"text": "subscribe", "length": 9.0}]}
            assert client.post("/predict", json=body).status_code == 401
            ok = client.post("/predict", json=body, headers={"Authorization": "Bearer t0ken"})
            assert ok.status_code == 200 and ok.json()["predictions"] == ["spam"]
            meta = client.get("/metadata", headers={"Authorization": "Bearer t0ken"}).json()
            assert meta["model"]["version"] == "1"
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    access = (tmp_path / "stdout.txt").read_text() + (tmp_path / "stderr.txt").read_text()
    assert '"POST /predict HTTP/1.1" 401' in access and '"POST /predict HTTP/1.1" 200' in access


def test_serve_command_errors(tracking_uri) -> None:  # noqa: ANN001
    runner = CliRunner()
    unknown = runner.invoke(app, ["serve", "kw@nosuchalias", "--tracking-uri", tracking_uri])
    assert unknown.exit_code == 1 and "kw@nosuchalias" in unknown.output
    workers = runner.invoke(app, ["serve", "kw@champion", "--workers", "0",
                                  "--tracking-uri", tracking_uri])
    assert workers.exit_code == 1 and "workers must be >= 1" in workers.output


def test_serve_names_a_log_path_that_is_no_file(tracking_uri, tmp_path) -> None:  # noqa: ANN001
    (tmp_path / "afile").write_text("x")
    for log, problem in ((tmp_path, "needs a file path; this is a directory"),
                         (tmp_path / "afile" / "log.sqlite", "lies under")):
        result = CliRunner().invoke(app, ["serve", "kw@champion", "--tracking-uri", tracking_uri,
                                          "--log", str(log), "--workers", "0"])
        assert result.exit_code == 1
        assert f"--log {problem}" in " ".join(result.output.split())


def test_serve_refuses_a_body_limit_below_one_byte_as_a_usage_error(tracking_uri) -> None:  # noqa: ANN001
    result = CliRunner().invoke(app, ["serve", "kw@champion", "--tracking-uri", tracking_uri,
                                      "--max-body-bytes", "0"])
    assert result.exit_code == 2, result.output
    assert "--max-body-bytes" in result.output and "Traceback" not in result.output


def _error_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.strip()]


@pytest.mark.parametrize("seconds", ["nan", "inf", "-1"])
def test_serve_refuses_an_unusable_poll_interval(seconds, tracking_uri) -> None:  # noqa: ANN001
    # --workers 0: were the interval not checked first, the command would stop there (exit 1)
    # rather than serve until stopped.
    result = CliRunner().invoke(app, ["serve", "kw@champion", "--tracking-uri", tracking_uri,
                                      "--poll-interval", seconds, "--workers", "0"])
    assert result.exit_code == 2
    assert "--poll-interval" in result.output and "poll interval must be a number" in result.output
    assert "Traceback" not in result.output


def test_serve_on_a_busy_port_is_one_error_line(tracking_uri) -> None:  # noqa: ANN001
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = CliRunner().invoke(app, ["serve", "kw@champion", "--tracking-uri", tracking_uri,
                                          "--port", str(port)])
    assert result.exit_code == 1
    assert _error_lines(result.output) == [
        f"error: cannot listen on 127.0.0.1:{port}: Address already in use"]


def test_serve_on_an_unknown_host_is_one_error_line(tracking_uri) -> None:  # noqa: ANN001
    result = CliRunner().invoke(app, ["serve", "kw@champion", "--tracking-uri", tracking_uri,
                                      "--host", "no-such-host.invalid", "--token", "t"])
    assert result.exit_code == 1
    (line,) = _error_lines(result.output)
    assert line.startswith("error: cannot listen on no-such-host.invalid:8000: ")


@pytest.mark.parametrize("command", [["serve"], ["monitor", "--since", "24h"]])
def test_a_database_path_as_tracking_uri_is_told_the_uri_to_write(
    tmp_path, command: list[str]  # noqa: ANN001
) -> None:
    db = tmp_path / "mlflow.db"
    command = [command[0], "kw@champion", *command[1:]]
    result = CliRunner().invoke(app, [*command, "--tracking-uri", str(db)])
    assert result.exit_code == 1
    assert f"for an SQLite store write sqlite:///{db}" in " ".join(result.output.split())
    assert "Traceback" not in result.output
