from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from gristmill import DataError
from gristmill.io import atomic_path, read_table, read_table_parts, write_table


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
    from gristmill.io import _text_files

    def exact_check(path: Path, sep: str) -> None:
        raise AssertionError("the exact check ran")

    monkeypatch.setattr(_text_files, "_check_ragged", exact_check)
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


def write_parts(folder: Path, suffix: str, sizes: dict[str, int]) -> pd.DataFrame:
    """Write one file per name with ``sizes[name]`` rows; return all rows in natural order."""
    folder.mkdir(exist_ok=True)
    frames, start = {}, 0
    for name, n in sizes.items():
        frames[name] = pd.DataFrame(
            {"text": [f"row {i}" for i in range(start, start + n)], "n": range(start, start + n)}
        )
        start += n
        write_table(frames[name], folder / f"{name}{suffix}")
    ordered = sorted(frames, key=lambda name: int(name.split("-")[1]))
    return pd.concat([frames[name] for name in ordered], ignore_index=True)


@pytest.mark.parametrize("suffix", [".csv", ".tsv", ".parquet", ".jsonl"])
def test_a_glob_reads_its_files_as_one_table_in_natural_order(tmp_path: Path, suffix: str) -> None:
    expected = write_parts(tmp_path / "data", suffix, {"part-10": 2, "part-2": 3, "part-1": 1})
    frame = read_table(tmp_path / "data" / f"part-*{suffix}")
    pd.testing.assert_frame_equal(frame, expected)


def test_a_directory_of_parquet_parts_reads_in_natural_order(tmp_path: Path) -> None:
    expected = write_parts(tmp_path / "parts", ".parquet", {"part-10": 2, "part-9": 3})
    (tmp_path / "parts" / "_SUCCESS").write_text("")
    pd.testing.assert_frame_equal(read_table(tmp_path / "parts"), expected)
    (tmp_path / "parts").rename(tmp_path / "t.parquet")
    pd.testing.assert_frame_equal(read_table(tmp_path / "t.parquet"), expected)


def test_parquet_parts_keep_the_index_they_store(tmp_path: Path) -> None:
    folder = tmp_path / "probs.parquet"
    folder.mkdir()
    pd.DataFrame({"p": [0.5, 0.25]}, index=[1, 2]).to_parquet(folder / "part.0.parquet")
    pd.DataFrame({"p": [0.75]}, index=[1]).to_parquet(folder / "part.1.parquet")
    assert read_table(folder).index.tolist() == [1, 2, 1]


def test_read_table_parts_gives_each_file_and_its_rows(tmp_path: Path) -> None:
    write_parts(tmp_path / "data", ".csv", {"part-1": 2, "part-2": 1})
    parts = read_table_parts(tmp_path / "data" / "*.csv")
    assert [(file.name, frame["n"].tolist()) for file, frame in parts] == [
        ("part-1.csv", [0, 1]),
        ("part-2.csv", [2]),
    ]


def test_an_error_in_a_file_of_a_glob_names_that_file_and_line(tmp_path: Path) -> None:
    write_parts(tmp_path / "data", ".csv", {"part-1": 2, "part-2": 3})
    bad = tmp_path / "data" / "part-2.csv"
    bad.write_text(bad.read_text() + "oops,1,2\n")
    with pytest.raises(DataError, match=r"part-2\.csv: line 5 has 3 fields, but the header has 2"):
        read_table(tmp_path / "data" / "part-*.csv")


def test_a_glob_matching_nothing_names_the_pattern(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"data/part-\*\.csv: no file matches the pattern"):
        read_table(tmp_path / "data" / "part-*.csv")


@pytest.mark.parametrize(
    ("header", "how"),
    [
        ("text", r"it lacks \['n'\]"),
        ("text,n,extra", r"it has \['extra'\] too"),
        ("n,text", r"its columns are in another order: \['n', 'text'\]"),
    ],
)
def test_files_of_a_glob_with_other_columns_are_named(
    tmp_path: Path, header: str, how: str
) -> None:
    write_parts(tmp_path / "data", ".csv", {"part-1": 2})
    (tmp_path / "data" / "part-2.csv").write_text(
        header + "\n" + ",".join(["1"] * (header.count(",") + 1)) + "\n"
    )
    with pytest.raises(DataError) as info:
        read_table(tmp_path / "data" / "part-*.csv")
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'data' / 'part-2.csv'}: the files of ")
    assert f"as its first file, {tmp_path / 'data' / 'part-1.csv'}, ['text', 'n']" in message
    assert re.search(how, message)


def test_a_column_that_is_text_in_one_file_is_text_in_all(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "a.csv").write_text("zip,n\n007,1\n010,2\n")
    (folder / "b.csv").write_text("zip,n\nA1,3\n,4\n")
    (folder / "c.csv").write_text("zip,n\n,5\n")
    one = tmp_path / "one.csv"
    one.write_text("zip,n\n007,1\n010,2\nA1,3\n,4\n,5\n")
    frame = read_table(folder / "*.csv")
    assert frame["zip"].tolist()[:3] == ["007", "010", "A1"]
    pd.testing.assert_frame_equal(frame, read_table(one))


def test_a_header_only_file_of_a_glob_adds_no_rows(tmp_path: Path) -> None:
    expected = write_parts(tmp_path / "data", ".csv", {"part-1": 2})
    (tmp_path / "data" / "part-2.csv").write_text("text,n\n")
    pd.testing.assert_frame_equal(read_table(tmp_path / "data" / "*.csv"), expected)


def test_a_header_only_file_does_not_turn_numbers_into_text(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("n\n")
    (tmp_path / "b.csv").write_text("n\n1\n")
    assert read_table(tmp_path / "*.csv")["n"].tolist() == [1]


@pytest.mark.parametrize(
    ("body", "hint"),
    [
        ("a,b\n1,2,\n3,4,\n", " (the last is empty: a separator ends the line)"),
        ("a,b\n1,2,3\n4,5,6\n", ""),
    ],
)
def test_rows_with_one_field_more_than_the_header_are_refused(
    tmp_path: Path, body: str, hint: str
) -> None:
    # pandas made the first column the index, shifting every value one column left
    path = tmp_path / "t.csv"
    path.write_text(body)
    for as_strings in (False, True):
        with pytest.raises(DataError) as info:
            read_table(path, as_strings=as_strings)
        assert str(info.value) == f"{path}: line 2 has 3 fields, but the header has 2{hint}"


@pytest.mark.parametrize(
    ("name", "body", "message"),
    [
        (
            "t.csv",
            "id;text;label\n1;hi;spam\n",
            "by commas, but it seems separated by semicolons; convert it: "
            "pandas.read_csv(path, sep=';').to_csv(new_path, index=False)",
        ),
        ("t.csv", "\ufeffid;text\n1;hi\n", "by commas, but it seems separated by semicolons"),
        ("t.csv", "id;text\n1;hello, world\n", "by commas, but it seems separated by semicolons"),
        ("t.csv", "id\ttext\n1\thi\n", "by commas, but it seems separated by tabs; name it .tsv"),
        ("t.tsv", "id,text\n1,hi\n", "by tabs, but it seems separated by commas; name it .csv"),
    ],
)
def test_a_table_separated_by_another_character_is_named(
    tmp_path: Path, name: str, body: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_table(path)
    header = body.lstrip("\ufeff").splitlines()[0]
    assert str(info.value).startswith(
        f"{path}: the header {header!r} reads as a single column: gristmill reads this file as "
        "separated "
    )
    assert message in str(info.value)


@pytest.mark.parametrize("body", ["note\na;b\nc\n", "a;b\nno separator here\n"])
def test_one_column_holding_semicolons_is_read(tmp_path: Path, body: str) -> None:
    path = tmp_path / "t.csv"
    path.write_text(body)
    assert read_table(path).shape[1] == 1


@pytest.mark.parametrize(
    ("name", "body"),
    [("t.jsonl", '{"a": 1}\n{"a": 2}\n'), ("t.json", '[{"a": 1}, {"a": 2}]')],
)
def test_json_with_a_byte_order_mark_is_read(tmp_path: Path, name: str, body: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"\xef\xbb\xbf" + body.encode())
    assert read_table(path)["a"].tolist() == [1, 2]


@pytest.mark.parametrize(("encoding", "named"), [("utf-16", "UTF-16"), ("utf-32", "UTF-32")])
def test_a_utf16_or_utf32_file_is_named_as_such(tmp_path: Path, encoding: str, named: str) -> None:
    path = tmp_path / "t.csv"
    path.write_bytes("id,city\n1,zürich\n".encode(encoding))
    with pytest.raises(DataError) as info:
        read_table(path)
    assert str(info.value) == (
        f"{path}: the file is {named} text (it opens with its byte-order mark); gristmill "
        f"reads UTF-8: save the file as UTF-8 (iconv -f {named} -t utf-8 old > new)"
    )


def test_a_parquet_file_repeating_a_column_name_is_named(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = tmp_path / "t.parquet"
    pq.write_table(pa.table([pa.array([1]), pa.array([2]), pa.array([3])], ["a", "b", "a"]), path)
    with pytest.raises(DataError, match=r"t\.parquet: the file repeats column name\(s\) \['a'\]$"):
        read_table(path)
    (tmp_path / "not.parquet").write_text("hello")
    with pytest.raises(DataError, match=r"not\.parquet: cannot read as parquet: "):
        read_table(tmp_path / "not.parquet")


def test_an_unclosed_quote_names_the_line_opening_it(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text('id,text\n1,"fine, quoted"\n2,"multi\nline"\n3,"12"" screen\n4,x\n5,y\n')
    with pytest.raises(DataError) as info:
        read_table(path)
    assert str(info.value).startswith(
        f"{path}: line 5 opens a quoted field that is never closed, so the rest of the file"
    )
