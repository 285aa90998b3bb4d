"""End to end: the bundled spam example run by the real pipeline with tracking on."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import yaml

import gristmill
from gristmill.tracking import (
    file_digest,
    lineage,
    list_versions,
    load_bundle,
    models_trained_on,
    reproduce,
)

EXAMPLE = Path(gristmill.__file__).parent / "examples" / "spam"


@pytest.mark.slow
def test_spam_example_tracked_registered_served_and_reproduced(
    tmp_path: Path,
    empty_store: Path,
    store_copier: Callable,
    fakes: ModuleType,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gristmill.pipeline import Pipeline

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    project = tmp_path / "spam"
    shutil.copytree(EXAMPLE, project)
    store_copier(empty_store, project / "mlflow.db")
    spec_path = project / "gristmill.yaml"
    spec = yaml.safe_load(spec_path.read_text())
    # A small search keeps the test quick; tracking does not depend on the budget.
    spec["model"]["candidates"] = ["logreg"]
    spec["model"]["budget"] = {"trials": 2}
    # A second LF module listed before lfs.py but named after it: the bundle must give the LFs
    # in the order the label model saw them, not in file-name order. Its keywords come from a
    # helper module beside it, which the run must keep for reproduce.
    (project / "money_words.py").write_text("MONEY = ['money', 'earn']\n")
    (project / "z_first.py").write_text(
        "from gristmill import keyword_lf\n"
        "from money_words import MONEY\n"
        "zz_money = keyword_lf(MONEY, 1, column='CONTENT', name='zz_money')\n"
    )
    spec["tasks"]["spam"]["supervision"]["lfs"] = ["z_first.py", "lfs.py"]
    spec_path.write_text(yaml.safe_dump(spec, sort_keys=False))

    result = Pipeline.from_yaml(spec_path).run(track=True)
    assert result.model_version == "1"
    table = list_versions(spec["name"], project_dir=project)
    assert list(table["aliases"]) == ["challenger"] and list(table["metric"]) == ["accuracy"]

    bundle = load_bundle(f"{spec['name']}@challenger", project_dir=project)
    sample = bundle.reference.head(5)
    out = bundle.predict(sample)
    assert list(out.columns) == ["prediction", "proba_ham", "proba_spam"]
    assert (out["prediction"].to_numpy() == result.model.predict(sample)).all()
    assert [lf.name for lf in bundle.lfs] == list(result.lf_summary.index)
    assert bundle.lfs[0].name == "zz_money" and bundle.label_model.lf_names_[0] == "zz_money"

    doc = lineage(f"{spec['name']}/1", project_dir=project)
    assert set(doc["data"]) == {"train", "dev", "test"}
    assert "lfs.py" in doc["lfs"]
    data_file = project / "data" / "youtube.csv"
    assert doc["data"]["dev"]["file"] == str(data_file.resolve())
    found = models_trained_on(dataset_digest=file_digest(data_file), project_dir=project)
    assert list(found["version"]) == ["1"]

    (project / "money_words.py").unlink()  # reproduced from the run's artifacts alone
    rerun = tmp_path / "rerun"
    again = reproduce(
        result.tracking_run_id, project_dir=project, tolerance=1e-9, workdir=rerun, track=True
    )
    assert again.matches, again.metrics[~again.metrics["within"]]
    # tracked in the project's store (given to the rerun, not set in the environment)
    assert again.result.model_version == "2" and not (rerun / "mlflow.db").exists()
    assert list(list_versions(spec["name"], project_dir=project)["version"]) == ["2", "1"]
    assert "MLFLOW_TRACKING_URI" not in os.environ
