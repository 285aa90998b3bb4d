"""``gristmill impute`` end to end: every method, column selection, confidence, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gristmill.cli import app

runner = CliRunner()


def _write(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    rng = np.random.default_rng(0)
    city = rng.choice(["paris", "rome", "oslo"], 200)
    truth = pd.DataFrame(
        {
            "city": city,
            "country": pd.Series(city).map({"paris": "fr", "rome": "it", "oslo": "no"}),
            "size": rng.normal(10, 2, 200).round(3),
        }
    )
    dirty = truth.copy()
    dirty.loc[:19, "country"] = None
    dirty.loc[20:29, "size"] = np.nan
    path = tmp_path / "dirty.csv"
    dirty.to_csv(path, index=False)
    return path, truth


@pytest.mark.parametrize("method", ["mean", "trees", "knn", "iterative"])
def test_impute_fills_every_missing_cell(tmp_path: Path, method: str) -> None:
    data, truth = _write(tmp_path)
    before = data.read_bytes()
    out = tmp_path / "out" / "filled.csv"
    result = runner.invoke(
        app, ["impute", "--data", str(data), "--out", str(out), "--method", method, "--seed", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "30 missing cells filled" in result.output
    filled = pd.read_csv(out)
    assert filled.notna().all().all()
    assert list(filled.columns) == list(truth.columns)
    assert data.read_bytes() == before
    if method != "mean":
        assert (filled.loc[:19, "country"] == truth.loc[:19, "country"]).mean() >= 0.9


def test_impute_attention_with_columns_and_confidence(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    data, truth = _write(tmp_path)
    out, scores = tmp_path / "filled.parquet", tmp_path / "confidence.csv"
    result = runner.invoke(
        app,
        [
            "impute",
            "--data",
            str(data),
            "--out",
            str(out),
            "--columns",
            "country",
            "--method",
            "attention",
            "--max-epochs",
            "8",
            "--confidence",
            str(scores),
        ],
    )
    assert result.exit_code == 0, result.output
    filled = pd.read_parquet(out)
    assert filled["size"].isna().sum() == 10
    assert filled.loc[:19, "country"].tolist() == truth.loc[:19, "country"].tolist()
    confidence = pd.read_csv(scores)
    assert confidence.shape == truth.shape
    assert confidence.loc[20:, "country"].eq(1.0).all()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--method", "magic"], "unknown --method"),
        (["--columns", "nope"], "nope"),
        (["--method", "mean", "--confidence", "c.csv"], "--confidence needs"),
        (["--method", "trees", "--max-epochs", "5"], "--max-epochs needs"),
        (["--numeric", "city"], "declared numeric"),
        (["--categorical", "size,city", "--numeric", "size"], "both name column(s) ['size']"),
    ],
)
def test_impute_reports_bad_input_in_one_line(
    tmp_path: Path, extra: list[str], message: str
) -> None:
    data, _ = _write(tmp_path)
    result = runner.invoke(
        app, ["impute", "--data", str(data), "--out", str(tmp_path / "o.csv"), *extra]
    )
    assert result.exit_code == 1
    assert message in result.output
    assert "Traceback" not in result.output


def test_impute_all_missing_column_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text("a,b\nx,\ny,\n")
    result = runner.invoke(
        app, ["impute", "--data", str(path), "--out", str(tmp_path / "o.csv"), "--method", "mean"]
    )
    assert result.exit_code == 1
    assert "'b'" in result.output and "no observed values" in result.output


def test_impute_writes_back_cells_as_read_and_fills_placeholders(tmp_path: Path) -> None:
    # Codes keep their leading zeros, integers stay integers, and "N/A", "-" and blanks of
    # spaces are missing cells of a numeric column (not text making it categorical).
    rows = ["zip,stars,price,note"]
    for i in range(40):
        price = ["N/A", "-", "   ", ""][i % 4] if i % 10 == 3 else f"{10 + i % 7}.25"
        stars = "" if i % 9 == 4 else str(1 + i % 5)
        rows.append(f"{i % 3:03d},{stars},{price},n{i}")
    data = tmp_path / "t.csv"
    data.write_text("\n".join(rows) + "\n")
    out = tmp_path / "filled.csv"
    result = runner.invoke(
        app, ["impute", "--data", str(data), "--out", str(out), "--method", "mean"]
    )
    assert result.exit_code == 0, result.output
    assert "8 missing cells filled" in result.output
    before = pd.read_csv(data, dtype=str, keep_default_na=False)
    after = pd.read_csv(out, dtype=str, keep_default_na=False)
    blank = before["price"].str.strip().isin(["N/A", "-", ""])
    assert blank.sum() == 4
    assert after.loc[blank, "price"].astype(float).between(10, 17).all()
    assert after.loc[before["stars"] == "", "stars"].str.fullmatch(r"\d").all()
    kept = ~(blank.to_numpy()[:, None] | (before == "").to_numpy())
    assert (after.to_numpy()[kept] == before.to_numpy()[kept]).all()
    assert after["zip"].tolist() == before["zip"].tolist()


def test_impute_counts_a_single_missing_cell_in_the_singular(tmp_path: Path) -> None:
    data = tmp_path / "t.csv"
    data.write_text("city,price\n" + "a,1.5\nb,2.5\n" * 5 + "a,\n")
    out = tmp_path / "filled.csv"
    result = runner.invoke(
        app, ["impute", "--data", str(data), "--out", str(out), "--method", "mean"]
    )
    assert result.exit_code == 0, result.output
    assert "1 missing cell filled" in result.output
    assert "missing cells" not in result.output
    assert pd.read_csv(out)["price"].iloc[-1] == pytest.approx(2.0)


@pytest.mark.filterwarnings("default::gristmill.cleaning._files.MixedColumnWarning")
def test_impute_text_in_a_numeric_column_is_named_and_can_be_kept(tmp_path: Path) -> None:
    rows = ["city,price"] + [f"{c},{p}" for c, p in [("a", "1.5"), ("b", "2.5")] * 10]
    rows[4], rows[7] = "b,abc", "a,"
    data = tmp_path / "t.csv"
    data.write_text("\n".join(rows) + "\n")
    out = tmp_path / "filled.csv"
    args = ["impute", "--data", str(data), "--out", str(out), "--method", "mean"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "column 'price' holds numbers but also 1 cell(s) of text" in result.output
    assert "'abc' at row 3" in result.output
    result = runner.invoke(app, [*args, "--numeric", "price"])
    assert result.exit_code == 0, result.output
    assert "1 missing cell filled" in result.output
    filled = pd.read_csv(out, dtype=str)
    assert filled.loc[3, "price"] == "abc"
    assert float(filled.loc[6, "price"]) == pytest.approx(2.0)


def test_impute_names_a_file_with_another_separator(tmp_path: Path) -> None:
    data = tmp_path / "t.csv"
    data.write_text("a;b\n1;\n2;3\n")
    result = runner.invoke(app, ["impute", "--data", str(data), "--out", str(tmp_path / "o.csv")])
    assert result.exit_code == 1
    assert "t.csv" in result.output and "semicolons" in result.output
    assert "Traceback" not in result.output


def test_impute_errors_name_the_file(tmp_path: Path) -> None:
    header_only, empty_column = tmp_path / "h.csv", tmp_path / "e.csv"
    header_only.write_text("a,b\n")
    empty_column.write_text("a,b\nx,\ny,\n")
    for data, message in [(header_only, "the table is empty"), (empty_column, "['b']")]:
        out = tmp_path / "o.csv"
        result = runner.invoke(
            app, ["impute", "--data", str(data), "--out", str(out), "--method", "mean"]
        )
        assert result.exit_code == 1
        assert result.output.startswith(f"error: {data}: ") and message in result.output


def test_impute_keeps_the_index_and_dtypes_of_a_parquet_table(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "n": pd.array([1, 2, None, 4] * 5, dtype="Int64"),
            "flag": pd.array([True, None, False, True] * 5, dtype="boolean"),
            "kind": pd.Categorical(["x", "y", "x", None] * 5),
        },
        index=pd.Index([f"id{i}" for i in range(20)], name="key"),
    )
    data, out = tmp_path / "t.parquet", tmp_path / "filled.parquet"
    frame.to_parquet(data)
    result = runner.invoke(
        app, ["impute", "--data", str(data), "--out", str(out), "--method", "mean"]
    )
    assert result.exit_code == 0, result.output
    filled = pd.read_parquet(out)
    assert filled.index.equals(frame.index) and filled.dtypes.equals(frame.dtypes)
    assert filled.notna().all().all()


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_impute_writes_a_parquet_tables_index_as_a_column_of_a_text_output(
    tmp_path: Path, suffix: str
) -> None:
    frame = pd.DataFrame(
        {"n": [1.0, 2.0, None, 4.0] * 3}, index=pd.Index([f"id{i}" for i in range(12)])
    )
    data, out = tmp_path / "t.parquet", tmp_path / f"filled.{suffix}"
    frame.to_parquet(data)
    result = runner.invoke(
        app, ["impute", "--data", str(data), "--out", str(out), "--method", "mean"]
    )
    assert result.exit_code == 0, result.output
    filled = pd.read_csv(out) if suffix == "csv" else pd.read_json(out, lines=True)
    assert filled.columns.tolist() == ["index", "n"]
    assert filled["index"].tolist() == frame.index.tolist()
    assert filled["n"].notna().all()


@pytest.mark.filterwarnings("default::UserWarning")
def test_impute_warns_that_a_typed_output_drops_text_of_a_numeric_column(tmp_path: Path) -> None:
    data, out = tmp_path / "t.csv", tmp_path / "filled.parquet"
    data.write_text("price,city\n1,a\n2,b\nabc,a\n,b\n5,a\n")
    args = ["impute", "--data", str(data), "--out", str(out), "--method", "mean"]
    result = runner.invoke(app, [*args, "--numeric", "price"])
    assert result.exit_code == 0, result.output
    assert "column 'price' is declared numeric, so its 1 text cell(s)" in result.output
    assert "'abc' at row 2" in result.output
    assert pd.read_parquet(out)["price"].isna().tolist() == [False, False, True, False, False]


def test_impute_writes_an_excel_export_back_byte_for_byte_but_the_filled_cells(
    tmp_path: Path,
) -> None:
    # UTF-8 with a byte-order mark, CRLF line endings, an empty column without a name.
    lines = ["city,size,", "zürich,1.5,", "zürich,,", "bern,2.5,"]
    data = tmp_path / "export.csv"
    data.write_bytes(b"\xef\xbb\xbf" + "".join(line + "\r\n" for line in lines).encode())
    out = tmp_path / "filled.csv"
    args = ["impute", "--data", str(data), "--out", str(out), "--method", "mean"]
    result = runner.invoke(app, [*args, "--columns", "size"])
    assert result.exit_code == 0, result.output
    expected = data.read_bytes().replace("zürich,,".encode(), "zürich,2.0,".encode())
    assert out.read_bytes() == expected
