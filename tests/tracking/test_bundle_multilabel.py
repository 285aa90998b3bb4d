"""load_bundle of a model with a multilabel task: its label model is the binary-relevance one."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from gristmill.labelmodel import BinaryRelevanceLabelModel, MajorityVote
from gristmill.tracking import load_bundle

PIPELINE_PROJECTS = Path(__file__).parents[1] / "pipeline" / "conftest.py"


def _tags_project(root: Path, projects: ModuleType, *, with_binary_task: bool) -> Path:
    """The multilabel project of the pipeline tests (task ``tags``), with a binary ``spam`` task
    beside it when asked; returns the spec's path."""
    root.mkdir()
    for split, n, seed in (("train", 300, 1), ("dev", 100, 2), ("test", 100, 3)):
        frame = projects.tagged(n, seed)
        frame["spam"] = np.where(frame["tags"].str.contains("money"), "spam", "ham")
        frame.drop(columns=["tags"] if split == "train" else []).to_csv(
            root / f"{split}.csv", index=False
        )
    (root / "lfs_tags.py").write_text(textwrap.dedent(projects.LFS_TAGS), encoding="utf-8")
    (root / "lfs_spam.py").write_text(textwrap.dedent(projects.LFS_A), encoding="utf-8")
    spec = projects.multilabel_spec()
    if with_binary_task:
        spec["tasks"]["spam"] = {
            "kind": "binary",
            "classes": ["ham", "spam"],
            "gold": "spam",
            "supervision": {"lfs": ["lfs_spam.py"]},
            "label_model": "majority_vote",  # two LFs: too few for the latent-variable model
        }
    return Path(projects.write_spec(root, spec))


@pytest.fixture
def tracked_tags_run(
    tmp_path: Path,
    empty_store: Path,
    store_copier: Callable[[Path, Path], None],
    fakes: ModuleType,
    load_helper_module: Callable[[str, Path], ModuleType],
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[[bool], tuple[Path, str, ModuleType]]:
    """Run the tags project tracked into a fresh store: ``run(with_binary_task)`` gives its
    folder, the version registered and the pipeline tests' project helpers."""
    from gristmill.pipeline import Pipeline

    projects = load_helper_module("gristmill_pipeline_test_projects", PIPELINE_PROJECTS)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)

    def run(with_binary_task: bool) -> tuple[Path, str, ModuleType]:
        root = tmp_path / "tags"
        spec_path = _tags_project(root, projects, with_binary_task=with_binary_task)
        store_copier(empty_store, root / "mlflow.db")
        version = str(Pipeline.from_yaml(spec_path).run(track=True).model_version)
        return root, version, projects

    return run


@pytest.mark.slow
@pytest.mark.parametrize("with_binary_task", [False, True], ids=["one-task", "two-tasks"])
def test_bundle_loads_the_label_model_of_a_multilabel_task(
    with_binary_task: bool, tracked_tags_run: Callable[[bool], tuple[Path, str, ModuleType]]
) -> None:
    root, version, _ = tracked_tags_run(with_binary_task)

    bundle = load_bundle(f"toy-tags/{version}", project_dir=root)
    tags = bundle.for_task("tags")
    label_model = tags.label_model
    assert isinstance(label_model, BinaryRelevanceLabelModel)
    assert label_model.classes == ["music", "money", "video"]
    L = np.array([[0, -1, -1, -1, -1, -1, 5, -1, -1, -1]])  # 7 LFs, then 3 worker columns
    assert label_model.predict_proba(L).shape == (1, 3)
    assert label_model.lf_names_[0] == "says_song"
    assert label_model.lf_names_[-1] == "column:worker:video"
    assert [lf.name for lf in tags.lfs][:2] == ["says_song", "says_lyrics"]
    if with_binary_task:
        assert isinstance(bundle.for_task("spam").label_model, MajorityVote)


@pytest.mark.slow
def test_monitor_of_a_multilabel_task_uses_its_label_model(
    tracked_tags_run: Callable[[bool], tuple[Path, str, ModuleType]],
) -> None:
    from gristmill.monitoring import monitor
    from gristmill.serving import load_served_model

    root, version, projects = tracked_tags_run(True)
    served = load_served_model(
        f"toy-tags/{version}",
        task="tags",
        tracking_uri=f"sqlite:///{root / 'mlflow.db'}",
    )
    checked = monitor(served, current=projects.tagged(200, 9)[["text"]])
    assert not any("label_model" in note for note in checked.notes), checked.notes
    assert [d.name for d in checked.lfs][:2] == ["says_song", "says_lyrics"]
    assert checked.agreement is not None
    assert 0.8 < checked.agreement.estimated_accuracy <= 1.0
    assert checked.agreement.n_current > 200  # (row, label) pairs some LF votes on

    # A request log of label sets: served sets are classes (in any order, the empty set too),
    # and feedback sets score the served ones as sets.
    rows = projects.tagged(60, 11)
    served_sets = served.predict_frame(rows[["text"]])["prediction"].astype(str)
    reordered = ["|".join(reversed(s.split("|"))) for s in served_sets]
    logged = rows[["text"]].assign(_prediction=served_sets.to_numpy(), _label=reordered)
    checked = monitor(served, current=logged)
    assert not any(
        "not classes" in note or "none of the classes" in note for note in checked.notes
    ), checked.notes
    assert checked.slices["all"] == {"n": 60, "accuracy": 1.0}
    wrong = logged.assign(_label=["nothing_like_a_tag"] + reordered[1:])
    checked = monitor(served, current=wrong)
    assert any("1 feedback labels (_label) are none of the classes" in n for n in checked.notes)
    assert checked.slices["all"] == {"n": 59, "accuracy": 1.0}
