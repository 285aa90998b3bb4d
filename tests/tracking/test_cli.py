"""The tracking commands: models list/promote/rollback/diff, lineage, reproduce."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from typer.testing import CliRunner

from gristmill.cli import app
from gristmill.tracking import lineage

runner = CliRunner()


def _invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    return result.exit_code, result.output


def test_models_list_promote_rollback(history_copy: Path) -> None:
    project = str(history_copy)
    code, out = _invoke("models", "list", "spam", "-p", project)
    assert code == 0 and "challenger" in out and "2 version(s)" in out
    code, out = _invoke("models", "promote", "spam", "1", "-p", project)
    assert code == 0 and "version 1 is now champion" in out
    code, out = _invoke("models", "promote", "spam", "2", "-p", project)
    assert code == 1 and "refusing to promote" in out
    code, out = _invoke("models", "promote", "spam", "2", "--force", "-p", project)
    assert code == 0 and "forced" in out
    code, out = _invoke("models", "rollback", "spam", "-p", project)
    assert code == 0 and "from version 2 to 1" in out


def test_models_diff(history_copy: Path) -> None:
    code, out = _invoke("models", "diff", "spam", "1", "2", "-p", str(history_copy))
    assert code == 0
    assert "lfs.py::lf_love" in out and "train.digest" in out and "training.noise" in out


def test_lineage_forward_and_reverse(history_copy: Path, history: dict) -> None:
    project = str(history_copy)
    code, out = _invoke("lineage", "spam/1", "-p", project)
    assert code == 0 and history["train_v1"] in out and "→ label model" in out
    code, out = _invoke("lineage", "--dataset", history["train_v1"], "-p", project)
    assert code == 0 and history["runs"][0] in out and history["runs"][1] not in out
    digest = lineage("spam/2", project_dir=history_copy)["lfs"]["lfs.py"]["digest"]
    code, out = _invoke("lineage", "--lf", digest, "-p", project)
    assert code == 0 and history["runs"][1] in out and history["runs"][0] not in out
    code, out = _invoke("lineage", "-p", project)
    assert code == 1 and "exactly one" in out


def test_lineage_help_says_which_digests_lf_and_dataset_take() -> None:
    # --lf also finds a labeling function's own digest, --dataset a data file's
    code, out = _invoke("lineage", "--help")
    assert code == 0
    assert "of the function" in out and "of its file" in out


def test_errors_are_one_line_with_status_1(history_copy: Path) -> None:
    code, out = _invoke("models", "list", "nope", "-p", str(history_copy))
    assert code == 1 and "no registered model named 'nope'" in out and "Traceback" not in out
    code, out = _invoke("reproduce", "0123abcd", "-p", str(history_copy))
    assert code == 1 and "no tracked run with id '0123abcd'" in out


def test_models_list_shows_each_task_metric(project: Path, fakes: ModuleType) -> None:
    from gristmill.tracking import RunTracker

    def task(value: float) -> dict:
        return {"end_model": {"test": {"overall": {"f1": value}}}}

    spec_path = fakes.write_project(project)
    metrics = {"spam": task(0.8), "rating": task(0.6)}
    fakes.tracked_run(spec_path, RunTracker(project_dir=project), metrics_override=metrics)
    code, out = _invoke("models", "list", "spam", "-p", str(project))
    assert code == 0 and "by_task" in out
    assert "0.7000" in out and "spam=0.8000" in out and "rating=0.6000" in out
    code, out = _invoke("models", "promote", "spam", "1", "--metric", "bogus", "-p", str(project))
    assert code == 1 and out.startswith("error:") and "no end-model test metric 'bogus'" in out


def test_models_list_of_one_task_has_no_by_task_column(history_copy: Path) -> None:
    code, out = _invoke("models", "list", "spam", "-p", str(history_copy))
    assert code == 0 and "by_task" not in out and "f1" in out


def test_reading_commands_do_not_create_a_mistyped_project(tmp_path: Path) -> None:
    missing = tmp_path / "x" / "y" / "z"
    for args in (("models", "list", "spam"), ("lineage", "spam/1"), ("lineage", "--lf", "abcd")):
        code, out = _invoke(*args, "-p", str(missing))
        assert code == 1 and "no MLflow store" in out
    assert list(tmp_path.iterdir()) == []


def test_reproduce_tolerance_is_checked_and_working_copies_are_named(
    project: Path, fakes: ModuleType
) -> None:
    from gristmill.tracking import RunTracker, _store

    spec_path = fakes.write_project(project)
    fakes.write_slices(project, spec_path, fakes.SLICE_SOURCE.format(short=5))
    tracker = RunTracker(project_dir=project)
    fakes.tracked_run(spec_path, tracker)
    run_id = str(tracker.run_id_)
    for bad in ("-1", "nan"):
        code, out = _invoke("reproduce", run_id, "--tolerance", bad, "-p", str(project))
        assert code == 1 and out.startswith("error:") and "finite number >= 0" in out
    run = _store.connect(project).get_run(run_id)
    shutil.rmtree(Path(run.info.artifact_uri.removeprefix("file://")) / "slices")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(
            "gristmill.pipeline.Pipeline.from_yaml", lambda path: _FakePipeline(fakes, path)
        )
        code, out = _invoke("reproduce", run_id, "-p", str(project))
    assert code == 0 and "did not log slices.py" in out and str(project / "slices.py") in out


def test_reproduce_removes_its_temporary_folder_and_keeps_a_workdir(
    project: Path, fakes: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gristmill.tracking import RunTracker

    spec_path = fakes.write_project(project)
    tracker = RunTracker(project_dir=project)
    fakes.tracked_run(spec_path, tracker)
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(temporary))
    monkeypatch.setattr(
        "gristmill.pipeline.Pipeline.from_yaml", lambda path: _FakePipeline(fakes, path)
    )
    code, out = _invoke("reproduce", str(tracker.run_id_), "-p", str(project))
    assert code == 0 and "reproduced" in out, out
    assert list(temporary.iterdir()) == []
    kept = tmp_path / "rerun"
    code, out = _invoke(
        "reproduce", str(tracker.run_id_), "--workdir", str(kept), "-p", str(project)
    )
    assert code == 0 and (kept / "spec.yaml").is_file(), out
    assert list(temporary.iterdir()) == []


class _FakePipeline:
    """``Pipeline.from_yaml(path)`` running the fake pipeline, tracked as the real one.

    ``environments`` records ``$MLFLOW_TRACKING_URI`` as each run saw it.
    """

    environments: list[str | None] = []

    def __init__(self, fakes: ModuleType, path: Path) -> None:
        self.fakes, self.path = fakes, Path(path)

    def run(self, *, track: bool, tracking_uri: str | None = None) -> Any:
        from gristmill.tracking import RunTracker

        self.environments.append(os.environ.get("MLFLOW_TRACKING_URI"))
        if not track:
            return self.fakes.run_fake_pipeline(self.path)
        tracker = RunTracker(project_dir=self.path.parent, tracking_uri=tracking_uri)
        return self.fakes.tracked_run(self.path, tracker)


def test_reproduce_track_records_the_rerun_in_the_store_of_the_run(
    project: Path, fakes: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gristmill.tracking import RunTracker, list_versions

    spec_path = fakes.write_project(project)
    tracker = RunTracker(project_dir=project)
    fakes.tracked_run(spec_path, tracker)
    monkeypatch.setattr(
        "gristmill.pipeline.Pipeline.from_yaml", lambda path: _FakePipeline(fakes, path)
    )
    _FakePipeline.environments = []
    kept = tmp_path / "rerun"
    code, out = _invoke(
        "reproduce", str(tracker.run_id_), "--track", "--workdir", str(kept), "-p", str(project)
    )
    assert code == 0 and "reproduced" in out, out
    assert _FakePipeline.environments == [None]  # the store is given to the rerun, not set
    assert list(list_versions("spam", project_dir=project)["version"]) == ["2", "1"]
    assert not (kept / "mlflow.db").exists() and "MLFLOW_TRACKING_URI" not in os.environ


def test_the_examples_in_models_help_are_valid_commands() -> None:
    code, out = _invoke("models", "--help")
    examples = [line.strip() for line in out.splitlines() if line.strip().startswith("gristmill ")]
    assert code == 0 and len(examples) == 4
    for example in examples:
        args = example.split()[1:]
        assert args[1] in {"list", "promote", "rollback", "diff"}
        code, out = _invoke(*args, "--help")  # parses the example's options, then shows help
        assert code == 0 and "Usage: gristmill models " + args[1] in out


def test_a_database_file_as_tracking_uri_is_one_line_naming_the_uri_to_write(
    history_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(history_copy)
    for args in (("models", "list", "spam"), ("report", "0123abcd")):
        code, out = _invoke(*args, "--tracking-uri", "mlflow.db")
        assert code == 1 and out.startswith("error:") and "Traceback" not in out, out
        assert "write sqlite:///mlflow.db" in out


def test_narrow_tables_fold_run_ids_and_metric_keys_instead_of_cutting_them(
    history_copy: Path, history: dict
) -> None:
    project = str(history_copy)
    for args in (("models", "list", "spam"), ("models", "diff", "spam", "1", "2")):
        result = runner.invoke(app, [*args, "-p", project], env={"COLUMNS": "60"})
        assert result.exit_code == 0 and "…" not in result.output, result.output
    result = runner.invoke(app, ["models", "list", "spam", "-p", project], env={"COLUMNS": "60"})
    cells = "".join(
        line.split("│")[3].strip() for line in result.output.splitlines() if line.count("│") > 3
    )
    assert history["runs"][1] + history["runs"][0] in cells


def test_report_of_a_run_id_is_downloaded_whole_and_a_failure_leaves_nothing(
    history_copy: Path, history: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(history_copy)
    code, out = _invoke("report", "0123abcd")
    assert code == 1 and "no report for run '0123abcd'" in out
    assert sorted(path.name for path in history_copy.iterdir() if path.is_dir()) == []
    code, out = _invoke("report", history["runs"][0])
    saved = history_copy / ".gristmill" / "reports" / history["runs"][0] / "report.html"
    assert code == 0 and out.strip() == str(saved)
    assert "report" in saved.read_text()
    assert [path.name for path in saved.parent.iterdir()] == ["report.html"]


def test_report_reads_the_store_of_the_project_dir_it_is_given(
    history_copy: Path, history: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, out = _invoke("report", history["runs"][1])
    assert code == 1 and "no MLflow store" in out and "--project-dir" in out
    code, out = _invoke("report", history["runs"][1], "-p", str(history_copy))
    saved = elsewhere / ".gristmill" / "reports" / history["runs"][1] / "report.html"
    assert code == 0 and out.strip() == str(saved) and saved.is_file()
