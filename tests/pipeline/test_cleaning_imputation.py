"""The pipeline's ``cleaning.imputation``: missing cells filled before labeling."""

from __future__ import annotations

import importlib
from pathlib import Path

import pandas as pd
import pytest
import yaml

from gristmill import Pipeline
from gristmill.exceptions import MissingExtraError, SpecError


def _edit_spec(project: Path, cleaning: dict) -> Path:
    path = project / "gristmill.yaml"
    spec = yaml.safe_load(path.read_text())
    spec["cleaning"] = cleaning
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def test_imputation_fills_missing_cells_and_is_cached(project: Path) -> None:
    frame = pd.read_csv(project / "train.csv")
    frame["author"] = [f"a{i % 20}" for i in range(len(frame))]
    frame["stars"] = [1 + (i % 20) % 5 for i in range(len(frame))]
    frame["stars"] = frame["stars"].astype("float64")
    frame.loc[[3, 7], "stars"] = None
    frame.to_csv(project / "train.csv", index=False)
    path = _edit_spec(
        project, {"imputation": {"method": "trees", "columns": ["stars"]}, "splits": ["train"]}
    )
    result = Pipeline.from_yaml(path).run(track=False)
    train = result.datasets["train"][0]
    assert train["stars"].notna().all()
    assert train.loc[3, "stars"] == 1 + (3 % 20) % 5  # the author's stars
    repairs = pd.read_csv(result.run_dir / "repairs.csv")
    assert set(repairs["detectors"]) == {"imputation"}
    assert sorted(repairs["row"]) == [3, 7]
    again = Pipeline.from_yaml(path).run(track=False)
    assert again.datasets["train"][0]["stars"].equals(train["stars"])


def test_imputation_spec_errors(project: Path) -> None:
    path = _edit_spec(project, {"imputation": {"method": "trees", "columns": ["nope"]}})
    with pytest.raises(SpecError, match=r"cleaning\.imputation\.columns: .*nope"):
        Pipeline.from_yaml(path).run(track=False)
    path = _edit_spec(project, {"imputation": {"method": "magic"}})
    with pytest.raises(SpecError, match=r"cleaning\.imputation\.method"):
        Pipeline.from_yaml(path)
    path = _edit_spec(project, {"min_confidence": 0.5})
    with pytest.raises(SpecError, match=r"constraints, imputation or both"):
        Pipeline.from_yaml(path)


def test_attention_without_torch_names_the_extra(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.import_module

    def without_torch(name: str, *args: object) -> object:
        if name == "torch":
            raise ImportError("No module named 'torch'")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", without_torch)
    path = _edit_spec(project, {"imputation": {"method": "attention"}})
    with pytest.raises(MissingExtraError, match=r"gristmill\[torch\]"):
        Pipeline.from_yaml(path).run(track=False)


def test_label_columns_are_neither_imputed_nor_seen_by_repair(project: Path) -> None:
    for name in ("train", "dev", "test"):
        split = pd.read_csv(project / f"{name}.csv")
        split["worker"] = split["text"].str.contains("win|cash").map({True: "S", False: None})
        if name == "train":
            split["stars"] = split["stars"].astype("float64")
            split.loc[[3, 7], "stars"] = None
            frame = split
        split.to_csv(project / f"{name}.csv", index=False)
    spec = yaml.safe_load((project / "gristmill.yaml").read_text())
    spec["tasks"]["spam"]["supervision"]["label_columns"] = {"worker": {"values": {"S": "spam"}}}
    (project / "gristmill.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    path = _edit_spec(project, {"imputation": {"method": "trees"}, "splits": ["train"]})
    result = Pipeline.from_yaml(path).run(track=False)
    repairs = pd.read_csv(result.run_dir / "repairs.csv")
    assert sorted(repairs["row"]) == [3, 7]
    assert set(repairs["column"]) == {"stars"}
    worker = result.label_matrix.column("column:worker")
    assert (worker == -1).sum() == frame["worker"].isna().sum()  # blanks stay abstains
    path = _edit_spec(project, {"imputation": {"method": "trees", "columns": ["worker"]}})
    with pytest.raises(
        SpecError,
        match=r"cleaning\.imputation\.columns: .*\['worker'\].*gold and label columns excluded",
    ):
        Pipeline.from_yaml(path).run(track=False)


def test_declaring_a_label_column_reruns_imputation(project: Path) -> None:
    # a sparse crowd column not yet declared is imputed like any other column
    for name in ("train", "dev", "test"):
        split = pd.read_csv(project / f"{name}.csv")
        spam = split["text"].str.contains("free|money|cash").astype("float64")
        split["worker"] = spam.where(split.index % 5 >= 3)  # 60% blank
        split.to_csv(project / f"{name}.csv", index=False)
    path = _edit_spec(project, {"imputation": {"method": "knn"}, "splits": ["train"]})
    first = Pipeline.from_yaml(path).run(track=False)
    assert set(pd.read_csv(first.run_dir / "repairs.csv")["column"]) == {"worker"}
    spec = yaml.safe_load(path.read_text())
    spec["tasks"]["spam"]["supervision"]["label_columns"] = {"worker": None}
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    result = Pipeline.from_yaml(path).run(track=False)
    assert {s.name: s.cached for s in result.stages}["clean"] is False
    worker = result.label_matrix.column("column:worker")
    blanks = pd.read_csv(project / "train.csv")["worker"].isna().to_numpy()
    assert (worker[blanks] == -1).all()  # blanks of a label column stay abstains
    assert len(pd.read_csv(result.run_dir / "repairs.csv")) == 0
