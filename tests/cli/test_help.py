"""Help texts that state defaults: they say what the command does."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from gristmill.cli import app


@pytest.mark.parametrize("command", ["serve", "monitor", "report"])
def test_tracking_uri_help_says_the_environment_variable_comes_first(command: str) -> None:
    # Without --tracking-uri these commands read $MLFLOW_TRACKING_URI before any mlflow.db.
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "default: $MLFLOW_TRACKING_URI, else" in result.output
