"""The tracking commands: models list/promote/rollback/diff, lineage, reproduce."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from gristmill.cli import app
from gristmill.tracking import lineage

runner = CliRunner()


def _invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_models_list_promote_rollback(history_copy: Path) -> None:
    project = str(history_copy)
    code, out = _invoke("models", "list", "spam", "-p", project)
    assert code == 0 and "challenger" in out and "2 version(s)" in out
    code, out = _invoke("models", "promote", "spam", "1", "-p", project)
    assert code == 0 and "version 1 is now champion" in out
    code, out = _invoke("models", "promote", "spam", "2", "-p", project)
    assert code == 1 and "refusing to promote" in out
    code, out = _invoke("models", "promote", "spam", "2", "--force", "-p", project)
    assert code == 0 and "forced" in out
    code, out = _invoke("models", "rollback", "spam", "-p", project)
    assert code == 0 and "from version 2 to 1" in out


def test_models_diff(history_copy: Path) -> None:
    code, out = _invoke("models", "diff", "spam", "1", "2", "-p", str(history_copy))
    assert code == 0
    assert "lfs.py::lf_love" in out and "train.digest" in out and "training.noise" in out


def test_lineage_forward_and_reverse(history_copy: Path, history: dict) -> None:
    project = str(history_copy)
    code, out = _invoke("lineage", "spam/1", "-p", project)
    assert code == 0 and history["train_v1"] in out and "→ label model" in out
    code, out = _invoke("lineage", "--dataset", history["train_v1"], "-p", project)
    assert code == 0 and history["runs"][0] in out and history["runs"][1] not in out
    digest = lineage("spam/2", project_dir=history_copy)["lfs"]["lfs.py"]["digest"]
    code, out = _invoke("lineage", "--lf", digest, "-p", project)
    assert code == 0 and history["runs"][1] in out and history["runs"][0] not in out
    code, out = _invoke("lineage", "-p", project)
    assert code == 1 and "exactly one" in out


def test_errors_are_one_line_with_status_1(history_copy: Path) -> None:
    code, out = _invoke("models", "list", "nope", "-p", str(history_copy))
    assert code == 1 and "no registered model named 'nope'" in out and "Traceback" not in out
    code, out = _invoke("reproduce", "0123abcd", "-p", str(history_copy))
    assert code == 1 and "no tracked run with id '0123abcd'" in out
