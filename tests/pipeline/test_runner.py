"""Running the pipeline on a small project: outputs, caching, interruption, tracking hooks."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import gristmill
import gristmill.training
from gristmill.exceptions import LFError, OutputError
from gristmill.labeling import LabelMatrix
from gristmill.pipeline import Pipeline
from gristmill.training import load_end_model

from .conftest import add_fragile_lf, edit_spec


def _stages(result) -> dict[str, bool]:
    return {s.name: s.cached for s in result.stages}


def test_run_produces_result_and_run_directory(project: Path) -> None:
    result = Pipeline.from_yaml(project / "gristmill.yaml").run(track=False)
    assert isinstance(result, gristmill.PipelineResult)
    assert result.name == "toy" and result.classes == ["ham", "spam"]
    assert result.payload_columns == ["text", "stars"]
    for model in ("label_model", "end_model"):
        for split in ("dev", "test"):
            overall = result.metrics[model][split]["overall"]
            assert 0.0 <= overall["accuracy"] <= 1.0
            assert set(result.metrics[model][split]["slices"]) == {"short", "five_stars"}
    # the LFs are informative, so both models beat chance clearly on the synthetic task
    assert result.metrics["end_model"]["test"]["overall"]["accuracy"] > 0.75
    assert result.metrics["label_model"]["test"]["overall"]["coverage"] > 0.5
    run_dir = result.run_dir
    for name in (
        "spec.yaml",
        "label_matrix.parquet",
        "probs.parquet",
        "metrics.json",
        "lf_summary.csv",
        "model",
        "report.html",
    ):
        assert (run_dir / name).exists(), name
    assert json.loads((run_dir / "metrics.json").read_text()) == result.metrics
    assert LabelMatrix.from_parquet(run_dir / "label_matrix.parquet") == result.label_matrix
    assert list(result.label_matrix.lf_names) == [
        "says_free",
        "says_song",
        "says_click",
        "says_love",
    ]
    probs = pd.read_parquet(run_dir / "probs.parquet")
    assert set(probs["split"]) == {"train", "dev", "test"}
    assert np.allclose(probs[["proba_ham", "proba_spam"]].sum(axis=1), 1.0)
    assert list(result.lf_summary.index) == list(result.label_matrix.lf_names)
    assert "Dev Emp. Acc." in result.lf_summary.columns
    assert result.datasets["train"][0].shape[0] == 240
    assert result.lf_paths == [project / "lfs_a.py", project / "lfs_b.py"]
    assert [t["number"] for t in result.trials] == [0, 1]
    assert result.report_path == run_dir / "report.html"
    # the saved model predicts like the in-memory one, from the payload columns alone
    frame = result.datasets["test"][0][result.payload_columns]
    loaded = load_end_model(run_dir / "model")
    assert np.allclose(loaded.predict_proba(frame), result.model.predict_proba(frame))
    assert set(result.model.predict(frame)) <= {"ham", "spam"}
    assert result.discovered_slices is not None and result.discovered_slices["split"] == "test"


def test_second_run_is_cached_and_identical(project: Path) -> None:
    first = Pipeline.from_yaml(project / "gristmill.yaml").run(track=False)
    assert _stages(first)["label"] is False
    second = Pipeline.from_yaml(project / "gristmill.yaml").run(track=False)
    stages = _stages(second)
    assert stages["label"] and stages["label_model"] and stages["train"]
    assert second.metrics == first.metrics
    assert second.run_dir != first.run_dir  # each run gets its own directory


def test_editing_one_lf_module_reruns_only_what_depends_on_it(project: Path, monkeypatch) -> None:
    Pipeline.from_yaml(project / "gristmill.yaml").run(track=False)
    applied: list[list[str]] = []
    import gristmill.labeling

    real_apply = gristmill.labeling.apply_lfs

    def spy(lfs, data, **kwargs):
        applied.append([lf.name for lf in lfs])
        return real_apply(lfs, data, **kwargs)

    monkeypatch.setattr(gristmill.labeling, "apply_lfs", spy)
    lfs_b = project / "lfs_b.py"
    lfs_b.write_text(lfs_b.read_text().replace('"dance"', '"beat"'))
    result = Pipeline.from_yaml(project / "gristmill.yaml").run(track=False)
    # only lfs_b ran again, once per split; lfs_a came from the cache
    assert applied == [["says_click", "says_love"]] * 3
    stages = _stages(result)
    assert stages["label"] is False
    assert stages["label_model"] is False  # its input (the label matrix) changed


def test_editing_the_model_section_reruns_training_only(project: Path) -> None:
    Pipeline.from_yaml(project / "gristmill.yaml").run(track=False)
    edit_spec(project, lambda s: s["model"]["budget"].update(trials=3))
    result = Pipeline.from_yaml(project / "gristmill.yaml").run(track=False)
    stages = _stages(result)
    assert stages["label"] and stages["label_model"]
    assert stages["train"] is False
    assert len(result.trials) == 3


def test_use_cache_false_reruns_everything(project: Path) -> None:
    Pipeline.from_yaml(project / "gristmill.yaml").run(track=False)
    result = Pipeline.from_yaml(project / "gristmill.yaml").run(track=False, use_cache=False)
    assert not any(_stages(result)[s] for s in ("label", "label_model", "train"))


def test_interrupted_run_leaves_no_outputs_and_resumes(project: Path, monkeypatch) -> None:
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(gristmill.training, "search_end_model", interrupted)
    with pytest.raises(KeyboardInterrupt):
        Pipeline.from_yaml(project / "gristmill.yaml").run(track=False)
    runs = project / "runs"
    assert not runs.exists() or not any(runs.iterdir())
    cache = project / ".gristmill" / "cache"
    assert not (cache / "train").exists() or not any((cache / "train").iterdir())
    leftovers = [p for p in cache.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    monkeypatch.undo()
    result = Pipeline.from_yaml(project / "gristmill.yaml").run(track=False)
    stages = _stages(result)
    assert stages["label"] and stages["label_model"] and not stages["train"]


def _fails_on_fragile_row(project: Path, expected: str, row: int) -> None:
    """The run stops with ``expected``, naming the function 'fragile' and ``row``, no run kept."""
    with pytest.raises(LFError, match=re.escape(expected)) as info:
        Pipeline.from_yaml(project / "gristmill.yaml").run(track=False)
    assert (info.value.lf_name, info.value.row) == ("fragile", row)
    assert not (project / "runs").exists()


def test_lf_error_names_the_row_of_the_data_file(project: Path) -> None:
    train = pd.read_csv(project / "train.csv")
    train.loc[150, ["text", "stars"]] = ["BOOM", 5]  # data row 151 of the file
    train.to_csv(project / "train.csv", index=False)
    assert (train["stars"].iloc[:150] < 4).any()  # the filter moves it up in the split
    add_fragile_lf(project)
    expected = (
        f"{project.resolve() / 'lfs_c.py'}: the train data (rows of "
        f"{project.resolve() / 'train.csv'} numbered from 1, the header not counted): Labeling "
        "function 'fragile' failed on row 151: ValueError: cannot label this"
    )
    _fails_on_fragile_row(project, expected, 151)


def test_explicit_run_dir_is_replaced_whole(project: Path) -> None:
    target = project / "out"
    pipeline = Pipeline.from_yaml(project / "gristmill.yaml")
    pipeline.run(track=False, run_dir=target)
    (target / "stale.txt").write_text("old")
    target.chmod(0o750)
    result = pipeline.run(track=False, run_dir=target)
    assert result.run_dir == target.resolve()
    assert not (target / "stale.txt").exists()
    assert (target / "report.html").exists()
    assert target.stat().st_mode & 0o777 == 0o750  # the old directory's permissions


def test_run_dir_never_replaces_what_gristmill_did_not_write(project: Path) -> None:
    pipeline = Pipeline.from_yaml(project / "gristmill.yaml")
    mine = project / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    for target, message in [
        (mine, "holds files that are not a gristmill run directory"),
        (project, "which the run reads"),
        (project / "train.csv", "which the run reads"),
        (project / "lfs_a.py", "is a file, not a gristmill run directory"),
    ]:
        before = sorted(p.name for p in project.iterdir())
        with pytest.raises(OutputError, match=message):
            pipeline.run(track=False, run_dir=target)
        assert sorted(p.name for p in project.iterdir()) == before
    assert (mine / "notes.txt").read_text() == "keep me"
    # A project whose spec is called spec.yaml is still no run directory, nor is its data's.
    spec = (project / "gristmill.yaml").rename(project / "spec.yaml")
    named = Pipeline.from_yaml(spec)
    for target in (project, project / ".gristmill", project / "train.csv"):
        with pytest.raises(OutputError, match="which the run reads"):
            named.run(track=False, run_dir=target)
    assert spec.is_file() and (project / "train.csv").is_file()
    spec.rename(project / "gristmill.yaml")
    empty = project / "empty"
    empty.mkdir()
    assert pipeline.run(track=False, run_dir=empty).report_path.exists()


def test_label_columns_and_value_mapping(project: Path) -> None:
    for name in ("train", "dev", "test"):
        frame = pd.read_csv(project / f"{name}.csv")
        frame["worker"] = np.where(
            frame["text"].str.contains("win|cash"),
            "S",
            np.where(frame["text"].str.contains("lyrics"), "H", "?"),
        )
        frame.to_csv(project / f"{name}.csv", index=False)
    edit_spec(
        project,
        lambda s: s["tasks"]["spam"]["supervision"].update(
            label_columns={"worker": {"values": {"S": "spam", "H": "ham"}}}
        ),
    )
    result = Pipeline.from_yaml(project / "gristmill.yaml").run(track=False)
    column = result.label_matrix.column("column:worker")
    text = result.datasets["train"][0]["text"]
    assert set(column[text.str.contains("win|cash").to_numpy()]) == {1}
    assert set(column[~text.str.contains("win|cash|lyrics").to_numpy()]) == {-1}


def test_no_gold_dev_selects_on_held_out_probabilistic_labels(project: Path) -> None:
    edit_spec(project, lambda s: s["data"].pop("dev"))
    result = Pipeline.from_yaml(project / "gristmill.yaml").run(track=False)
    assert result.selection == "holdout"
    assert "dev" not in result.metrics["end_model"]
    assert "test" in result.metrics["end_model"]


def test_plan_reports_cached_stages(project: Path) -> None:
    pipeline = Pipeline.from_yaml(project / "gristmill.yaml")
    before = {s.stage: s.status for s in pipeline.plan()}
    assert before["label"] == "runs" and before["train"] == "runs"
    pipeline.run(track=False)
    after = {s.stage: s.status for s in pipeline.plan()}
    assert after["label"] == after["label_model"] == after["train"] == "cached"


class _RecordingTracker:
    calls: list[tuple] = []
    stores: list[str | None] = []  # the tracking_uri of each tracker made

    def __init__(self, *, project_dir, tracking_uri=None) -> None:
        self.stores.append(tracking_uri)
        self.project_dir = project_dir
        self.model_version_ = None
        self.run_id_ = "run-1"

    def check(self) -> None:
        self.calls.append(("check",))

    def start(self, name, spec_dict, spec_path) -> str:
        self.calls.append(("start", name, spec_dict["name"], Path(spec_path).name))
        return "run-1"

    def log_trial(self, number, params, value) -> None:
        self.calls.append(("log_trial", number, params["learner"]))

    def finish(self, result) -> str:
        assert result.run_dir.exists()  # the run directory is complete before finish
        self.calls.append(("finish", result.name))
        self.model_version_ = "1"
        return "1"

    def fail(self, exc) -> None:
        self.calls.append(("fail", type(exc).__name__))


def test_tracking_hooks_are_called_in_order(project: Path, monkeypatch) -> None:
    import gristmill.tracking

    _RecordingTracker.calls = []
    monkeypatch.setattr(gristmill.tracking, "RunTracker", _RecordingTracker)
    result = Pipeline.from_yaml(project / "gristmill.yaml").run(track=True)
    names = [c[0] for c in _RecordingTracker.calls]
    assert names == ["check", "start", "log_trial", "log_trial", "finish"]
    assert _RecordingTracker.calls[1] == ("start", "toy", "toy", "gristmill.yaml")
    assert result.model_version == "1"
    _RecordingTracker.calls = []
    Pipeline.from_yaml(project / "gristmill.yaml").run(track=False)
    assert _RecordingTracker.calls == []


def test_the_tracking_uri_given_is_the_trackers_and_the_environment_is_left_alone(
    project: Path, monkeypatch
) -> None:
    import gristmill.tracking

    monkeypatch.setattr(gristmill.tracking, "RunTracker", _RecordingTracker)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///elsewhere.db")
    _RecordingTracker.stores = []
    pipeline = Pipeline.from_yaml(project / "gristmill.yaml")
    result = pipeline.run(track=True, tracking_uri="sqlite:///given.db")
    pipeline.run(track=True)
    assert _RecordingTracker.stores == ["sqlite:///given.db", None]
    assert result.model_version == "1"
    assert os.environ["MLFLOW_TRACKING_URI"] == "sqlite:///elsewhere.db"


def test_a_tracking_uri_without_tracking_is_refused_before_any_work(
    project: Path, monkeypatch
) -> None:
    from gristmill.exceptions import ParameterError

    monkeypatch.setattr(
        gristmill.training,
        "search_end_model",
        lambda *a, **k: pytest.fail("trained although the run was refused"),
    )
    pipeline = Pipeline.from_yaml(project / "gristmill.yaml")
    with pytest.raises(
        ParameterError, match=r"tracking_uri='sqlite:///given.db' was given with track=False"
    ):
        pipeline.run(track=False, tracking_uri="sqlite:///given.db", run_dir=project / "run")
    assert not (project / "run").exists() and not (project / "runs").exists()


def test_tracking_marks_failed_runs(project: Path, monkeypatch) -> None:
    import gristmill.tracking

    _RecordingTracker.calls = []
    monkeypatch.setattr(gristmill.tracking, "RunTracker", _RecordingTracker)

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(gristmill.training, "search_end_model", broken)
    with pytest.raises(RuntimeError, match="boom"):
        Pipeline.from_yaml(project / "gristmill.yaml").run(track=True)
    assert [c[0] for c in _RecordingTracker.calls] == ["check", "start", "fail"]


def test_unreachable_tracking_store_fails_before_long_work(project: Path, monkeypatch) -> None:
    import gristmill.tracking
    from gristmill.exceptions import TrackingError

    class Unreachable(_RecordingTracker):
        def check(self) -> None:
            raise TrackingError("store unreachable")

    monkeypatch.setattr(gristmill.tracking, "RunTracker", Unreachable)
    monkeypatch.setattr(
        gristmill.training,
        "search_end_model",
        lambda *a, **k: pytest.fail("trained despite an unreachable store"),
    )
    with pytest.raises(TrackingError, match="unreachable"):
        Pipeline.from_yaml(project / "gristmill.yaml").run(track=True)


def test_cleaning_repairs_cells_before_labeling(project: Path) -> None:
    # every comment of an author has the same stars; one row breaks that dependency
    for name in ("train", "dev", "test"):
        frame = pd.read_csv(project / f"{name}.csv")
        frame["author"] = [f"a{i % 20}" for i in range(len(frame))]
        frame["stars"] = [1 + (i % 20) % 5 for i in range(len(frame))]
        if name == "train":
            frame.loc[3, "stars"] = 5 if frame.loc[3, "stars"] != 5 else 1
        frame.to_csv(project / f"{name}.csv", index=False)
    edit_spec(
        project,
        lambda s: s.update(cleaning={"constraints": ["author -> stars"], "splits": ["train"]}),
    )
    result = Pipeline.from_yaml(project / "gristmill.yaml").run(track=False)
    train = result.datasets["train"][0]
    assert train.loc[3, "stars"] == 1 + (3 % 20) % 5  # repaired, and still an integer
    assert pd.api.types.is_integer_dtype(train["stars"])
    assert result.cleaning["repairs"]["train"] >= 1
    repairs = pd.read_csv(result.run_dir / "repairs.csv")
    assert {"row", "column", "old", "new", "split"} <= set(repairs.columns)
    assert _stages(result)["clean"] is False
    again = Pipeline.from_yaml(project / "gristmill.yaml").run(track=False)
    assert _stages(again)["clean"] is True


@pytest.mark.parametrize("engine", ["sqlite", "duckdb", "sqlalchemy"])
def test_sql_sources(project: Path, engine: str) -> None:
    import sqlite3

    frame = pd.read_csv(project / "train.csv")
    if engine == "duckdb":
        pytest.importorskip("duckdb")
        source = {"sql": "SELECT * FROM 'train.csv' WHERE stars >= 2", "connection": "duckdb:"}
    else:
        with sqlite3.connect(project / "train.db") as con:
            frame.to_sql("comments", con, index=False)
        url = "sqlite:train.db" if engine == "sqlite" else f"sqlite:///{project / 'train.db'}"
        if engine == "sqlalchemy":
            pytest.importorskip("sqlalchemy")
        source = {"sql": "SELECT * FROM comments WHERE stars >= 2", "connection": url}
    edit_spec(project, lambda s: s["data"].update(train=source))
    steps = {s.stage: s for s in Pipeline.from_yaml(project / "gristmill.yaml").plan()}
    assert f"train {int((frame['stars'] >= 2).sum())}" in steps["load"].detail
    edit_spec(project, lambda s: s["data"]["train"].update(sql="SELECT * FROM nowhere"))
    with pytest.raises(gristmill.SpecError, match=r"data\.train\.sql: the query failed"):
        Pipeline.from_yaml(project / "gristmill.yaml").plan()


def test_editing_a_helper_module_of_the_lfs_reruns_labeling(project: Path) -> None:
    (project / "words.py").write_text("SPAM = ['free', 'money']\n")
    (project / "lfs_a.py").write_text(
        "from gristmill import ABSTAIN, labeling_function\nfrom words import SPAM\n\n"
        "@labeling_function()\ndef says_free(x):\n"
        "    return 1 if any(w in x.text for w in SPAM) else ABSTAIN\n\n"
        "@labeling_function()\ndef says_song(x):\n"
        "    return 0 if 'song' in x.text or 'voice' in x.text else ABSTAIN\n"
    )
    pipeline = Pipeline.from_yaml(project / "gristmill.yaml")
    first = pipeline.run(track=False)
    assert _stages(pipeline.run(track=False))["label"] is True
    (project / "words.py").write_text("SPAM = ['free']\n")
    again = Pipeline.from_yaml(project / "gristmill.yaml").run(track=False)
    assert _stages(again)["label"] is False
    before, after = first.label_matrix.column("says_free"), again.label_matrix.column("says_free")
    assert (after == 1).sum() < (before == 1).sum()


def _slices_with_helper(project: Path, limit: int) -> None:
    (project / "slice_words.py").write_text(f"LIMIT = {limit}\n")
    (project / "slices.py").write_text(
        "from gristmill import slicing_function\nfrom slice_words import LIMIT\n\n"
        "@slicing_function()\ndef short(x):\n    return len(x.text.split()) < LIMIT\n"
    )


def test_a_slice_module_imports_helpers_and_an_edited_helper_reaches_the_next_run(
    project: Path,
) -> None:
    _slices_with_helper(project, 6)
    first = Pipeline.from_yaml(project / "gristmill.yaml").run(track=False)
    assert first.slice_paths == [project / "slices.py"]
    (project / "slice_words.py").write_text("LIMIT = 4\n")
    again = Pipeline.from_yaml(project / "gristmill.yaml").run(track=False)
    # Only evaluation reads the slices, and it is never cached: the stages before it are.
    stages = _stages(again)
    assert stages["label"] and stages["label_model"] and stages["train"]
    assert stages["evaluate"] is False
    short = [r.tasks["spam"].details["slice_sizes"]["test"]["short"] for r in (first, again)]
    assert 0 < short[1] < short[0]
    assert "slice_words" not in sys.modules


def test_slice_modules_of_two_projects_each_import_their_own_helper(
    tmp_path: Path, load_helper_module
) -> None:
    helpers = load_helper_module(
        "gristmill_test_pipeline_project", Path(__file__).parent / "conftest.py"
    )
    sizes = []
    for name, limit in (("a", 6), ("b", 4)):
        project = tmp_path / name
        project.mkdir()
        helpers.make_project(project)
        _slices_with_helper(project, limit)
        result = Pipeline.from_yaml(project / "gristmill.yaml").run(track=False)
        sizes.append(result.tasks["spam"].details["slice_sizes"]["test"]["short"])
    assert sizes[1] < sizes[0]


FRAGILE_SLICE = (
    "from gristmill import slicing_function\n\n"
    "@slicing_function()\ndef fragile(x):\n"
    "    if x.text == 'BOOM':\n        raise ValueError('cannot slice this')\n"
    "    return False\n"
)


def test_a_slicing_function_failing_on_the_first_rows_stops_validation(project: Path) -> None:
    dev = pd.read_csv(project / "dev.csv")
    dev.loc[2, "text"] = "BOOM"  # data row 3 of the file
    dev.to_csv(project / "dev.csv", index=False)
    (project / "slices.py").write_text(FRAGILE_SLICE)
    pipeline = Pipeline.from_yaml(project / "gristmill.yaml")
    expected = (
        f"slices.modules[0]: {project.resolve() / 'slices.py'}: the dev data (rows of "
        f"{project.resolve() / 'dev.csv'} numbered from 1, the header not counted): slicing "
        "function 'fragile' failed on row 3: ValueError: cannot slice this"
    )
    for attempt in (pipeline.plan, lambda: pipeline.run(track=False)):
        with pytest.raises(gristmill.SpecError, match=re.escape(expected)):
            attempt()
    assert not (project / "runs").exists() and not (project / ".gristmill").exists()


def test_a_slicing_function_failing_at_evaluation_names_its_module_split_and_row(
    project: Path,
) -> None:
    test = pd.read_csv(project / "test.csv")
    test.loc[40, "text"] = "BOOM"  # data row 41 of the file
    test.to_csv(project / "test.csv", index=False)
    (project / "slices.py").write_text(FRAGILE_SLICE)
    expected = (
        f"slices.modules[0]: {project.resolve() / 'slices.py'}: the test data (rows of "
        f"{project.resolve() / 'test.csv'} numbered from 1, the header not counted): slicing "
        "function 'fragile' failed on row 41: ValueError: cannot slice this"
    )
    _fails_on_fragile_row(project, expected, 41)


def test_a_run_dir_under_a_file_is_refused_before_any_work(project: Path) -> None:
    target = project / "lfs_a.py" / "out"
    message = f"run directory {target} lies under {project / 'lfs_a.py'}, which is a file"
    with pytest.raises(OutputError, match=re.escape(message)):
        Pipeline.from_yaml(project / "gristmill.yaml").run(track=False, run_dir=target)
    assert not (project / ".gristmill").exists()


def test_the_run_directory_keeps_the_spec_that_ran(project: Path) -> None:
    spec = project / "gristmill.yaml"
    validated = spec.read_bytes()
    pipeline = Pipeline.from_yaml(spec)
    edit_spec(project, lambda s: s["model"]["budget"].update(trials=5))  # edited meanwhile
    result = pipeline.run(track=False)
    assert len(result.trials) == 2
    assert (result.run_dir / "spec.yaml").read_bytes() == validated


def test_too_few_covered_rows_name_the_task(two_task_project: Path) -> None:
    (two_task_project / "lfs_rating.py").write_text(
        "from gristmill import ABSTAIN, labeling_function\n\n@labeling_function()\n"
        "def rare(x):\n    return 1 if x.cid in ('c1-0', 'c1-1') else ABSTAIN\n"
    )
    edit_spec(two_task_project, lambda s: s["tasks"]["rating"].update(label_model="majority_vote"))
    message = "only 2 training rows are covered by the supervision of task 'rating'; need at least"
    with pytest.raises(gristmill.DataError, match=re.escape(message)):
        Pipeline.from_yaml(two_task_project / "gristmill.yaml").run(track=False)
