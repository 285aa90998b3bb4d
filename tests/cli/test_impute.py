"""``gristmill impute`` end to end: every method, column selection, confidence, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gristmill.cli import app

runner = CliRunner()


def _write(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    rng = np.random.default_rng(0)
    city = rng.choice(["paris", "rome", "oslo"], 200)
    truth = pd.DataFrame(
        {
            "city": city,
            "country": pd.Series(city).map({"paris": "fr", "rome": "it", "oslo": "no"}),
            "size": rng.normal(10, 2, 200).round(3),
        }
    )
    dirty = truth.copy()
    dirty.loc[:19, "country"] = None
    dirty.loc[20:29, "size"] = np.nan
    path = tmp_path / "dirty.csv"
    dirty.to_csv(path, index=False)
    return path, truth


@pytest.mark.parametrize("method", ["mean", "trees", "knn", "iterative"])
def test_impute_fills_every_missing_cell(tmp_path: Path, method: str) -> None:
    data, truth = _write(tmp_path)
    before = data.read_bytes()
    out = tmp_path / "out" / "filled.csv"
    result = runner.invoke(
        app, ["impute", "--data", str(data), "--out", str(out), "--method", method, "--seed", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "30 missing cells filled" in result.output
    filled = pd.read_csv(out)
    assert filled.notna().all().all()
    assert list(filled.columns) == list(truth.columns)
    assert data.read_bytes() == before
    if method != "mean":
        assert (filled.loc[:19, "country"] == truth.loc[:19, "country"]).mean() >= 0.9


def test_impute_attention_with_columns_and_confidence(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    data, truth = _write(tmp_path)
    out, scores = tmp_path / "filled.parquet", tmp_path / "confidence.csv"
    result = runner.invoke(
        app,
        [
            "impute",
            "--data",
            str(data),
            "--out",
            str(out),
            "--columns",
            "country",
            "--method",
            "attention",
            "--max-epochs",
            "8",
            "--confidence",
            str(scores),
        ],
    )
    assert result.exit_code == 0, result.output
    filled = pd.read_parquet(out)
    assert filled["size"].isna().sum() == 10
    assert filled.loc[:19, "country"].tolist() == truth.loc[:19, "country"].tolist()
    confidence = pd.read_csv(scores)
    assert confidence.shape == truth.shape
    assert confidence.loc[20:, "country"].eq(1.0).all()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--method", "magic"], "unknown --method"),
        (["--columns", "nope"], "nope"),
        (["--method", "mean", "--confidence", "c.csv"], "--confidence needs"),
        (["--numeric", "city"], "declared numeric"),
    ],
)
def test_impute_reports_bad_input_in_one_line(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    data, _ = _write(tmp_path)
    result = runner.invoke(
        app, ["impute", "--data", str(data), "--out", str(tmp_path / "o.csv"), *extra]
    )
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_impute_all_missing_column_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b\nx,\ny,\n")
    result = runner.invoke(
        app, ["impute", "--data", str(path), "--out", str(tmp_path / "o.csv"), "--method", "mean"]
    )
    assert result.exit_code == 1
    assert "'b'" in result.output and "no observed values" in result.output
