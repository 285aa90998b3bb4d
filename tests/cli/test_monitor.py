"""``gristmill monitor`` and ``gristmill report``: files in, JSON + HTML out, exit 3 on drift."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from types import SimpleNamespace

import mlflow
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gristmill.cli import app
from gristmill.cli.monitor import DRIFT_EXIT_CODE, parse_since
from gristmill.exceptions import DataError
from gristmill.labeling import apply_lfs, keyword_lf
from gristmill.labelmodel import BinaryRelevanceLabelModel
from gristmill.serving import RequestLog, load_served_model

runner = CliRunner()


@pytest.fixture
def files(tmp_path, registry) -> dict[str, Path]:  # noqa: ANN001
    paths = {"reference": tmp_path / "reference.csv", "iid": tmp_path / "iid.parquet",
             "shifted": tmp_path / "shifted.csv"}
    registry.reference_frame(400, seed=2).to_csv(paths["reference"], index=False)
    registry.reference_frame(300, seed=3).to_parquet(paths["iid"])
    rng = np.random.default_rng(0)
    text = [" ".join(rng.choice(["free money", "click here", "win big"], size=4))
            for _ in range(300)]
    pd.DataFrame({"text": text, "length": [float(len(t)) * 2 for t in text]}).to_csv(
        paths["shifted"], index=False)
    return paths


def _monitor(tracking_uri: str, *args: str):  # noqa: ANN202
    return runner.invoke(app, ["monitor", "kw@champion", "--tracking-uri", tracking_uri, *args])


def test_monitor_file_without_drift_exits_zero(tracking_uri, files, tmp_path) -> None:  # noqa: ANN001
    out = tmp_path / "out"
    result = _monitor(tracking_uri, "--current", str(files["iid"]), "--reference",
                      str(files["reference"]), "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "no drift" in result.output
    data = json.loads((out / "monitor.json").read_text())
    assert data["drifted"] is False and data["model"] == {"name": "kw", "version": "1"}
    assert "<svg" in (out / "monitor.html").read_text()
    run_id = result.output.split("MLflow run: ")[1].split()[0]
    run = mlflow.MlflowClient(tracking_uri=tracking_uri).get_run(run_id)
    assert run.data.metrics["drifted"] == 0.0 and "feature.text.score" in run.data.metrics


def test_monitor_file_with_drift_exits_nonzero(tracking_uri, files, tmp_path) -> None:  # noqa: ANN001
    result = _monitor(tracking_uri, "--current", str(files["shifted"]), "--reference",
                      str(files["reference"]), "--out", str(tmp_path / "o"), "--no-mlflow")
    assert result.exit_code == DRIFT_EXIT_CODE, result.output
    assert "drift:" in result.output and "MLflow run" not in result.output
    assert json.loads((tmp_path / "o" / "monitor.json").read_text())["drifted"] is True


def test_monitor_since_reads_the_serving_log(tracking_uri, files, tmp_path) -> None:  # noqa: ANN001
    model = load_served_model("kw/1", tracking_uri=tracking_uri)
    log = RequestLog(tmp_path / "log.sqlite")
    frame = pd.read_csv(files["shifted"]).head(120)
    served = model.predict_frame(frame)
    for i, record in enumerate(frame.to_dict("records")):
        log.log_prediction(f"r{i}", "kw", "1", [record], [served["prediction"].iloc[i]],
                           [{"ham": float(served["proba_ham"].iloc[i]),
                             "spam": float(served["proba_spam"].iloc[i])}], 1.0)
    result = _monitor(tracking_uri, "--since", "1h", "--log", str(tmp_path / "log.sqlite"),
                      "--reference", str(files["reference"]), "--out", str(tmp_path / "o"),
                      "--no-mlflow")
    assert result.exit_code == DRIFT_EXIT_CODE, result.output
    data = json.loads((tmp_path / "o" / "monitor.json").read_text())
    assert data["n_current"] == 120 and data["windows"]


def test_monitor_usage_errors(tracking_uri, files, tmp_path) -> None:  # noqa: ANN001
    both = _monitor(tracking_uri, "--current", str(files["iid"]), "--since", "1h")
    assert both.exit_code == 1 and "exactly one of" in both.output
    no_log = _monitor(tracking_uri, "--since", "1h", "--log", str(tmp_path / "none.sqlite"))
    assert no_log.exit_code == 1 and "no serving log" in no_log.output
    no_reference = _monitor(tracking_uri, "--current", str(files["iid"]), "--no-mlflow")
    assert no_reference.exit_code == 1 and "reference" in no_reference.output


def test_parse_since() -> None:
    now = 1_000_000.0
    assert parse_since("2h", now=now) == now - 7200
    assert parse_since("30m", now=now) == now - 1800
    assert parse_since("1970-01-02T00:00:00") == 86400
    with pytest.raises(DataError, match="--since"):
        parse_since("yesterday")


def test_report_command_finds_a_run_report(tracking_uri, tmp_path) -> None:  # noqa: ANN001
    run_dir = tmp_path / "runs" / "spam-1"
    run_dir.mkdir(parents=True)
    (run_dir / "report.html").write_text("<!DOCTYPE html><title>r</title>")
    result = runner.invoke(app, ["report", str(run_dir)])
    assert result.exit_code == 0 and "report.html" in result.output
    missing = runner.invoke(app, ["report", "0123456789abcdef",
                                  "--tracking-uri", tracking_uri,
                                  "--out", str(tmp_path / "dl")])
    assert missing.exit_code == 1 and "no report for run" in missing.output


def test_monitor_since_uses_the_models_own_rows(tracking_uri, files, tmp_path) -> None:  # noqa: ANN001
    model = load_served_model("kw/1", tracking_uri=tracking_uri)
    log = RequestLog(tmp_path / "log.sqlite")
    frame = pd.read_csv(files["reference"]).head(90)
    served = model.predict_frame(frame)["prediction"].tolist()
    for i, record in enumerate(frame.to_dict("records")):
        version, prediction = ("1", served[i]) if i < 60 else ("2", "ham")
        log.log_prediction(f"r{i}", "kw", version, [record], [prediction], [{}], 1.0)
    for i in range(20):
        log.log_prediction(f"o{i}", "other", "1", [{"review": "ok"}], ["pos"], [{}], 1.0)
    log.close()
    result = _monitor(tracking_uri, "--since", "1h", "--log", str(tmp_path / "log.sqlite"),
                      "--reference", str(files["reference"]), "--out", str(tmp_path / "o"),
                      "--no-mlflow")
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "20 of 110 logged rows were served by other models (other)" in output
    assert "30 of 90 current rows were served by other versions of kw (2)" in output
    assert json.loads((tmp_path / "o" / "monitor.json").read_text())["n_current"] == 90


def test_monitor_never_writes_into_another_database(tracking_uri, tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "copy.db"
    con = sqlite3.connect(path)
    con.execute("CREATE TABLE experiments (id INTEGER)")
    con.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    result = _monitor(tracking_uri, "--since", "1h", "--log", str(path), "--no-mlflow")
    assert result.exit_code == 1
    assert "not a gristmill request log" in " ".join(result.output.split())
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_monitor_reports_a_column_missing_throughout(tracking_uri, files, tmp_path) -> None:  # noqa: ANN001
    current = tmp_path / "current.csv"
    pd.read_csv(files["reference"]).head(100).assign(length="").to_csv(current, index=False)
    result = _monitor(tracking_uri, "--current", str(current), "--reference",
                      str(files["reference"]), "--out", str(tmp_path / "o"), "--no-mlflow")
    assert result.exit_code == DRIFT_EXIT_CODE, result.output  # not 1: the monitor ran
    output = " ".join(result.output.split())
    assert "length missing" in output and "missing 0% -> 100%" in output
    assert "every current value is missing" in output


def test_paths_with_brackets_are_printed_as_they_are(tracking_uri, files, tmp_path) -> None:  # noqa: ANN001
    (tmp_path / "a[").mkdir()
    current = tmp_path / "a[" / "red]current.parquet"  # its path holds '[/red]'
    current.write_bytes(files["iid"].read_bytes())
    out = tmp_path / "[bold]out"
    result = _monitor(tracking_uri, "--current", str(current), "--reference",
                      str(files["reference"]), "--out", str(out), "--no-mlflow")
    assert result.exit_code == 0, result.output
    output = "".join(result.output.split())
    assert f"from{current}vs".replace(" ", "") in output
    assert f"report:{out / 'monitor.html'}" in output


def test_a_current_file_may_time_its_rows_with_date_times(tracking_uri, files, tmp_path) -> None:  # noqa: ANN001
    current = tmp_path / "current.csv"
    frame = pd.read_parquet(files["iid"])
    stamps = pd.date_range("2026-11-01", periods=len(frame), freq="min")
    frame.assign(_ts=stamps.strftime("%Y-%m-%dT%H:%M:%S")).to_csv(current, index=False)
    result = _monitor(tracking_uri, "--current", str(current), "--reference",
                      str(files["reference"]), "--out", str(tmp_path / "o"), "--no-mlflow")
    assert result.exit_code == 0, result.output
    windows = json.loads((tmp_path / "o" / "monitor.json").read_text())["windows"]
    assert windows[0]["label"] == "11-01 00:00"


def _served_tags(frame: pd.DataFrame) -> pd.DataFrame:
    """A served multilabel model (labels joined by "|"): music when a song is named, money
    when cash is."""
    return pd.DataFrame({"prediction": [
        "|".join(t for t, w in (("music", "song"), ("money", "cash")) if w in text)
        for text in frame["text"]]})


def _tags_model(with_label_model: bool) -> SimpleNamespace:
    """A served multilabel model and its bundle's parts: three LFs, and a label model fit on
    their votes or none."""
    lfs = [keyword_lf("song", 0, name="says_song"), keyword_lf("cash", 1, name="says_cash"),
           keyword_lf("hello", 2 + 0, name="hello_is_no_music")]  # 2 + j: label j does not apply
    texts = ["a song", "cash now", "a song for cash", "hello there", "a song about cash", "ok"]
    reference = pd.DataFrame({"text": texts * 20})
    label_model = None
    if with_label_model:
        label_model = BinaryRelevanceLabelModel(["music", "money"]).fit(apply_lfs(lfs, reference))
    return SimpleNamespace(name="tags", version="1", task=None, predict=_served_tags,
                           classes=["music", "money"], payload_columns=["text"],
                           reference=reference, lfs=lfs, label_model=label_model,
                           tasks=[{"name": "tags", "delimiter": "|"}])


@pytest.mark.parametrize(("with_label_model", "target"),
                         [(True, "label model"), (False, "LF majority vote")])
def test_monitor_prints_what_the_estimate_compares_with_and_each_labels(
        monkeypatch, tmp_path, with_label_model, target) -> None:  # noqa: ANN001
    import gristmill.serving

    monkeypatch.setattr(gristmill.serving, "load_served_model",
                        lambda *args, **kwargs: _tags_model(with_label_model))
    current = tmp_path / "current.csv"
    _tags_model(False).reference.to_csv(current, index=False)
    result = _monitor(f"sqlite:///{tmp_path / 'mlflow.db'}", "--current", str(current),
                      "--out", str(tmp_path / "o"), "--no-mlflow")
    assert result.exit_code == 0, result.output
    printed = " ".join(result.output.split())
    # (row, label) pairs some LF votes on, of every 6 rows: music of 4, money of 3
    assert f"estimated accuracy ({target} vs served): 1.000 on 140 (row, label) pairs" in printed
    assert "music 1.000 on 80 rows money 1.000 on 60 rows" in printed
    saved = json.loads((tmp_path / "o" / "monitor.json").read_text())
    assert saved["agreement_target"] == target
    assert saved["agreement"]["labels"]["money"]["n_current"] == 60


def test_monitor_prints_a_dash_for_an_estimate_no_lf_vote_supports(monkeypatch, tmp_path) -> None:  # noqa: ANN001
    import gristmill.serving

    monkeypatch.setattr(gristmill.serving, "load_served_model",
                        lambda *args, **kwargs: _tags_model(False))
    current = tmp_path / "current.csv"
    pd.DataFrame({"text": ["nothing to see here"] * 60}).to_csv(current, index=False)
    result = _monitor(f"sqlite:///{tmp_path / 'mlflow.db'}", "--current", str(current),
                      "--out", str(tmp_path / "o"), "--no-mlflow")
    printed = " ".join(result.output.split())
    assert ("estimated accuracy (LF majority vote vs served): - (no LF vote to compare with) "
            "music - (no LF vote to compare with)") in printed
    assert "nan" not in result.output
