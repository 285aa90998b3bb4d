"""Fixtures for the tracking tests: a fake pipeline (see _fakes.py) and prepared projects.

Creating an MLflow SQLite schema takes seconds, so one empty store is made per session and
copied into each project; a project with two tracked runs ("history") is also built once and
copied for tests that change registry state.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest

FAKES_PATH = Path(__file__).with_name("_fakes.py")


@pytest.fixture(scope="session")
def fakes(load_helper_module: Callable[[str, Path], ModuleType]) -> Iterator[ModuleType]:
    """The fake pipeline module, with its end-model IO installed in gristmill.training.

    The fake IO handles the fake end model and passes real end models to the real functions.
    """
    module = load_helper_module("gristmill_tracking_test_fakes", FAKES_PATH)
    import gristmill.training

    module.remember_real_io()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gristmill.training, "save_end_model", module.save_end_model, raising=False)
        patch.setattr(gristmill.training, "load_end_model", module.load_end_model, raising=False)
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        yield module


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory: pytest.TempPathFactory, fakes: ModuleType) -> Path:
    """An MLflow SQLite database with its schema created (copied into projects)."""
    from gristmill.tracking._store import open_client

    db = tmp_path_factory.mktemp("empty-store") / "mlflow.db"
    open_client(f"sqlite:///{db}")
    return db


@pytest.fixture(scope="session")
def store_copier() -> Callable[[Path, Path], None]:
    """The consistent SQLite copy (``copy_store``) for tests that place a store themselves."""
    return copy_store


@pytest.fixture
def project(tmp_path: Path, empty_store: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty project directory with its own (fresh) embedded store."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    directory = tmp_path / "project"
    directory.mkdir()
    copy_store(empty_store, directory / "mlflow.db")
    return directory


@pytest.fixture(scope="session")
def history(tmp_path_factory: pytest.TempPathFactory, empty_store: Path, fakes: ModuleType) -> dict:
    """A project with two tracked runs of model 'spam'.

    Version 1: the base data and LFs. Version 2: lf_love edited, a different training set and
    30% label noise, so it scores worse. Returns the project path, run ids and lineage digests.
    """
    from gristmill.tracking import RunTracker

    directory = tmp_path_factory.mktemp("history") / "project"
    spec_path = fakes.write_project(directory)
    copy_store(empty_store, directory / "mlflow.db")
    first = RunTracker(project_dir=directory)
    fakes.tracked_run(spec_path, first)
    train_v1 = fakes.dataset_digest_of(directory / "train.csv")
    lf_text = (directory / "lfs.py").read_text()
    (directory / "lfs.py").write_text(lf_text.replace('"love" in x.text', '"lov" in x.text'))
    fakes.make_texts(200, 42).to_csv(directory / "train.csv", index=False)
    spec_text = spec_path.read_text().replace("noise: 0.0", "noise: 0.3")
    spec_path.write_text(spec_text)
    second = RunTracker(project_dir=directory)
    fakes.tracked_run(spec_path, second)
    return {
        "dir": directory,
        "runs": [first.run_id_, second.run_id_],
        "versions": [first.model_version_, second.model_version_],
        "train_v1": train_v1,
    }


@pytest.fixture
def history_copy(history: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the history project whose registry state a test may change."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    target = tmp_path / "project"
    target.mkdir()
    copy_store(history["dir"] / "mlflow.db", target / "mlflow.db")
    return target


def copy_store(source: Path, target: Path) -> None:
    """Copy a SQLite store consistently (its write-ahead log included) with SQLite's backup."""
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
