"""The registry workflow: champion/challenger, promotion checks, rollback and diffs."""

from __future__ import annotations

from pathlib import Path

import pytest

from gristmill.exceptions import PromotionRefused, TrackingError
from gristmill.tracking import (
    ModelRef,
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
