"""Reproducing a tracked run from its logged spec and LF sources."""

from __future__ import annotations

import math
import os
import shutil
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


def test_reproduce_uses_logged_spec_and_lfs_and_matches(
    history_copy: Path, history: dict, fakes: ModuleType, tmp_path: Path
) -> None:
    seen: list[dict[str, Any]] = []

    def runner(spec_path: Path) -> Any:
        seen.append(yaml.safe_load(spec_path.read_text()))
        return fakes.run_fake_pipeline(spec_path)

    work = tmp_path / "work"
    outcome = reproduce(history["runs"][1], project_dir=history_copy, workdir=work, runner=runner)
    assert outcome.matches
    assert outcome.metrics["within"].all() and len(outcome.metrics) == 8
    lf_path = Path(seen[0]["labeling"]["lfs"][0])
    assert lf_path.is_relative_to(work) and '"lov" in x.text' in lf_path.read_text()
    assert Path(seen[0]["data"]["train"]) == (history["dir"] / "train.csv").resolve()
    assert outcome.spec_path.parent == work


def test_metric_differences_are_reported(
    history_copy: Path, history: dict, fakes: ModuleType
) -> None:
    def noisier(spec_path: Path) -> Any:
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
        reproduce(history["runs"][0], project_dir=history_copy, runner=calls.append)
    assert calls == []


def test_table_digest_mismatch_after_loading(
    history_copy: Path, history: dict, fakes: ModuleType
) -> None:
    def shuffled(spec_path: Path) -> Any:
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
                runner=calls.append,
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
                history["runs"][1], project_dir=history_copy, workdir=workdir, runner=calls.append
            )
    assert calls == [] and [path.name for path in work.iterdir()] == ["spec.yaml"]
    assert (work / "spec.yaml").read_text() == "# my own spec, with comments\n"
    empty = tmp_path / "empty"
    empty.mkdir()
    outcome = reproduce(
        history["runs"][1],
        project_dir=history_copy,
        workdir=empty,
        runner=fakes.run_fake_pipeline,
    )
    assert outcome.matches and outcome.spec_path.parent == empty


def test_a_tracked_rerun_is_recorded_in_the_store_of_the_run_it_reproduces(
    history_copy: Path,
    history: dict,
    fakes: ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gristmill.tracking import RunTracker, list_versions

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)

    def pipeline_run(spec_path: Path) -> Any:
        # what Pipeline.run(track=True) does: a tracker for the project beside the spec
        return fakes.tracked_run(spec_path, RunTracker(project_dir=spec_path.parent))

    work = tmp_path / "work"
    reproduce(
        history["runs"][1], project_dir=history_copy, workdir=work, track=True, runner=pipeline_run
    )
    assert list(list_versions("spam", project_dir=history_copy)["version"]) == ["3", "2", "1"]
    assert not (work / "mlflow.db").exists()
    assert "MLFLOW_TRACKING_URI" not in os.environ


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

    def same(path: Path) -> Any:
        return fakes.run_fake_pipeline(path, metrics_override=metrics)

    outcome = reproduce(tracker.run_id_, project_dir=project, runner=same)
    assert outcome.matches and len(outcome.metrics) == 6
    assert "rating.end_model.test.slice.short.f1" in set(outcome.metrics["metric"])
    worse = {"spam": task, "rating": {**task, "end_model": {"test": {"overall": {"f1": 0.5}}}}}

    def changed(path: Path) -> Any:
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
    def runner(spec_path: Path) -> Any:
        seen.append(Path(yaml.safe_load(spec_path.read_text())["slices"]["modules"][0]))
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
    assert seen[0].is_relative_to(tmp_path / "work")
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
        reproduce(tracker.run_id_, project_dir=project, runner=calls.append)
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

    def runner(spec_path: Path) -> Any:
        lf_path = Path(yaml.safe_load(spec_path.read_text())["labeling"]["lfs"][0])
        votes.append([lf({"text": "subscribe, I love it"}) for lf in load_lfs(lf_path)])
        return fakes.run_fake_pipeline(spec_path)

    work = tmp_path / "fresh"
    outcome = reproduce(str(tracker.run_id_), project_dir=project, workdir=work, runner=runner)
    assert votes == [[1, 0]] and outcome.matches
    assert (work / "lfs" / "spam_words.py").read_text() == 'WORDS = ["subscribe"]\n'
    assert (work / "lfs" / "wordlists" / "ham.py").is_file()


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

    def runner(spec_path: Path) -> Any:
        slice_path = Path(yaml.safe_load(spec_path.read_text())["slices"]["modules"][0])
        row = pd.Series({"text": "I love it"})
        members.append([sf(row) for sf in load_slicing_functions(slice_path)])
        return fakes.run_fake_pipeline(spec_path)

    work = tmp_path / "fresh"
    outcome = reproduce(str(tracker.run_id_), project_dir=project, workdir=work, runner=runner)
    assert members == [[True, True]] and outcome.matches
    assert outcome.from_working_copy == []
    assert (work / "slices" / "slice_limits.py").read_text() == "SHORT = 30\n"
    assert (work / "slices" / "slicewords" / "kind.py").is_file()
