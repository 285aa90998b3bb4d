"""The run's lf_summary.csv: an LF with no vote on a dev row has no dev accuracy (an empty cell)."""

from __future__ import annotations

import csv
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gristmill.pipeline import Pipeline

from .conftest import edit_spec

# Train rows have ids c1-..., dev rows c2-...: this LF votes on train rows only.
LFS_TRAIN_ONLY = """
from gristmill import ABSTAIN, labeling_function

@labeling_function()
def train_cash(x):
    return 1 if x.cid.startswith("c1-") and "cash" in x.text else ABSTAIN
"""


@pytest.fixture(scope="module")
def cluster():
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address="127.0.0.1:0"
    ) as running:
        yield running


@pytest.mark.parametrize("engine", ["pandas", "dask"])
def test_an_lf_without_dev_votes_has_a_missing_dev_accuracy(
    project: Path, engine: str, request: pytest.FixtureRequest
) -> None:
    (project / "lfs_c.py").write_text(textwrap.dedent(LFS_TRAIN_ONLY), encoding="utf-8")
    edit_spec(project, lambda s: s["tasks"]["spam"]["supervision"]["lfs"].append("lfs_c.py"))
    pipeline = Pipeline.from_yaml(project / "gristmill.yaml")
    if engine == "dask":
        scheduler = request.getfixturevalue("cluster").scheduler_address
        pipeline = pipeline.with_engine("dask", scheduler=scheduler)
    result = pipeline.run(track=False)

    summary = result.lf_summary
    assert summary.loc["train_cash", "Coverage"] > 0
    assert summary.loc["train_cash", "Dev Coverage"] == 0
    assert np.isnan(summary.loc["train_cash", "Dev Emp. Acc."])
    assert summary.drop(index="train_cash")["Dev Emp. Acc."].between(0, 1).all()

    path = result.run_dir / "lf_summary.csv"
    with path.open(newline="", encoding="utf-8") as handle:
        rows = {row[""]: row for row in csv.DictReader(handle)}
    assert rows["train_cash"]["Dev Emp. Acc."] == ""  # missing, not Snorkel's 0.0
    assert float(rows["says_free"]["Dev Emp. Acc."]) > 0.5
    written = pd.read_csv(path, index_col=0)
    assert np.isnan(written.loc["train_cash", "Dev Emp. Acc."])
