"""The LF and slice modules of real pipeline runs: kept apart by path, and imported once."""

from __future__ import annotations

import dataclasses
import json
import shutil
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from gristmill.exceptions import TrackingError
from gristmill.pipeline import Pipeline
from gristmill.tracking import RunTracker, file_digest, lineage, load_bundle, reproduce
from gristmill.tracking._lineage import run_lineage
from gristmill.tracking._sources import kept_path, module_key, stage_sources
from gristmill.tracking._store import connect
from gristmill.tracking._tracker import build_lineage

PIPELINE_PROJECT = Path(__file__).parents[1] / "pipeline" / "conftest.py"

WORD_LF = """
from gristmill import ABSTAIN, labeling_function
from words import WORDS

@labeling_function()
def {name}(x):
    return {label} if any(w in x.text for w in WORDS) else ABSTAIN
"""

LONG_SLICE = """
from gristmill import slicing_function

@slicing_function()
def long(x):
    return len(x.text.split()) >= 8
"""

# A module-level side effect: each execution of the module adds a line beside it.
COUNTED = "with open(__file__ + '.imports', 'a') as log:\n    log.write('imported\\n')\n"


@pytest.fixture(scope="module")
def toy(load_helper_module: Callable[[str, Path], ModuleType]) -> ModuleType:
    """The pipeline tests' small project (synthetic comments, LF and slice modules)."""
    return load_helper_module("gristmill_tracking_test_toy_project", PIPELINE_PROJECT)


def _same_named_modules(project: Path, toy: ModuleType) -> Path:
    """The toy project with LF modules ``a/lfs.py``, ``b/lfs.py`` and ``../shared/lfs.py``.

    ``a/lfs.py`` and ``b/lfs.py`` each import their own ``words.py``; the slice modules are
    ``slices.py`` and ``extra/slices.py``.
    """
    toy.make_project(project)
    for folder, name, label, words in (
        ("a", "says_spam_word", 1, ["free", "money", "click"]),
        ("b", "says_ham_word", 0, ["song", "love", "dance"]),
    ):
        (project / folder).mkdir()
        (project / folder / "lfs.py").write_text(WORD_LF.format(name=name, label=label))
        (project / folder / "words.py").write_text(f"WORDS = {words!r}\n")
    shared = project.parent / "shared"
    shared.mkdir()
    shutil.copy(project / "lfs_b.py", shared / "lfs.py")
    (project / "extra").mkdir()
    (project / "extra" / "slices.py").write_text(textwrap.dedent(LONG_SLICE))

    def change(spec: dict[str, Any]) -> None:
        spec["name"] = "same-names"
        spec["tasks"]["spam"]["supervision"]["lfs"] = ["a/lfs.py", "b/lfs.py", "../shared/lfs.py"]
        spec["slices"]["modules"] = ["slices.py", "extra/slices.py"]

    return toy.edit_spec(project, change)


@pytest.mark.slow
def test_same_named_modules_in_different_folders_are_each_kept_and_reproduced(
    project: Path, toy: ModuleType, tmp_path: Path
) -> None:
    spec_path = _same_named_modules(project, toy)
    result = Pipeline.from_yaml(spec_path).run(track=True)

    doc = lineage("same-names/1", project_dir=project)
    assert {key: list(entry["functions"]) for key, entry in doc["lfs"].items()} == {
        "a/lfs.py": ["says_spam_word"],
        "b/lfs.py": ["says_ham_word"],
        "../shared/lfs.py": ["says_click", "says_love"],
    }
    for folder in ("a", "b"):
        words = file_digest(project / folder / "words.py")
        assert doc["lfs"][f"{folder}/lfs.py"]["helpers"] == {"words.py": words}
    assert list(doc["slices"]) == ["slices.py", "extra/slices.py"]

    bundle = load_bundle("same-names/1", project_dir=project)
    assert [lf.name for lf in bundle.lfs] == list(result.lf_summary.index)
    votes = {lf.name: lf({"text": "free song"}) for lf in bundle.lfs}
    assert votes == {"says_spam_word": 1, "says_ham_word": 0, "says_click": -1, "says_love": -1}

    # The working copies change after the run: a rerun from them would differ.
    (project / "a" / "words.py").write_text('WORDS = ["nothing matches this"]\n')
    (project / "b" / "lfs.py").unlink()
    shutil.rmtree(project.parent / "shared")
    (project / "extra" / "slices.py").unlink()
    work = tmp_path / "again"
    again = reproduce(str(result.tracking_run_id), project_dir=project, workdir=work)
    assert again.matches, again.metrics[~again.metrics["within"]]
    assert again.from_working_copy == []
    assert list(again.result.lf_summary.index) == list(result.lf_summary.index)
    rerun = build_lineage(again.result, {})
    assert [e["functions"] for e in rerun["lfs"].values()] == [
        e["functions"] for e in doc["lfs"].values()
    ]
    assert [e["helpers"] for e in rerun["lfs"].values()] == [
        e["helpers"] for e in doc["lfs"].values()
    ]
    # Laid out in the workdir as in the project: the rerun keeps the modules under the keys
    # the run did (a module outside the project folder under its kept path).
    assert (work / "a" / "words.py").read_text() == "WORDS = ['free', 'money', 'click']\n"
    assert (work / "__parent__" / "shared" / "lfs.py").is_file()
    assert (work / "extra" / "slices.py").is_file()
    assert list(rerun["lfs"]) == ["a/lfs.py", "b/lfs.py", "__parent__/shared/lfs.py"]
    assert list(rerun["slices"]) == list(doc["slices"])


def _artifact_dir(project: Path, run_id: str) -> Path:
    return Path(urlparse(connect(project).get_run(run_id).info.artifact_uri).path)


def test_runs_that_kept_modules_by_file_name_still_reproduce(
    project: Path, fakes: ModuleType, tmp_path: Path
) -> None:
    from gristmill.labeling import load_lfs

    spec_path = fakes.write_project(project)
    fakes.write_helper_lfs(project)
    sub = project / "sub"
    sub.mkdir()
    for name in ("lfs.py", *fakes.HELPERS):
        (sub / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(project / name, sub / name)
    spec = yaml.safe_load(spec_path.read_text())
    spec["labeling"]["lfs"] = ["sub/lfs.py"]
    spec_path.write_text(yaml.safe_dump(spec))
    tracker = RunTracker(project_dir=project)
    fakes.tracked_run(spec_path, tracker)
    # Lay the run out as runs were logged before modules were kept by path: each module and
    # its helpers at the top of lfs/, the lineage keyed by file name.
    artifacts = _artifact_dir(project, str(tracker.run_id_))
    for path in (artifacts / "lfs" / "sub").iterdir():
        path.rename(artifacts / "lfs" / path.name)
    (artifacts / "lfs" / "sub").rmdir()
    doc = json.loads((artifacts / "lineage.json").read_text())
    doc["lfs"] = {"lfs.py": doc["lfs"].pop("sub/lfs.py")}
    (artifacts / "lineage.json").write_text(json.dumps(doc))
    (sub / "spam_words.py").write_text('WORDS = ["nothing matches this"]\n')
    votes: list[list[int]] = []

    def runner(spec_path: Path, tracking_uri: str | None) -> Any:
        lf_path = spec_path.parent / yaml.safe_load(spec_path.read_text())["labeling"]["lfs"][0]
        votes.append([lf({"text": "subscribe, I love it"}) for lf in load_lfs(lf_path)])
        return fakes.run_fake_pipeline(spec_path)

    work = tmp_path / "again"
    outcome = reproduce(str(tracker.run_id_), project_dir=project, workdir=work, runner=runner)
    assert votes == [[1, 0]] and outcome.matches and outcome.from_working_copy == []
    assert (work / "spam_words.py").read_text() == 'WORDS = ["subscribe"]\n'


def test_module_keys_are_paths_from_the_spec_folder_kept_inside_the_artifacts(
    tmp_path: Path,
) -> None:
    spec_dir = tmp_path / "project"
    assert module_key(spec_dir / "a" / ".." / "b" / "lfs.py", spec_dir) == "b/lfs.py"
    assert module_key(tmp_path / "shared" / "lfs.py", spec_dir) == "../shared/lfs.py"
    assert kept_path("../shared/lfs.py") == "__parent__/shared/lfs.py"


def test_two_files_kept_at_one_place_are_refused(tmp_path: Path) -> None:
    spec_dir = tmp_path / "deep" / "project"
    outside = tmp_path / "deep" / "lfs.py"
    inside = spec_dir / "__parent__" / "lfs.py"
    for path in (outside, inside):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
    entries = {"../lfs.py": {"helpers": {}}, "__parent__/lfs.py": {"helpers": {}}}
    with pytest.raises(TrackingError, match=r"both would be kept as __parent__/lfs.py"):
        stage_sources([outside, inside], entries, spec_dir, tmp_path / "staged")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address="127.0.0.1:0"
    ) as running:
        yield running


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["pandas", "dask"])
def test_tracking_reads_the_modules_the_run_imported(
    engine: str, project: Path, toy: ModuleType, request: pytest.FixtureRequest
) -> None:
    toy.make_project(project)
    counted = [project / "lfs_a.py", project / "slices.py"]
    for path in counted:
        path.write_text(COUNTED + path.read_text())
    pipeline = Pipeline.from_yaml(project / "gristmill.yaml")
    if engine == "dask":
        scheduler = request.getfixturevalue("cluster").scheduler_address
        pipeline = pipeline.with_engine("dask", scheduler=scheduler)
    result = pipeline.run(track=True)
    assert [Path(f"{p}.imports").read_text() for p in counted] == ["imported\n"] * 2
    assert [m.path for m in result.lf_modules] == result.lf_paths
    assert [m.path for m in result.slice_modules] == result.slice_paths

    # The lineage the run logged is what importing the modules again gives.
    logged = run_lineage(connect(project), str(result.tracking_run_id))
    imported_again = build_lineage(dataclasses.replace(result, lf_modules=[], slice_modules=[]), {})
    assert [Path(f"{p}.imports").read_text() for p in counted] == ["imported\n" * 2] * 2
    assert {k: logged[k] for k in ("lfs", "slices")} == {
        k: imported_again[k] for k in ("lfs", "slices")
    }
