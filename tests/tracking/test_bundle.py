"""load_bundle: the registered model and what serving and monitoring need beside it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from gristmill.exceptions import TrackingError
from gristmill.tracking import ModelBundle, load_bundle, promote
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
