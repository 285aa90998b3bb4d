"""table_files: the files a path, glob or directory of Parquet parts names, in reading order."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from gristmill import DataError
from gristmill.io import table_files


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("a\n1\n")
    return path


def test_a_glob_lists_its_files_in_natural_order_without_hidden_ones(tmp_path: Path) -> None:
    for name in ("part-10.csv", "part-2.csv", "part-1.csv", ".part-3.csv", "notes.txt"):
        touch(tmp_path / name)
    (tmp_path / "part-9.csv").mkdir()  # a folder is no file to read
    assert [p.name for p in table_files(tmp_path / "part-*.csv")] == [
        "part-1.csv",
        "part-2.csv",
        "part-10.csv",
    ]


def test_two_stars_match_folders_at_any_depth(tmp_path: Path) -> None:
    touch(tmp_path / "a" / "b" / "x.csv")
    touch(tmp_path / "y.csv")
    found = table_files(tmp_path / "**" / "*.csv")
    assert found == [tmp_path / "a" / "b" / "x.csv", tmp_path / "y.csv"]


def test_a_file_named_like_a_pattern_is_that_file(tmp_path: Path) -> None:
    path = touch(tmp_path / "data[1].csv")
    touch(tmp_path / "data1.csv")
    assert table_files(path) == [path]


def test_a_directory_lists_its_parquet_parts(tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1]})
    for name in ("part.10.parquet", "part.2.pq", "sub/part.1.parq", "_meta.parquet"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(tmp_path / name)
    touch(tmp_path / ".staging" / "part.0.parquet")
    touch(tmp_path / "readme.csv")
    names = [p.relative_to(tmp_path).as_posix() for p in table_files(tmp_path)]
    assert names == ["part.2.pq", "part.10.parquet", "sub/part.1.parq"]


def test_clear_errors_name_the_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"part-\*\.csv: no file matches the pattern"):
        table_files(tmp_path / "part-*.csv")
    with pytest.raises(DataError, match=r"nope\.csv: no such file"):
        table_files(tmp_path / "nope.csv")
    touch(tmp_path / "only.csv")
    with pytest.raises(DataError, match=r": no Parquet files \(ending \.parquet, \.pq, \.parq\)"):
        table_files(tmp_path)
