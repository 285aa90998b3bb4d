"""``make demo`` (scripts/demo.sh) runs the main job end to end, serving and monitoring too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_demo_script_runs_the_whole_job(tmp_path: Path) -> None:
    if Path(sys.executable).parent != ROOT / ".venv" / "bin":
        pytest.skip("the demo script runs the repository's .venv")
    demo = tmp_path / "demo"
    env = {**os.environ, "GRISTMILL_DEMO_DIR": str(demo), "MLFLOW_DISABLE_TELEMETRY": "true"}
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-3000:]
    assert "Created version '1' of model 'youtube-spam'" in output
    assert "youtube-spam version 1 is now champion" in output
    assert '"predictions": [\n    "spam",' in output  # the link-and-subscribe comment
    assert "'accepted': 2" in output
    assert "369 current rows from shakira.csv" in output
    assert (demo / "mlflow.db").is_file() and list((demo / ".gristmill" / "monitor").iterdir())
