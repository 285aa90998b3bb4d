"""Reproducing a tracked run from its logged spec and LF sources."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from gristmill.exceptions import TrackingError
from gristmill.tracking import RunTracker, reproduce


@pytest.fixture
def tracked(project: Path, fakes: ModuleType) -> str:
    tracker = RunTracker(project_dir=project)
    fakes.tracked_run(fakes.write_project(project), tracker)
    return str(tracker.run_id_)


def test_reproduce_uses_logged_spec_and_lfs_and_matches(
    project: Path, tracked: str, fakes: ModuleType, tmp_path: Path
) -> None:
    # Edit the live LF file: reproduction must use the logged copy, not this one.
    (project / "lfs.py").write_text("# edited after the run\n")
    seen: list[dict[str, Any]] = []

    def runner(spec_path: Path) -> Any:
        spec = yaml.safe_load(spec_path.read_text())
        seen.append(spec)
        return fakes.run_fake_pipeline(spec_path)

    outcome = reproduce(tracked, project_dir=project, workdir=tmp_path / "work", runner=runner)
    assert outcome.matches
    assert outcome.metrics["within"].all() and len(outcome.metrics) == 8
    lf_path = Path(seen[0]["labeling"]["lfs"][0])
    assert lf_path.parent.parent == tmp_path / "work"
    assert "lf_subscribe" in lf_path.read_text()
    assert Path(seen[0]["data"]["train"]) == (project / "train.csv").resolve()


def test_metric_differences_are_reported(project: Path, tracked: str, fakes: ModuleType) -> None:
    def noisier(spec_path: Path) -> Any:
        spec = yaml.safe_load(spec_path.read_text())
        spec["training"]["noise"] = 0.4
        spec_path.write_text(yaml.safe_dump(spec))
        return fakes.run_fake_pipeline(spec_path)

    outcome = reproduce(tracked, project_dir=project, runner=noisier)
    assert not outcome.matches
    assert not outcome.metrics.set_index("metric").loc["end_model.test.f1", "within"]


def test_changed_data_is_refused_before_rerunning(project: Path, tracked: str, fakes: ModuleType) -> None:
    fakes.make_texts(200, 7).to_csv(project / "train.csv", index=False)
    calls: list[Path] = []
    with pytest.raises(TrackingError, match=r"train data .*train.csv changed since the run"):
        reproduce(tracked, project_dir=project, runner=calls.append)
    assert calls == []
    (project / "train.csv").unlink()
    with pytest.raises(TrackingError, match="no longer exists"):
        reproduce(tracked, project_dir=project, runner=calls.append)


def test_table_digest_mismatch_after_loading(project: Path, tracked: str, fakes: ModuleType) -> None:
    def shuffled(spec_path: Path) -> Any:
        result = fakes.run_fake_pipeline(spec_path)
        frame, source = result.datasets["test"]
        result.datasets["test"] = (frame.iloc[::-1], source)
        return result

    with pytest.raises(TrackingError, match=r"test data .* has digest .* but the run logged"):
        reproduce(tracked, project_dir=project, runner=shuffled)


def test_unknown_run_is_a_clear_error(project: Path, fakes: ModuleType) -> None:
    with pytest.raises(TrackingError, match="no tracked run with id 'deadbeef'"):
        reproduce("deadbeef", project_dir=project)
