from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from gristmill import DataError
from gristmill.io import atomic_path, read_table, write_table


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet", ".jsonl"])
def test_round_trip(tmp_path: Path, suffix: str) -> None:
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    path = write_table(frame, tmp_path / f"t{suffix}")
    back = read_table(path)
    assert back["a"].tolist() == [1, 2, 3]
    assert back["b"].tolist() == ["x", "y", "z"]


def test_as_strings_keeps_values(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("zip,n\n007,1.50\n,2\n")
    frame = read_table(path, as_strings=True)
    assert frame["zip"].iloc[0] == "007"
    assert frame["n"].iloc[0] == "1.50"
    assert pd.isna(frame["zip"].iloc[1])


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file"):
        read_table(tmp_path / "nope.csv")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("")
    with pytest.raises(DataError, match="empty"):
        read_table(path)


def test_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="unknown table format"):
        read_table(tmp_path / "t.xlsx")


@pytest.mark.parametrize("body", ["a,b\n1,2\n3,4,5\n", "a,b\n1,2\n3\n"])
def test_ragged_rows_name_the_line(tmp_path: Path, body: str) -> None:
    path = tmp_path / "r.csv"
    path.write_text(body)
    with pytest.raises(DataError, match="line 3"):
        read_table(path)


@pytest.mark.parametrize("body", ['a,b\n1,"x\ny"\n3,4,5\n', 'a,b\n1,"x\ny"\n3\n'])
def test_ragged_rows_after_multi_line_cells_name_the_line(tmp_path: Path, body: str) -> None:
    path = tmp_path / "r.csv"
    path.write_text(body)
    with pytest.raises(DataError, match="line 4"):
        read_table(path)


def test_multi_line_cells_are_read_without_the_slow_exact_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Continuation lines of quoted cells have fewer separators than the header; the fast
    # Arrow check clears them, so the Python csv pass (seconds on large files) never runs.
    from gristmill.io import _tables

    def exact_check(path: Path, sep: str) -> None:
        raise AssertionError("the exact check ran")

    monkeypatch.setattr(_tables, "_check_ragged", exact_check)
    path = tmp_path / "t.csv"
    path.write_text('id,text,n\n1,"two\nlines, and a comma",3\n2,plain,4\n')
    frame = read_table(path)
    assert frame["text"].tolist() == ["two\nlines, and a comma", "plain"]


def test_missing_column_is_named(tmp_path: Path) -> None:
    path = write_table(pd.DataFrame({"a": [1]}), tmp_path / "t.csv")
    with pytest.raises(DataError, match=r"missing column\(s\) \['text'\]"):
        read_table(path, columns=["text"])


def test_atomic_path_keeps_old_file_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_a_json_file_may_hold_one_array_of_rows(tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    path.write_text('  [{"text": "hi", "n": 1}, {"text": "yo", "n": 2}]')
    frame = read_table(path)
    assert frame["text"].tolist() == ["hi", "yo"] and frame["n"].tolist() == [1, 2]
    (tmp_path / "rows.jsonl").write_text('{"text": "hi"}\n{"text": "yo"}\n')
    assert read_table(tmp_path / "rows.jsonl")["text"].tolist() == ["hi", "yo"]


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_a_repeated_header_name_is_named_not_renamed(tmp_path: Path, suffix: str) -> None:
    sep = "\t" if suffix == ".tsv" else ","
    path = tmp_path / f"t{suffix}"
    path.write_text(sep.join(["id", "text", "id"]) + "\n" + sep.join(["1", "a", "2"]) + "\n")
    with pytest.raises(DataError, match=r"t\.[ct]sv: the header repeats column name\(s\) \['id'\]"):
        read_table(path)


def test_distinct_names_that_look_renamed_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text('a,a.1,"b,c"\n1,2,3\n')
    assert read_table(path).columns.tolist() == ["a", "a.1", "b,c"]


def test_json_integers_and_booleans_with_nulls_stay_whole(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(
        '{"n": 85, "ok": true, "x": 1.5, "s": "a"}\n'
        '{"n": null, "ok": null, "x": null, "s": null}\n'
        '{"n": 3, "ok": false, "x": 2, "s": "b"}\n'
    )
    frame = read_table(path)
    assert frame["n"].tolist()[::2] == [85, 3] and str(frame["n"].dtype) == "Int64"
    assert frame["ok"].tolist()[::2] == [True, False] and str(frame["ok"].dtype) == "boolean"
    assert frame["x"].dtype == "float64" and pd.isna(frame["x"].iloc[1])
    assert frame["s"].dtype == pd.read_json(path, lines=True)["s"].dtype
    out = write_table(frame, tmp_path / "back.jsonl")
    assert out.read_text().splitlines()[0] == '{"n":85,"ok":true,"x":1.5,"s":"a"}'
    assert '"n":null' in out.read_text().splitlines()[1]


def test_json_columns_without_nulls_read_as_pandas_reads_them(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"n": 1, "ok": true, "s": "a"}\n{"n": 2, "ok": false, "s": "b"}\n')
    assert read_table(path).dtypes.to_dict() == pd.read_json(path, lines=True).dtypes.to_dict()


def test_a_cell_beyond_the_csv_modules_field_limit_is_read(tmp_path: Path) -> None:
    # A quoted cell with a line break sends the file through the exact field count, whose csv
    # module refuses fields over 128 KiB unless told otherwise.
    huge = "x" * 200_000 + "\nend"
    path = tmp_path / "t.csv"
    path.write_text(f'id,note\n1,"{huge}"\n2,short\n')
    assert read_table(path, as_strings=True)["note"].tolist() == [huge, "short"]
    path.write_text(f'id,note\n1,"{huge}"\n2\n')
    with pytest.raises(DataError, match="line 4 has 1 fields"):
        read_table(path)


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_a_file_not_in_utf8_names_its_first_line_that_is_not(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"t{suffix}"
    text = (
        "city\nparis\nzürich\n" if suffix == ".csv" else '{"city": "paris"}\n{"city": "zürich"}\n'
    )
    path.write_bytes(text.encode("latin-1"))
    line = 3 if suffix == ".csv" else 2
    with pytest.raises(DataError, match=rf"t\{suffix}: line {line} is not UTF-8 text \(byte 0xfc"):
        read_table(path, as_strings=True)


def test_blank_header_names_are_not_repeats(tmp_path: Path) -> None:
    # A spreadsheet's export ends every line with the separators of its empty columns.
    path = tmp_path / "t.csv"
    path.write_text("a,b,,\n1,2,,\n")
    assert read_table(path).columns.tolist() == ["a", "b", "Unnamed: 2", "Unnamed: 3"]


@pytest.mark.parametrize("suffix", [".csv", ".tsv"])
def test_write_table_like_its_source_writes_it_byte_for_byte(tmp_path: Path, suffix: str) -> None:
    sep = "\t" if suffix == ".tsv" else ","
    lines = [["id", "", "note", ""], ["1", "a", '"x\r\ny"', ""], ["2", "b", "z", ""]]
    source = tmp_path / f"in{suffix}"
    source.write_bytes(b"\xef\xbb\xbf" + "".join(sep.join(r) + "\r\n" for r in lines).encode())
    frame = read_table(source, as_strings=True)
    out = write_table(frame, tmp_path / f"out{suffix}", like=source)
    assert out.read_bytes() == source.read_bytes()
    assert not write_table(frame, tmp_path / "plain.csv").read_bytes().startswith(b"\xef")


@pytest.mark.parametrize("name", ["t.csv.gz", "T.TSV.ZIP", "t.jsonl.bz2"])
def test_a_compressed_table_is_named_as_such(tmp_path: Path, name: str) -> None:
    inner = Path(name).with_suffix("").suffix.lower()
    with pytest.raises(
        DataError, match=rf"compressed tables are neither read nor written; use a \{inner} file"
    ):
        read_table(tmp_path / name)
    with pytest.raises(DataError, match="compressed tables"):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / name)
