"""load_bundle: the registered model and what serving and monitoring need beside it."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import mlflow.pyfunc
import pandas as pd
import pytest

from gristmill.exceptions import TrackingError
from gristmill.tracking import ModelBundle, _store, load_bundle, promote
from gristmill.tracking._bundle import lf_files


def test_bundle_by_alias_holds_the_contracted_parts(history_copy: Path) -> None:
    promote("spam", 1, project_dir=history_copy)
    bundle = load_bundle("spam@champion", project_dir=history_copy)
    assert isinstance(bundle, ModelBundle)
    assert (bundle.name, bundle.version, bundle.alias) == ("spam", "1", "champion")
    assert bundle.classes == ["ham", "spam"] and bundle.payload_columns == ["text"]
    assert list(bundle.reference.columns) == ["text"] and len(bundle.reference) == 200
    assert bundle.spec["name"] == "spam"
    assert [lf.name for lf in bundle.lfs] == ["lf_subscribe", "lf_love"]
    assert (bundle.artifacts["label_model"] / "label_model.json").is_file()
    proba = bundle.end_model.predict_proba(pd.DataFrame({"text": ["free subscribe"]}))
    out = bundle.predict(pd.DataFrame({"text": ["free subscribe"]}))
    assert out.loc[0, "proba_spam"] == pytest.approx(proba[0, 1])
    assert out.loc[0, "prediction"] == "spam"


def test_bundle_by_version_and_bad_references(history_copy: Path) -> None:
    bundle = load_bundle("spam/2", project_dir=history_copy)
    assert (bundle.version, bundle.alias) == ("2", None)
    with pytest.raises(TrackingError, match="no registered model version spam/7"):
        load_bundle("spam/7", project_dir=history_copy)
    with pytest.raises(TrackingError, match="NAME@ALIAS"):
        load_bundle("spam", project_dir=history_copy)


class _PlainModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc,name-defined]
    def predict(self, context: Any, model_input: pd.DataFrame) -> pd.DataFrame:
        return model_input


def test_versions_gristmill_did_not_log_or_cannot_load_are_named(history_copy: Path) -> None:
    client = _store.connect(history_copy)
    run_id = client.get_model_version("spam", "1").run_id
    with mlflow.start_run(run_id=run_id):
        info = mlflow.pyfunc.log_model(
            name="plain", python_model=_PlainModel(), pip_requirements=["pandas"]
        )
    plain = client.create_model_version("spam", info.model_uri, run_id=run_id).version
    broken = client.create_model_version("spam", str(history_copy), run_id=run_id).version
    with pytest.raises(TrackingError, match=rf"^model spam/{plain} was not logged by gristmill"):
        load_bundle(f"spam/{plain}", project_dir=history_copy)
    with pytest.raises(TrackingError, match=rf"^cannot load model spam/{broken}: "):
        load_bundle(f"spam/{broken}", project_dir=history_copy)


def test_served_model_rejects_missing_payload_columns(history_copy: Path) -> None:
    bundle = load_bundle("spam/1", project_dir=history_copy)
    with pytest.raises(Exception, match="text"):
        bundle.predict(pd.DataFrame({"body": ["hello"]}))


def test_lf_modules_follow_the_spec_order(tmp_path: Path) -> None:
    for name in ("a_extra.py", "lfs.py", "z_first.py", "zz_unlisted.py"):
        (tmp_path / name).write_text("")
    spec = {
        "tasks": {
            "spam": {"supervision": {"lfs": ["lfs/z_first.py", "lfs.py"]}},
            "tone": {"supervision": {"lfs": ["lfs.py", "a_extra.py", "gone.py"]}},
        }
    }
    assert [p.name for p in lf_files(tmp_path, spec)] == [
        "z_first.py",
        "lfs.py",
        "a_extra.py",
        "zz_unlisted.py",
    ]
    assert [p.name for p in lf_files(tmp_path, {})] == sorted(
        ["a_extra.py", "lfs.py", "z_first.py", "zz_unlisted.py"]
    )


def test_bundle_lfs_import_the_helper_modules_logged_with_them(
    project: Path, fakes: ModuleType
) -> None:
    from gristmill.tracking import RunTracker

    spec_path = fakes.write_project(project)
    fakes.write_helper_lfs(project)
    fakes.tracked_run(spec_path, RunTracker(project_dir=project))
    for name in fakes.HELPERS:
        (project / name).unlink()
    bundle = load_bundle("spam/1", project_dir=project)
    assert [lf.name for lf in bundle.lfs] == ["lf_spam_word", "lf_ham_word"]
    assert [lf({"text": "subscribe, I love it"}) for lf in bundle.lfs] == [1, 0]


def test_helper_modules_are_not_taken_for_lf_modules(tmp_path: Path) -> None:
    for name in ("lfs.py", "words.py"):
        (tmp_path / name).write_text("")
    assert [p.name for p in lf_files(tmp_path, {}, modules=["lfs.py"])] == ["lfs.py"]


def test_lf_modules_kept_by_path_are_found_in_their_folders(tmp_path: Path) -> None:
    for name in ("b/lfs.py", "a/lfs.py", "a/words.py", "__parent__/shared/lfs.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
    modules = ["b/lfs.py", "a/lfs.py", "../shared/lfs.py"]
    found = lf_files(tmp_path, {}, modules=modules)
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "b/lfs.py",
        "a/lfs.py",
        "__parent__/shared/lfs.py",
    ]


def test_a_bundle_loads_from_its_store_when_another_is_opened_meanwhile(
    history_copy: Path,
    tmp_path: Path,
    empty_store: Path,
    store_copier: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gristmill.tracking import _bundle

    other = tmp_path / "other"
    other.mkdir()
    store_copier(empty_store, other / "mlflow.db")
    resolve = _bundle.resolve_version

    def resolve_while_another_store_is_opened(client: Any, ref: Any) -> Any:
        # What another thread opening its own store at this moment does to MLflow's
        # process-wide fluent URIs, through which models:/ URIs are read.
        _store.open_client(f"sqlite:///{other / 'mlflow.db'}")
        return resolve(client, ref)

    monkeypatch.setattr(_bundle, "resolve_version", resolve_while_another_store_is_opened)
    bundle = load_bundle("spam/2", project_dir=history_copy)
    assert (bundle.name, bundle.version) == ("spam", "2")
