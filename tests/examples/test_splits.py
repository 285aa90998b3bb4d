"""The bundled examples' splits, as ``gristmill init`` lays them out: no row in two of them."""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from gristmill.cli import app
from gristmill.pipeline import load_spec
from gristmill.pipeline._stages import load_split

SPLITS = ("train", "dev", "test")


def _splits(example: str, project: Path) -> tuple[str, dict[str, pd.DataFrame]]:
    """The id column and the train, dev and test rows of ``example`` created in ``project``."""
    created = CliRunner().invoke(app, ["init", str(project), "--example", example])
    assert created.exit_code == 0, created.output
    spec, where = load_spec(project / "gristmill.yaml")
    frames = {s: load_split(s, getattr(spec.data, s), project, where).frame for s in SPLITS}
    assert spec.data.id is not None
    return spec.data.id, frames


@pytest.mark.parametrize("example", ["spam", "hospital"])
def test_no_id_and_no_row_is_in_two_splits(example: str, tmp_path: Path) -> None:
    id_column, frames = _splits(example, tmp_path / example)
    for first, second in itertools.combinations(SPLITS, 2):
        shared = set(frames[first][id_column]) & set(frames[second][id_column])
        assert not shared, f"{example}: {first} and {second} share ids {sorted(shared)[:5]}"
        both = frames[first].merge(frames[second], how="inner")  # on every column
        assert both.empty, f"{example}: {first} and {second} share rows\n{both.head()}"


def test_spam_comments_are_each_listed_once(tmp_path: Path) -> None:
    id_column, frames = _splits("spam", tmp_path / "spam")
    comments = pd.read_csv(tmp_path / "spam" / "data" / "youtube.csv")
    assert comments[id_column].is_unique and not comments.duplicated().any()
    # dev and test are the two halves of the Shakira comments, together all of them
    shakira = comments[comments["VIDEO"] == "Shakira"]
    halves = pd.concat([frames["dev"], frames["test"]])
    assert sorted(halves[id_column]) == sorted(shakira[id_column])
    assert abs(len(frames["dev"]) - len(frames["test"])) <= 1
