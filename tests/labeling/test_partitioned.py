"""apply_lfs_partitioned: Parquet parts equal to the in-memory matrix, failures, atomic output."""

from __future__ import annotations

import os
import re
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gristmill import (
    DataError,
    GristmillError,
    LFError,
    PartitionedLabelMatrix,
    apply_lfs,
    apply_lfs_partitioned,
    keyword_lf,
    labeling_function,
    regex_lf,
    threshold_lf,
)
from gristmill.io import read_dask_table

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("dask.distributed")

WORDS = np.array("check out my channel subscribe love this song great video free money".split())


def make_frame(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(WORDS, k)) for k in rng.integers(1, 7, n)]
    return pd.DataFrame({"text": texts, "stars": rng.integers(1, 6, n)})


@labeling_function()
def few_words(x):
    return 0 if len(x.text.split()) <= 2 else -1


@labeling_function(vectorized=True)
def broken_on_money(frame):
    if frame["text"].str.contains("money").any() and frame.index.min() >= 300:
        raise ValueError("money is not allowed here")
    return np.full(len(frame), -1)


@labeling_function()
def fragile(x):
    if "video" in x.text:
        raise KeyError("no video")
    return 1


def all_lfs() -> list:
    return [
        keyword_lf("check out", 1, name="kw_check"),
        keyword_lf("love", 0, name="kw_love"),
        regex_lf(r"\bfree\b", 1, name="re_free"),
        threshold_lf("stars", 0, lower=4, name="stars_high"),
        few_words,
    ]


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address="127.0.0.1:0"
        ) as cluster,
        distributed.Client(cluster) as active,
    ):
        yield active


def leftovers(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.endswith(".tmp")]


def test_parts_equal_the_in_memory_matrix(tmp_path: Path, client) -> None:
    frame = make_frame(3_000, seed=1)
    frame.index = pd.RangeIndex(500, 3_500)
    reference = apply_lfs(all_lfs(), frame, engine="pandas")
    ddf = dd.from_pandas(frame, npartitions=5)
    matrix = apply_lfs_partitioned(all_lfs(), ddf, tmp_path / "L", client=client)
    assert matrix.n_partitions == 5
    assert matrix.shape == (3_000, 5)
    assert matrix.lf_names == list(reference.lf_names)
    assert sum(matrix.part_rows) == 3_000
    lazy = matrix.to_dask()
    assert lazy.npartitions == 5
    gathered = lazy.compute()
    assert set(gathered.dtypes) == {np.dtype(np.int8)}
    np.testing.assert_array_equal(gathered.to_numpy(), reference.values)
    assert list(gathered.index) == list(frame.index)
    reopened = PartitionedLabelMatrix.open(tmp_path / "L")
    assert reopened == matrix
    np.testing.assert_array_equal(reopened.read_part(0).to_numpy(), reference.values[:600])
    assert leftovers(tmp_path) == []


def test_pandas_input_is_split_into_partitions(tmp_path: Path, client) -> None:
    frame = make_frame(400, seed=2)
    matrix = apply_lfs_partitioned(all_lfs(), frame, tmp_path / "L", client=client)
    reference = apply_lfs(all_lfs(), frame, engine="pandas")
    np.testing.assert_array_equal(matrix.to_dask().compute().to_numpy(), reference.values)


def test_lf_failure_names_partition_and_row_and_leaves_nothing(tmp_path: Path, client) -> None:
    frame = make_frame(600, seed=3)
    frame["text"] = frame["text"].str.replace("video", "clip")
    frame.loc[450, "text"] = "great video"
    ddf = dd.from_pandas(frame, npartitions=3)
    with pytest.raises(LFError, match=r"partition 2: .*'fragile' failed on row 450") as info:
        apply_lfs_partitioned([fragile], ddf, tmp_path / "L", client=client)
    assert info.value.lf_name == "fragile"
    assert not (tmp_path / "L").exists()
    assert leftovers(tmp_path) == []
    with pytest.raises(LFError, match=r"partition [12]: .*'broken_on_money'"):
        apply_lfs_partitioned([broken_on_money], ddf, tmp_path / "M", client=client)
    assert not (tmp_path / "M").exists()


def test_a_class_beyond_int8_names_partition_lf_and_row(tmp_path: Path, client) -> None:
    @labeling_function(vectorized=True)
    def star_code(frame):
        return np.where(frame.index == 450, 129, frame["stars"].to_numpy())

    ddf = dd.from_pandas(make_frame(600, seed=3), npartitions=3)
    message = r"partition 2: labeling function 'star_code' votes class 129 on row 450; .*int8"
    with pytest.raises(LFError, match=message) as info:
        apply_lfs_partitioned([star_code], ddf, tmp_path / "L", client=client)
    assert info.value.row == 450
    assert not (tmp_path / "L").exists()


def test_bad_vectorized_vote_names_partition_and_row(tmp_path: Path, client) -> None:
    @labeling_function(vectorized=True)
    def below_abstain_on_video(frame):
        return np.where(frame["text"].str.contains("video"), -5, -1)

    frame = make_frame(600, seed=3)
    frame["text"] = frame["text"].str.replace("video", "clip")
    frame.loc[450, "text"] = "great video"
    ddf = dd.from_pandas(frame, npartitions=3)
    message = r"partition 2: .*'below_abstain_on_video' returned vote -5 on row 450;"
    with pytest.raises(LFError, match=message) as info:
        apply_lfs_partitioned([below_abstain_on_video], ddf, tmp_path / "L", client=client)
    assert info.value.row == 450
    assert not (tmp_path / "L").exists()
    assert leftovers(tmp_path) == []


def video_at_row_451() -> pd.DataFrame:
    """600 rows; only the 451st (in the third 200-row part, its 51st) mentions a video."""
    frame = make_frame(600, seed=3)
    frame["text"] = frame["text"].str.replace("video", "clip")
    frame.loc[450, "text"] = "great video"
    return frame


@pytest.mark.parametrize("layout", ["directory of parts", "file of row groups"])
def test_lf_failure_on_parquet_names_the_file_and_its_row(
    tmp_path: Path, client, layout: str
) -> None:
    frame = video_at_row_451()
    if layout == "directory of parts":
        source = tmp_path / "data"
        source.mkdir()
        for i in range(3):
            frame.iloc[i * 200 : (i + 1) * 200].to_parquet(source / f"part.{i}.parquet")
        table = read_dask_table(source)
        file, row, n_partitions = source / "part.2.parquet", 51, 3
    else:
        source = file = tmp_path / "data.parquet"
        frame.to_parquet(source, index=False, row_group_size=100)
        table = read_dask_table(source, blocksize=1)
        row, n_partitions = 451, 6
    assert table.frame.npartitions == n_partitions
    names = [f"the data ({rows})" for rows in table.partition_rows]
    expected = (
        f"the data (rows of {file} numbered from 1): Labeling function 'fragile' failed on "
        f"row {row}: KeyError"
    )
    with pytest.raises(LFError, match=re.escape(expected)) as info:
        apply_lfs_partitioned(
            [fragile], table.frame, tmp_path / "L", client=client, partition_names=names
        )
    assert (info.value.lf_name, info.value.row) == ("fragile", row)
    assert not (tmp_path / "L").exists()
    assert leftovers(tmp_path) == []


def test_partition_names_must_name_every_partition(tmp_path: Path, client) -> None:
    ddf = dd.from_pandas(make_frame(30), npartitions=3)
    for names in (["a", "b"], "abc"):
        with pytest.raises(GristmillError, match="must name each of the data's 3 partitions"):
            apply_lfs_partitioned(
                [few_words], ddf, tmp_path / "L", client=client, partition_names=names
            )
    assert not (tmp_path / "L").exists()


def test_abstain_on_error_counts_failures(tmp_path: Path, client) -> None:
    frame = make_frame(500, seed=4)
    ddf = dd.from_pandas(frame, npartitions=2)
    matrix = apply_lfs_partitioned(
        [fragile, few_words], ddf, tmp_path / "L", client=client, on_error="abstain"
    )
    assert matrix.failures == {"fragile": int(frame["text"].str.contains("video").sum())}
    assert PartitionedLabelMatrix.open(tmp_path / "L").failures == matrix.failures


def test_existing_output_needs_overwrite(tmp_path: Path, client) -> None:
    frame = make_frame(100)
    first = apply_lfs_partitioned(all_lfs(), frame, tmp_path / "L", client=client)
    with pytest.raises(GristmillError, match="already exists"):
        apply_lfs_partitioned(all_lfs(), frame, tmp_path / "L", client=client)
    again = apply_lfs_partitioned(
        all_lfs()[:2], frame, tmp_path / "L", client=client, overwrite=True
    )
    assert again.lf_names == first.lf_names[:2]


def test_bad_inputs(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not a partitioned label matrix"):
        PartitionedLabelMatrix.open(tmp_path)
    with pytest.raises(DataError, match="needs a DataFrame"):
        apply_lfs_partitioned(all_lfs(), [1, 2], tmp_path / "L")
    with pytest.raises(LFError, match="needs column"):
        apply_lfs_partitioned(all_lfs(), pd.DataFrame({"text": ["a"]}), tmp_path / "L")
    with pytest.raises(GristmillError, match="on_error"):
        apply_lfs_partitioned(all_lfs(), make_frame(5), tmp_path / "L", on_error="skip")
    holds_lock = labeling_function(name="holds_lock", resources={"lock": threading.Lock()})(
        lambda x, lock: -1
    )
    with pytest.raises(LFError, match="'holds_lock' cannot be sent to Dask workers"):
        apply_lfs_partitioned([holds_lock], make_frame(5), tmp_path / "L")
    assert not (tmp_path / "L").exists()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "_label_matrix.json").write_text(
        '{"format": "gristmill.partitioned_label_matrix", "lf_names": ["a"], "n_rows": 3, '
        '"part_rows": [3]}'
    )
    with pytest.raises(DataError, match="part file"):
        PartitionedLabelMatrix.open(tmp_path / "broken")


# A worker process dies (os._exit) the first time it labels the partition holding row 0.
_MARKER_ENV = "GRISTMILL_TEST_KILL_MARKER"


@labeling_function(vectorized=True)
def kills_worker_once(frame):
    marker = Path(os.environ[_MARKER_ENV])
    if 0 in frame.index and not marker.exists():
        marker.write_text("killed")
        os._exit(1)
    return np.where(frame["stars"].to_numpy() > 2, 1, -1)


@pytest.mark.slow
@pytest.mark.parametrize("allowed_failures", [0, 3])
def test_worker_killed_mid_run(tmp_path: Path, monkeypatch, allowed_failures: int) -> None:
    import cloudpickle
    import dask

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    monkeypatch.setenv(_MARKER_ENV, str(tmp_path / "marker"))
    frame = make_frame(800, seed=5)
    ddf = dd.from_pandas(frame, npartitions=4)
    target = tmp_path / "L"
    with dask.config.set({"distributed.scheduler.allowed-failures": allowed_failures}):
        with (
            distributed.LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                host="127.0.0.1",
                dashboard_address="127.0.0.1:0",
            ) as cluster,
            distributed.Client(cluster) as active,
        ):
            if allowed_failures == 0:
                with pytest.raises(distributed.KilledWorker):
                    apply_lfs_partitioned([kills_worker_once], ddf, target, client=active)
            else:
                matrix = apply_lfs_partitioned([kills_worker_once], ddf, target, client=active)
    assert (tmp_path / "marker").exists()
    if allowed_failures == 0:
        assert not target.exists()
    else:
        expected = np.where(frame["stars"].to_numpy() > 2, 1, -1)
        np.testing.assert_array_equal(matrix.to_dask().compute().to_numpy().ravel(), expected)
    assert leftovers(tmp_path) == []


LF_FILE = """
from gristmill.labeling import keyword_lf, threshold_lf

kw_love = keyword_lf("love", 0, name="kw_love")
kw_check = keyword_lf("check out", 1, name="kw_check")
stars_high = threshold_lf("stars", 0, lower=4, name="stars_high")
"""


def test_cli_apply_then_label_on_dask(tmp_path: Path, client) -> None:
    from typer.testing import CliRunner

    from gristmill.cli import app
    from gristmill.labelmodel import get_label_model

    frame = make_frame(1_200, seed=6)
    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        frame.iloc[i * 400 : (i + 1) * 400].to_parquet(data / f"part.{i}.parquet")
    (tmp_path / "lfs.py").write_text(LF_FILE)
    address = client.scheduler.address
    runner = CliRunner()
    applied = runner.invoke(
        app,
        [
            "lfs",
            "apply",
            "--data",
            str(data),
            "--lfs",
            str(tmp_path / "lfs.py"),
            "--out",
            str(tmp_path / "L"),
            "--engine",
            "dask",
            "--scheduler",
            address,
        ],
    )
    assert applied.exit_code == 0, applied.output
    assert "3 parts" in applied.output
    matrix = PartitionedLabelMatrix.open(tmp_path / "L")
    reference = apply_lfs(
        [
            keyword_lf("love", 0, name="kw_love"),
            keyword_lf("check out", 1, name="kw_check"),
            threshold_lf("stars", 0, lower=4, name="stars_high"),
        ],
        frame,
        engine="pandas",
    )
    np.testing.assert_array_equal(matrix.to_dask().compute().to_numpy(), reference.values)
    labeled = runner.invoke(
        app,
        [
            "label",
            "--matrix",
            str(tmp_path / "L"),
            "--out",
            str(tmp_path / "P"),
            "--model",
            "majority_vote",
            "--scheduler",
            address,
        ],
    )
    assert labeled.exit_code == 0, labeled.output
    proba = pd.read_parquet(tmp_path / "P")
    expected = get_label_model("majority_vote").fit(reference).predict_proba(reference)
    np.testing.assert_allclose(proba.to_numpy(), expected)


def test_cli_apply_on_dask_names_the_parquet_file_and_row_that_failed(
    tmp_path: Path, client, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from gristmill.cli import app

    monkeypatch.chdir(tmp_path)
    frame = video_at_row_451()
    Path("data").mkdir()
    for i in range(3):
        frame.iloc[i * 200 : (i + 1) * 200].to_parquet(f"data/part.{i}.parquet")
    Path("lfs.py").write_text(
        "from gristmill import labeling_function\n\n"
        "@labeling_function()\n"
        "def fragile(x):\n"
        "    if 'video' in x.text:\n"
        "        raise KeyError('no video')\n"
        "    return 1\n"
    )
    applied = CliRunner().invoke(
        app,
        [
            "lfs",
            "apply",
            "--data",
            "data",
            "--lfs",
            "lfs.py",
            "--out",
            "L",
            "--engine",
            "dask",
            "--scheduler",
            client.scheduler.address,
        ],
    )
    assert applied.exit_code == 1, applied.output
    shown = " ".join(applied.output.split())
    assert (
        f"data (rows of {Path('data', 'part.2.parquet')} numbered from 1): Labeling function "
        "'fragile' failed on row 51: KeyError" in shown
    ), shown
    assert not Path("L").exists()
