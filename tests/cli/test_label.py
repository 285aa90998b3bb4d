"""``gristmill label``."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from gristmill.cli import app
from gristmill.labeling import LabelMatrix
from gristmill.labelmodel import LabelModel, load_label_model

runner = CliRunner()


def _matrix(tmp_path, seed=0):
    rng = np.random.default_rng(seed)
    gold = rng.integers(0, 3, 400)
    votes = np.where(rng.random((400, 4)) < 0.8, gold[:, None], (gold[:, None] + 1) % 3)
    votes[rng.random((400, 4)) < 0.3] = -1
    matrix = LabelMatrix(votes, ["a", "b", "c", "d"])
    path = matrix.to_parquet(tmp_path / "L.parquet")
    return matrix, gold, path


def test_label_writes_one_probability_column_per_class(tmp_path) -> None:
    matrix, _, path = _matrix(tmp_path)
    out = tmp_path / "probs.parquet"
    result = runner.invoke(
        app,
        ["label", "--matrix", str(path), "--out", str(out), "--save-model", str(tmp_path / "lm")],
    )
    assert result.exit_code == 0, result.output
    probs = pd.read_parquet(out)
    assert list(probs.columns) == ["proba_0", "proba_1", "proba_2"]
    expected = LabelModel().fit(matrix).predict_proba(matrix)
    np.testing.assert_allclose(probs.to_numpy(), expected)
    np.testing.assert_allclose(load_label_model(tmp_path / "lm").predict_proba(matrix), expected)


def test_label_with_model_and_dev_file(tmp_path) -> None:
    matrix, gold, path = _matrix(tmp_path)
    dev_path = LabelMatrix(matrix.values[:50], matrix.lf_names).to_parquet(tmp_path / "dev.parquet")
    table = pq.read_table(dev_path)
    pq.write_table(table.append_column("gold", pa.array(gold[:50])), dev_path)
    out = tmp_path / "probs.parquet"
    args = [
        "label",
        "--matrix",
        str(path),
        "--out",
        str(out),
        "--model",
        "weighted_majority_vote",
        "--dev",
        str(dev_path),
        "--dev-label-column",
        "gold",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert pd.read_parquet(out).shape == (400, 3)
    bad = runner.invoke(app, [*args[:-1], "missing"])
    assert bad.exit_code == 1
    assert "no gold-label column 'missing'" in bad.output


def test_label_reads_votes_written_by_pandas(tmp_path) -> None:
    matrix, gold, _ = _matrix(tmp_path)
    frame = matrix.to_frame()
    frame.to_parquet(tmp_path / "votes.parquet", index=False)
    frame.iloc[:50][["d", "c", "b", "a"]].assign(gold=gold[:50]).to_parquet(tmp_path / "dev.pq")
    out = tmp_path / "probs.parquet"
    args = ["label", "--matrix", str(tmp_path / "votes.parquet"), "--out", str(out)]
    result = runner.invoke(
        app, [*args, "--dev", str(tmp_path / "dev.pq"), "--dev-label-column", "gold"]
    )
    assert result.exit_code == 0, result.output
    expected = LabelModel().fit(matrix, L_dev=matrix.to_frame().iloc[:50], y_dev=gold[:50])
    np.testing.assert_allclose(pd.read_parquet(out).to_numpy(), expected.predict_proba(matrix))
    frame.assign(b=frame["b"].astype(float).where(frame.index != 7)).to_parquet(
        tmp_path / "votes.parquet", index=False
    )
    before = out.read_bytes()
    bad = runner.invoke(app, args)
    assert bad.exit_code == 1
    assert "votes.parquet: labeling function 'b' holds nan at row 7" in bad.output
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "L.parquet",
        "dev.pq",
        "probs.parquet",
        "votes.parquet",
    ]


def test_label_reports_errors_in_one_line(tmp_path) -> None:
    _, _, path = _matrix(tmp_path)
    result = runner.invoke(
        app,
        ["label", "--matrix", str(path), "--out", str(tmp_path / "p.parquet"), "--model", "nope"],
    )
    assert result.exit_code == 1
    assert "Unknown label model 'nope'" in result.output
    missing = runner.invoke(
        app,
        ["label", "--matrix", str(tmp_path / "none.parquet"), "--out", str(tmp_path / "p.parquet")],
    )
    assert missing.exit_code == 1 and "no such file" in missing.output
    assert not (tmp_path / "p.parquet").exists()


@pytest.mark.filterwarnings("default::gristmill.exceptions.IdentifiabilityWarning")
def test_label_prints_an_identifiability_warning_in_one_line(tmp_path) -> None:
    # Rules of which at most one votes on a row (question words): nothing identifies accuracies.
    rng = np.random.default_rng(0)
    rule, gold = rng.integers(0, 4, 300), rng.integers(0, 3, 300)
    votes = np.full((300, 3), -1)
    fired = rule < 3
    votes[fired, rule[fired]] = gold[fired]
    path = LabelMatrix(votes, ["who", "where", "when"]).to_parquet(tmp_path / "L.parquet")
    result = runner.invoke(
        app, ["label", "--matrix", str(path), "--out", str(tmp_path / "p.parquet")]
    )
    assert result.exit_code == 0, result.output
    assert "warning: LabelModel: only 0 of the 3 voting labeling functions" in result.output
    assert "IdentifiabilityWarning" not in result.output and ".py:" not in result.output
    assert (tmp_path / "p.parquet").exists()


def test_dev_file_errors_name_the_file(tmp_path) -> None:
    matrix, gold, path = _matrix(tmp_path)
    out = tmp_path / "probs.parquet"
    dev = tmp_path / "dev.parquet"

    def run(frame: pd.DataFrame) -> str:
        frame.to_parquet(dev, index=False)
        result = runner.invoke(
            app, ["label", "--matrix", str(path), "--out", str(out), "--dev", str(dev)]
        )
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert not out.exists()
        return result.output

    frame = matrix.to_frame().iloc[:20].assign(label=gold[:20])
    assert "dev.parquet: the dev file has no rows" in run(frame.iloc[:0])
    assert "dev.parquet: column 'label' holds -1 at row 3" in run(
        frame.assign(label=np.where(np.arange(20) == 3, -1, gold[:20]))
    )
    assert "dev.parquet: its labeling functions are not those of" in run(
        frame.rename(columns={"d": "e"})
    )
    # An integer column with a gap is read as floats: the gap, not the type, is the fault.
    gap = frame.assign(label=pd.array(gold[:20], dtype="Int64"))
    gap.loc[5, "label"] = None
    assert "dev.parquet: column 'label' has no gold class at row 5 (a missing value)" in run(gap)


def test_a_matrix_without_rows_or_columns_names_the_file(tmp_path) -> None:
    out = tmp_path / "probs.parquet"
    no_rows = LabelMatrix(np.zeros((0, 3), dtype=int), ["a", "b", "c"]).to_parquet(
        tmp_path / "no_rows.parquet"
    )
    no_columns = tmp_path / "no_columns.parquet"
    pd.DataFrame({"__row__": [1, 2]}).to_parquet(no_columns, index=False)
    outputs = []
    for path in (no_rows, no_columns):
        result = runner.invoke(app, ["label", "--matrix", str(path), "--out", str(out)])
        assert result.exit_code == 1 and "Traceback" not in result.output
        outputs.append(" ".join(result.output.split()))
    assert "no_rows.parquet: the label matrix has no rows" in outputs[0]
    assert "no_columns.parquet: no labeling-function columns" in outputs[1]
    assert not out.exists()


def test_classes_out_of_range_name_the_file_and_row(tmp_path) -> None:
    matrix, gold, path = _matrix(tmp_path)
    out = tmp_path / "probs.parquet"
    dev = tmp_path / "dev.parquet"
    matrix.to_frame().iloc[:20].assign(label=np.where(np.arange(20) == 7, 5, gold[:20])).to_parquet(
        dev, index=False
    )

    def run(*extra: str) -> str:
        result = runner.invoke(app, ["label", "--matrix", str(path), "--out", str(out), *extra])
        assert result.exit_code == 1 and "Traceback" not in result.output
        assert not out.exists()
        return " ".join(result.output.split())

    assert (
        "dev.parquet: column 'label' holds class 5 at row 7, but no labeling function votes a "
        "class above 2; pass --cardinality" in run("--dev", str(dev))
    )
    assert "dev.parquet: column 'label' holds class 5 at row 7, but --cardinality is 4" in run(
        "--dev", str(dev), "--cardinality", "4"
    )
    row = int(np.argmax(matrix.values.max(axis=1) == 2))
    column = matrix.lf_names[int(np.argmax(matrix.values[row] == 2))]
    assert (
        f"L.parquet: labeling function '{column}' votes class 2 at row {row}, but --cardinality "
        "is 2 (classes 0..1)" in run("--cardinality", "2")
    )
    result = runner.invoke(
        app,
        [
            "label",
            "--matrix",
            str(path),
            "--out",
            str(out),
            "--dev",
            str(dev),
            "--cardinality",
            "6",
        ],
    )
    assert result.exit_code == 0, result.output
    assert pd.read_parquet(out).shape == (400, 6)


def test_a_vote_beyond_the_class_limit_names_the_file(tmp_path) -> None:
    matrix, gold, path = _matrix(tmp_path)
    dev = tmp_path / "dev.parquet"
    votes = matrix.values[:20].astype(np.int64)
    votes[3, 1] = 20_000
    pd.DataFrame(votes, columns=matrix.lf_names).assign(label=gold[:20]).to_parquet(
        dev, index=False
    )
    out = tmp_path / "probs.parquet"
    result = runner.invoke(
        app, ["label", "--matrix", str(path), "--out", str(out), "--dev", str(dev)]
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "dev.parquet: labeling function 'b' votes class 20000" in " ".join(result.output.split())
    assert not out.exists()


def test_a_dev_file_with_other_lfs_than_a_partitioned_matrix_names_both(tmp_path) -> None:
    matrix, gold, _ = _matrix(tmp_path)
    parts = tmp_path / "L"  # the layout apply_lfs_partitioned writes, one part
    parts.mkdir()
    matrix.to_frame().to_parquet(parts / "part.000000.parquet")
    meta = {
        "format": "gristmill.partitioned_label_matrix",
        "lf_names": list(matrix.lf_names),
        "n_rows": 400,
        "part_rows": [400],
    }
    (parts / "_label_matrix.json").write_text(json.dumps(meta))
    dev = tmp_path / "dev.parquet"
    frame = matrix.to_frame().iloc[:20].rename(columns={"d": "e"}).assign(label=gold[:20])
    frame.to_parquet(dev, index=False)
    out = tmp_path / "P"
    result = runner.invoke(
        app, ["label", "--matrix", str(parts), "--out", str(out), "--dev", str(dev)]
    )
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert (
        "dev.parquet: its labeling functions are not those of " in result.output
        and "missing ['d'], not in L: ['e']" in " ".join(result.output.split())
    )
    assert not out.exists()
