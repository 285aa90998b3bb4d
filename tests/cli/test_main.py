"""The console entry point: exit status, flushed output, exit handlers, fast exit."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


def _gristmill(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gristmill", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
    )


def test_version_prints_through_a_pipe_and_exits_zero() -> None:
    done = _gristmill("--version")
    assert done.returncode == 0
    assert done.stdout.startswith("gristmill ")


def test_a_failing_command_keeps_its_exit_status(tmp_path: Path) -> None:
    done = _gristmill("run", str(tmp_path / "missing.yaml"))
    assert done.returncode not in (0, None)
    assert "missing.yaml" in done.stdout + done.stderr


def test_usage_errors_exit_with_status_two() -> None:
    assert _gristmill("no-such-command").returncode == 2


@pytest.mark.parametrize(
    ("status", "expected_code", "expected_stderr"),
    [(None, 0, ""), (3, 3, ""), ("went wrong", 1, "went wrong")],
)
def test_exit_status_follows_sys_exit(
    tmp_path: Path, status: object, expected_code: int, expected_stderr: str
) -> None:
    script = tmp_path / "exit_status.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import atexit
            from gristmill import cli

            atexit.register(lambda: print("handler ran", flush=True))
            print("before exit", end="")
            cli._exit({status!r})
            print("not reached")
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == expected_code
    assert done.stdout == "before exithandler ran\n"
    assert expected_stderr in done.stderr


def test_a_running_non_daemon_thread_gets_the_normal_exit(tmp_path: Path) -> None:
    script = tmp_path / "thread_exit.py"
    script.write_text(
        textwrap.dedent(
            """
            import threading, time
            from gristmill import cli

            def work():
                time.sleep(0.5)
                print("thread finished", flush=True)

            threading.Thread(target=work).start()
            cli._exit(4)
            """
        )
    )
    done = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 4
    assert "thread finished" in done.stdout


def test_the_cli_runs_without_click_installed(tmp_path: Path) -> None:
    # typer vendors click since 0.20 and no longer installs it; click only came with the extras
    # (MLflow, Dask), so a core install must not import it.
    typer = pytest.importorskip("typer")
    if not hasattr(typer, "_click"):
        pytest.skip("this typer uses the click package")
    code = (
        "import runpy, sys; sys.modules['click'] = None; "
        "sys.argv = ['gristmill', '--help']; runpy.run_module('gristmill', run_name='__main__')"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "label" in done.stdout and "ModuleNotFoundError" not in done.stderr


def test_a_reader_that_leaves_early_gets_no_error_message(tmp_path: Path) -> None:
    # `gristmill schema | true`: the pipe is closed before the schema is written.
    reader = subprocess.Popen(["true"], stdin=subprocess.PIPE)
    reader.wait()
    done = subprocess.run(
        [sys.executable, "-m", "gristmill", "schema"],
        stdout=reader.stdin,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    reader.stdin.close()
    assert done.returncode == 1
    assert done.stderr == ""
