"""Reproducing a tracked run from its logged spec and LF sources."""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from gristmill.exceptions import TrackingError
from gristmill.tracking import _store, reproduce


@pytest.fixture(autouse=True)
def _temporary_folders_in_tmp_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reruns without a workdir make their temporary folder here, not in /tmp."""
    folder = tmp_path / "temporary"
    folder.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(folder))


def _recording(calls: list[Path]) -> Callable[[Path, str | None], None]:
    """A runner that only records the specs it is given (for reruns that must not happen)."""

    def runner(spec_path: Path, tracking_uri: str | None) -> None:
        calls.append(spec_path)

    return runner


def _untracked(run: Callable[[Path], Any]) -> Callable[[Path, str | None], Any]:
    """A runner calling ``run(spec_path)``, for reruns that must not be tracked."""

    def runner(spec_path: Path, tracking_uri: str | None) -> Any:
        assert tracking_uri is None
        return run(spec_path)

    return runner


def test_reproduce_uses_logged_spec_and_lfs_and_matches(
    history_copy: Path, history: dict, fakes: ModuleType, tmp_path: Path
) -> None:
    seen: list[dict[str, Any]] = []
    stores: list[str | None] = []

    def runner(spec_path: Path, tracking_uri: str | None) -> Any:
        seen.append(yaml.safe_load(spec_path.read_text()))
        stores.append(tracking_uri)
        return fakes.run_fake_pipeline(spec_path)

    work = tmp_path / "work"
    outcome = reproduce(history["runs"][1], project_dir=history_copy, workdir=work, runner=runner)
    assert outcome.matches and stores == [None]  # untracked unless asked
    assert outcome.metrics["within"].all() and len(outcome.metrics) == 8
    # The logged LF module is laid out in the workdir where the run's spec names it.
    assert seen[0]["labeling"]["lfs"] == ["lfs.py"]
    assert '"lov" in x.text' in (work / "lfs.py").read_text()
    assert Path(seen[0]["data"]["train"]) == (history["dir"] / "train.csv").resolve()
    assert outcome.spec_path.parent == work


def test_metric_differences_are_reported(
    history_copy: Path, history: dict, fakes: ModuleType
) -> None:
    def noisier(spec_path: Path, tracking_uri: str | None) -> Any:
        spec = yaml.safe_load(spec_path.read_text())
        spec["training"]["noise"] = 0.45
        spec_path.write_text(yaml.safe_dump(spec))
        return fakes.run_fake_pipeline(spec_path)

    outcome = reproduce(history["runs"][1], project_dir=history_copy, runner=noisier)
    assert not outcome.matches
    assert not outcome.metrics.set_index("metric").loc["end_model.test.f1", "within"]


def test_changed_data_is_refused_before_rerunning(history_copy: Path, history: dict) -> None:
    # The first run's training file was overwritten before the second run.
    calls: list[Path] = []
    with pytest.raises(TrackingError, match=r"train data .*train.csv changed since the run"):
        reproduce(history["runs"][0], project_dir=history_copy, runner=_recording(calls))
    assert calls == []


def test_table_digest_mismatch_after_loading(
    history_copy: Path, history: dict, fakes: ModuleType
) -> None:
    def shuffled(spec_path: Path, tracking_uri: str | None) -> Any:
        result = fakes.run_fake_pipeline(spec_path)
        frame, source = result.datasets["test"]
        result.datasets["test"] = (frame.iloc[::-1], source)
        return result

    with pytest.raises(TrackingError, match=r"test data .* has digest .* but the run logged"):
        reproduce(history["runs"][1], project_dir=history_copy, runner=shuffled)


def test_unknown_run_is_a_clear_error(history_copy: Path) -> None:
    with pytest.raises(TrackingError, match="no tracked run with id 'deadbeef'"):
        reproduce("deadbeef", project_dir=history_copy)


def test_invalid_tolerances_are_refused_before_rerunning(history_copy: Path, history: dict) -> None:
    calls: list[Path] = []
    for tolerance in (-1.0, math.nan, math.inf):
        with pytest.raises(TrackingError, match="tolerance must be a finite number >= 0"):
            reproduce(
                history["runs"][1],
                tolerance=tolerance,
                project_dir=history_copy,
                runner=_recording(calls),
            )
    assert calls == []


def test_a_workdir_with_files_in_it_is_refused_and_left_as_it_was(
    history_copy: Path, history: dict, fakes: ModuleType, tmp_path: Path
) -> None:
    work = tmp_path / "project-folder"
    work.mkdir()
    (work / "spec.yaml").write_text("# my own spec, with comments\n")
    calls: list[Path] = []
    for workdir in (work, work / "spec.yaml"):
        with pytest.raises(TrackingError, match=r"workdir .* (is not empty|is a file): give a new"):
            reproduce(
                history["runs"][1],
                project_dir=history_copy,
                workdir=workdir,
                runner=_recording(calls),
            )
    assert calls == [] and [path.name for path in work.iterdir()] == ["spec.yaml"]
    assert (work / "spec.yaml").read_text() == "# my own spec, with comments\n"
    empty = tmp_path / "empty"
    empty.mkdir()
    outcome = reproduce(
        history["runs"][1],
        project_dir=history_copy,
        workdir=empty,
        runner=_untracked(fakes.run_fake_pipeline),
    )
    assert outcome.matches and outcome.spec_path.parent == empty


def test_a_tracked_rerun_is_recorded_in_the_store_of_the_run_it_reproduces(
    history_copy: Path,
    history: dict,
    fakes: ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gristmill.tracking import RunTracker, diff_versions, list_versions

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    stores: list[str | None] = []

    def pipeline_run(spec_path: Path, tracking_uri: str | None) -> Any:
        # what Pipeline.run(track=True, tracking_uri=...) does: a tracker on that store
        stores.append(tracking_uri)
        assert "MLFLOW_TRACKING_URI" not in os.environ  # given, not set for the call
        tracker = RunTracker(project_dir=spec_path.parent, tracking_uri=tracking_uri)
        return fakes.tracked_run(spec_path, tracker)

    work = tmp_path / "work"
    reproduce(
        history["runs"][1], project_dir=history_copy, workdir=work, track=True, runner=pipeline_run
    )
    assert stores == [f"sqlite:///{(history_copy / 'mlflow.db').resolve()}"]
    assert list(list_versions("spam", project_dir=history_copy)["version"]) == ["3", "2", "1"]
    assert not (work / "mlflow.db").exists()
    assert "MLFLOW_TRACKING_URI" not in os.environ
    # The rerun ran the run's LF module as its spec named it: the versions differ only in
    # the data paths, made absolute to read the project's data from the workdir.
    diff = diff_versions("spam", "2", "3", project_dir=history_copy)
    assert diff.lfs is not None and len(diff.lfs) == 0
    assert sorted(diff.spec["key"]) == ["data.dev", "data.test", "data.train"]


class _TrackingFakePipeline:
    """``Pipeline.from_yaml(path)`` whose ``run`` tracks the fake pipeline as the real one."""

    def __init__(self, fakes: ModuleType, path: Path, environments: list[str | None]) -> None:
        self.fakes, self.path, self.environments = fakes, Path(path), environments

    def run(self, *, track: bool, tracking_uri: str | None = None) -> Any:
        from gristmill.tracking import RunTracker

        self.environments.append(os.environ.get("MLFLOW_TRACKING_URI"))
        if not track:
            return self.fakes.run_fake_pipeline(self.path)
        tracker = RunTracker(project_dir=self.path.parent, tracking_uri=tracking_uri)
        return self.fakes.tracked_run(self.path, tracker)


def test_a_tracked_rerun_leaves_the_environment_alone(
    history_copy: Path,
    history: dict,
    fakes: ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gristmill.tracking import list_versions

    # The environment names another store; the rerun is tracked in the one it is given.
    elsewhere = tmp_path / "elsewhere" / "mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{elsewhere}")
    environments: list[str | None] = []
    monkeypatch.setattr(
        "gristmill.pipeline.Pipeline.from_yaml",
        lambda path: _TrackingFakePipeline(fakes, path, environments),
    )
    original = f"sqlite:///{history_copy / 'mlflow.db'}"
    work = tmp_path / "work"
    outcome = reproduce(history["runs"][1], tracking_uri=original, workdir=work, track=True)
    assert outcome.matches
    assert environments == [f"sqlite:///{elsewhere}"]  # as it was, during the rerun
    assert os.environ["MLFLOW_TRACKING_URI"] == f"sqlite:///{elsewhere}"
    assert list(list_versions("spam", tracking_uri=original)["version"]) == ["3", "2", "1"]
    client = _store.connect(tracking_uri=original)
    rerun = client.get_run(client.get_model_version("spam", "3").run_id)
    assert rerun.data.tags["gristmill.spec_dir"] == str(work.resolve())
    assert not elsewhere.parent.exists() and not (work / "mlflow.db").exists()


def test_every_task_metric_of_several_tasks_is_compared(project: Path, fakes: ModuleType) -> None:
    from gristmill.tracking import RunTracker

    task = {
        "label_model": {"test": {"overall": {"accuracy": 0.8}}},
        "end_model": {"test": {"overall": {"f1": 0.7}, "slices": {"short": {"f1": 0.6}}}},
    }
    metrics = {"spam": task, "rating": task}
    spec_path = fakes.write_project(project)
    tracker = RunTracker(project_dir=project)
    fakes.tracked_run(spec_path, tracker, metrics_override=metrics)

    def same(path: Path, tracking_uri: str | None) -> Any:
        return fakes.run_fake_pipeline(path, metrics_override=metrics)

    outcome = reproduce(tracker.run_id_, project_dir=project, runner=same)
    assert outcome.matches and len(outcome.metrics) == 6
    assert "rating.end_model.test.slice.short.f1" in set(outcome.metrics["metric"])
    worse = {"spam": task, "rating": {**task, "end_model": {"test": {"overall": {"f1": 0.5}}}}}

    def changed(path: Path, tracking_uri: str | None) -> Any:
        return fakes.run_fake_pipeline(path, metrics_override=worse)

    table = reproduce(tracker.run_id_, project_dir=project, runner=changed).metrics
    differing = table[~table["within"]]
    assert list(differing["metric"]) == [
        "rating.end_model.test.f1",
        "rating.end_model.test.slice.short.f1",
    ]


def _project_with_slices(project: Path, fakes: ModuleType) -> str:
    from gristmill.tracking import RunTracker

    spec_path = fakes.write_project(project)
    fakes.write_slices(project, spec_path, fakes.SLICE_SOURCE.format(short=5))
    tracker = RunTracker(project_dir=project)
    fakes.tracked_run(spec_path, tracker)
    (project / "slices.py").write_text(fakes.SLICE_SOURCE.format(short=7))
    return str(tracker.run_id_)


def _slices_runner(fakes: ModuleType, seen: list[Path]) -> Any:
    def runner(spec_path: Path, tracking_uri: str | None) -> Any:
        module = yaml.safe_load(spec_path.read_text())["slices"]["modules"][0]
        seen.append((spec_path.parent / module).resolve())  # as the pipeline reads it
        return fakes.run_fake_pipeline(spec_path)

    return runner


def test_reproduce_uses_the_logged_slice_modules(
    project: Path, fakes: ModuleType, tmp_path: Path
) -> None:
    run_id = _project_with_slices(project, fakes)
    seen: list[Path] = []
    outcome = reproduce(
        run_id, project_dir=project, workdir=tmp_path / "work", runner=_slices_runner(fakes, seen)
    )
    assert seen[0] == (tmp_path / "work" / "slices.py").resolve()
    assert seen[0].read_text() == fakes.SLICE_SOURCE.format(short=5)
    assert outcome.from_working_copy == []


def test_runs_without_logged_slice_modules_name_the_working_copies(
    project: Path, fakes: ModuleType
) -> None:
    run_id = _project_with_slices(project, fakes)
    run = _store.connect(project).get_run(run_id)
    shutil.rmtree(Path(run.info.artifact_uri.removeprefix("file://")) / "slices")
    seen: list[Path] = []
    outcome = reproduce(run_id, project_dir=project, runner=_slices_runner(fakes, seen))
    assert seen == [(project / "slices.py").resolve()]
    assert outcome.from_working_copy == [(project / "slices.py").resolve()]


def test_a_run_without_metrics_to_compare_is_refused(project: Path, fakes: ModuleType) -> None:
    from gristmill.tracking import RunTracker

    spec_path = fakes.write_project(project)
    tracker = RunTracker(project_dir=project)
    fakes.tracked_run(spec_path, tracker, metrics_override={"other": {"x": 1.0}})
    calls: list[Path] = []
    with pytest.raises(TrackingError, match="logged no label-model or end-model metric"):
        reproduce(tracker.run_id_, project_dir=project, runner=_recording(calls))
    assert calls == []


def test_reproduce_restores_the_helper_modules_the_lfs_import(
    project: Path, fakes: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gristmill.labeling import load_lfs
    from gristmill.tracking import RunTracker

    spec_path = fakes.write_project(project)
    fakes.write_helper_lfs(project)
    tracker = RunTracker(project_dir=project)
    fakes.tracked_run(spec_path, tracker)
    # After the run one helper is edited and the other deleted; with the project folder on
    # sys.path, an unrestored helper would be read from the working copy instead.
    (project / "spam_words.py").write_text('WORDS = ["nothing matches this"]\n')
    shutil.rmtree(project / "wordlists")
    monkeypatch.syspath_prepend(str(project))
    votes: list[list[int]] = []

    def runner(spec_path: Path, tracking_uri: str | None) -> Any:
        lf_path = spec_path.parent / yaml.safe_load(spec_path.read_text())["labeling"]["lfs"][0]
        votes.append([lf({"text": "subscribe, I love it"}) for lf in load_lfs(lf_path)])
        return fakes.run_fake_pipeline(spec_path)

    work = tmp_path / "fresh"
    outcome = reproduce(str(tracker.run_id_), project_dir=project, workdir=work, runner=runner)
    assert votes == [[1, 0]] and outcome.matches
    assert (work / "spam_words.py").read_text() == 'WORDS = ["subscribe"]\n'
    assert (work / "wordlists" / "ham.py").is_file()


def test_reproduce_restores_the_helper_modules_the_slices_import(
    project: Path, fakes: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pandas as pd

    from gristmill.tracking import RunTracker
    from gristmill.training import load_slicing_functions

    spec_path = fakes.write_project(project)
    fakes.write_helper_slices(project, spec_path)
    tracker = RunTracker(project_dir=project)
    fakes.tracked_run(spec_path, tracker)
    # After the run one helper is edited and the other deleted; with the project folder on
    # sys.path, an unrestored helper would be read from the working copy instead.
    (project / "slice_limits.py").write_text("SHORT = 0\n")
    shutil.rmtree(project / "slicewords")
    monkeypatch.syspath_prepend(str(project))
    members: list[list[bool]] = []

    def runner(spec_path: Path, tracking_uri: str | None) -> Any:
        slice_path = (
            spec_path.parent / yaml.safe_load(spec_path.read_text())["slices"]["modules"][0]
        )
        row = pd.Series({"text": "I love it"})
        members.append([sf(row) for sf in load_slicing_functions(slice_path)])
        return fakes.run_fake_pipeline(spec_path)

    work = tmp_path / "fresh"
    outcome = reproduce(str(tracker.run_id_), project_dir=project, workdir=work, runner=runner)
    assert members == [[True, True]] and outcome.matches
    assert outcome.from_working_copy == []
    assert (work / "slice_limits.py").read_text() == "SHORT = 30\n"
    assert (work / "slicewords" / "kind.py").is_file()


def test_modules_of_both_kinds_that_would_replace_each_other_are_laid_out_apart(
    project: Path, fakes: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pandas as pd

    from gristmill.labeling import load_lfs
    from gristmill.tracking import RunTracker
    from gristmill.training import load_slicing_functions

    spec_path = fakes.write_project(project)
    fakes.write_helper_lfs(project)
    fakes.write_helper_slices(project, spec_path)
    tracker = RunTracker(project_dir=project)
    fakes.tracked_run(spec_path, tracker)
    # As a run that kept its modules by file name could hold: the slicing functions' folder
    # has a file of the LFs' folder's name with other content.
    run = _store.connect(project).get_run(str(tracker.run_id_))
    artifacts = Path(run.info.artifact_uri.removeprefix("file://"))
    (artifacts / "slices" / "spam_words.py").write_text('WORDS = ["other"]\n')
    monkeypatch.syspath_prepend(str(project))
    seen: list[tuple[list[int], list[bool]]] = []

    def runner(spec_path: Path, tracking_uri: str | None) -> Any:
        spec = yaml.safe_load(spec_path.read_text())
        lf_path = spec_path.parent / spec["labeling"]["lfs"][0]
        slice_path = spec_path.parent / spec["slices"]["modules"][0]
        votes = [lf({"text": "subscribe, I love it"}) for lf in load_lfs(lf_path)]
        row = pd.Series({"text": "I love it"})
        seen.append((votes, [sf(row) for sf in load_slicing_functions(slice_path)]))
        return fakes.run_fake_pipeline(spec_path)

    work = tmp_path / "fresh"
    outcome = reproduce(str(tracker.run_id_), project_dir=project, workdir=work, runner=runner)
    assert seen == [([1, 0], [True, True])] and outcome.matches
    assert (work / "spam_words.py").read_text() == 'WORDS = ["subscribe"]\n'
    assert (work / "slices" / "spam_words.py").read_text() == 'WORDS = ["other"]\n'
    assert (work / "slices" / "slice_limits.py").read_text() == "SHORT = 30\n"
    assert [p.name for p in work.iterdir() if p.name.startswith(".")] == []
