"""The registry workflow: champion/challenger, promotion checks, rollback and diffs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gristmill.exceptions import PromotionRefused, TrackingError
from gristmill.tracking import (
    ModelRef,
    _store,
    champion_history,
    diff_versions,
    list_versions,
    promote,
    rollback,
)


def test_list_versions_shows_aliases_and_primary_metric(history_copy: Path) -> None:
    table = list_versions("spam", project_dir=history_copy)
    assert list(table["version"]) == ["2", "1"]
    assert list(table["aliases"]) == ["challenger", ""]
    assert set(table["metric"]) == {"f1"}
    assert table["value"].between(0, 1).all()


def test_first_promotion_needs_no_comparison(history_copy: Path) -> None:
    outcome = promote("spam", 1, project_dir=history_copy)
    assert (outcome.version, outcome.previous, len(outcome.comparisons)) == ("1", None, 0)
    assert (
        list_versions("spam", project_dir=history_copy).set_index("version").loc["1", "aliases"]
        == "champion"
    )


def test_promotion_refused_on_regression_names_metrics(history_copy: Path) -> None:
    promote("spam", 1, project_dir=history_copy)
    with pytest.raises(PromotionRefused, match=r"version 2 over champion version 1.*f1.*--force"):
        promote("spam", 2, project_dir=history_copy)
    table = list_versions("spam", project_dir=history_copy).set_index("version")
    assert table.loc["1", "aliases"] == "champion"


def test_tolerance_and_force_allow_promotion(history_copy: Path) -> None:
    promote("spam", 1, project_dir=history_copy)
    forced = promote("spam", 2, force=True, project_dir=history_copy)
    assert forced.forced and forced.previous == "1"
    assert forced.comparisons["regressed"].any()
    assert set(forced.comparisons["metric"]) == {"f1", "slice.short.f1"}
    rollback("spam", project_dir=history_copy)
    tolerant = promote("spam", 2, tolerance=1.0, project_dir=history_copy)
    assert not tolerant.forced and not tolerant.comparisons["regressed"].any()


def _metrics(overall: float, short: float) -> dict:
    return {
        "label_model": {"test": {"overall": {"accuracy": 0.8}}},
        "end_model": {"test": {"overall": {"f1": overall}, "slices": {"short": {"f1": short}}}},
    }


def test_slice_regression_alone_refuses(project: Path, fakes) -> None:
    from gristmill.tracking import RunTracker

    spec_path = fakes.write_project(project)
    fakes.tracked_run(
        spec_path, RunTracker(project_dir=project), metrics_override=_metrics(0.80, 0.80)
    )
    fakes.tracked_run(
        spec_path, RunTracker(project_dir=project), metrics_override=_metrics(0.85, 0.70)
    )
    promote("spam", 1, project_dir=project)
    with pytest.raises(
        PromotionRefused, match=r"on slice.short.f1: 0.7000 vs champion 0.8000\."
    ) as info:
        promote("spam", 2, tolerance=0.05, project_dir=project)
    assert "; f1" not in str(info.value)
    assert promote("spam", 2, tolerance=0.1, project_dir=project).previous == "1"


def test_rollback_restores_previous_champion_and_keeps_history(history_copy: Path) -> None:
    promote("spam", 1, project_dir=history_copy)
    promote("spam", 2, force=True, project_dir=history_copy)
    assert rollback("spam", project_dir=history_copy) == ("2", "1")
    table = list_versions("spam", project_dir=history_copy).set_index("version")
    assert table.loc["1", "aliases"] == "champion"
    events = champion_history("spam", project_dir=history_copy)
    assert [(e["action"], e["version"]) for e in events] == [
        ("promote", "1"),
        ("promote", "2"),
        ("rollback", "1"),
    ]
    assert events[1]["forced"] is True
    with pytest.raises(TrackingError, match="no earlier champion"):
        rollback("spam", project_dir=history_copy)


def test_rollback_without_champion_is_an_error(history_copy: Path) -> None:
    with pytest.raises(TrackingError, match="no champion"):
        rollback("spam", project_dir=history_copy)


def test_unknown_model_and_version_are_clear_errors(history_copy: Path) -> None:
    with pytest.raises(TrackingError, match="no registered model named 'ham'"):
        list_versions("ham", project_dir=history_copy)
    with pytest.raises(TrackingError, match="no registered model version spam/9"):
        promote("spam", 9, project_dir=history_copy)
    with pytest.raises(TrackingError, match="tolerance"):
        promote("spam", 1, tolerance=-0.1, project_dir=history_copy)


def test_diff_reports_spec_lf_data_and_metric_changes(history_copy: Path) -> None:
    diff = diff_versions("spam", 1, 2, project_dir=history_copy)
    assert diff.spec.set_index("key").loc["training.noise"].tolist() == ["0.0", "0.3"]
    assert list(diff.lfs["key"]) == ["lfs.py", "lfs.py::lf_love"]
    assert list(diff.data["key"]) == ["train.digest"]
    metrics = diff.metrics.set_index("key")
    assert metrics.loc["end_model.test.f1", "delta"] < 0
    assert metrics.loc["label_model.test.accuracy", "delta"] == 0


def test_model_ref_parsing() -> None:
    assert ModelRef.parse("spam@champion") == ModelRef("spam", alias="champion")
    assert ModelRef.parse("models:/spam/3") == ModelRef("spam", version="3")
    assert str(ModelRef.parse("a/b@x")) == "a/b@x"
    for bad in ("spam", "spam@", "spam/x", "@x"):
        with pytest.raises(TrackingError, match="NAME@ALIAS"):
            ModelRef.parse(bad)


def _task_metrics(spam: float, rating: float, *, spam_short: float | None = None) -> dict:
    """Metrics of a run of two tasks, keyed by task as the pipeline reports them."""

    def task(value: float, short: float) -> dict:
        overall = {"f1": value, "accuracy": value}
        return {
            "label_model": {"test": {"overall": {"accuracy": 0.8}}},
            "end_model": {"test": {"overall": overall, "slices": {"short": {"f1": short}}}},
        }

    return {
        "spam": task(spam, spam if spam_short is None else spam_short),
        "rating": task(rating, rating),
    }


def _track(project: Path, fakes, metrics: dict) -> str:
    from gristmill.tracking import RunTracker

    tracker = RunTracker(project_dir=project)
    fakes.tracked_run(project / "spec.yaml", tracker, metrics_override=metrics)
    return str(tracker.run_id_)


def test_versions_of_several_tasks_are_listed_compared_and_promoted_per_task(
    project: Path, fakes
) -> None:
    fakes.write_project(project)
    _track(project, fakes, _task_metrics(0.80, 0.60))
    _track(project, fakes, _task_metrics(0.90, 0.70))
    _track(project, fakes, _task_metrics(0.95, 0.50))
    table = list_versions("spam", project_dir=project).set_index("version")
    assert set(table["metric"]) == {"f1"}
    assert table.loc["1", "by_task"] == {"rating": 0.60, "spam": 0.80}
    assert table.loc["1", "value"] == pytest.approx(0.70)
    promote("spam", 1, project_dir=project)
    better = promote("spam", 2, project_dir=project)
    assert set(better.comparisons["metric"]) == {
        "spam.f1",
        "spam.slice.short.f1",
        "rating.f1",
        "rating.slice.short.f1",
    }
    assert better.comparisons.set_index("metric").loc["rating.f1", "delta"] == pytest.approx(0.1)
    with pytest.raises(PromotionRefused, match=r"on rating.f1: 0.5000 vs champion 0.7000") as info:
        promote("spam", 3, project_dir=project)
    assert "spam.f1" not in str(info.value)
    by_accuracy = promote("spam", 3, metric="accuracy", tolerance=0.25, project_dir=project)
    assert set(by_accuracy.comparisons["metric"]) == {"spam.accuracy", "rating.accuracy"}


def test_runs_of_several_tasks_logged_without_a_primary_metric_tag_use_the_spec(
    project: Path, fakes
) -> None:
    # Runs of several tasks were once logged with an empty gristmill.primary_metric tag.
    spec_path = fakes.write_project(project)
    spec = yaml.safe_load(spec_path.read_text())
    spec_path.write_text(yaml.safe_dump({**spec, "model": {"metric": "accuracy"}}))
    runs = [_track(project, fakes, _task_metrics(v, v)) for v in (0.8, 0.7)]
    client = _store.connect(project)
    for run_id in runs:
        client.set_tag(run_id, "gristmill.primary_metric", "")
    assert set(list_versions("spam", project_dir=project)["metric"]) == {"accuracy"}
    promote("spam", 1, project_dir=project)
    with pytest.raises(PromotionRefused, match=r"spam.accuracy: 0.7000 vs champion 0.8000"):
        promote("spam", 2, project_dir=project)


def test_a_task_that_regresses_on_a_slice_alone_refuses(project: Path, fakes) -> None:
    fakes.write_project(project)
    _track(project, fakes, _task_metrics(0.80, 0.60))
    _track(project, fakes, _task_metrics(0.80, 0.60, spam_short=0.5))
    promote("spam", 1, project_dir=project)
    with pytest.raises(PromotionRefused, match=r"on spam.slice.short.f1: 0.5000 vs champion"):
        promote("spam", 2, project_dir=project)


def test_versions_sharing_no_metric_are_promoted_only_with_force(project: Path, fakes) -> None:
    fakes.write_project(project)
    _track(project, fakes, _metrics(0.8, 0.8))
    _track(project, fakes, _task_metrics(0.8, 0.8))
    promote("spam", 1, project_dir=project)
    with pytest.raises(PromotionRefused, match="share no end-model test metric.*--force"):
        promote("spam", 2, project_dir=project)
    forced = promote("spam", 2, force=True, project_dir=project)
    assert forced.forced and forced.previous == "1"


def test_an_unknown_metric_is_refused_even_without_a_champion(history_copy: Path) -> None:
    with pytest.raises(TrackingError, match=r"no end-model test metric 'bogus'; it logged .*f1"):
        promote("spam", 1, metric="bogus", project_dir=history_copy)
    assert champion_history("spam", project_dir=history_copy) == []
    assert list(list_versions("spam", project_dir=history_copy)["aliases"]) == ["challenger", ""]
    assert promote("spam", 1, metric="accuracy", project_dir=history_copy).version == "1"


def test_an_unknown_metric_of_one_task_is_named(project: Path, fakes) -> None:
    fakes.write_project(project)
    metrics = _task_metrics(0.8, 0.8)
    del metrics["rating"]["end_model"]["test"]["overall"]["accuracy"]
    _track(project, fakes, metrics)
    with pytest.raises(
        TrackingError, match=r"no end-model test metric 'accuracy' for task 'rating'"
    ):
        promote("spam", 1, metric="accuracy", project_dir=project)


def test_versions_with_leading_zeros_are_the_registry_versions(history_copy: Path) -> None:
    assert ModelRef.parse("spam/01") == ModelRef("spam", version="1")
    assert promote("spam", "01", project_dir=history_copy).version == "1"
    assert champion_history("spam", project_dir=history_copy)[0]["version"] == "1"
    assert diff_versions("spam", "01", "002", project_dir=history_copy).v2 == "2"
    with pytest.raises(TrackingError, match="whole number >= 1; got '0'"):
        promote("spam", 0, project_dir=history_copy)


def test_a_missing_alias_names_the_aliases_the_model_has(history_copy: Path) -> None:
    from gristmill.tracking import lineage

    with pytest.raises(
        TrackingError,
        match=r"^no registered model version spam@champoin: model 'spam' has no alias "
        r"'champoin' \(its aliases are challenger\)$",
    ):
        lineage("spam@champoin", project_dir=history_copy)
    promote("spam", 1, project_dir=history_copy)
    with pytest.raises(TrackingError, match=r"\(its aliases are challenger, champion\)$"):
        lineage("spam@best", project_dir=history_copy)
    with pytest.raises(TrackingError, match="there is no registered model named 'ham'$"):
        lineage("ham@champion", project_dir=history_copy)
