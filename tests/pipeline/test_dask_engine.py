"""``engine: dask``: the same spec as the pandas engine, run partition by partition on Dask."""

from __future__ import annotations

import json
import re
import textwrap
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gristmill.cli import app
from gristmill.exceptions import LFError, SpecError
from gristmill.io import read_dask_table
from gristmill.labeling import PartitionedLabelMatrix
from gristmill.pipeline import Pipeline, _dask_engine

from .conftest import add_fragile_lf, edit_spec

distributed = pytest.importorskip("distributed")

TRAIN_PARTS = 3


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address="127.0.0.1:0"
    ) as running:
        yield running


def _partition_train(project: Path) -> pd.DataFrame:
    """Rewrite train.csv as a directory of Parquet parts and point the spec at it."""
    train = pd.read_csv(project / "train.csv")
    folder = project / "train.parquet"
    folder.mkdir()
    for i, rows in enumerate(np.array_split(np.arange(len(train)), TRAIN_PARTS)):
        part = train.iloc[rows].reset_index(drop=True)
        part.to_parquet(folder / f"part.{i}.parquet", index=False)
    edit_spec(project, lambda s: s["data"]["train"].update(path="train.parquet"))
    return train


def _on_dask(project: Path, cluster) -> Pipeline:
    pipeline = Pipeline.from_yaml(project / "gristmill.yaml")
    return pipeline.with_engine("dask", scheduler=cluster.scheduler_address)


def _hidden(directory: Path) -> list[str]:
    return [p.name for p in directory.rglob("*") if p.name.startswith(".")]


def test_engines_agree_on_cleaning_with_constraints(project: Path, cluster) -> None:
    # every comment of an author has the same stars; rows in two partitions break that rule
    for name in ("train", "dev", "test"):
        frame = pd.read_csv(project / f"{name}.csv")
        frame["author"] = [f"a{i % 20}" for i in range(len(frame))]
        frame["stars"] = [1 + (i % 20) % 5 for i in range(len(frame))]
        if name == "train":
            for row in (3, 201):
                frame.loc[row, "stars"] = 5 if frame.loc[row, "stars"] != 5 else 1
        frame.to_csv(project / f"{name}.csv", index=False)
    edit_spec(
        project,
        lambda s: s.update(cleaning={"constraints": ["author -> stars"], "splits": ["train"]}),
    )
    _partition_train(project)
    pipeline = Pipeline.from_yaml(project / "gristmill.yaml")
    on_pandas = pipeline.with_engine("pandas").run(track=False, run_dir=project / "runs" / "p")
    on_dask = _on_dask(project, cluster).run(track=False, run_dir=project / "runs" / "d")

    expected = pd.read_csv(on_pandas.run_dir / "repairs.csv")
    got = pd.read_csv(on_dask.run_dir / "repairs.csv")
    assert {3, 201} <= set(got["row"])
    pd.testing.assert_frame_equal(
        got[["split", "row", "column", "old", "new"]],
        expected[["split", "row", "column", "old", "new"]],
    )
    np.testing.assert_array_equal(
        on_dask.label_matrix.to_dask().compute().to_numpy(), on_pandas.label_matrix.to_numpy()
    )
    assert _close(on_dask.metrics, on_pandas.metrics)
    assert [s.name for s in on_dask.stages][:2] == ["validate", "clean"]
    assert on_dask.cleaning == on_pandas.cleaning


def test_engines_agree_on_small_data(project: Path, cluster) -> None:
    _partition_train(project)
    pipeline = Pipeline.from_yaml(project / "gristmill.yaml")
    on_pandas = pipeline.with_engine("pandas").run(track=False, run_dir=project / "runs" / "p")
    on_dask = _on_dask(project, cluster).run(track=False, run_dir=project / "runs" / "d")

    # identical label matrix, kept as parts (one per data partition)
    matrix = on_dask.label_matrix
    assert isinstance(matrix, PartitionedLabelMatrix)
    assert matrix.n_partitions == TRAIN_PARTS
    assert matrix.lf_names == list(on_pandas.label_matrix.lf_names)
    np.testing.assert_array_equal(
        matrix.to_dask().compute().to_numpy(), on_pandas.label_matrix.to_numpy()
    )
    # label model fit from vote-pattern counts: the parameters of the in-memory fit
    np.testing.assert_allclose(
        on_dask.label_model.lf_accuracies_, on_pandas.label_model.lf_accuracies_, atol=1e-6
    )
    np.testing.assert_allclose(
        on_dask.label_model.class_balance_, on_pandas.label_model.class_balance_, atol=1e-6
    )
    # every covered row fits in the sample, so the end model and all metrics are the same
    assert _close(on_dask.metrics, on_pandas.metrics)
    expected = pd.read_parquet(on_pandas.run_dir / "probs.parquet")
    got = pd.read_parquet(on_dask.run_dir / "probs.parquet")
    pd.testing.assert_frame_equal(
        got[["split", "row", "id", "covered"]].reset_index(drop=True),
        expected[["split", "row", "id", "covered"]],
        check_dtype=False,
    )
    np.testing.assert_allclose(
        got.filter(like="proba_").to_numpy(), expected.filter(like="proba_").to_numpy(), atol=1e-6
    )
    summary = on_dask.lf_summary
    columns = ("Coverage", "Overlaps", "Conflicts", "Est. Acc.", "Dev Coverage", "Dev Emp. Acc.")
    assert list(summary.columns) == list(on_pandas.lf_summary.columns)
    for column in columns:
        np.testing.assert_allclose(summary[column], on_pandas.lf_summary[column], atol=1e-6)
    assert list(summary["Polarity"]) == list(on_pandas.lf_summary["Polarity"])
    run_dir = on_dask.run_dir
    for name in ("spec.yaml", "metrics.json", "lf_summary.csv", "model", "report.html"):
        assert (run_dir / name).exists(), name
    assert PartitionedLabelMatrix.open(run_dir / "label_matrix.parquet").n_rows == 240
    engine = json.loads((run_dir / "engine.json").read_text())
    assert (
        engine["train_sample_rows"]
        == engine["covered_train_rows"]
        == len(on_dask.datasets["train"][0])
    )
    # discovered slices: clusters of the end model's features on the in-memory dev sample
    discovered = on_dask.discovered_slices
    assert discovered is not None and discovered["split"].startswith("dev")
    assert discovered["clusters"] and all(c["size"] >= 5 for c in discovered["clusters"])
    assert sum(c["size"] for c in discovered["clusters"]) <= 80
    slices_file = json.loads((run_dir / "slices.json").read_text())
    assert slices_file["discovered"]["split"] == discovered["split"]
    assert on_dask.tasks["spam"].discovered_slices == discovered
    assert list(on_dask.tasks) == ["spam"]
    assert on_dask.tasks["spam"].label_matrix.path == run_dir / "label_matrix.parquet"
    assert [s.name for s in on_dask.stages] == [
        "validate",
        "label",
        "label_model",
        "probs",
        "train",
        "evaluate",
        "report",
    ]
    assert _hidden(run_dir.parent) == []


def _close(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    return a == pytest.approx(b)


def test_sample_bounds_the_end_model_rows(project: Path, cluster) -> None:
    _partition_train(project)
    edit_spec(project, lambda s: s["model"].update(sample_rows=100))
    result = _on_dask(project, cluster).run(track=False, run_dir=project / "run")
    engine = json.loads((result.run_dir / "engine.json").read_text())
    assert engine["covered_train_rows"] > 100
    assert engine["train_sample_rows"] == len(result.datasets["train"][0]) == 100
    assert engine["dev_sample_rows"] == 80  # dev has 80 gold rows, fewer than the limit
    # the probabilities of every row are still written, not only the sample's
    probs = pd.read_parquet(result.run_dir / "probs.parquet")
    assert (probs["split"] == "train").sum() == 240
    assert result.metrics["end_model"]["test"]["overall"]["accuracy"] > 0.7


def test_sources_the_workers_cannot_read_are_partitioned_by_the_client(
    project: Path, cluster
) -> None:
    frame = pd.read_csv(project / "test.csv")
    frame.to_json(project / "test.jsonl", orient="records", lines=True)
    edit_spec(project, lambda s: s["data"]["test"].update(path="test.jsonl"))
    result = _on_dask(project, cluster).run(track=False, run_dir=project / "run")
    notes = json.loads((result.run_dir / "engine.json").read_text())["notes"]
    assert len(notes) == 1 and notes[0].startswith("data.test: a .jsonl file is read by the client")
    assert result.metrics["end_model"]["test"]["overall"]["n"] == len(frame)


def _fails_on_row(project: Path, cluster, file: Path, row: int) -> None:
    """Run on Dask with rows of stars >= 4, expecting 'fragile' to fail on ``row`` of ``file``.

    The filter drops earlier rows of the file: the number must still be the row's in the file.
    """
    add_fragile_lf(project)
    expected = (
        f"{(project / 'lfs_c.py').resolve()}: the train data (rows of {file.resolve()} numbered "
        f"from 1): Labeling function 'fragile' failed on row {row}: ValueError: cannot label this"
    )
    with pytest.raises(LFError, match=re.escape(expected)) as info:
        _on_dask(project, cluster).run(track=False, run_dir=project / "run")
    assert (info.value.lf_name, info.value.row) == ("fragile", row)
    assert not (project / "run").exists()
    assert _hidden(project) == []


def test_lf_failure_names_the_parquet_part_and_its_row(project: Path, cluster) -> None:
    _partition_train(project)
    part = project / "train.parquet" / "part.1.parquet"
    frame = pd.read_parquet(part)
    frame.loc[7, ["text", "stars"]] = ["BOOM", 5]  # row 8 of the part file
    assert (frame["stars"].iloc[:7] < 4).any()
    frame.to_parquet(part, index=False)
    _fails_on_row(project, cluster, part, 8)


def test_lf_failure_names_the_row_of_a_parquet_file_split_at_row_groups(
    project: Path, cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a file is split at its row groups when they are larger than the block size
    monkeypatch.setattr(_dask_engine, "read_dask_table", partial(read_dask_table, blocksize=1))
    train = pd.read_csv(project / "train.csv")
    train.loc[150, ["text", "stars"]] = ["BOOM", 5]  # row 151 of the file, in its 4th group
    path = project / "train.parquet"
    train.to_parquet(path, index=False, row_group_size=40)
    edit_spec(project, lambda s: s["data"]["train"].update(path="train.parquet"))
    assert (
        _on_dask(project, cluster)
        .plan()[0]
        .detail.startswith(f"train {-(-len(train) // 40)} partitions")
    )
    _fails_on_row(project, cluster, path, 151)


def _csv_blocks(monkeypatch: pytest.MonkeyPatch, size: int) -> None:
    """Make the engine split CSV files into blocks of ``size`` bytes (one partition each)."""
    from gristmill.io._dask import csv_row_offsets

    monkeypatch.setattr(
        _dask_engine, "read_dask_table", partial(read_dask_table, csv_blocksize=size)
    )
    monkeypatch.setattr(
        _dask_engine, "csv_row_offsets", partial(csv_row_offsets, csv_blocksize=size)
    )


def _on_pandas_fails(project: Path, error: type[Exception]) -> Exception:
    pipeline = Pipeline.from_yaml(project / "gristmill.yaml").with_engine("pandas")
    with pytest.raises(error) as info:
        pipeline.run(track=False, run_dir=project / "on-pandas")
    return info.value


def test_lf_failure_on_csv_names_the_row_of_the_file_as_the_pandas_engine(
    project: Path, cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    train = pd.read_csv(project / "train.csv")
    train.loc[200, ["text", "stars"]] = ["BOOM", 5]  # row 201 of the file, in a later block
    train.to_csv(project / "train.csv", index=False)
    add_fragile_lf(project)
    _csv_blocks(monkeypatch, 2_000)
    pipeline = _on_dask(project, cluster)
    assert int(pipeline.plan()[0].detail.split()[1]) > 2  # "train N partitions"
    # Dask numbers each block's rows from 0; the error names the row of the file all the same
    with pytest.raises(LFError) as info:
        pipeline.run(track=False, run_dir=project / "run")
    assert not (project / "run").exists()
    assert _hidden(project) == []
    expected = _on_pandas_fails(project, LFError)
    assert str(info.value) == str(expected)
    assert str(expected).startswith(
        f"{(project / 'lfs_c.py').resolve()}: the train data (rows of "
        f"{(project / 'train.csv').resolve()} numbered from 1, the header not counted): "
        "Labeling function 'fragile' failed on row 201: ValueError: cannot label this"
    )
    assert (info.value.lf_name, info.value.row) == ("fragile", 201)


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_a_glob_of_files_is_read_and_errors_name_the_row_of_its_file(
    project: Path, cluster, suffix: str
) -> None:
    train = pd.read_csv(project / "train.csv")
    train.loc[150, ["text", "stars"]] = ["BOOM", 5]  # row 31 of the second file
    folder = project / "train"
    folder.mkdir()
    for name, rows in (("a", train.iloc[:120]), ("b", train.iloc[120:])):
        table = rows.reset_index(drop=True)
        if suffix == "csv":
            table.to_csv(folder / f"{name}.csv", index=False)
        else:
            table.to_parquet(folder / f"{name}.parquet", index=False)
    add_fragile_lf(project, path=f"train/*.{suffix}")
    header = ", the header not counted" if suffix == "csv" else ""
    expected = (
        f"{(project / 'lfs_c.py').resolve()}: the train data (rows of "
        f"{(folder / f'b.{suffix}').resolve()} numbered from 1{header}): Labeling function "
        "'fragile' failed on row 31: ValueError: cannot label this"
    )
    pipeline = _on_dask(project, cluster)
    assert pipeline.plan()[0].detail.startswith("train 2 partitions")
    with pytest.raises(LFError) as info:
        pipeline.run(track=False, run_dir=project / "run")
    assert str(info.value) == expected
    assert str(_on_pandas_fails(project, LFError)) == expected


def test_a_csv_row_spanning_lines_is_one_row_as_on_the_pandas_engine(
    project: Path, cluster
) -> None:
    train = pd.read_csv(project / "train.csv")
    train.loc[:9, "text"] = "one\ntwo\nthree"  # quoted fields over three lines
    train.loc[20, ["text", "stars"]] = ["BOOM", 5]  # row 21, on line 42 of the file
    train.to_csv(project / "train.csv", index=False)
    add_fragile_lf(project)
    expected = _on_pandas_fails(project, LFError)
    with pytest.raises(LFError) as info:
        _on_dask(project, cluster).run(track=False, run_dir=project / "run")
    assert str(info.value) == str(expected)
    assert info.value.row == expected.row == 21  # type: ignore[attr-defined]


OUT_OF_RANGE = """
from gristmill import ABSTAIN, labeling_function

@labeling_function()
def says_five(x):
    return 5 if x.text == "FIVE" else ABSTAIN
"""


@pytest.mark.parametrize("split", ["train", "dev"])
def test_a_vote_outside_the_classes_names_its_lf_module_as_the_pandas_engine(
    project: Path, cluster, split: str
) -> None:
    frame = pd.read_csv(project / f"{split}.csv")
    frame.loc[10, "text"] = "FIVE"
    frame.to_csv(project / f"{split}.csv", index=False)
    (project / "lfs_c.py").write_text(textwrap.dedent(OUT_OF_RANGE), encoding="utf-8")
    edit_spec(project, lambda s: s["tasks"]["spam"]["supervision"]["lfs"].append("lfs_c.py"))
    pipeline = _on_dask(project, cluster)
    with pytest.raises(LFError) as info:
        pipeline.run(track=False, run_dir=project / "run")
    assert str(info.value) == str(_on_pandas_fails(project, LFError))
    assert str(info.value) == (
        f"{(project / 'lfs_c.py').resolve()}: LF 'says_five' votes 5, but the task has 2 "
        "classes ['ham', 'spam']: votes must be 0..1 or -1 (abstain)"
    )
    assert info.value.lf_name == "says_five"


def test_partitions_without_rows_are_labeled_and_scored(project: Path, cluster) -> None:
    train = _partition_train(project)
    folder = project / "train.parquet"
    train.iloc[:0].to_parquet(folder / "part.3.parquet", index=False)  # an empty part
    first = pd.read_parquet(folder / "part.0.parquet").assign(stars=1)
    first.to_parquet(folder / "part.0.parquet", index=False)  # the filter keeps none of it
    edit_spec(project, lambda s: s["data"]["train"].update(where="stars >= 2"))
    result = _on_dask(project, cluster).run(track=False, run_dir=project / "run")
    kept = len(train) - len(first) - (train.iloc[len(first) :]["stars"] < 2).sum()
    assert result.label_matrix.part_rows[0] == result.label_matrix.part_rows[3] == 0
    assert result.label_matrix.n_rows == kept
    probs = pd.read_parquet(result.run_dir / "probs.parquet")
    assert (probs["split"] == "train").sum() == kept
    assert result.lf_summary["Coverage"].notna().all()


def test_csv_blocks_of_other_types_are_a_spec_error_naming_the_file(
    project: Path, cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    train = pd.read_csv(project / "train.csv")
    train["stars"] = train["stars"].astype(object)
    train.loc[200, "stars"] = None  # integers in the first block, a float NaN in a later one
    train.to_csv(project / "train.csv", index=False)
    _csv_blocks(monkeypatch, 2_000)
    expected = (
        f"data.train.path: cannot read {(project / 'train.csv').resolve()} with engine: dask, "
        "which takes the type of each CSV column from the file's first block of bytes"
    )
    with pytest.raises(SpecError, match=re.escape(expected)) as info:
        _on_dask(project, cluster).run(track=False, run_dir=project / "run")
    assert re.search(r"stars\s*\|\s*float64\s*\|\s*int64", str(info.value))
    assert not (project / "run").exists()


def test_gold_outside_the_classes_names_its_row_as_the_pandas_engine(
    project: Path, cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    dev = pd.read_csv(project / "dev.csv")
    dev.loc[[60, 70], "CLASS"] = ["spma", "hma"]  # rows 61 and 71 of the file
    dev.to_csv(project / "dev.csv", index=False)
    _csv_blocks(monkeypatch, 1_000)
    expected = _on_pandas_fails(project, SpecError)
    with pytest.raises(SpecError) as info:
        _on_dask(project, cluster).run(track=False, run_dir=project / "run")
    assert str(info.value) == str(expected)
    assert str(expected).endswith(
        f"holds value(s) ['spma', 'hma'] that are not in classes ['ham', 'spam'] (nor class "
        f"indices 0..1); the first, 'spma', is on row 61 (rows of "
        f"{(project / 'dev.csv').resolve()} numbered from 1, the header not counted)"
    )


def test_gold_outside_the_classes_names_its_parquet_part_and_row(project: Path, cluster) -> None:
    dev = pd.read_csv(project / "dev.csv")
    folder = project / "dev.parquet"
    folder.mkdir()
    dev.iloc[:40].to_parquet(folder / "part.0.parquet", index=False)
    dev.loc[47, "CLASS"] = "spma"  # row 8 of the second part
    dev.iloc[40:].to_parquet(folder / "part.1.parquet", index=False)
    edit_spec(project, lambda s: s["data"]["dev"].update(path="dev.parquet"))
    expected = (
        f"the first, 'spma', is on row 8 (rows of {folder.resolve() / 'part.1.parquet'} "
        "numbered from 1)"
    )
    with pytest.raises(SpecError, match=re.escape(expected)):
        _on_dask(project, cluster).run(track=False, run_dir=project / "run")


def test_lf_failure_on_a_split_the_client_read_names_the_row_of_the_file(
    project: Path, cluster
) -> None:
    train = pd.read_csv(project / "train.csv")
    train.loc[150, ["text", "stars"]] = ["BOOM", 5]  # row 151 of the file
    train.to_json(project / "train.jsonl", orient="records", lines=True)
    add_fragile_lf(project, path="train.jsonl")
    numbering = re.escape(f"(rows of {project.resolve() / 'train.jsonl'} numbered from 1)")
    message = rf"the train data {numbering}: Labeling function 'fragile' failed on row 151:"
    with pytest.raises(LFError, match=message) as info:
        _on_dask(project, cluster).run(track=False, run_dir=project / "run")
    assert info.value.row == 151
    assert not (project / "run").exists()


def test_spec_checks(project: Path, cluster) -> None:
    pipeline = Pipeline.from_yaml(project / "gristmill.yaml")
    with pytest.raises(SpecError, match="'scheduler' applies to engine: dask only"):
        pipeline.with_engine("pandas", scheduler="tcp://127.0.0.1:8786")
    with pytest.raises(SpecError, match=r"engine: .*'dask'"):
        pipeline.with_engine("spark")
    path = edit_spec(project, lambda s: s.update(scheduler="tcp://127.0.0.1:8786"))
    with pytest.raises(SpecError, match="'scheduler' applies to engine: dask only"):
        Pipeline.from_yaml(path)
    edit_spec(
        project, lambda s: s.update(engine="dask", cleaning={"imputation": {"method": "mean"}})
    )
    # rejected before connecting to the (unreachable) scheduler
    with pytest.raises(SpecError, match=r"gristmill.yaml:\d+: cleaning.imputation: .*engine: dask"):
        Pipeline.from_yaml(path).run(track=False)
    edit_spec(project, lambda s: s.pop("cleaning"))
    edit_spec(project, lambda s: s["tasks"].update(again=s["tasks"]["spam"]))
    with pytest.raises(SpecError, match="engine: dask runs"):
        Pipeline.from_yaml(path).plan()


def test_cli_dry_run_with_the_dask_engine(project: Path) -> None:
    _partition_train(project)
    done = CliRunner().invoke(
        app, ["run", str(project / "gristmill.yaml"), "--engine", "dask", "--dry-run"]
    )
    assert done.exit_code == 0, done.output
    assert "train 3 partitions" in done.output
    assert "vote-pattern counts" in done.output


def test_cli_runs_on_a_given_scheduler(project: Path, cluster) -> None:
    done = CliRunner().invoke(
        app,
        [
            "run",
            str(project / "gristmill.yaml"),
            "--no-track",
            "--scheduler",
            cluster.scheduler_address,
            "--run-dir",
            str(project / "run"),
        ],
    )
    assert done.exit_code == 0, done.output
    assert (project / "run" / "label_matrix.parquet" / "_label_matrix.json").is_file()


KILLER = """
import os
from pathlib import Path

from gristmill import ABSTAIN, labeling_function

@labeling_function()
def kills_worker_once(x):
    marker = Path(os.environ["GRISTMILL_TEST_KILL_MARKER"])
    if x.text == "KILL" and not marker.exists():
        marker.write_text("killed")
        os._exit(1)
    return 1 if "free" in x.text else ABSTAIN
"""


@pytest.mark.slow
def test_worker_killed_mid_run_is_retried_and_leaves_nothing_half_written(
    project: Path, monkeypatch
) -> None:
    _partition_train(project)
    part = project / "train.parquet" / "part.2.parquet"
    frame = pd.read_parquet(part)
    frame.loc[3, "text"] = "KILL"
    frame.to_parquet(part, index=False)
    (project / "lfs_c.py").write_text(textwrap.dedent(KILLER), encoding="utf-8")
    edit_spec(project, lambda s: s["tasks"]["spam"]["supervision"]["lfs"].append("lfs_c.py"))
    marker = project / "marker"
    monkeypatch.setenv("GRISTMILL_TEST_KILL_MARKER", str(marker))
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
    ) as processes:
        result = _on_dask(project, processes).run(track=False, run_dir=project / "run")
    assert marker.exists()  # a worker did die
    assert result.label_matrix.n_rows == 240
    votes = result.label_matrix.to_dask().compute()
    assert votes["kills_worker_once"].isin([-1, 1]).all()
    assert len(pd.read_parquet(result.run_dir / "probs.parquet")) == 240 + 80 + 80
    assert _hidden(project / "run") == []


@pytest.mark.slow
def test_without_a_scheduler_a_local_cluster_is_started_and_closed(project: Path) -> None:
    edit_spec(project, lambda s: s.update(engine="dask"))
    result = Pipeline.from_yaml(project / "gristmill.yaml").run(
        track=False, run_dir=project / "run"
    )
    assert result.metrics["end_model"]["test"]["overall"]["accuracy"] > 0.7
    with pytest.raises(ValueError, match="No global client found"):
        distributed.get_client()


def test_label_columns_vote_as_in_the_pandas_engine(project: Path, cluster) -> None:
    _partition_train(project)
    edit_spec(
        project,
        lambda s: s["tasks"]["spam"]["supervision"].update(
            label_columns={"stars": {"values": {"1": "spam", "5": "ham"}}}
        ),
    )
    pipeline = Pipeline.from_yaml(project / "gristmill.yaml")
    on_pandas = pipeline.with_engine("pandas").run(track=False, run_dir=project / "p")
    on_dask = _on_dask(project, cluster).run(track=False, run_dir=project / "d")
    assert on_dask.label_matrix.lf_names[-1] == "column:stars"
    np.testing.assert_array_equal(
        on_dask.label_matrix.to_dask().compute().to_numpy(), on_pandas.label_matrix.to_numpy()
    )


def test_repairs_land_in_the_partition_holding_their_row() -> None:
    import dask.dataframe as dd

    from gristmill.pipeline._dask_engine import _apply_repairs

    frame = pd.DataFrame({"city": ["x"] * 10, "stars": np.arange(10)})
    parts = dd.from_pandas(frame, npartitions=3)
    repairs = pd.DataFrame(
        {"row": [0, 5, 9], "column": ["city", "stars", "city"], "new": ["a", "7", "b"]}
    )
    repaired = _apply_repairs(parts, repairs).compute().reset_index(drop=True)
    expected = frame.copy()
    expected.loc[0, "city"], expected.loc[5, "stars"], expected.loc[9, "city"] = "a", 7, "b"
    pd.testing.assert_frame_equal(repaired, expected, check_dtype=False)
    assert pd.api.types.is_integer_dtype(repaired["stars"])
    assert _apply_repairs(parts, repairs.iloc[:0]) is parts


def test_the_run_directory_keeps_the_spec_that_ran(project: Path, cluster) -> None:
    validated = (project / "gristmill.yaml").read_bytes()
    pipeline = _on_dask(project, cluster)
    edit_spec(project, lambda s: s["model"]["budget"].update(trials=5))  # edited meanwhile
    result = pipeline.run(track=False, run_dir=project / "run")
    assert (result.run_dir / "spec.yaml").read_bytes() == validated


def test_slicing_functions_see_missing_text_as_on_the_pandas_engine(project: Path, cluster) -> None:
    for name in ("dev", "test"):  # a text column the model does not read, with gaps
        frame = pd.read_csv(project / f"{name}.csv")
        frame["author"] = np.where(np.arange(len(frame)) % 4 == 0, None, "someone")
        frame.to_csv(project / f"{name}.csv", index=False)
    (project / "slices.py").write_text(
        "from gristmill import slicing_function\n\n"
        "@slicing_function()\n"
        "def anonymous(x):\n"
        "    return x.author != x.author  # only NaN is unequal to itself\n"
    )
    pipeline = Pipeline.from_yaml(project / "gristmill.yaml")
    on_pandas = pipeline.with_engine("pandas").run(track=False, run_dir=project / "runs" / "p")
    on_dask = _on_dask(project, cluster).run(track=False, run_dir=project / "runs" / "d")
    for result in (on_pandas, on_dask):
        anonymous = result.metrics["label_model"]["test"]["slices"]["anonymous"]
        assert anonymous["n"] == (len(pd.read_csv(project / "test.csv")) + 3) // 4
    assert _close(on_dask.metrics, on_pandas.metrics)


def test_the_tracking_uri_given_reaches_the_tracker_as_on_the_pandas_engine(
    project: Path, cluster, monkeypatch
) -> None:
    import gristmill.tracking

    stores: list[str | None] = []

    class Recording:
        def __init__(self, *, project_dir, tracking_uri=None) -> None:
            stores.append(tracking_uri)
            self.run_id_, self.model_version_ = "run-1", None

        def check(self) -> None: ...

        def start(self, name, spec_dict, spec_path) -> None: ...

        def log_trial(self, number, params, value) -> None: ...

        def fail(self, exc) -> None: ...

        def finish(self, result) -> str:
            self.model_version_ = "1"
            return "1"

    monkeypatch.setattr(gristmill.tracking, "RunTracker", Recording)
    result = _on_dask(project, cluster).run(track=True, tracking_uri="sqlite:///given.db")
    assert stores == ["sqlite:///given.db"] and result.model_version == "1"
