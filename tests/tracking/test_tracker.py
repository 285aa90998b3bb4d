"""RunTracker: what a tracked run logs, what it registers, and what a failed run leaves."""

from __future__ import annotations

import importlib
import json
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import mlflow
import pandas as pd
import pytest
import yaml

import gristmill.tracking._store
from gristmill.exceptions import TrackingError
from gristmill.tracking import (
    CHALLENGER,
    RunTracker,
    file_digest,
    render_lineage,
    resolve_tracking_uri,
)
from gristmill.tracking._store import open_client
from gristmill.tracking._tracker import (
    flatten,
    flatten_metrics,
    primary_metric,
    source_file,
    split_task,
)


def _client(project: Path) -> mlflow.MlflowClient:
    uri = resolve_tracking_uri(project)
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def test_tracked_run_logs_params_metrics_tags_and_artifacts(history: dict) -> None:
    client = _client(history["dir"])
    run = client.get_run(history["runs"][0])
    assert run.info.status == "FINISHED"
    assert run.data.params["training.metric"] == "f1"
    assert run.data.params["data.train"] == "train.csv"
    assert run.data.params["labeling.lfs"] == '["lfs.py"]'
    metrics = run.data.metrics
    assert {
        "end_model.test.f1",
        "end_model.test.slice.short.f1",
        "label_model.test.accuracy",
        "end_model.dev.accuracy",
    } <= set(metrics)
    tags = run.data.tags
    assert tags["gristmill.version"]
    assert tags["gristmill.primary_metric"] == "f1"
    assert tags["gristmill.spec_name"] == "spam"
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {
        "spec",
        "lfs",
        "lf_summary.csv",
        "lf_summary.json",
        "lineage.json",
        "report",
    } <= artifacts
    assert [a.path for a in client.list_artifacts(run.info.run_id, "lfs")] == ["lfs/lfs.py"]
    summary = pd.read_csv(client.download_artifacts(run.info.run_id, "lf_summary.csv"))
    assert list(summary["lf"]) == ["lf_subscribe", "lf_love"]


def test_datasets_are_logged_with_digests_and_contexts(history: dict, fakes: ModuleType) -> None:
    run = _client(history["dir"]).get_run(history["runs"][0])
    contexts = {}
    for dataset_input in run.inputs.dataset_inputs:
        context = {t.key: t.value for t in dataset_input.tags}["mlflow.data.context"]
        contexts[context] = dataset_input.dataset.digest
    assert set(contexts) == {"train", "dev", "test"}
    assert contexts["train"] == history["train_v1"]
    assert run.data.tags["gristmill.data.train.digest"] == history["train_v1"]


def test_search_trials_are_nested_runs(history: dict) -> None:
    client = _client(history["dir"])
    parent = client.get_run(history["runs"][0])
    children = client.search_runs(
        [parent.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent.info.run_id}'",
    )
    assert sorted(r.data.tags["gristmill.trial"] for r in children) == ["0", "1"]
    assert sorted(r.data.metrics["value"] for r in children) == [0.8, 0.9]


def test_model_is_registered_as_challenger_and_serves_predictions(history: dict) -> None:
    client = _client(history["dir"])
    open_client(resolve_tracking_uri(history["dir"]))  # points mlflow's fluent API at the store
    latest = client.get_model_version_by_alias("spam", CHALLENGER)
    assert str(latest.version) == history["versions"][1] == "2"
    model = mlflow.pyfunc.load_model("models:/spam/1")
    frame = pd.DataFrame({"text": ["subscribe to my channel", "love this song"]})
    out = model.predict(frame)
    assert list(out.columns) == ["prediction", "proba_ham", "proba_spam"]
    assert list(out["prediction"]) == ["spam", "ham"]
    assert out[["proba_ham", "proba_spam"]].sum(axis=1).round(6).eq(1).all()
    inputs = model.metadata.get_input_schema().input_names()
    assert inputs == ["text"]
    requirements = Path(
        mlflow.artifacts.download_artifacts("models:/spam/1/requirements.txt")
    ).read_text()
    assert "gristmill==" in requirements and "scikit-learn==" in requirements


def test_failed_run_is_marked_failed_and_registers_nothing(
    project: Path, fakes: ModuleType
) -> None:
    spec_path = fakes.write_project(project)
    (project / "test.csv").unlink()  # the fake pipeline fails reading it
    tracker = RunTracker(project_dir=project)
    with pytest.raises(FileNotFoundError):
        fakes.tracked_run(spec_path, tracker)
    client = _client(project)
    run = client.get_run(tracker.run_id_)
    assert run.info.status == "FAILED"
    assert "FileNotFoundError" in run.data.tags["gristmill.error"]
    assert client.search_registered_models() == []
    assert mlflow.active_run() is None


def test_logging_failure_in_finish_marks_run_failed(
    project: Path, fakes: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gristmill.training

    def broken_save(model: object, path: Path) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(gristmill.training, "save_end_model", broken_save)
    spec_path = fakes.write_project(project)
    tracker = RunTracker(project_dir=project)
    with pytest.raises(TrackingError, match="disk full"):
        fakes.tracked_run(spec_path, tracker)
    client = _client(project)
    assert client.get_run(tracker.run_id_).info.status == "FAILED"
    assert client.search_registered_models() == []


def test_run_logs_to_its_own_experiment_when_the_caller_selected_another(
    project: Path, fakes: ModuleType
) -> None:
    # a notebook user's mlflow.set_experiment must neither break the run nor be lost
    mlflow.set_tracking_uri(f"sqlite:///{project / 'mlflow.db'}")
    try:
        selected = mlflow.set_experiment("notebook-experiment").experiment_id
        spec_path = fakes.write_project(project)
        tracker = RunTracker(project_dir=project)
        fakes.tracked_run(spec_path, tracker)
        client = _client(project)
        run = client.get_run(tracker.run_id_)
        assert run.info.status == "FINISHED"
        assert run.info.experiment_id != selected
        assert tracker.model_version_ is not None
        with mlflow.start_run() as resumed_notebook_run:
            assert resumed_notebook_run.info.experiment_id == selected
    finally:
        importlib.import_module("mlflow.tracking.fluent")._active_experiment_id = None
        mlflow.set_tracking_uri(None)


def test_logged_model_carries_the_run_metrics(history: dict) -> None:
    client = _client(history["dir"])
    run = client.get_run(history["runs"][0])
    (output,) = run.outputs.model_outputs
    linked = {m.key: m.value for m in client.get_logged_model(output.model_id).metrics}
    assert linked == run.data.metrics
    assert "end_model.test.slice.short.f1" in linked


def test_run_that_cannot_open_fails_in_start_and_registers_nothing(
    project: Path, fakes: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_open(uri: str) -> None:
        raise TrackingError(f"cannot open the MLflow tracking store {uri}: schema is too new")

    monkeypatch.setattr(gristmill.tracking._store, "open_client", broken_open)
    tracker = RunTracker(project_dir=project)
    with pytest.raises(TrackingError, match="schema is too new"):
        fakes.tracked_run(fakes.write_project(project), tracker)
    assert tracker.run_id_ is None and tracker.model_version_ is None
    monkeypatch.undo()
    assert _client(project).search_registered_models() == []


def test_a_relative_sqlite_uri_tracks_beside_its_database(
    project: Path,
    fakes: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
    store_copier: Callable[[Path, Path], None],
) -> None:
    monkeypatch.chdir(project)
    (project / "store").mkdir()
    store_copier(project / "mlflow.db", project / "store" / "mlflow.db")
    tracker = RunTracker(project_dir=project, tracking_uri="sqlite:///store/mlflow.db")
    fakes.tracked_run(fakes.write_project(project), tracker)
    run = open_client("sqlite:///store/mlflow.db").get_run(str(tracker.run_id_))
    assert run.info.artifact_uri.startswith((project / "store" / "mlartifacts").as_uri())
    assert tracker.model_version_ == "1"


def test_unreachable_server_fails_in_check_before_any_work(
    fakes: ModuleType, tmp_path: Path
) -> None:
    tracker = RunTracker(project_dir=tmp_path, tracking_uri="http://127.0.0.1:9", timeout=1.0)
    with pytest.raises(TrackingError, match="unreachable.*--no-track"):
        tracker.check()


def test_unreachable_server_from_the_environment_names_the_variable_not_an_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `gristmill run` has no --tracking-uri: the URI can only come from the environment.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    tracker = RunTracker(project_dir=tmp_path, timeout=1.0)
    with pytest.raises(TrackingError, match="unreachable") as info:
        tracker.check()
    assert "fix MLFLOW_TRACKING_URI" in str(info.value)
    assert "--tracking-uri" not in str(info.value)


def test_logging_before_start_is_refused(tmp_path: Path) -> None:
    tracker = RunTracker(project_dir=tmp_path)
    with pytest.raises(TrackingError, match="start must be called"):
        tracker.log_trial(0, {"C": 1}, 0.5)


def test_lineage_artifact_records_function_digests(history: dict) -> None:
    client = _client(history["dir"])
    first = json.loads(
        Path(client.download_artifacts(history["runs"][0], "lineage.json")).read_text()
    )
    second = json.loads(
        Path(client.download_artifacts(history["runs"][1], "lineage.json")).read_text()
    )
    f1, f2 = first["lfs"]["lfs.py"]["functions"], second["lfs"]["lfs.py"]["functions"]
    assert f1["lf_subscribe"] == f2["lf_subscribe"]
    assert f1["lf_love"] != f2["lf_love"]
    assert first["end_model"]["type"] == "TextModel"
    assert first["label_model"]["type"] == "FakeLabelModel"


def test_flatten_helpers() -> None:
    assert flatten({"a": {"b": 1}, "c": [1, "x"]}) == {"a.b": "1", "c": '[1, "x"]'}
    metrics = {
        "end_model": {
            "test": {"overall": {"f1": 0.5, "n": "x"}, "slices": {"long text": {"f1": 0.25}}}
        }
    }
    assert flatten_metrics(metrics) == {
        "end_model.test.f1": 0.5,
        "end_model.test.slice.long text.f1": 0.25,
    }
    spec = yaml.safe_load("training: {metric: accuracy}")
    full = {"end_model": {"test": {"overall": {"f1": 0.5, "accuracy": 0.7}}}}
    assert primary_metric(spec, full) == "accuracy"
    assert primary_metric({}, full) == "f1"


def test_source_file_finds_the_file_a_split_description_starts_with(tmp_path: Path) -> None:
    data = tmp_path / "my data.csv"
    data.write_text("a\n1\n")
    assert source_file(str(data)) == data
    assert source_file(f"{data} where a > 0 sample(seed=0, 0.0-0.5)") == data
    assert source_file("duckdb:///x.db: SELECT * FROM t") is None


def test_primary_metric_of_several_tasks_is_the_spec_metric_they_all_report() -> None:
    def task(**overall: float) -> dict:
        return {"end_model": {"test": {"overall": overall}}}

    metrics = {"spam": task(f1=0.5, accuracy=0.7), "rating": task(accuracy=0.6, f1=0.4)}
    assert primary_metric({"model": {"metric": "f1"}}, metrics) == "f1"
    assert primary_metric({}, metrics) == "f1"
    assert primary_metric({}, {"spam": task(f1=0.5, accuracy=0.7), "b": task(accuracy=0.1)}) == (
        "accuracy"
    )


def test_split_task_separates_a_task_prefix_from_the_metric_key() -> None:
    assert split_task("end_model.test.f1") == (None, "end_model.test.f1")
    assert split_task("spam.end_model.test.slice.a.f1") == ("spam", "end_model.test.slice.a.f1")
    assert split_task("v1.2.label_model.dev.accuracy") == ("v1.2", "label_model.dev.accuracy")


def test_slice_modules_are_logged_with_the_run_and_in_the_lineage(project: Path, fakes) -> None:
    spec_path = fakes.write_project(project)
    fakes.write_slices(project, spec_path, fakes.SLICE_SOURCE.format(short=5))
    tracker = RunTracker(project_dir=project)
    fakes.tracked_run(spec_path, tracker)
    client = _client(project)
    logged = [a.path for a in client.list_artifacts(tracker.run_id_, "slices")]
    assert logged == ["slices/slices.py"]
    lineage = json.loads(
        Path(client.download_artifacts(tracker.run_id_, "lineage.json")).read_text()
    )
    assert lineage["slices"] == {
        "slices.py": {"digest": file_digest(project / "slices.py"), "helpers": {}}
    }


def test_lineage_of_several_tasks_keeps_each_task_metrics(project: Path, fakes) -> None:
    spec_path = fakes.write_project(project)
    task = {
        "label_model": {"test": {"overall": {"accuracy": 0.8}}},
        "end_model": {"test": {"overall": {"f1": 0.7}}},
    }
    tracker = RunTracker(project_dir=project)
    fakes.tracked_run(spec_path, tracker, metrics_override={"spam": task, "rating": task})
    client = _client(project)
    run = client.get_run(tracker.run_id_)
    assert run.data.tags["gristmill.primary_metric"] == "f1"
    lineage = json.loads(
        Path(client.download_artifacts(tracker.run_id_, "lineage.json")).read_text()
    )
    assert lineage["tasks"] == ["spam", "rating"]
    assert lineage["end_model"]["metrics"] == {"spam.test.f1": 0.7, "rating.test.f1": 0.7}
    assert lineage["label_model"]["metrics"]["rating.test.accuracy"] == 0.8
    assert "rating.test.f1=0.7" in render_lineage({**lineage, "run": {}, "model": {}})


def test_helper_modules_the_lfs_import_are_logged_in_their_layout_and_lineage(
    project: Path, fakes: ModuleType
) -> None:
    from gristmill.tracking import models_trained_on

    spec_path = fakes.write_project(project)
    fakes.write_helper_lfs(project)
    tracker = RunTracker(project_dir=project)
    fakes.tracked_run(spec_path, tracker)
    client = _client(project)
    logged = client.download_artifacts(tracker.run_id_, "lfs")
    files = sorted(p.relative_to(logged).as_posix() for p in Path(logged).rglob("*.py"))
    assert files == sorted(["lfs.py", *fakes.HELPERS])
    lineage = json.loads(
        Path(client.download_artifacts(tracker.run_id_, "lineage.json")).read_text()
    )
    helpers = {name: file_digest(project / name) for name in fakes.HELPERS}
    assert lineage["lfs"]["lfs.py"]["helpers"] == helpers
    found = models_trained_on(lf_digest=helpers["wordlists/ham.py"], project_dir=project)
    assert list(found["version"]) == ["1"]


def test_helper_modules_the_slices_import_are_logged_in_their_layout_and_lineage(
    project: Path, fakes: ModuleType
) -> None:
    spec_path = fakes.write_project(project)
    fakes.write_helper_slices(project, spec_path)
    tracker = RunTracker(project_dir=project)
    fakes.tracked_run(spec_path, tracker)
    client = _client(project)
    logged = client.download_artifacts(tracker.run_id_, "slices")
    files = sorted(p.relative_to(logged).as_posix() for p in Path(logged).rglob("*.py"))
    assert files == sorted(["slices.py", *fakes.SLICE_HELPERS])
    lineage = json.loads(
        Path(client.download_artifacts(tracker.run_id_, "lineage.json")).read_text()
    )
    helpers = {name: file_digest(project / name) for name in fakes.SLICE_HELPERS}
    assert lineage["slices"]["slices.py"]["helpers"] == helpers
    rendered = render_lineage({**lineage, "run": {}, "model": {}})
    assert f"slicewords/kind.py {helpers['slicewords/kind.py']} (imported helper)" in rendered


def test_digest_tags_of_400_lfs_are_whole_and_within_the_tag_limit(
    project: Path, fakes: ModuleType
) -> None:
    from gristmill.tracking import models_trained_on
    from gristmill.tracking._tags import MAX_TAG_VALUE, joined_tag

    spec_path = fakes.write_project(project)
    (project / "lfs.py").write_text(
        "from gristmill.labeling import keyword_lf\n"
        + "".join(f"lf_{i} = keyword_lf(['w{i}'], 1, name='lf_{i}')\n" for i in range(400))
    )
    tracker = RunTracker(project_dir=project)
    fakes.tracked_run(spec_path, tracker)
    client = _client(project)
    lineage = json.loads(
        Path(client.download_artifacts(tracker.run_id_, "lineage.json")).read_text()
    )
    entry = lineage["lfs"]["lfs.py"]
    expected = sorted({entry["digest"], *entry["functions"].values()})
    assert len(expected) == 401
    run_tags = client.get_run(tracker.run_id_).data.tags
    version_tags = client.get_model_version("spam", "1").tags
    for tags in (run_tags, version_tags):
        assert max(len(value) for value in tags.values()) <= MAX_TAG_VALUE
        assert joined_tag(tags, "gristmill.lf_digests") == ",".join(expected)
    assert int(run_tags["gristmill.lf_digests.parts"]) > 1
    found = models_trained_on(lf_digest=expected[-1], project_dir=project)
    assert list(found["version"]) == ["1"]


def test_runs_tracked_into_two_stores_at_once_each_land_in_their_own(
    project: Path,
    fakes: ModuleType,
    tmp_path: Path,
    empty_store: Path,
    store_copier: Callable[[Path, Path], None],
) -> None:
    # Each tracker opens its store (pointing MLflow's process-wide fluent API at it) before
    # the other finishes, as runs tracked by two threads, or a run whose LFs open another
    # store, do: each must still log and register in its own.
    other = tmp_path / "other"
    other.mkdir()
    store_copier(empty_store, other / "mlflow.db")
    specs = [fakes.write_project(project), fakes.write_project(other)]
    trackers = [RunTracker(project_dir=project), RunTracker(project_dir=other)]
    for tracker, spec_path in zip(trackers, specs, strict=True):
        spec = yaml.safe_load(spec_path.read_text())
        tracker.check()
        tracker.start(spec["name"], spec, spec_path)
    for tracker, spec_path in zip(trackers, specs, strict=True):
        tracker.finish(fakes.run_fake_pipeline(spec_path))
    for tracker, folder in zip(trackers, (project, other), strict=True):
        assert tracker.model_version_ == "1"
        version = _client(folder).get_model_version("spam", "1")
        assert version.run_id == tracker.run_id_
        assert _client(folder).get_run(str(tracker.run_id_)).info.status == "FINISHED"


def test_two_threads_track_runs_into_two_stores(
    project: Path,
    fakes: ModuleType,
    tmp_path: Path,
    empty_store: Path,
    store_copier: Callable[[Path, Path], None],
) -> None:
    other = tmp_path / "other"
    other.mkdir()
    store_copier(empty_store, other / "mlflow.db")
    both_started = threading.Barrier(2, timeout=60)
    errors: list[BaseException] = []
    trackers: dict[Path, RunTracker] = {}

    def track(folder: Path) -> None:
        try:
            spec_path = fakes.write_project(folder)
            spec = yaml.safe_load(spec_path.read_text())
            tracker = trackers[folder] = RunTracker(
                project_dir=folder, tracking_uri=f"sqlite:///{folder / 'mlflow.db'}"
            )
            tracker.check()
            tracker.start(spec["name"], spec, spec_path)
            result = fakes.run_fake_pipeline(spec_path)
            both_started.wait()
            tracker.finish(result)
        except BaseException as exc:
            errors.append(exc)
            both_started.abort()

    threads = [threading.Thread(target=track, args=(folder,)) for folder in (project, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    for folder, tracker in trackers.items():
        assert _client(folder).get_model_version("spam", "1").run_id == tracker.run_id_
