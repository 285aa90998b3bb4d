"""read_dask_table: partitions planned from Parquet footers, indexed by the rows' numbers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from gristmill import DataError
from gristmill.io import read_dask_table
from gristmill.io._dask import csv_row_offsets

pytest.importorskip("dask.dataframe")


def frame_of(n: int, start: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"text": [f"row {i}" for i in range(start, start + n)], "n": range(n)})


def partitions(table) -> list[pd.DataFrame]:
    frame = table.frame
    return [frame.get_partition(i).compute() for i in range(frame.npartitions)]


def test_a_directory_is_one_partition_per_file_in_natural_order(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    for i in (0, 2, 10):
        frame_of(5, start=i * 100).to_parquet(folder / f"part.{i}.parquet", index=False)
    frame_of(5).to_parquet(folder / "_scratch.parquet")  # skipped, as Dask skips it
    (folder / ".part.3.parquet.x.tmp").write_text("half written")
    table = read_dask_table(folder)
    assert table.partition_rows == tuple(
        f"rows of {folder / f'part.{i}.parquet'} numbered from 1" for i in (0, 2, 10)
    )
    parts = partitions(table)
    assert [p["text"].iloc[0] for p in parts] == ["row 0", "row 200", "row 1000"]
    for part in parts:
        assert part.index.tolist() == [1, 2, 3, 4, 5]


def test_a_large_file_is_split_at_row_groups_numbered_in_the_file(tmp_path: Path) -> None:
    path = tmp_path / "one.parquet"
    frame = frame_of(100)
    frame.to_parquet(path, index=False, row_group_size=30)
    whole = read_dask_table(path)
    assert whole.frame.npartitions == 1
    table = read_dask_table(path, blocksize=1)
    assert table.partition_rows == (f"rows of {path} numbered from 1",) * 4
    parts = partitions(table)
    assert [(p.index[0], p.index[-1]) for p in parts] == [(1, 30), (31, 60), (61, 90), (91, 100)]
    gathered = table.frame.compute()
    pd.testing.assert_frame_equal(
        gathered.reset_index(drop=True), whole.frame.compute().reset_index(drop=True)
    )
    np.testing.assert_array_equal(gathered.loc[gathered["text"] == "row 57"].index, [58])
    # a filter keeps the numbers of the rows in the file, and only the needed columns are read
    kept = table.frame.query("n >= 95", engine="python")[["text"]].compute()
    assert kept.index.tolist() == [96, 97, 98, 99, 100]
    assert list(kept.columns) == ["text"]


def test_the_dtypes_are_those_of_dasks_reader(tmp_path: Path) -> None:
    import dask.dataframe as dd

    path = tmp_path / "t.parquet"
    pd.DataFrame(
        {"text": ["a", None], "n": [1, 2], "x": [0.5, np.nan], "k": pd.array([1, None], "Int64")}
    ).to_parquet(path, index=False)
    expected = dd.read_parquet(path)
    got = read_dask_table(path).frame
    assert got.dtypes.to_dict() == expected.dtypes.to_dict()
    pd.testing.assert_frame_equal(
        got.compute().reset_index(drop=True), expected.compute().reset_index(drop=True)
    )


def test_a_stored_index_names_the_rows(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    frame_of(3).set_axis(pd.Index(["a", "b", "c"], name="id")).to_parquet(path)
    table = read_dask_table(path)
    assert table.partition_rows == (f"rows of {path} named by its stored index",)
    assert table.frame.compute().index.tolist() == ["a", "b", "c"]


def test_hive_folders_are_read_by_dask_as_columns(tmp_path: Path) -> None:
    for year in (2023, 2024):
        folder = tmp_path / "data" / f"year={year}"
        folder.mkdir(parents=True)
        frame_of(2).to_parquet(folder / "part.0.parquet", index=False)
    table = read_dask_table(tmp_path / "data")
    assert sorted(table.frame.compute()["year"].astype(int)) == [2023, 2023, 2024, 2024]
    assert table.partition_rows == tuple(
        f"rows of {tmp_path / 'data'} in partition {i} of 2, named by the partition's index"
        for i in range(2)
    )


def test_csv_partitions_say_their_rows_are_numbered_within_them(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    frame_of(3).to_csv(path, index=False)
    table = read_dask_table(path)
    assert table.partition_rows == (
        f"rows of {path} in partition 0 of 1, numbered from 0 within the partition",
    )
    assert table.frame.compute().index.tolist() == [0, 1, 2]
    assert table.csv == str(path)


def test_csv_row_offsets_place_each_block_in_its_file(tmp_path: Path) -> None:
    frame_of(600).to_csv(tmp_path / "a.csv", index=False)
    frame_of(300, start=600).to_csv(tmp_path / "b.csv", index=False)
    glob = str(tmp_path / "*.csv")
    table = read_dask_table(glob, csv_blocksize=1_000)
    parts = partitions(table)
    assert len(parts) > 4
    offsets = csv_row_offsets(glob, csv_blocksize=1_000)
    assert len(offsets) == len(parts)
    for part, (file, offset) in zip(parts, offsets, strict=True):
        first = int(part["text"].iloc[0].removeprefix("row "))
        # the first row of the part is row offset + 1 of its file (from 1, no header)
        assert (Path(file).name, offset + 1) == (
            ("a.csv", first + 1) if first < 600 else ("b.csv", first - 599)
        )


def test_csv_row_offsets_count_a_record_over_several_lines_once(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    pd.DataFrame({"text": ["one\ntwo", "", "three"], "n": [1, 2, 3]}).to_csv(path, index=False)
    (tmp_path / "u.csv").write_text(path.read_text() + "\n\n")  # blank lines are no rows
    assert csv_row_offsets(tmp_path / "*.csv") == [(str(path), 0), (str(tmp_path / "u.csv"), 0)]
    assert len(read_dask_table(path).frame.compute()) == len(pd.read_csv(path)) == 3


def test_clear_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="empty: no Parquet files"):
        read_dask_table(tmp_path / "empty")
    with pytest.raises(DataError, match=r"t\.jsonl: the dask engine reads Parquet"):
        read_dask_table(tmp_path / "t.jsonl")


def test_suffixes_are_read_whatever_their_case(tmp_path: Path) -> None:
    pd.DataFrame({"text": ["a", "b"]}).to_csv(tmp_path / "TRAIN.CSV", index=False)
    (tmp_path / "parts").mkdir()
    pd.DataFrame({"text": ["c"]}).to_parquet(tmp_path / "parts" / "PART.0.PARQUET")
    assert read_dask_table(tmp_path / "TRAIN.CSV").frame.compute()["text"].tolist() == ["a", "b"]
    assert read_dask_table(tmp_path / "parts").frame.compute()["text"].tolist() == ["c"]


def test_csv_with_line_breaks_in_quoted_fields_is_not_cut_inside_them(tmp_path: Path) -> None:
    # Dask cuts blocks at line breaks; one within a quoted field used to split its row in two
    # (a dtype error, or rows misread) once the file was larger than a block.
    text = ["one\ntwo, and a comma\nthree" if i % 3 == 0 else f"plain {i}" for i in range(300)]
    path = tmp_path / "t.csv"
    pd.DataFrame({"id": range(300), "text": text}).to_csv(path, index=False)
    assert path.stat().st_size > 5 * 1_000
    table = read_dask_table(path, csv_blocksize=1_000)
    pd.testing.assert_frame_equal(
        table.frame.compute().reset_index(drop=True), pd.read_csv(path), check_dtype=False
    )
    assert csv_row_offsets(path, csv_blocksize=1_000) == [(str(path), 0)] * table.frame.npartitions


def test_csv_with_quotes_but_no_quoted_line_breaks_is_still_split(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    pd.DataFrame({"text": ['say "hi", then go'] * 300}).to_csv(path, index=False)
    table = read_dask_table(path, csv_blocksize=1_000)
    assert table.frame.npartitions > 5
    assert table.frame.compute()["text"].tolist() == ['say "hi", then go'] * 300


def test_a_quoted_line_break_is_found_across_chunks(tmp_path: Path) -> None:
    from gristmill.io._dask import _has_quoted_line_break

    path = tmp_path / "t.csv"
    path.write_bytes(b'a,b\n1,"x' + b"y" * 50 + b'\nz"\n2,"q"\n')
    assert _has_quoted_line_break(path, chunk=7)
    path.write_bytes(b'a,b\n1,"x' + b"y" * 50 + b'z"\n2,"q"\n')
    assert not _has_quoted_line_break(path, chunk=7)


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_a_glob_reads_as_read_table_reads_it(tmp_path: Path, suffix: str) -> None:
    from gristmill.io import read_table

    for i, n in ((10, 2), (2, 3), (1, 1)):
        frame = frame_of(n, start=100 * i)
        if suffix == "csv":
            frame.to_csv(tmp_path / f"part-{i}.csv", index=False)
        else:
            frame.to_parquet(tmp_path / f"part-{i}.parquet", index=False)
    pattern = tmp_path / f"part-*.{suffix}"
    gathered = read_dask_table(pattern).frame.compute()
    assert gathered["text"].str.removeprefix("row ").astype(int).tolist() == [
        100,
        200,
        201,
        202,
        1000,
        1001,
    ]
    pd.testing.assert_frame_equal(
        gathered.reset_index(drop=True), read_table(pattern), check_dtype=False
    )
    if suffix == "csv":
        assert [Path(file).name for file, _ in csv_row_offsets(pattern)] == [
            "part-1.csv",
            "part-2.csv",
            "part-10.csv",
        ]


def test_a_glob_matching_nothing_names_the_pattern(tmp_path: Path) -> None:
    for suffix in ("csv", "parquet"):
        with pytest.raises(DataError, match=rf"part-\*\.{suffix}: no file matches the pattern"):
            read_dask_table(tmp_path / f"part-*.{suffix}")


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_files_of_a_glob_with_other_columns_are_named_as_read_table_names_them(
    tmp_path: Path, suffix: str
) -> None:
    # Dask read them silently: missing Parquet columns as nulls, extra ones added
    from gristmill.io import read_table

    for i, frame in enumerate((frame_of(2), frame_of(1).rename(columns={"n": "m"})), start=1):
        if suffix == "csv":
            frame.to_csv(tmp_path / f"p-{i}.csv", index=False)
        else:
            frame.to_parquet(tmp_path / f"p-{i}.parquet", index=i == 2)
    pattern = tmp_path / f"p-*.{suffix}"
    expected = (
        f"{tmp_path / f'p-2.{suffix}'}: the files of {pattern} must have the same columns as "
        f"its first file, {tmp_path / f'p-1.{suffix}'}, ['text', 'n']; it lacks ['n']; it has "
        "['m'] too"
    )
    for read in (read_dask_table, read_table):
        with pytest.raises(DataError) as info:
            read(pattern)
        assert str(info.value) == expected


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("id,text,id", r"t\.csv: the header repeats column name\(s\) \['id'\]"),
        ("id;text;n", r"t\.csv: the header 'id;text;n' reads as a single column: .* semicolons"),
    ],
)
def test_a_csv_header_pandas_would_misread_is_refused(
    tmp_path: Path, header: str, message: str
) -> None:
    path = tmp_path / "t.csv"
    path.write_text(header + "\n" + header.replace("id", "1").replace("text", "a") + "\n")
    with pytest.raises(DataError, match=message):
        read_dask_table(path)


def test_a_gzipped_csv_is_read_whole_without_a_warning(tmp_path: Path) -> None:
    # Dask warned that it cannot split a compressed file (an error under -W error)
    path = tmp_path / "t.csv.gz"
    frame_of(50).to_csv(path, index=False)
    table = read_dask_table(path, csv_blocksize=100)
    assert table.frame.npartitions == 1
    assert table.frame.compute()["n"].tolist() == list(range(50))
    assert csv_row_offsets(path, csv_blocksize=100) == [(str(path), 0)]


def test_a_csv_whose_rows_end_with_a_separator_is_refused(tmp_path: Path) -> None:
    # pandas (in each Dask block) made the first column the index, shifting the others left
    path = tmp_path / "t.csv"
    path.write_text("a,b\n1,2,\n3,4,\n")
    with pytest.raises(DataError) as info:
        read_dask_table(path)
    assert str(info.value) == (
        f"{path}: line 2 has 3 fields, but the header has 2 (the last is empty: a separator "
        "ends the line)"
    )
