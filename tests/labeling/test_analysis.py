"""lf_summary against values computed by hand (Snorkel LFAnalysis definitions)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from gristmill import DataError, LabelMatrix, NotFittedError, lf_summary

# rows x LFs; -1 = abstain
VOTES = np.array(
    [
        [0, 0, -1, -1],
        [1, 0, -1, -1],
        [-1, 1, 1, -1],
        [-1, -1, 2, -1],
        [1, -1, 1, -1],
    ]
)
GOLD = np.array([0, 1, 1, 2, 0])


def test_structure_columns_by_hand() -> None:
    summary = lf_summary(LabelMatrix(VOTES, ["a", "b", "c", "never"]))
    assert list(summary.index) == ["a", "b", "c", "never"]
    assert list(summary.columns) == ["j", "Polarity", "Coverage", "Overlaps", "Conflicts"]
    assert summary["Polarity"].tolist() == [[0, 1], [0, 1], [1, 2], []]
    # a votes rows 0,1,4; b rows 0,1,2; c rows 2,3,4.
    np.testing.assert_allclose(summary["Coverage"], [3 / 5, 3 / 5, 3 / 5, 0])
    # rows with >= 2 votes: 0, 1, 2, 4.
    np.testing.assert_allclose(summary["Overlaps"], [3 / 5, 3 / 5, 2 / 5, 0])
    # rows with disagreeing votes: only row 1 (1 vs 0); rows 0, 2, 4 agree.
    np.testing.assert_allclose(summary["Conflicts"], [1 / 5, 1 / 5, 0, 0])


def test_gold_columns_by_hand() -> None:
    summary = lf_summary(LabelMatrix(VOTES, ["a", "b", "c", "never"]), y=GOLD)
    # a: row0 0=0 ok, row1 1=1 ok, row4 1!=0 wrong; b: row0 ok, row1 0!=1, row2 1=1 ok;
    # c: row2 ok, row3 2=2 ok, row4 1!=0.
    assert summary["Correct"].tolist() == [2, 2, 2, 0]
    assert summary["Incorrect"].tolist() == [1, 1, 1, 0]
    np.testing.assert_allclose(summary["Emp. Acc."][:3], [2 / 3, 2 / 3, 2 / 3])
    # "never" has no vote to score: no empirical accuracy, rather than Snorkel's 0.0.
    assert np.isnan(summary.loc["never", "Emp. Acc."])
    assert summary["Emp. Acc."].dtype == np.float64


def test_accepts_numpy_sparse_and_series() -> None:
    from_numpy = lf_summary(VOTES, pd.Series(GOLD))
    assert list(from_numpy.index) == ["lf_0", "lf_1", "lf_2", "lf_3"]
    sparse = sp.csr_matrix(VOTES + 1)
    from_sparse = lf_summary(sparse, GOLD)
    pd.testing.assert_frame_equal(from_numpy, from_sparse)


class _FittedModel:
    lf_accuracies_ = np.array([0.9, 0.8, 0.7, 0.5])


def test_estimated_accuracy_from_label_model() -> None:
    summary = lf_summary(VOTES, label_model=_FittedModel())
    np.testing.assert_allclose(summary["Est. Acc."], [0.9, 0.8, 0.7, 0.5])
    with pytest.raises(NotFittedError, match="lf_accuracies_"):
        lf_summary(VOTES, label_model=object())

    class _WrongShape:
        lf_accuracies_ = np.array([0.9])

    with pytest.raises(DataError, match="shape"):
        lf_summary(VOTES, label_model=_WrongShape())


def test_estimated_accuracy_matched_by_lf_name() -> None:
    class _Named:
        lf_accuracies_ = np.array([0.9, 0.8, 0.7, 0.5])
        lf_names_ = ["a", "b", "c", "d"]

    order = [3, 1, 0, 2]
    L = LabelMatrix(VOTES[:, order], [_Named.lf_names_[j] for j in order])
    summary = lf_summary(L, label_model=_Named())
    assert summary["Est. Acc."].to_dict() == {"d": 0.5, "b": 0.8, "a": 0.9, "c": 0.7}
    with pytest.raises(DataError, match=r"missing \['d'\], not fit on \['e'\]"):
        lf_summary(LabelMatrix(VOTES, ["a", "b", "c", "e"]), label_model=_Named())


def test_gold_label_errors() -> None:
    with pytest.raises(DataError, match="one value per row"):
        lf_summary(VOTES, GOLD[:3])
    with pytest.raises(DataError, match="integer class indices"):
        lf_summary(VOTES, ["a", "b", "c", "d", "e"])
    with pytest.raises(DataError, match=">= 0"):
        lf_summary(VOTES, [0, 1, -1, 0, 0])
    floats = lf_summary(VOTES, GOLD.astype(float))
    assert floats["Correct"].tolist() == [2, 2, 2, 0]


def test_empty_matrix() -> None:
    summary = lf_summary(np.empty((0, 2), dtype=np.int8))
    assert summary["Coverage"].tolist() == [0.0, 0.0]


def test_a_gold_series_is_matched_to_the_rows_by_its_index() -> None:
    index = pd.Index([f"r{i}" for i in range(5)])
    matrix = LabelMatrix(VOTES, ["a", "b", "c", "never"], index=index)
    expected = lf_summary(matrix, y=GOLD)
    y = pd.Series(GOLD, index=index)
    for L in (matrix, matrix.to_frame()):
        pd.testing.assert_frame_equal(lf_summary(L, y=y[::-1]), expected)
    # Arrays and a Series beside an unlabelled numpy matrix are matched by position.
    pd.testing.assert_frame_equal(
        lf_summary(VOTES, y=y[::-1].to_numpy()), lf_summary(VOTES, y=GOLD[::-1])
    )
    pd.testing.assert_frame_equal(lf_summary(VOTES, y=y[::-1]), lf_summary(VOTES, y=GOLD[::-1]))
    with pytest.raises(DataError, match=r"by its index, which lacks row 'r0' \(and 4 more\)"):
        lf_summary(matrix, y=pd.Series(GOLD))
    with pytest.raises(DataError, match="by its index, which holds row 'r9', not a row"):
        lf_summary(matrix, y=pd.concat([y, pd.Series([0], index=["r9"])]))


def test_a_gold_label_that_is_not_a_class_index_names_its_row() -> None:
    with pytest.raises(DataError, match="y holds nan at row 2; gold labels must be integer"):
        lf_summary(VOTES, [0, 1, np.nan, 0, 0])
    y = pd.Series([0, 1, 1, None, 0], index=list("vwxyz"), dtype="Int64")
    with pytest.raises(DataError, match="y holds nan at row 'y'"):
        lf_summary(VOTES, y)
    with pytest.raises(DataError, match="y holds -2 at row 'x'; gold labels must be >= 0"):
        lf_summary(VOTES, pd.Series([0, 1, -2, 0, 0], index=list("vwxyz")))


def test_a_label_model_fit_on_fewer_lfs_is_told_apart_by_name() -> None:
    class _FitOnThree:
        lf_accuracies_ = np.array([0.9, 0.8, 0.7])
        lf_names_ = ["a", "b", "c"]

    # The matrix has one LF more than the model saw: name it, not just the shapes.
    with pytest.raises(DataError, match=r"matrix holds: not fit on \['new_lf'\]$"):
        lf_summary(LabelMatrix(VOTES, ["a", "b", "c", "new_lf"]), label_model=_FitOnThree())


def test_polarity_of_a_large_class_index_takes_no_memory_per_class() -> None:
    import tracemalloc

    # Ten rows voting class 10**7 (an id returned as a class): no array of 10**7 counts.
    L = LabelMatrix(np.full((10, 1), 10**7), ["ids"])
    tracemalloc.start()
    try:
        summary = lf_summary(L)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert summary.loc["ids", "Polarity"] == [10**7]
    assert peak < 10_000_000


def _summary_column_by_column(values: np.ndarray, gold: np.ndarray) -> pd.DataFrame:
    """Snorkel's definitions, one LF column at a time (lf_summary's loop before session 13)."""
    voted_all = values != -1
    n_votes = voted_all.sum(axis=1)
    highest = values.max(axis=1, initial=-1)
    lowest = np.where(voted_all, values, np.iinfo(np.int64).max).min(axis=1, initial=2**62)
    rows: dict[str, list] = {key: [] for key in ("j", "Polarity", "Coverage", "Overlaps")}
    rows |= {"Conflicts": [], "Correct": [], "Incorrect": []}
    n = max(values.shape[0], 1)
    for j in range(values.shape[1]):
        voted = voted_all[:, j]
        right = int(np.count_nonzero(voted & (values[:, j] == gold)))
        rows["j"].append(j)
        rows["Polarity"].append([int(c) for c in np.unique(values[voted, j])])
        rows["Coverage"].append(voted.sum() / n)
        rows["Overlaps"].append(np.count_nonzero(voted & (n_votes >= 2)) / n)
        rows["Conflicts"].append(np.count_nonzero(voted & (lowest < highest)) / n)
        rows["Correct"].append(right)
        rows["Incorrect"].append(int(voted.sum()) - right)
    frame = pd.DataFrame(rows, index=[f"lf_{j}" for j in range(values.shape[1])])
    totals = frame["Correct"].to_numpy() + frame["Incorrect"].to_numpy()
    frame["Emp. Acc."] = np.where(totals > 0, frame["Correct"] / np.maximum(totals, 1), np.nan)
    return frame


@pytest.mark.parametrize("table", [True, False], ids=["class table", "class codes"])
def test_counts_in_row_blocks_equal_the_column_by_column_definitions(monkeypatch, table) -> None:
    # The matrix is read a block of rows at a time (a column at a time strided over every row:
    # seconds per statistic at 100,000 x 2,000); blocks of 7 cells split rows between blocks.
    monkeypatch.setattr("gristmill.labeling._analysis._BLOCK_CELLS", 7)
    if not table:
        monkeypatch.setattr("gristmill.labeling._analysis._CLASS_TABLE_CELLS", 0)
    rng = np.random.default_rng(5)
    for n, m, k in [(0, 3, 2), (6, 0, 2), (1, 1, 2), (400, 6, 3), (300, 4, 200), (200, 5, 128)]:
        values = rng.integers(-1, k, (n, m))
        values[rng.random((n, m)) < 0.5] = -1
        gold = rng.integers(0, k, n)
        expected = _summary_column_by_column(values, gold)
        pd.testing.assert_frame_equal(lf_summary(values, y=gold), expected, check_exact=True)
        pd.testing.assert_frame_equal(
            lf_summary(values), expected.drop(columns=["Correct", "Incorrect", "Emp. Acc."])
        )
