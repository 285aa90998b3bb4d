"""The pipeline's stages: SQL sources, label and gold columns, the cleaning cache, digests."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gristmill.exceptions import LFError, SpecError
from gristmill.io import write_table
from gristmill.pipeline import Pipeline
from gristmill.pipeline._cache import frame_digest
from gristmill.pipeline._multilabel import label_sets
from gristmill.pipeline._stages import class_indices

from .conftest import add_fragile_lf, edit_spec


def _cached(result) -> dict[str, bool]:
    return {s.name: s.cached for s in result.stages}


def _add_columns(project: Path, add) -> None:
    """Call ``add(frame, split)`` on every split file, adding columns in place."""
    for split in ("train", "dev", "test"):
        frame = pd.read_csv(project / f"{split}.csv")
        add(frame, split)
        frame.to_csv(project / f"{split}.csv", index=False)


# -- SQL sources --------------------------------------------------------------------------------


@pytest.mark.parametrize("connection", ["sqlite:nosuch.sqlite", "duckdb:nosuch.duckdb", "url"])
def test_missing_database_file_is_named_and_not_created(project: Path, connection: str) -> None:
    if connection.startswith("duckdb"):
        pytest.importorskip("duckdb")
    if connection == "url":
        pytest.importorskip("sqlalchemy")
        connection = f"sqlite:///{project / 'nosuch.sqlite'}"
    path = edit_spec(
        project,
        lambda s: s["data"].update(train={"sql": "SELECT * FROM t", "connection": connection}),
    )
    missing = re.escape(str(project / "nosuch"))
    with pytest.raises(
        SpecError, match=rf"data\.train\.connection: no such database file: {missing}"
    ):
        Pipeline.from_yaml(path).plan()
    assert not list(project.glob("nosuch*"))


def test_existing_sqlite_file_is_read(project: Path) -> None:
    with sqlite3.connect(project / "train.sqlite") as con:
        pd.read_csv(project / "train.csv").to_sql("t", con, index=False)
    path = edit_spec(
        project,
        lambda s: s["data"].update(
            train={"sql": "SELECT * FROM t", "connection": "sqlite:train.sqlite"}
        ),
    )
    steps = {s.stage: s for s in Pipeline.from_yaml(path).plan()}
    assert "train 240," in steps["load"].detail


# -- gold and label columns ---------------------------------------------------------------------


def test_gold_column_as_a_label_column_is_refused(project: Path) -> None:
    train = pd.read_csv(project / "train.csv")
    train["CLASS"] = np.where(train["text"].str.contains("free|money"), "spam", "ham")
    train.to_csv(project / "train.csv", index=False)
    path = edit_spec(
        project, lambda s: s["tasks"]["spam"]["supervision"].update(label_columns={"CLASS": None})
    )
    with pytest.raises(
        SpecError,
        match=r"tasks\.spam\.supervision\.label_columns\.CLASS: 'CLASS' is the task's gold "
        r"column.*use supervision\.gold_labels: true instead",
    ):
        Pipeline.from_yaml(path).plan()


def test_class_names_that_look_like_numbers_match_float_columns() -> None:
    # a numeric column with blanks is read as floats: 1.0 is the class "1", not the index 1
    indices, unknown = class_indices(pd.Series([1.0, np.nan, 3.0, 2.0]), ["1", "2", "3"])
    assert indices.tolist() == [0, -1, 2, 1] and unknown == []
    # with numbers for class names, numbers are never class indices
    indices, unknown = class_indices(pd.Series([0, 1, 2]), ["1", "2", "3"])
    assert indices.tolist() == [-1, 0, 1] and unknown == [0]
    # other class names leave integers to be class indices, whole floats included
    indices, _ = class_indices(pd.Series(["spam", 0, 1.0, 1.5]), ["ham", "spam"])
    assert indices.tolist() == [1, 0, 1, -1]
    # value maps compare a whole float as its integer text too
    indices, _ = class_indices(pd.Series([1.0, 0.0, np.nan]), ["ham", "spam"], {"1": "spam"})
    assert indices.tolist() == [1, -1, -1]


def test_each_distinct_label_is_matched_once_and_unknowns_listed_once_in_order() -> None:
    # equal values of other types read differently (5.0 is "5", True is "True"); an unknown value
    # is listed once, by equality, in the order first seen
    values = pd.Series(["b", 5, 5.0, True, 1, "b", [1], None, 7, [1], "a", 5], dtype=object)
    indices, unknown = class_indices(values, ["a", "b"])
    assert indices.tolist() == [1, -1, -1, 1, 1, 1, -1, -1, -1, -1, 0, -1]
    assert unknown == [5, [1], 7] and [type(v) for v in unknown] == [int, list, int]
    many = pd.Series([f"x{i % 5000}" for i in range(20000)] + ["spam"])
    indices, unknown = class_indices(many, ["ham", "spam"])
    assert unknown == [f"x{i}" for i in range(5000)] and indices[-1] == 1
    assert (indices[:-1] == -1).all()


def test_label_sets_match_items_as_class_indices_does() -> None:
    values = pd.Series(["a|b", "[]", ["b", None], "zz|a", None, "1|0", "zz", 2.0], dtype=object)
    indicators, unknown = label_sets(values, ["a", "b", "c"], "|")
    assert indicators.tolist() == [
        [1, 1, 0],
        [0, 0, 0],
        [0, 1, 0],
        [-1, -1, -1],
        [-1, -1, -1],
        [1, 1, 0],
        [-1, -1, -1],
        [0, 0, 1],
    ]
    assert unknown == ["zz"]


def _star_ratings(project: Path) -> Path:
    """A 3-class task on star ratings: three crowd columns and the gold, with blanks (floats)."""
    rng = np.random.default_rng(0)

    def add(frame: pd.DataFrame, split: str) -> None:
        rating = frame["stars"].clip(1, 3)
        frame["RATE"] = rating.astype("float64")
        frame.loc[0, "RATE"] = np.nan
        for worker in ("w1", "w2", "w3"):
            noise = rng.integers(1, 4, len(frame))
            votes = np.where(rng.random(len(frame)) < 0.85, rating, noise).astype("float64")
            frame[worker] = np.where(rng.random(len(frame)) < 0.3, np.nan, votes)

    _add_columns(project, add)

    def change(spec: dict) -> None:
        spec["tasks"]["spam"].update(kind="multiclass", classes=["1", "2", "3"], gold="RATE")
        spec["tasks"]["spam"]["supervision"] = {
            "label_columns": {"w1": None, "w2": None, "w3": None}
        }
        spec["slices"] = {"discover": False}

    return edit_spec(project, change)


def test_star_ratings_as_class_names_vote_and_score_as_written(project: Path) -> None:
    result = Pipeline.from_yaml(_star_ratings(project)).run(track=False)
    train = result.datasets["train"][0]
    w1 = result.label_matrix.column("column:w1")
    voted = train["w1"].notna().to_numpy()
    assert (w1[voted] == train["w1"][voted].to_numpy() - 1).all()  # 1.0 is class "1" (index 0)
    assert (w1[~voted] == -1).all()
    assert result.metrics["label_model"]["test"]["overall"]["accuracy"] > 0.9


def test_gold_value_that_is_no_class_name_is_named_without_class_indices(project: Path) -> None:
    path = _star_ratings(project)
    dev = pd.read_csv(project / "dev.csv")
    dev.loc[3, "RATE"] = 0.0
    dev.to_csv(project / "dev.csv", index=False)
    with pytest.raises(SpecError, match=r"tasks\.spam\.gold: .*value\(s\) \[0\.0\]") as error:
        Pipeline.from_yaml(path).plan()
    assert "class indices" not in str(error.value)


def test_value_map_keys_match_whole_floats(project: Path) -> None:
    def add(frame: pd.DataFrame, split: str) -> None:
        spam = frame["text"].str.contains("free|money|cash")
        frame["w"] = np.where(np.arange(len(frame)) % 3 == 0, np.nan, spam.astype(float))

    _add_columns(project, add)
    path = edit_spec(
        project,
        lambda s: s["tasks"]["spam"]["supervision"].update(
            label_columns={"w": {"values": {"1": "spam", "0": "ham"}}}
        ),
    )
    result = Pipeline.from_yaml(path).run(track=False)
    w = result.label_matrix.column("column:w")
    train = result.datasets["train"][0]
    assert (w == train["w"].fillna(-1).to_numpy()).all()  # 1.0 -> spam (1), 0.0 -> ham (0)


def test_minus_one_in_a_label_column_abstains_even_where_a_split_holds_nothing_else(
    project: Path,
) -> None:
    # A Snorkel-style LF output column: -1 abstains. On dev this LF never fires.
    def add(frame: pd.DataFrame, split: str) -> None:
        spam = frame["text"].str.contains("free|money|cash")
        frame["lf"] = -1 if split == "dev" else np.where(spam, 1, -1)

    _add_columns(project, add)
    path = edit_spec(
        project,
        lambda s: s["tasks"]["spam"]["supervision"].update(label_columns={"lf": None}),
    )
    result = Pipeline.from_yaml(path).run(track=False)
    votes = result.label_matrix.column("column:lf")
    train = result.datasets["train"][0]
    assert (votes == train["lf"].to_numpy()).all()  # 1 -> spam, -1 -> abstain
    assert (votes == 1).any() and (votes == -1).any()


def test_label_column_none_of_whose_values_maps_is_named(project: Path) -> None:
    _add_columns(
        project,
        lambda frame, split: frame.insert(
            len(frame.columns), "sh", np.where(frame["text"].str.contains("free"), "s", "h")
        ),
    )
    path = edit_spec(
        project,
        lambda s: s["tasks"]["spam"]["supervision"].update(
            label_columns={"sh": {"values": {"S": "spam", "H": "ham"}}}
        ),
    )
    with pytest.raises(
        SpecError,
        match=r"label_columns\.sh\.values: label column 'sh' of the train data holds "
        r"\['(h|s)', '(h|s)'\], none of which maps to a class by the value map "
        r"\{'S': 'spam', 'H': 'ham'\}",
    ):
        Pipeline.from_yaml(path).plan()
    path = edit_spec(
        project, lambda s: s["tasks"]["spam"]["supervision"].update(label_columns={"sh": None})
    )
    with pytest.raises(
        SpecError,
        match=r"label_columns\.sh: .*none of which maps to a class by classes \['ham', 'spam'\] "
        r"or a class index 0\.\.1",
    ):
        Pipeline.from_yaml(path).plan()


def test_multilabel_row_with_an_unknown_item_abstains_on_every_label(
    multilabel_project: Path,
) -> None:
    indicators, unknown = label_sets(
        pd.Series(["music|vid", "music", "vid", None]), ["music", "video"], "|"
    )
    assert indicators.tolist() == [[-1, -1], [1, 0], [-1, -1], [-1, -1]]
    assert unknown == ["vid"]
    for split in ("train", "dev", "test"):
        frame = pd.read_csv(multilabel_project / f"{split}.csv")
        frame["worker"] = frame["worker"].str.replace("video", "vid")
        frame.to_csv(multilabel_project / f"{split}.csv", index=False)
    unknown = r"label column 'worker' of the (train|dev|test) data holds item\(s\) \['vid'\]"
    with pytest.warns(UserWarning, match=unknown) as caught:
        result = Pipeline.from_yaml(multilabel_project / "gristmill.yaml").run(track=False)
    assert len([w for w in caught if "of the train data" in str(w.message)]) == 1
    worker = result.datasets["train"][0]["worker"]
    typo = worker.str.contains("vid", na=False).to_numpy()
    assert typo.any()
    for label in ("music", "money", "video"):
        votes = result.label_matrix.column(f"column:worker:{label}")
        assert (votes[typo] == -1).all()  # not "video does not apply"
        assert (votes[~typo & worker.notna().to_numpy()] != -1).all()


# -- the stage cache ---------------------------------------------------------------------------


def test_frame_digest_reads_list_and_mapping_cells() -> None:
    lists = pd.DataFrame({"tags": [["a", "b"], [], None], "meta": [{"x": 1, "y": [2]}, {}, None]})
    arrays = lists.assign(tags=[np.array(["a", "b"]), np.array([], dtype=object), None])
    assert frame_digest(lists) == frame_digest(lists.copy()) == frame_digest(arrays)
    for changed in (
        lists.assign(tags=[["a", "c"], [], None]),
        lists.assign(tags=[["b", "a"], [], None]),
        lists.assign(meta=[{"x": 2, "y": [2]}, {}, None]),
        lists.assign(tags=['["a", "b"]', "[]", None]),  # the text of a list is not that list
    ):
        assert frame_digest(changed) != frame_digest(lists)


@pytest.mark.parametrize("suffix", ["parquet", "jsonl"])
def test_multilabel_gold_and_label_columns_as_lists(multilabel_project: Path, suffix: str) -> None:
    root = multilabel_project
    for split in ("train", "dev", "test"):
        frame = pd.read_csv(root / f"{split}.csv")
        for column in ("tags", "worker"):
            if column in frame:
                frame[column] = [
                    None if pd.isna(v) else [] if v == "[]" else v.split("|") for v in frame[column]
                ]
        frame["meta"] = [{"row": i, "seen": [i % 2]} for i in range(len(frame))]
        if suffix == "parquet":
            frame.to_parquet(root / f"{split}.parquet")
        else:
            frame.to_json(root / f"{split}.jsonl", orient="records", lines=True)
    path = edit_spec(
        root,
        lambda s: s["data"].update(
            {k: {"path": f"{k}.{suffix}"} for k in ("train", "dev", "test")}
        ),
    )
    result = Pipeline.from_yaml(path).run(track=False)
    assert result.metrics["label_model"]["test"]["overall"]["f1_micro"] > 0.8
    again = Pipeline.from_yaml(path).run(track=False)
    assert all(_cached(again)[s] for s in ("label", "label_model", "train"))
    test = pd.read_parquet(root / "test.parquet") if suffix == "parquet" else None
    if test is not None:
        test.loc[0, "tags"] = np.array(["music", "money", "video"])
        test.to_parquet(root / "test.parquet")
        assert not _cached(Pipeline.from_yaml(path).run(track=False))["label"]


def test_editing_a_dictionary_row_reruns_cleaning(project: Path) -> None:
    def add(frame: pd.DataFrame, split: str) -> None:
        frame["code"] = [f"k{i % 71}" for i in range(len(frame))]
        frame["city"] = [f"city{i % 71}" for i in range(len(frame))]

    _add_columns(project, add)
    table = pd.DataFrame(
        {"code": [f"k{i}" for i in range(71)], "city": [f"city{i}" for i in range(71)]}
    )
    table.to_csv(project / "zips.csv", index=False)
    (project / "rules.yaml").write_text(
        json.dumps({"dictionaries": [{"path": "zips.csv", "keys": ["code"]}]})
    )
    path = edit_spec(
        project, lambda s: s.update(cleaning={"constraints": "rules.yaml", "splits": ["train"]})
    )
    first = Pipeline.from_yaml(path).run(track=False)
    assert first.cleaning["repairs"]["train"] == 0
    table.loc[35, "city"] = "elsewhere"  # pandas prints row 35 of 71 as '...'
    table.to_csv(project / "zips.csv", index=False)
    second = Pipeline.from_yaml(path).run(track=False)
    assert _cached(second)["clean"] is False
    repairs = pd.read_csv(second.run_dir / "repairs.csv")
    assert set(repairs["new"]) == {"elsewhere"} and set(repairs["column"]) == {"city"}


def test_gold_value_outside_classes_is_named_with_its_row_in_the_file(project: Path) -> None:
    dev = pd.read_csv(project / "dev.csv")
    dev.loc[[20, 30], "CLASS"] = "Spam"  # data rows 21 and 31 of the file
    dev.to_csv(project / "dev.csv", index=False)
    edit_spec(project, lambda spec: spec["data"]["dev"].update(where="stars >= 2"))
    assert (dev["stars"].iloc[:20] < 2).any()  # the filter moves the row up in the split
    with pytest.raises(SpecError) as info:
        Pipeline.from_yaml(project / "gristmill.yaml").plan()
    assert str(info.value).endswith(
        f"holds value(s) ['Spam'] that are not in classes ['ham', 'spam'] (nor class indices "
        f"0..1); the first, 'Spam', is on row 21 (rows of {project.resolve() / 'dev.csv'} "
        "numbered from 1, the header not counted)"
    )


def test_splits_of_one_file_read_it_once(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gristmill.pipeline._stages as stages

    frames = [pd.read_csv(project / f"{split}.csv") for split in ("train", "dev", "test")]
    pd.concat(frames).assign(part=np.repeat([0, 1, 2], [len(f) for f in frames])).to_csv(
        project / "all.csv", index=False
    )

    def change(spec: dict) -> None:
        for i, split in enumerate(("train", "dev", "test")):
            spec["data"][split] = {"path": "all.csv", "where": f"part == {i}"}

    edit_spec(project, change)
    reads: list[Path] = []
    read_table_parts = stages.read_table_parts
    monkeypatch.setattr(
        stages, "read_table_parts", lambda path: reads.append(path) or read_table_parts(path)
    )
    prepared = Pipeline.from_yaml(project / "gristmill.yaml")._prepare()
    assert reads == [(project / "all.csv").resolve()]
    for split, frame in zip(("train", "dev", "test"), frames, strict=True):
        loaded = prepared.splits[split].frame
        pd.testing.assert_frame_equal(loaded[frame.columns], frame, check_dtype=False)


def _split_into_files(project: Path, name: str, sizes: tuple[int, ...], suffix: str) -> Path:
    """Write the rows of ``name``.csv as files part-1, part-2, ... of ``sizes`` rows."""
    rows = pd.read_csv(project / f"{name}.csv")
    assert sum(sizes) == len(rows)
    folder = project / name
    folder.mkdir()
    start = 0
    for i, n in enumerate(sizes, start=1):
        write_table(rows.iloc[start : start + n], folder / f"part-{i}{suffix}")
        start += n
    return folder


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_a_glob_of_files_is_one_split_in_natural_order(project: Path, suffix: str) -> None:
    _split_into_files(project, "train", (10, 100, 130), suffix)
    (project / "train" / "part-3").with_suffix(suffix).rename(
        project / "train" / f"part-10{suffix}"
    )
    edit_spec(project, lambda spec: spec["data"]["train"].update(path=f"train/part-*{suffix}"))
    loaded = Pipeline.from_yaml(project / "gristmill.yaml")._prepare().splits["train"]
    expected = pd.read_csv(project / "train.csv")
    pd.testing.assert_frame_equal(loaded.frame, expected, check_dtype=False)
    assert loaded.rows.tolist() == [*range(1, 11), *range(1, 101), *range(1, 131)]


def test_a_directory_of_parquet_parts_is_one_split(project: Path) -> None:
    folder = _split_into_files(project, "dev", (30, 50), ".parquet")
    (folder / "_SUCCESS").write_text("")
    edit_spec(project, lambda spec: spec["data"]["dev"].update(path="dev"))
    loaded = Pipeline.from_yaml(project / "gristmill.yaml")._prepare().splits["dev"]
    pd.testing.assert_frame_equal(loaded.frame, pd.read_csv(project / "dev.csv"))


def test_an_lf_failure_in_a_glob_names_the_row_of_its_file(project: Path) -> None:
    train = pd.read_csv(project / "train.csv")
    train.loc[150, ["text", "stars"]] = ["BOOM", 5]  # row 31 of the second file
    train.to_csv(project / "train.csv", index=False)
    folder = _split_into_files(project, "train", (120, 120), ".csv")
    add_fragile_lf(project, path="train/*.csv")
    with pytest.raises(LFError) as info:
        Pipeline.from_yaml(project / "gristmill.yaml").run(track=False, run_dir=project / "run")
    assert str(info.value) == (
        f"{(project / 'lfs_c.py').resolve()}: the train data (rows of "
        f"{(folder / 'part-2.csv').resolve()} numbered from 1, the header not counted): "
        "Labeling function 'fragile' failed on row 31: ValueError: cannot label this"
    )
    assert (info.value.lf_name, info.value.row) == ("fragile", 31)


def test_a_gold_value_outside_classes_in_a_glob_names_its_file(project: Path) -> None:
    dev = pd.read_csv(project / "dev.csv")
    dev.loc[[50, 60], "CLASS"] = "Spam"  # rows 21 and 31 of the second file
    dev.to_csv(project / "dev.csv", index=False)
    folder = _split_into_files(project, "dev", (30, 50), ".csv")
    edit_spec(project, lambda spec: spec["data"]["dev"].update(path="dev/part-*.csv"))
    with pytest.raises(SpecError) as info:
        Pipeline.from_yaml(project / "gristmill.yaml").plan()
    assert str(info.value).endswith(
        f"the first, 'Spam', is on row 21 (rows of {(folder / 'part-2.csv').resolve()} "
        "numbered from 1, the header not counted)"
    )


def test_a_glob_matching_nothing_is_named_at_its_spec_line(project: Path) -> None:
    edit_spec(project, lambda spec: spec["data"]["dev"].update(path="dev/part-*.csv"))
    with pytest.raises(SpecError) as info:
        Pipeline.from_yaml(project / "gristmill.yaml").plan()
    assert re.search(
        r"gristmill\.yaml:\d+: data\.dev\.path: .*dev/part-\*\.csv: no file matches the pattern",
        str(info.value),
    )
