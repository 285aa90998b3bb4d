"""Several processes tracking runs into one embedded SQLite store at once."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from gristmill.tracking import list_versions


@pytest.mark.slow
def test_concurrent_runs_share_one_sqlite_store(tmp_path: Path, fakes) -> None:
    project = tmp_path / "project"
    spec_path = fakes.write_project(project)  # no store yet: the processes race to create it
    env_script = Path(fakes.__file__)
    procs = [
        subprocess.Popen(
            [sys.executable, str(env_script), str(project), str(spec_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-2000:]
    versions = sorted(out.split()[-1] for out, _ in outputs)
    assert versions == ["1", "2"]
    table = list_versions("spam", project_dir=project)
    assert sorted(table["version"]) == ["1", "2"]
    assert len(set(table["run_id"])) == 2
    with sqlite3.connect(project / "mlflow.db") as con:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert con.execute("SELECT count(*) FROM runs WHERE status = 'FINISHED'").fetchone()[0] == 6
