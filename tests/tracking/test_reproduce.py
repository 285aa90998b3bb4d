"""Reproducing a tracked run from its logged spec and LF sources."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from gristmill.exceptions import TrackingError
from gristmill.tracking import reproduce


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
