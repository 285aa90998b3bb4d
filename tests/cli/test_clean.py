"""``gristmill clean`` end to end: outputs, scores, bad input, input never modified."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from gristmill.cli import app

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cleaning"
runner = CliRunner()


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_clean_with_constraints_repairs_and_scores(tmp_path: Path) -> None:
    data = tmp_path / "dirty.csv"
    shutil.copy(FIXTURES / "hospital100_dirty.csv", data)
    before = _digest(data)
    out, repairs = tmp_path / "out" / "repaired.csv", tmp_path / "repairs.csv"
    result = runner.invoke(
        app,
        [
            "clean",
            "--data",
            str(data),
            "--constraints",
            str(FIXTURES / "hospital_constraints.txt"),
            "--out",
            str(out),
            "--repairs",
            str(repairs),
            "--truth",
            str(FIXTURES / "hospital100_clean.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "repaired" in result.output and "repair: precision" in result.output
    assert _digest(data) == before
    repaired = pd.read_csv(out, dtype=str, keep_default_na=False)
    dirty = pd.read_csv(data, dtype=str, keep_default_na=False)
    assert list(repaired.columns) == list(dirty.columns) and repaired.shape == dirty.shape
    table = pd.read_csv(repairs, dtype=str, keep_default_na=False)
    assert list(table.columns) == ["row", "column", "old", "new", "probability", "detectors"]
    assert len(table) == int((repaired != dirty).to_numpy().sum()) > 20
    f1 = float(result.output.split("repair: precision")[1].split("f1")[1].split()[0])
    assert f1 >= 0.85


def test_clean_without_constraints_and_with_examples_and_dictionary(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    rows = ["zip,city,size"] + [
        f"{z},{c},{s}" for z, c, s in [("1", "a", "5"), ("2", "b", "6")] * 20
    ]
    rows[3] = "1,a,5.0 oz"
    rows[6] = "2,b,6.0 oz"
    data.write_text("\n".join(rows) + "\n")
    examples = tmp_path / "ex.csv"
    examples.write_text("_row,zip,city,size\n2,1,a,5\n0,1,a,5\n")
    ref = tmp_path / "ref.csv"
    ref.write_text("zip,city\n1,a\n2,b\n")
    out = tmp_path / "r.csv"
    result = runner.invoke(
        app,
        [
            "clean",
            "--data",
            str(data),
            "--out",
            str(out),
            "--examples",
            str(examples),
            "--dictionary",
            str(ref),
        ],
    )
    assert result.exit_code == 0, result.output
    repaired = pd.read_csv(out, dtype=str)
    assert repaired.loc[2, "size"] == "5"
    assert repaired.loc[5, "size"] == "6"
    plain = runner.invoke(app, ["clean", "--data", str(data), "--out", str(tmp_path / "p.csv")])
    assert plain.exit_code == 0, plain.output


def test_bad_inputs_give_one_line_errors(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("a,b\n1,2\n1,3\n")
    out = tmp_path / "o.csv"
    rules = tmp_path / "rules.txt"
    rules.write_text("a -> b\nt1&t2&EQ(t1.a,t2.a)&IQ(t1.c,t2.c)\n")
    r = runner.invoke(
        app, ["clean", "--data", str(data), "--constraints", str(rules), "--out", str(out)]
    )
    assert r.exit_code == 1 and "unknown column" in r.output and "['c']" in r.output
    rules.write_text("a -> b\nnonsense here\n")
    r = runner.invoke(
        app, ["clean", "--data", str(data), "--constraints", str(rules), "--out", str(out)]
    )
    assert r.exit_code == 1 and "rules.txt:2" in r.output
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b\n1,2\n1\n")
    r = runner.invoke(app, ["clean", "--data", str(ragged), "--out", str(out)])
    assert r.exit_code == 1 and "line 3" in r.output
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    r = runner.invoke(app, ["clean", "--data", str(empty), "--out", str(out)])
    assert r.exit_code == 1 and "empty" in r.output
    r = runner.invoke(app, ["clean", "--data", str(data), "--out", str(data)])
    assert r.exit_code == 1 and "never modified" in r.output
    assert not out.exists()


def test_errors_name_the_constraint_file_and_the_separator(tmp_path: Path) -> None:
    data = tmp_path / "d.csv"
    data.write_text("zip,city\n1,a\n1,b\n")
    out = tmp_path / "o.csv"
    rules = tmp_path / "rules.yaml"
    rules.write_text("functional_dependencies: [zip -> town]\n")
    r = runner.invoke(
        app, ["clean", "--data", str(data), "--constraints", str(rules), "--out", str(out)]
    )
    assert r.exit_code == 1
    assert f"{rules}: dependency 'zip -> town' names unknown column(s) ['town']" in r.output
    assert f"{data} has ['city', 'zip']" in r.output
    semicolons = tmp_path / "s.csv"
    semicolons.write_text("zip;city\n1;a\n1;b\n")
    r = runner.invoke(app, ["clean", "--data", str(semicolons), "--out", str(out)])
    assert r.exit_code == 1 and "seems separated by semicolons" in r.output
    header_only = tmp_path / "h.csv"
    header_only.write_text("zip,city\n")
    r = runner.invoke(app, ["clean", "--data", str(header_only), "--out", str(out)])
    assert r.exit_code == 1 and f"{header_only}: the table has no rows" in r.output
    assert "Traceback" not in r.output and not out.exists()


def _clean_parquet(tmp_path: Path, frame: pd.DataFrame, out_name: str) -> Path:
    """``gristmill clean`` of ``frame`` saved as Parquet, with the rule zip -> city."""
    data, out = tmp_path / "t.parquet", tmp_path / out_name
    frame.to_parquet(data)
    rules = tmp_path / "rules.txt"
    rules.write_text("zip -> city\n")
    result = runner.invoke(
        app, ["clean", "--data", str(data), "--constraints", str(rules), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    return out


def test_clean_keeps_the_index_and_untouched_dtypes_of_a_parquet_table(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "zip": ["1"] * 4 + ["2"] * 4,
            "city": ["a", "a", "a", "x", "b", "b", "b", "b"],
            "pop": pd.array([5, 6, None, 8, 9, 10, 11, 12], dtype="Int64"),
        },
        index=pd.Index([f"id{i}" for i in range(8)], name="key"),
    )
    repaired = pd.read_parquet(_clean_parquet(tmp_path, frame, "repaired.parquet"))
    assert repaired.index.equals(frame.index)
    assert repaired["city"].tolist() == ["a"] * 4 + ["b"] * 4
    pd.testing.assert_series_equal(repaired["pop"], frame["pop"])


def test_clean_writes_a_parquet_tables_index_as_the_first_column_of_a_csv(
    tmp_path: Path,
) -> None:
    frame = pd.DataFrame(
        {"zip": ["1"] * 4 + ["2"] * 4, "city": ["a", "a", "a", "x", "b", "b", "b", "b"]},
        index=pd.Index([f"id{i}" for i in range(8)], name="key"),
    )
    repaired = pd.read_csv(_clean_parquet(tmp_path, frame, "repaired.csv"), dtype=str)
    assert repaired.columns.tolist() == ["key", "zip", "city"]
    assert repaired["key"].tolist() == frame.index.tolist()
    assert repaired["city"].tolist() == ["a"] * 4 + ["b"] * 4


def test_clean_scores_against_a_truth_with_its_columns_in_another_order(tmp_path: Path) -> None:
    data, truth, out = tmp_path / "d.csv", tmp_path / "t.csv", tmp_path / "r.csv"
    rules = tmp_path / "c.txt"
    rules.write_text("zip -> city\n")
    rows = [("1", "a")] * 4 + [("2", "b")] * 4
    data.write_text("zip,city\n" + "".join(f"{z},{c}\n" for z, c in rows).replace("1,a", "1,x", 1))
    truth.write_text("city,zip\n" + "".join(f"{c},{z}\n" for z, c in rows))
    args = ["clean", "--data", str(data), "--out", str(out), "--truth", str(truth)]
    result = runner.invoke(app, [*args, "--constraints", str(rules)])
    assert result.exit_code == 0, result.output
    assert "1 repaired" in result.output
    assert "repair: precision 1.000  recall 1.000" in result.output


def test_clean_writes_an_excel_export_back_byte_for_byte_but_the_repairs(tmp_path: Path) -> None:
    # UTF-8 with a byte-order mark, CRLF line endings, an empty column without a name.
    lines = ["zip,city,"] + [f"{z},{c}," for z, c in [("1", "zürich")] * 4 + [("2", "bern")] * 4]
    lines[4] = "1,zurich,"
    data = tmp_path / "export.csv"
    data.write_bytes(b"\xef\xbb\xbf" + "".join(line + "\r\n" for line in lines).encode())
    rules = tmp_path / "fd.txt"
    rules.write_text("zip -> city\n")
    out = tmp_path / "repaired.csv"
    args = ["clean", "--data", str(data), "--constraints", str(rules), "--out", str(out)]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    expected = data.read_bytes().replace(b"1,zurich,", "1,zürich,".encode())
    assert out.read_bytes() == expected


def test_help_says_how_examples_number_rows() -> None:
    result = runner.invoke(app, ["clean", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "from 0" in result.output
