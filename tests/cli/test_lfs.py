"""``gristmill lfs apply`` and ``gristmill lfs summary`` through typer's runner and a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from gristmill.cli import app
from gristmill.labeling import LabelMatrix

runner = CliRunner()


def _apply(project: Path, out: Path, *options: str) -> Any:
    """``gristmill lfs apply`` of the project's data and LFs into ``out``, with ``options``."""
    return runner.invoke(
        app,
        [
            "lfs",
            "apply",
            "--data",
            str(project / "data.csv"),
            "--lfs",
            str(project / "lfs.py"),
            "--out",
            str(out),
            *options,
        ],
    )


LFS = (
    "from gristmill import keyword_lf, labeling_function\n"
    "buy = keyword_lf(['buy', 'cheap'], 1)\n"
    "@labeling_function()\n"
    "def short(x):\n"
    "    return 0 if len(x.text) < 10 else -1\n"
    "@labeling_function()\n"
    "def fragile(x):\n"
    "    if 'boom' in x.text:\n"
    "        raise RuntimeError('boom')\n"
    "    return -1\n"
)


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    frame = pd.DataFrame(
        {
            "text": ["buy cheap now", "nice song", "boom boom pow", "cheap tickets here"],
            "label": [1, 0, 0, 1],
        }
    )
    frame.to_csv(tmp_path / "data.csv", index=False)
    frame.to_json(tmp_path / "data.jsonl", orient="records", lines=True)
    frame.to_parquet(tmp_path / "data.parquet")
    (tmp_path / "lfs.py").write_text(LFS)
    return tmp_path


@pytest.mark.parametrize("suffix", ["csv", "jsonl", "parquet"])
def test_apply_then_summary(project: Path, suffix: str) -> None:
    out = project / f"L_{suffix}.parquet"
    result = runner.invoke(
        app,
        [
            "lfs",
            "apply",
            "--data",
            str(project / f"data.{suffix}"),
            "--lfs",
            str(project / "lfs.py"),
            "--out",
            str(out),
            "--on-error",
            "abstain",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Labeled 4 rows with 3 labeling functions" in result.output
    L = LabelMatrix.from_parquet(out)
    np.testing.assert_array_equal(L.values, [[1, -1, -1], [-1, 0, -1], [-1, -1, -1], [1, -1, -1]])
    assert L.lf_names == ("keyword_buy", "short", "fragile")

    result = runner.invoke(
        app,
        [
            "lfs",
            "summary",
            str(out),
            "--labels",
            str(project / "data.csv"),
            "--label-column",
            "label",
            "--out",
            str(project / "summary.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "keyword_buy" in result.output and "Emp. Acc." in result.output
    saved = pd.read_csv(project / "summary.csv", index_col="LF")
    assert saved.loc["keyword_buy", "Correct"] == 2
    # 'fragile' never votes: no empirical accuracy (an empty cell, a dash on screen), not 0.0.
    assert pd.isna(saved.loc["fragile", "Emp. Acc."])
    assert saved.loc["fragile", ["Correct", "Incorrect"]].tolist() == [0, 0]
    (shown,) = [line.split() for line in result.output.splitlines() if "fragile" in line]
    assert shown[-3:] == ["0", "0", "-"]
    assert saved.loc["short", "Coverage"] == pytest.approx(0.25)


def test_apply_failure_stops_with_lf_and_row(project: Path) -> None:
    result = runner.invoke(
        app,
        [
            "lfs",
            "apply",
            "--data",
            str(project / "data.csv"),
            "--lfs",
            str(project / "lfs.py"),
            "--out",
            str(project / "L.parquet"),
        ],
    )
    assert result.exit_code == 1
    # "boom boom pow" is the third data row of the file (index label 2 in pandas)
    numbering = "(rows numbered from 1, the header not counted)"
    assert f"data.csv {numbering}: Labeling function 'fragile' failed on row 3" in result.output
    assert "RuntimeError: boom" in result.output
    assert not (project / "L.parquet").exists()


def test_clear_errors(project: Path) -> None:
    def run(*args: str) -> str:
        result = runner.invoke(app, ["lfs", *args])
        assert result.exit_code == 1, result.output
        return " ".join(result.output.split())

    data, lfs, out = str(project / "data.csv"), str(project / "lfs.py"), str(project / "L.pq")
    (project / "bad.csv").write_text("")
    assert "bad.csv: the file is empty" in run(
        "apply", "--data", str(project / "bad.csv"), "--lfs", lfs, "--out", out
    )
    (project / "none.py").write_text("X = 1\n")
    assert "defines no labeling functions" in run(
        "apply", "--data", data, "--lfs", str(project / "none.py"), "--out", out
    )
    (project / "dup.py").write_text(
        "from gristmill import keyword_lf\n"
        "a = keyword_lf('x', 1, name='d')\nb = keyword_lf('y', 1, name='d')\n"
    )
    assert "'d' is defined by both" in run(
        "apply", "--data", data, "--lfs", str(project / "dup.py"), "--out", out
    )
    (project / "col.py").write_text(
        "from gristmill import keyword_lf\na = keyword_lf('x', 1, column='body')\n"
    )
    assert "needs column(s) ['body']" in run(
        "apply", "--data", data, "--lfs", str(project / "col.py"), "--out", out
    )
    assert "engine must be one of" in run(
        "apply", "--data", data, "--lfs", lfs, "--out", out, "--engine", "spark"
    )
    assert "no such file" in run("summary", str(project / "nothing.parquet"))
    assert "data.parquet: column 'text' holds" in run("summary", str(project / "data.parquet"))
    good = project / "L.parquet"
    runner.invoke(
        app,
        ["lfs", "apply", "--data", data, "--lfs", lfs, "--out", str(good), "--on-error", "abstain"],
    )
    assert "missing column(s) ['gold']" in run(
        "summary", str(good), "--labels", data, "--label-column", "gold"
    )
    assert "go together" in run("summary", str(good), "--labels", data)
    assert "integer class indices" in run(
        "summary", str(good), "--labels", data, "--label-column", "text"
    )
    pd.DataFrame({"label": [0, 1]}).to_csv(project / "short.csv", index=False)
    assert "must be row-aligned" in run(
        "summary", str(good), "--labels", str(project / "short.csv"), "--label-column", "label"
    )


@pytest.mark.slow
def test_real_subprocess(project: Path) -> None:
    env = {**os.environ, "COLUMNS": "160"}
    out = project / "L.parquet"
    command = [sys.executable, "-m", "gristmill", "lfs"]
    applied = subprocess.run(
        [
            *command,
            "apply",
            "--data",
            str(project / "data.parquet"),
            "--lfs",
            str(project / "lfs.py"),
            "--out",
            str(out),
            "--on-error",
            "abstain",
            "--engine",
            "processes",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert applied.returncode == 0, applied.stderr
    assert "fragile" in applied.stderr and "Rows failed" in applied.stderr
    summary = subprocess.run(
        [
            *command,
            "summary",
            str(out),
            "--labels",
            str(project / "data.jsonl"),
            "--label-column",
            "label",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert summary.returncode == 0, summary.stderr
    assert "4 rows, 3 labeling functions" in summary.stdout
    assert "keyword_buy" in summary.stdout


def _summary_line(output: str, lf: str) -> list[str]:
    """The cells of ``lf``'s row in a printed summary."""
    return next(line.split() for line in output.splitlines() if line.split()[:1] == [lf])


def test_summary_matches_gold_to_rows_by_their_labels(project: Path) -> None:
    frame = pd.read_csv(project / "data.csv").set_axis(pd.Index(list("wxyz"), name="cid"))
    frame.to_parquet(project / "named.parquet")
    frame.iloc[[1, 2, 3, 0]].to_parquet(project / "gold_moved.parquet")  # same rows, moved
    out = project / "L.parquet"
    applied = runner.invoke(
        app,
        [
            "lfs",
            "apply",
            "--data",
            str(project / "named.parquet"),
            "--lfs",
            str(project / "lfs.py"),
            "--out",
            str(out),
            "--on-error",
            "abstain",
        ],
    )
    assert applied.exit_code == 0, applied.output
    result = runner.invoke(
        app,
        [
            "lfs",
            "summary",
            str(out),
            "--labels",
            str(project / "gold_moved.parquet"),
            "--label-column",
            "label",
            "--out",
            str(project / "summary.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    saved = pd.read_csv(project / "summary.csv", index_col="LF")
    # keyword_buy votes spam on "buy cheap now" and "cheap tickets here": both spam.
    assert saved.loc["keyword_buy", ["Correct", "Incorrect"]].tolist() == [2, 0]
    assert saved.loc["short", ["Correct", "Incorrect"]].tolist() == [1, 0]


def test_summary_prints_a_dash_for_an_accuracy_over_no_votes(project: Path) -> None:
    out = project / "L.parquet"
    _apply(project, out, "--on-error", "abstain")
    result = runner.invoke(
        app,
        [
            "lfs",
            "summary",
            str(out),
            "--labels",
            str(project / "data.csv"),
            "--label-column",
            "label",
        ],
    )
    assert result.exit_code == 0, result.output
    # 'fragile' never votes: 0 correct of 0 is no accuracy, not an accuracy of 0.
    assert _summary_line(result.output, "fragile") == [
        "fragile",
        "-",
        "0.000",
        "0.000",
        "0.000",
        "0",
        "0",
        "-",
    ]
    assert _summary_line(result.output, "keyword_buy")[-1] == "1.000"


def test_summary_shows_a_rare_lf_is_not_silent(tmp_path: Path) -> None:
    votes = np.full((3000, 2), -1)
    votes[0, 0] = 1
    votes[:1500, 1] = 0
    LabelMatrix(votes, ["rare", "common"]).to_parquet(tmp_path / "L.parquet")
    result = runner.invoke(app, ["lfs", "summary", str(tmp_path / "L.parquet")])
    assert result.exit_code == 0, result.output
    assert _summary_line(result.output, "rare")[2] == "0.000333"  # one row in 3,000, not 0.000
    assert _summary_line(result.output, "common")[2] == "0.500"


def test_summary_with_a_saved_label_model_adds_its_estimated_accuracy(project: Path) -> None:
    from gristmill.labelmodel import LabelModel, load_label_model

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 400)
    votes = np.column_stack(
        [
            np.where(rng.random(400) < 0.7, np.where(rng.random(400) < 0.8, y, 1 - y), -1)
            for _ in range(4)
        ]
    )
    matrix = LabelMatrix(votes, ["a", "b", "c", "d"])
    matrix.to_parquet(project / "L.parquet")
    LabelModel().fit(matrix, seed=0).save(project / "lm")
    expected = load_label_model(project / "lm").lf_accuracies_
    result = runner.invoke(
        app,
        [
            "lfs",
            "summary",
            str(project / "L.parquet"),
            "--label-model",
            str(project / "lm"),
            "--out",
            str(project / "summary.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Est. Acc." in result.output
    saved = pd.read_csv(project / "summary.csv", index_col="LF")
    np.testing.assert_allclose(saved["Est. Acc."], expected)
    missing = runner.invoke(
        app,
        ["lfs", "summary", str(project / "L.parquet"), "--label-model", str(project / "nothing")],
    )
    assert missing.exit_code == 1 and "nothing" in missing.output


def test_apply_saves_the_tables_own_row_index(project: Path) -> None:
    # Errors number a CSV's rows from 1; the saved matrix keeps the table's rows, 0..n-1 here.
    out = project / "L.parquet"
    result = _apply(project, out, "--on-error", "abstain")
    assert result.exit_code == 0, result.output
    assert LabelMatrix.from_parquet(out).index.equals(pd.RangeIndex(4))
    named = project / "named.parquet"
    pd.read_csv(project / "data.csv").set_axis(pd.RangeIndex(100, 104)).to_parquet(named)
    result = runner.invoke(
        app,
        [
            "lfs",
            "apply",
            "--data",
            str(named),
            "--lfs",
            str(project / "lfs.py"),
            "--out",
            str(out),
            "--on-error",
            "abstain",
        ],
    )
    assert result.exit_code == 0, result.output
    assert LabelMatrix.from_parquet(out).index.tolist() == [100, 101, 102, 103]


def test_summary_names_a_bad_gold_label_by_its_row_in_the_file(project: Path) -> None:
    out = project / "L.parquet"
    _apply(project, out, "--on-error", "abstain")
    frame = pd.read_csv(project / "data.csv")
    frame.loc[2, "label"] = None  # the third data row: row 3 of the file, as apply counts
    frame.to_csv(project / "gaps.csv", index=False)
    result = runner.invoke(
        app,
        [
            "lfs",
            "summary",
            str(out),
            "--labels",
            str(project / "gaps.csv"),
            "--label-column",
            "label",
        ],
    )
    assert result.exit_code == 1
    assert (
        "gaps.csv (rows numbered from 1, the header not counted): column 'label' holds nan at "
        "row 3; gold labels must be integer class indices"
    ) in " ".join(result.output.split())


def test_summary_blames_a_label_model_fit_on_other_lfs_not_the_gold_labels(
    project: Path,
) -> None:
    from gristmill.labelmodel import LabelModel

    out = project / "L.parquet"
    _apply(project, out, "--on-error", "abstain")
    rng = np.random.default_rng(0)
    other = LabelMatrix(rng.integers(-1, 2, (200, 3)), ["x", "y", "z"])
    LabelModel().fit(other, seed=0).save(project / "lm")
    result = runner.invoke(
        app,
        [
            "lfs",
            "summary",
            str(out),
            "--labels",
            str(project / "data.csv"),
            "--label-column",
            "label",
            "--label-model",
            str(project / "lm"),
        ],
    )
    assert result.exit_code == 1
    message = " ".join(result.output.split())
    assert f"{project / 'lm'}: The label model was fit on other labeling functions" in message
    assert "data.csv" not in message


@pytest.mark.parametrize("suffix", ["csv", "tsv", "json", "jsonl", "ndjson"])
def test_apply_refuses_to_save_parquet_under_another_tables_suffix(
    project: Path, suffix: str
) -> None:
    out = project / f"L.{suffix}"
    result = _apply(project, out, "--on-error", "abstain")
    assert result.exit_code == 1
    assert "name --out *.parquet" in " ".join(result.output.split())
    assert not out.exists()


@pytest.mark.parametrize(("option", "value"), [("--engine", "spark"), ("--on-error", "skip")])
def test_apply_checks_its_options_before_importing_the_lfs(
    project: Path, option: str, value: str
) -> None:
    imported = project / "imported.txt"
    lfs = project / "slow_lfs.py"
    lfs.write_text(
        f"open({str(imported)!r}, 'w').close()\n"
        "from gristmill import keyword_lf\nk = keyword_lf('x', 1, column='text')\n"
    )
    out = project / "L.parquet"
    args = ["lfs", "apply", "--data", str(project / "data.csv"), "--lfs", str(lfs)]
    result = runner.invoke(app, [*args, "--out", str(out), option, value])
    assert result.exit_code == 1
    assert f"error: {option} must be one of" in result.output and repr(value) in result.output
    assert not imported.exists() and not out.exists()


def test_apply_and_summary_count_one_row_and_one_lf_in_the_singular(tmp_path: Path) -> None:
    pd.DataFrame({"text": ["buy now"]}).to_csv(tmp_path / "one.csv", index=False)
    lfs = "from gristmill import keyword_lf\nbuy = keyword_lf('buy', 1)\n"
    (tmp_path / "lfs.py").write_text(lfs)
    out = tmp_path / "L.parquet"
    result = runner.invoke(
        app,
        [
            "lfs",
            "apply",
            "--data",
            str(tmp_path / "one.csv"),
            "--lfs",
            str(tmp_path / "lfs.py"),
            "--out",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Labeled 1 row with 1 labeling function in " in result.output
    result = runner.invoke(app, ["lfs", "summary", str(out)])
    assert result.exit_code == 0, result.output
    assert "L.parquet: 1 row, 1 labeling function" in result.output


def _multilabel_project(tmp_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """A saved multilabel matrix (labels x, y: votes 0, 1 apply, 2, 3 do not) and its model.

    Returns the votes and the gold label indicators of its rows.
    """
    from gristmill.labelmodel import BinaryRelevanceLabelModel

    rng = np.random.default_rng(3)
    n = 400
    Y = np.column_stack([rng.random(n) < 0.3, rng.random(n) < 0.6]).astype(int)
    L = np.full((n, 4), -1)
    for column, label in ((0, 0), (1, 1), (2, 1)):
        fires = (Y[:, label] == 1) & (rng.random(n) < 0.5)
        L[fires, column] = label
    worker = rng.random(n) < 0.4
    noisy = np.where(rng.random(n) < 0.9, Y[:, 0], 1 - Y[:, 0])
    L[worker, 3] = np.where(noisy[worker] == 1, 0, 2)  # a worker saying x applies, or not
    matrix = LabelMatrix(L, ["x_kw", "y_kw", "y_kw2", "worker"])
    matrix.to_parquet(tmp_path / "L.parquet")
    BinaryRelevanceLabelModel(["x", "y"]).fit(matrix).save(tmp_path / "lm")
    return L, Y


def test_summary_with_a_multilabel_label_model_summarises_votes_per_label(tmp_path: Path) -> None:
    from gristmill.labelmodel import load_label_model

    L, Y = _multilabel_project(tmp_path)
    sets = ["|".join(c for c, on in zip("xy", row, strict=True) if on) or "[]" for row in Y]
    sets[0] = "x|typo"  # a label set naming no label is not scored
    pd.DataFrame({"tags": sets}).to_csv(tmp_path / "gold.csv", index=False)
    result = runner.invoke(
        app,
        [
            "lfs",
            "summary",
            str(tmp_path / "L.parquet"),
            "--label-model",
            str(tmp_path / "lm"),
            "--labels",
            str(tmp_path / "gold.csv"),
            "--label-column",
            "tags",
            "--out",
            str(tmp_path / "summary.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    printed = " ".join(result.output.split())
    assert "L.parquet: 400 rows, 4 labeling functions, multilabel (x, y)" in printed
    assert "gold label sets naming no label (x, y) are not scored: 'typo'" in printed
    assert _summary_line(result.output, "worker")[:3] == ["worker", "+x,", "-x"]
    saved = pd.read_csv(tmp_path / "summary.csv", index_col="LF")
    assert list(saved.columns) == ["j", "Polarity", "Coverage", "Emp. Acc.", "Est. Acc."]
    assert saved["Polarity"].tolist() == ["+x", "+y", "+y", "+x -x"]
    np.testing.assert_allclose(saved["Est. Acc."], load_label_model(tmp_path / "lm").lf_accuracies_)
    worker = L[1:, 3] != -1  # row 0's gold set is unknown
    says_x = L[1:, 3][worker] == 0
    np.testing.assert_allclose(
        saved.loc["worker", "Emp. Acc."], np.mean(says_x == Y[1:, 0][worker])
    )
    assert saved.loc["y_kw", "Emp. Acc."] == 1.0


def test_summary_refuses_a_matrix_whose_votes_a_multilabel_model_cannot_read(
    tmp_path: Path,
) -> None:
    L, _ = _multilabel_project(tmp_path)
    L[7, 2] = 4  # with two labels a vote is 0..3
    LabelMatrix(L, ["x_kw", "y_kw", "y_kw2", "worker"]).to_parquet(tmp_path / "other.parquet")
    result = runner.invoke(
        app,
        ["lfs", "summary", str(tmp_path / "other.parquet"), "--label-model", str(tmp_path / "lm")],
    )
    assert result.exit_code == 1
    message = " ".join(result.output.split())
    assert (
        f"{tmp_path / 'lm'}: a multilabel task of 2 labels (x, y) has votes j (label j" in message
    )
    assert "labeling function 'y_kw2' votes 4 at row 7" in message


@pytest.mark.parametrize("multilabel", [False, True])
def test_summary_reads_a_label_model_fit_on_more_sources_than_the_matrix(
    tmp_path: Path, multilabel: bool
) -> None:
    # A pipeline's label model is fit on its label columns too, which 'lfs apply' never outputs.
    from gristmill.labelmodel import BinaryRelevanceLabelModel, LabelModel

    L, _ = _multilabel_project(tmp_path)
    if not multilabel:
        L = np.where(L >= 2, 0, np.where(L == 1, 1, L))  # votes of a binary task
    names = ["x_kw", "y_kw", "y_kw2", "column:worker:x"]
    model = BinaryRelevanceLabelModel(["x", "y"]) if multilabel else LabelModel()
    model.fit(LabelMatrix(L, names), seed=0).save(tmp_path / "lm_all")
    LabelMatrix(L[:, [2, 0, 1]], ["y_kw2", "x_kw", "y_kw"]).to_parquet(tmp_path / "lfs.parquet")
    result = runner.invoke(
        app,
        [
            "lfs",
            "summary",
            str(tmp_path / "lfs.parquet"),
            "--label-model",
            str(tmp_path / "lm_all"),
            "--out",
            str(tmp_path / "summary.csv"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "also fit on sources the matrix lacks: column:worker:x" in " ".join(
        result.output.split()
    )
    saved = pd.read_csv(tmp_path / "summary.csv", index_col="LF")
    assert saved.index.tolist() == ["y_kw2", "x_kw", "y_kw"]
    np.testing.assert_allclose(saved["Est. Acc."], model.lf_accuracies_[[2, 0, 1]])
    assert ("Conflicts" in saved.columns) is not multilabel
    # An LF the label model was not fit on is still refused.
    LabelMatrix(L[:, :2], ["x_kw", "other"]).to_parquet(tmp_path / "other.parquet")
    refused = runner.invoke(
        app,
        [
            "lfs",
            "summary",
            str(tmp_path / "other.parquet"),
            "--label-model",
            str(tmp_path / "lm_all"),
        ],
    )
    assert refused.exit_code == 1
    assert "fit on other labeling functions" in " ".join(refused.output.split())


def test_summary_of_a_multilabel_matrix_without_a_label_model_takes_its_labels(
    tmp_path: Path,
) -> None:
    L, Y = _multilabel_project(tmp_path)
    args = ["lfs", "summary", str(tmp_path / "L.parquet"), "--out", str(tmp_path / "s.csv")]
    result = runner.invoke(app, [*args, "--multilabel", "x, y"])
    assert result.exit_code == 0, result.output
    saved = pd.read_csv(tmp_path / "s.csv", index_col="LF")
    assert saved["Polarity"].tolist() == ["+x", "+y", "+y", "+x -x"]
    assert "Conflicts" not in saved.columns and "Est. Acc." not in saved.columns
    np.testing.assert_allclose(saved["Coverage"], (L != -1).mean(axis=0))
    pd.DataFrame({"tags": ["x|y" if row.all() else "[]" for row in Y]}).to_csv(
        tmp_path / "gold.csv", index=False
    )
    gold = ["--labels", str(tmp_path / "gold.csv"), "--label-column", "tags"]
    single = runner.invoke(app, [*args, *gold])
    assert single.exit_code == 1
    assert (
        "gold labels must be integer class indices; it holds label sets: summarise a multilabel "
        "task with --multilabel LABELS or its multilabel --label-model"
    ) in " ".join(single.output.split())
    for labels, expected in (
        ("x,,y", "expected the task's labels, each once, separated by commas"),
        ("x,x", "expected the task's labels, each once"),
        ("y,x", f"does not fit the label model {tmp_path / 'lm'}: its labels are x, y"),
        ("x", "--multilabel: a multilabel task of 1 label (x) has votes j"),
    ):
        with_model = ["--label-model", str(tmp_path / "lm")] if labels == "y,x" else []
        refused = runner.invoke(app, [*args, "--multilabel", labels, *with_model])
        assert refused.exit_code == 1, refused.output
        assert expected in " ".join(refused.output.split())
