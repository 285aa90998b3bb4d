"""The result carries the LF and slice modules as the run imported them (for tracking)."""

from __future__ import annotations

from pathlib import Path

from gristmill.pipeline import Pipeline

from .conftest import edit_spec


def test_the_result_of_several_tasks_carries_each_module_once(two_task_project: Path) -> None:
    project = two_task_project
    (project / "click_words.py").write_text('WORDS = ["click", "subscribe"]\n')
    lfs_b = project / "lfs_b.py"
    source = lfs_b.read_text().replace(
        '"click" in x.text or "subscribe" in x.text', "any(w in x.text for w in WORDS)"
    )
    lfs_b.write_text(f"from click_words import WORDS\n{source}")
    # lfs_b.py serves both tasks: the result keeps it once, as lf_paths does.
    spec = edit_spec(
        project,
        lambda s: s["tasks"]["rating"]["supervision"].update(lfs=["lfs_rating.py", "lfs_b.py"]),
    )
    result = Pipeline.from_yaml(spec).run(track=False)

    assert [m.path for m in result.lf_modules] == result.lf_paths
    assert [[lf.name for lf in m.functions] for m in result.lf_modules] == [
        ["says_free", "says_song"],
        ["says_click", "says_love"],
        ["many_stars", "few_stars", "three_and_praise"],
    ]
    assert result.lf_modules[1].files == [lfs_b.resolve(), (project / "click_words.py").resolve()]
    for task in result.tasks.values():
        assert [m.path for m in task.lf_modules] == task.lf_paths
    assert [m.path for m in result.slice_modules] == result.slice_paths
    assert [[sf.name for sf in m.functions] for m in result.slice_modules] == [["short"]]
