"""Multilabel supervision: label sets, their votes, and the LF summary of such votes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gristmill.exceptions import DataError
from gristmill.labeling import LabelMatrix
from gristmill.labelmodel import BinaryRelevanceLabelModel
from gristmill.pipeline._multilabel import label_set_votes, label_sets, multilabel_lf_summary

CLASSES = ["a", "b", "c"]


def test_label_sets_read_lists_json_and_delimited_strings() -> None:
    values = pd.Series(["a|c", ["b"], "[]", None, '["c", "a"]', " b | a ", "2", float("nan")])
    indicators, unknown = label_sets(values, CLASSES, "|")
    assert indicators.tolist() == [
        [1, 0, 1],
        [0, 1, 0],
        [0, 0, 0],  # the empty set: no label applies
        [-1, -1, -1],  # missing: unknown
        [1, 0, 1],
        [1, 1, 0],
        [0, 0, 1],  # a class index
        [-1, -1, -1],
    ]
    assert unknown == []
    _, unknown = label_sets(pd.Series(["a;x", "y"]), CLASSES, ";")
    assert unknown == ["x", "y"]
    mapped, _ = label_sets(pd.Series(["A,B"]), CLASSES, ",", {"A": "a", "B": "b"})
    assert mapped.tolist() == [[1, 1, 0]]


def test_label_set_votes() -> None:
    votes = label_set_votes(np.array([[1, 0, -1], [-1, -1, -1]]))
    # present -> j, absent -> k + j, unknown -> -1
    assert votes.tolist() == [[0, 4, -1], [-1, -1, -1]]


def test_multilabel_lf_summary_reads_plus_and_minus_votes() -> None:
    L = np.array([[0, 2], [-1, 3], [1, -1], [0, 2]])
    Y = np.array([[1, 0], [1, 1], [0, 1], [0, 0]])
    summary = multilabel_lf_summary(L, ["lf1", "lf2"], ["a", "b"], Y)
    assert summary.loc["lf1", "Polarity"] == ["+a", "+b"]
    assert summary.loc["lf2", "Polarity"] == ["-a", "-b"]
    assert summary.loc["lf1", "Coverage"] == 0.75
    # lf1: +a right, +b right, +a wrong; lf2: -a wrong, -b wrong, -a right
    assert summary.loc["lf1", "Emp. Acc."] == pytest.approx(2 / 3)
    assert summary.loc["lf2", "Emp. Acc."] == pytest.approx(1 / 3)


def test_multilabel_lf_summary_gives_the_label_models_estimates_by_name() -> None:
    L = np.array([[0, 2, 3], [-1, 3, 1], [1, -1, 2], [0, 2, -1]] * 5)
    matrix = LabelMatrix(L, ["lf1", "lf2", "crowd"])
    model = BinaryRelevanceLabelModel(["a", "b"]).fit(matrix)
    summary = multilabel_lf_summary(L, ["lf1", "lf2", "crowd"], ["a", "b"], label_model=model)
    np.testing.assert_array_equal(summary["Est. Acc."].to_numpy(), model.lf_accuracies_)
    shuffled = multilabel_lf_summary(
        L[:, ::-1], ["crowd", "lf2", "lf1"], ["a", "b"], label_model=model
    )
    assert shuffled.loc["lf1", "Est. Acc."] == model.lf_accuracies_[0]
    with pytest.raises(DataError, match=r"missing \['crowd'\], not fit on \['other'\]"):
        multilabel_lf_summary(L, ["lf1", "lf2", "other"], ["a", "b"], label_model=model)


def test_multilabel_lf_summary_scores_only_votes_on_known_labels() -> None:
    L = np.array([[0, 3], [0, 3], [0, 2], [-1, 3]])
    Y = np.array([[1, 0], [-1, -1], [1, 1], [-1, -1]])  # rows 1 and 3: label sets not known
    summary = multilabel_lf_summary(L, ["lf1", "lf2"], ["a", "b"], Y)
    assert summary.loc["lf1", "Emp. Acc."] == 1.0  # +a on rows 0 and 2
    assert summary.loc["lf2", "Emp. Acc."] == 0.5  # -b right on row 0, -a wrong on row 2
    assert np.isnan(multilabel_lf_summary(L[1:2], ["lf1", "lf2"], ["a", "b"], Y[1:2]).iloc[0, -1])
