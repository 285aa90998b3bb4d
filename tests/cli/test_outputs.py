"""Every command's outputs: checked before any work, never over an input, all or nothing."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gristmill.cli import app
from gristmill.labeling import LabelMatrix

runner = CliRunner()


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def votes(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    gold = rng.integers(0, 2, 200)
    values = np.where(rng.random((200, 4)) < 0.8, gold[:, None], 1 - gold[:, None])
    return LabelMatrix(values, ["a", "b", "c", "d"]).to_parquet(tmp_path / "L.parquet")


def _fails_cleanly(args: list[str], message: str, folder: Path) -> None:
    before = _files(folder)
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert _files(folder) == before  # nothing written, nothing replaced


def test_an_output_never_replaces_an_input(tmp_path: Path, votes: Path) -> None:
    _fails_cleanly(
        ["label", "--matrix", str(votes), "--out", str(votes)],
        "--out would overwrite the input given as --matrix",
        tmp_path,
    )
    data = tmp_path / "d.csv"
    data.write_text("a,b\n1,2\n1,3\n")
    _fails_cleanly(
        ["clean", "--data", str(data), "--out", str(tmp_path / "o.csv"), "--repairs", str(data)],
        "--repairs would overwrite the input given as --data",
        tmp_path,
    )
    _fails_cleanly(
        ["clean", "--data", str(data), "--out", str(tmp_path / "r.csv"), "--repairs",
         str(tmp_path / "r.csv")],
        "--repairs and --out name the same path",
        tmp_path,
    )
    lfs = tmp_path / "lfs.py"
    lfs.write_text("from gristmill import keyword_lf\nkw = keyword_lf(['2'], 1, column='b')\n")
    _fails_cleanly(
        ["lfs", "apply", "--data", str(data), "--lfs", str(lfs), "--out", str(lfs)],
        "--out would overwrite the input given as --lfs",
        tmp_path,
    )


def test_every_output_is_checked_before_the_first_is_written(tmp_path: Path, votes: Path) -> None:
    (tmp_path / "taken").write_text("a file")
    _fails_cleanly(
        ["label", "--matrix", str(votes), "--out", str(tmp_path / "p.parquet"),
         "--save-model", str(tmp_path / "taken")],
        "--save-model needs a directory; this is a file",
        tmp_path,
    )
    _fails_cleanly(
        ["label", "--matrix", str(votes), "--out", str(tmp_path / "taken" / "p.parquet")],
        "lies under",
        tmp_path,
    )
    _fails_cleanly(
        ["label", "--matrix", str(votes), "--out", str(tmp_path)],
        "--out needs a file path; this is a directory",
        tmp_path,
    )
    data = tmp_path / "d.csv"
    data.write_text("a,b\n1,2\n1,3\n")
    _fails_cleanly(
        ["clean", "--data", str(data), "--out", str(tmp_path / "o.csv"), "--repairs",
         str(tmp_path / "r.xlsx")],
        "unknown table format '.xlsx'",
        tmp_path,
    )
    _fails_cleanly(
        ["clean", "--data", str(data), "--out", str(tmp_path / "o.csv"), "--truth",
         str(tmp_path / "missing.csv")],
        "missing.csv",
        tmp_path,
    )
    lfs = tmp_path / "lfs.py"
    lfs.write_text("from gristmill import keyword_lf\nkw = keyword_lf(['2'], 1, column='b')\n")
    _fails_cleanly(
        ["lfs", "apply", "--data", str(data), "--lfs", str(lfs), "--out", str(tmp_path / "L.csv")],
        "a label matrix is saved as Parquet",
        tmp_path,
    )


def test_the_operating_systems_refusals_are_one_line(
    tmp_path: Path, votes: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "p.parquet"

    def refuse(self: pd.DataFrame, path: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(pd.DataFrame, "to_parquet", refuse)
    result = runner.invoke(app, ["label", "--matrix", str(votes), "--out", str(out)])
    assert result.exit_code == 1
    assert "Permission denied" in result.output and "Traceback" not in result.output
    assert not out.exists()


@pytest.mark.parametrize(
    "args",
    [
        ["label", "--matrix", "L.parquet", "--out", "p.parquet", "--cardinality", "1"],
        ["label", "--matrix", "L.parquet", "--out", "p.parquet", "--seed", "-1"],
        ["impute", "--data", "d.csv", "--out", "o.csv", "--seed", "-1"],
        ["impute", "--data", "d.csv", "--out", "o.csv", "--max-epochs", "0"],
        ["clean", "--data", "d.csv", "--out", "o.csv", "--min-confidence", "2"],
        ["run", "gristmill.yaml", "--engine", "spark"],
    ],
)
def test_out_of_range_options_are_usage_errors(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_reading_commands_never_create_a_store(tmp_path: Path) -> None:
    result = runner.invoke(app, ["models", "list", "spam", "-p", str(tmp_path)])
    assert result.exit_code == 1
    assert "no MLflow store at" in result.output
    assert list(tmp_path.iterdir()) == []


def test_report_wants_a_report(tmp_path: Path) -> None:
    spec = tmp_path / "gristmill.yaml"
    spec.write_text("name: x\n")
    result = runner.invoke(app, ["report", str(spec)])
    assert result.exit_code == 1 and "is not a report" in result.output
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 1 and "has no report.html" in result.output


def test_init_refuses_a_file(tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.write_text("x")
    result = runner.invoke(app, ["init", str(taken)])
    assert result.exit_code == 1 and "is a file" in result.output
    assert taken.read_text() == "x"
    assert os.listdir(tmp_path) == ["taken"]
