"""Several tasks in one spec, and multilabel tasks: runs, run directories, caching, tracking."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from gristmill.exceptions import IdentifiabilityWarning
from gristmill.labeling import LabelMatrix
from gristmill.labelmodel import BinaryRelevanceLabelModel
from gristmill.pipeline import Pipeline, TaskResult
from gristmill.pipeline._multilabel import label_sets
from gristmill.training import MultiTaskModel, load_end_model

TASK_FILES = (
    "label_matrix.parquet",
    "probs.parquet",
    "metrics.json",
    "lf_summary.csv",
    "trials.json",
    "slices.json",
)

# The rating task's three rules never vote on the same row, so its label model warns that the
# votes cannot identify accuracies and falls back to a vote (asserted in the first test).
pytestmark = pytest.mark.filterwarnings(
    "ignore:LabelModel. only 0 of the 3:gristmill.exceptions.IdentifiabilityWarning"
)


def _stages(result) -> dict[str, bool]:
    return {s.name: s.cached for s in result.stages}


def test_two_tasks_share_the_data_and_get_their_own_results(two_task_project: Path) -> None:
    with pytest.warns(IdentifiabilityWarning, match="only 0 of the 3 voting labeling"):
        result = Pipeline.from_yaml(two_task_project / "gristmill.yaml").run(track=False)
    assert list(result.tasks) == ["spam", "rating"]
    spam, rating = result.tasks["spam"], result.tasks["rating"]
    assert isinstance(spam, TaskResult) and spam.classes == ["ham", "spam"]
    assert rating.classes == ["low", "high"] and rating.kind == "binary"
    # each task is labeled by its own LF modules only
    assert list(spam.label_matrix.lf_names) == ["says_free", "says_song", "says_click", "says_love"]
    assert list(rating.label_matrix.lf_names) == ["many_stars", "few_stars", "three_and_praise"]
    assert rating.lf_paths == [two_task_project / "lfs_rating.py"]
    # metrics keyed by task, each beside its label model, overall and per slice
    assert set(result.metrics) == {"spam", "rating"}
    for task in result.tasks.values():
        assert result.metrics[task.name] == task.metrics
        for model in ("label_model", "end_model"):
            test = task.metrics[model]["test"]
            assert 0 <= test["overall"]["accuracy"] <= 1
            assert set(test["slices"]) == {"short", "five_stars"}
    # the rating LFs read the stars the gold is made of, but no rule covers 3 stars without
    # praise (low): the label model's ties go to its class balance, not to the first class
    assert rating.metrics["label_model"]["test"]["overall"]["accuracy"] > 0.75
    assert spam.metrics["end_model"]["test"]["overall"]["accuracy"] > 0.75
    # joined views: one model predicting every task, sources and trials named by task
    assert isinstance(result.model, MultiTaskModel) and result.label_model is None
    assert result.classes == ["spam:ham", "spam:spam", "rating:low", "rating:high"]
    assert list(result.lf_summary.index)[:1] == ["spam:says_free"]
    assert result.label_matrix.shape == (240, 7)
    assert {t["task"] for t in result.trials} == {"spam", "rating"}
    frame = result.datasets["test"][0][result.payload_columns]
    predicted = result.model.predict(frame)
    assert list(predicted.columns) == ["spam:prediction", "rating:prediction"]
    assert set(predicted["rating:prediction"]) <= {"low", "high"}
    assert result.model.predict_proba(frame).shape == (80, 4)


def test_run_directory_has_one_folder_per_task(two_task_project: Path) -> None:
    result = Pipeline.from_yaml(two_task_project / "gristmill.yaml").run(track=False)
    run_dir = result.run_dir
    for name in ("spec.yaml", "metrics.json", "model", "report.html", "trials.json"):
        assert (run_dir / name).exists(), name
    assert not (run_dir / "label_matrix.parquet").exists()
    assert json.loads((run_dir / "metrics.json").read_text()) == result.metrics
    for name, task in result.tasks.items():
        assert task.run_dir == run_dir / "tasks" / name
        for file in TASK_FILES:
            assert (task.run_dir / file).exists(), (name, file)
        assert json.loads((task.run_dir / "metrics.json").read_text()) == task.metrics
        stored = LabelMatrix.from_parquet(task.run_dir / "label_matrix.parquet")
        assert stored == task.label_matrix
        probs = pd.read_parquet(task.run_dir / "probs.parquet")
        assert [c for c in probs.columns if c.startswith("proba_")] == [
            f"proba_{c}" for c in task.classes
        ]
    frame = result.datasets["dev"][0][result.payload_columns]
    loaded = load_end_model(run_dir / "model")
    assert isinstance(loaded, MultiTaskModel) and loaded.tasks == ["spam", "rating"]
    assert np.allclose(loaded.predict_proba(frame), result.model.predict_proba(frame))
    report = (run_dir / "report.html").read_text()
    assert "Task spam" in report and "Task rating" in report


def test_editing_one_tasks_lfs_reruns_only_that_task(two_task_project: Path) -> None:
    pipeline = Pipeline.from_yaml(two_task_project / "gristmill.yaml")
    pipeline.run(track=False)
    lfs = two_task_project / "lfs_rating.py"
    lfs.write_text(lfs.read_text().replace("x.stars >= 4", "x.stars >= 5"))
    plan = {s.stage: s.status for s in pipeline.plan()}
    assert plan["label:spam"] == plan["label_model:spam"] == plan["train:spam"] == "cached"
    assert plan["label:rating"] == "runs"
    result = Pipeline.from_yaml(two_task_project / "gristmill.yaml").run(track=False)
    stages = _stages(result)
    assert stages["label:spam"] and stages["label_model:spam"] and stages["train:spam"]
    assert not stages["label:rating"]
    assert not stages["label_model:rating"] and not stages["train:rating"]


def test_multilabel_task_end_to_end(multilabel_project: Path) -> None:
    result = Pipeline.from_yaml(multilabel_project / "gristmill.yaml").run(track=False)
    assert result.classes == ["music", "money", "video"]
    assert list(result.tasks) == ["tags"] and result.tasks["tags"].kind == "multilabel"
    assert isinstance(result.label_model, BinaryRelevanceLabelModel)
    # LFs plus the worker column, split into one source per label
    assert list(result.label_matrix.lf_names)[-3:] == [
        "column:worker:music",
        "column:worker:money",
        "column:worker:video",
    ]
    for model in ("label_model", "end_model"):
        overall = result.metrics[model]["test"]["overall"]
        assert {"subset_accuracy", "hamming_loss", "f1_micro", "f1_macro"} <= set(overall)
        assert overall["accuracy"] == overall["subset_accuracy"]
        assert set(result.metrics[model]["test"]["slices"]) == {"short"}
    end = result.metrics["end_model"]["test"]["overall"]
    # three labels present with probability 0.4 each: always guessing "none" scores 0.22
    assert end["subset_accuracy"] > 0.6 and end["f1_micro"] > 0.8 and end["hamming_loss"] < 0.15
    summary = result.lf_summary
    assert summary.loc["short_is_no_video", "Polarity"] == ["-video"]
    assert summary.loc["says_song", "Dev Emp. Acc."] > 0.9
    frame = result.datasets["test"][0][result.payload_columns]
    predicted = result.model.predict(frame)
    assert all(set(labels) <= set(result.classes) for labels in predicted)
    gold, _ = label_sets(result.datasets["test"][0]["tags"], result.classes, "|")
    truth = [{c for c, on in zip(result.classes, row, strict=True) if on} for row in gold]
    right = [set(p) == t for p, t in zip(predicted, truth, strict=True)]
    assert np.mean(right) == pytest.approx(end["subset_accuracy"])
    probs = pd.read_parquet(result.run_dir / "probs.parquet")
    assert (probs[["proba_music", "proba_money", "proba_video"]].sum(axis=1) > 1.2).any()
    loaded = load_end_model(result.run_dir / "model")
    assert np.allclose(loaded.predict_proba(frame), result.model.predict_proba(frame))
    again = Pipeline.from_yaml(multilabel_project / "gristmill.yaml").run(track=False)
    assert all(_stages(again)[s] for s in ("label", "label_model", "train"))
    assert again.metrics == result.metrics


def test_multilabel_without_gold_dev_selects_on_held_out_labels(multilabel_project: Path) -> None:
    path = multilabel_project / "gristmill.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["data"].pop("dev")
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    result = Pipeline.from_yaml(path).run(track=False)
    assert result.selection == "holdout" and "dev" not in result.metrics["end_model"]
    assert result.metrics["end_model"]["test"]["overall"]["f1_micro"] > 0.8


def test_label_without_any_vote_is_named(multilabel_project: Path) -> None:
    from gristmill.exceptions import DataError

    path = multilabel_project / "gristmill.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["tasks"]["tags"]["classes"].append("dance")
    spec["tasks"]["tags"]["supervision"].pop("label_columns")
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    lfs = multilabel_project / "lfs_tags.py"
    lfs.write_text(lfs.read_text().replace("K = 3", "K = 4"))
    with pytest.raises(DataError, match="label 'dance' gets no vote"):
        Pipeline.from_yaml(path).run(track=False)


@pytest.mark.slow
def test_tracked_two_task_run_logs_per_task_metrics_and_serves_per_task_columns(
    two_task_project: Path, tracking_uri: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from mlflow import MlflowClient

    from gristmill.tracking import load_bundle

    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_ID", raising=False)
    result = Pipeline.from_yaml(two_task_project / "gristmill.yaml").run(track=True)
    run = MlflowClient(tracking_uri=tracking_uri).get_run(result.tracking_run_id)
    metrics = run.data.metrics
    assert metrics["spam.end_model.test.accuracy"] == pytest.approx(
        result.metrics["spam"]["end_model"]["test"]["overall"]["accuracy"]
    )
    assert "rating.label_model.dev.slice.short.accuracy" in metrics
    bundle = load_bundle(f"{result.name}@challenger", tracking_uri=tracking_uri)
    sample = bundle.reference.head(4)
    out = bundle.predict(sample)
    assert list(out.columns) == [
        "spam:prediction",
        "spam:proba_ham",
        "spam:proba_spam",
        "rating:prediction",
        "rating:proba_low",
        "rating:proba_high",
    ]
    expected = result.model.predict(sample)
    assert (out["rating:prediction"].to_numpy() == expected["rating:prediction"].to_numpy()).all()
    assert sorted(p.name for p in bundle.artifacts["label_model"].iterdir()) == ["rating", "spam"]
    _serve_and_monitor_one_task(result, bundle, tracking_uri, tmp_path)


def _serve_and_monitor_one_task(result, bundle, tracking_uri: str, tmp_path: Path) -> None:  # noqa: ANN001
    """A several-task model is served (and monitored) one task per service."""
    from fastapi.testclient import TestClient

    from gristmill.exceptions import ServingError
    from gristmill.monitoring import monitor
    from gristmill.serving import create_app, default_log_path, load_served_model

    uri = f"{result.name}@challenger"
    with pytest.raises(ServingError, match=r"several tasks \(spam, rating\).*--task NAME"):
        load_served_model(uri, tracking_uri=tracking_uri)
    with pytest.raises(ServingError, match=r"no task 'stars'; its tasks: \['spam', 'rating'\]"):
        load_served_model(uri, tracking_uri=tracking_uri, task="stars")
    served = load_served_model(uri, tracking_uri=tracking_uri, task="rating")
    assert served.task == "rating" and served.classes == ["low", "high"]
    assert [lf.name for lf in served.bundle.lfs] == list(result.tasks["rating"].lf_summary.index)
    assert served.bundle.label_model.lf_names_ == [lf.name for lf in served.bundle.lfs]
    sample = bundle.reference.head(6)
    out = served.predict_frame(sample)
    assert list(out.columns) == ["prediction", "proba_low", "proba_high"]
    whole = bundle.predict(sample)
    assert out["prediction"].tolist() == whole["rating:prediction"].tolist()
    np.testing.assert_allclose(out["proba_high"], whole["rating:proba_high"])

    app = create_app(uri, tracking_uri=tracking_uri, task="rating", poll_interval=0,
                     log_path=tmp_path / "rating.sqlite")
    records = sample.astype(object).where(sample.notna(), None).to_dict(orient="records")
    with TestClient(app) as client:
        answer = client.post("/predict", json={"records": records}).json()
        assert answer["predictions"] == out["prediction"].tolist()
        assert set(answer["probabilities"][0]) == {"low", "high"}
        assert client.get("/metadata").json()["task"] == "rating"
        feedback = {"request_id": answer["request_id"], "labels": ["high"] + [None] * 5}
        assert client.post("/feedback", json=feedback).json()["accepted"] == 1
    assert default_log_path(result.name, "rating").name == f"{result.name}.rating.sqlite"

    from typer.testing import CliRunner

    from gristmill.cli import app as cli

    outcome = CliRunner().invoke(cli, [
        "monitor", uri, "--task", "rating", "--since", "1h",
        "--log", str(tmp_path / "rating.sqlite"), "--tracking-uri", tracking_uri,
        "--no-mlflow", "--out", str(tmp_path / "monitor"),
    ])
    assert outcome.exit_code in (0, 3), outcome.output
    assert f"{result.name} v{served.version} task rating: 6 current rows" in outcome.output
    checked = monitor(served, current=bundle.reference.tail(40))
    assert checked.model == {"name": result.name, "version": served.version, "task": "rating"}
    assert [d.name for d in checked.lfs] == [lf.name for lf in served.bundle.lfs]
    assert not any("could not be loaded" in note for note in checked.notes)


def test_served_frame_columns_for_multilabel_and_several_tasks() -> None:
    from gristmill.tracking._pyfunc import served_frame

    index = pd.Index([10, 11])
    tags = {"name": "tags", "kind": "multilabel", "classes": ["a", "b"], "delimiter": "|"}
    out = served_frame(np.array([[0.9, 0.7], [0.1, 0.2]]), ["a", "b"], [tags], index)
    assert list(out.columns) == ["prediction", "proba_a", "proba_b"]
    assert out["prediction"].tolist() == ["a|b", ""] and list(out.index) == [10, 11]
    spam = {"name": "spam", "kind": "binary", "classes": ["ham", "spam"], "delimiter": None}
    proba = np.array([[0.2, 0.8, 0.9, 0.1], [0.6, 0.4, 0.3, 0.6]])
    out = served_frame(proba, ["spam:ham", "spam:spam", "tags:a", "tags:b"], [spam, tags], index)
    assert list(out.columns) == [
        "spam:prediction",
        "spam:proba_ham",
        "spam:proba_spam",
        "tags:prediction",
        "tags:proba_a",
        "tags:proba_b",
    ]
    assert out["spam:prediction"].tolist() == ["spam", "ham"]
    assert out["tags:prediction"].tolist() == ["a", "b"]
    classes = ["spam:ham", "spam:spam", "tags:a", "tags:b"]
    with pytest.raises(ValueError, match="expected \\(n, 4\\)"):
        served_frame(proba[:, :3], classes, [spam, tags], index)
