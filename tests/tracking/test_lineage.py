"""Lineage from a model back to its data and LFs, and from an input forward to its models."""

from __future__ import annotations

from pathlib import Path

import pytest

from gristmill.exceptions import TrackingError
from gristmill.tracking import file_digest, lineage, models_trained_on, promote, render_lineage


def test_lineage_of_an_alias_follows_the_chain(history_copy: Path, history: dict) -> None:
    promote("spam", 1, project_dir=history_copy)
    doc = lineage("spam@champion", project_dir=history_copy)
    assert doc["model"] == {
        "name": "spam",
        "version": "1",
        "aliases": ["champion"],
        "source": doc["model"]["source"],
    }
    assert doc["run"]["run_id"] == history["runs"][0]
    assert doc["data"]["train"]["digest"] == history["train_v1"]
    assert doc["data"]["train"]["rows"] == 200
    assert set(doc["lfs"]["lfs.py"]["functions"]) == {"lf_subscribe", "lf_love"}
    assert doc["label_model"]["type"] == "FakeLabelModel"
    assert doc["end_model"]["type"] == "TextModel"
    assert doc["lf_names"] == ["lf_subscribe", "lf_love"]
    text = render_lineage(doc)
    order = [
        "data",
        "→ cleaning",
        "→ labeling functions",
        "→ label model",
        "→ end model",
        "→ run",
        "→ model",
    ]
    positions = [text.index(line) for line in order]
    assert positions == sorted(positions)
    assert history["train_v1"] in text and "lf_love" in text


def test_lineage_by_version_and_missing_alias(history_copy: Path) -> None:
    assert lineage("spam/2", project_dir=history_copy)["model"]["aliases"] == ["challenger"]
    with pytest.raises(TrackingError, match="no registered model version spam@champion"):
        lineage("spam@champion", project_dir=history_copy)


def test_models_trained_on_a_dataset_digest(history_copy: Path, history: dict) -> None:
    only_first = models_trained_on(dataset_digest=history["train_v1"], project_dir=history_copy)
    assert list(only_first["version"]) == ["1"]
    test_file = file_digest(history["dir"] / "test.csv")
    both = models_trained_on(dataset_digest=test_file[:8], project_dir=history_copy)
    assert list(both["version"]) == ["1", "2"]
    assert list(both["run_id"]) == history["runs"]


def test_models_trained_with_an_lf_version(history_copy: Path) -> None:
    first = lineage("spam/1", project_dir=history_copy)["lfs"]["lfs.py"]["functions"]
    second = lineage("spam/2", project_dir=history_copy)["lfs"]["lfs.py"]["functions"]
    shared = models_trained_on(lf_digest=first["lf_subscribe"], project_dir=history_copy)
    assert list(shared["version"]) == ["1", "2"]
    edited = models_trained_on(lf_digest=second["lf_love"], project_dir=history_copy)
    assert list(edited["version"]) == ["2"]
    assert models_trained_on(lf_digest="ffffffff", project_dir=history_copy).empty


def test_reverse_query_arguments_are_checked(history_copy: Path) -> None:
    with pytest.raises(TrackingError, match="exactly one"):
        models_trained_on(project_dir=history_copy)
    with pytest.raises(TrackingError, match="exactly one"):
        models_trained_on(dataset_digest="abcd", lf_digest="abcd", project_dir=history_copy)
    with pytest.raises(TrackingError, match="hexadecimal"):
        models_trained_on(dataset_digest="ab", project_dir=history_copy)
    with pytest.raises(TrackingError, match="hexadecimal"):
        models_trained_on(lf_digest="x' OR '1", project_dir=history_copy)


def test_a_digest_matches_by_prefix_not_by_substring(history_copy: Path, history: dict) -> None:
    digest = history["train_v1"]
    assert list(
        models_trained_on(dataset_digest=digest[:6], project_dir=history_copy)["version"]
    ) == ["1"]
    assert models_trained_on(dataset_digest=digest[3:11], project_dir=history_copy).empty
    lf = lineage("spam/1", project_dir=history_copy)["lfs"]["lfs.py"]["functions"]["lf_subscribe"]
    assert models_trained_on(lf_digest=lf[4:12], project_dir=history_copy).empty
    assert len(models_trained_on(lf_digest=lf[:8], project_dir=history_copy)) == 2


FACTORY_LFS = """\
from gristmill.labeling import keyword_lf

kw_free = keyword_lf(["free"], 1, name="kw_free")
kw_love = keyword_lf(["love"], 0, name="kw_love")
"""


def test_lfs_built_by_factories_are_found_and_diffed(project: Path, fakes) -> None:
    from gristmill.tracking import RunTracker, diff_versions

    spec_path = fakes.write_project(project)
    (project / "lfs.py").write_text(FACTORY_LFS)
    fakes.tracked_run(spec_path, RunTracker(project_dir=project))
    (project / "lfs.py").write_text(FACTORY_LFS.replace('["free"]', '["free", "win"]'))
    fakes.tracked_run(spec_path, RunTracker(project_dir=project))
    first = lineage("spam/1", project_dir=project)["lfs"]["lfs.py"]["functions"]
    assert set(first) == {"kw_free", "kw_love"}
    assert list(models_trained_on(lf_digest=first["kw_free"], project_dir=project)["version"]) == [
        "1"
    ]
    assert list(models_trained_on(lf_digest=first["kw_love"], project_dir=project)["version"]) == [
        "1",
        "2",
    ]
    assert list(diff_versions("spam", 1, 2, project_dir=project).lfs["key"]) == [
        "lfs.py",
        "lfs.py::kw_free",
    ]
