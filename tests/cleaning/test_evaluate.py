"""Scores against hand-computed values (Raha/Baran convention)."""

from __future__ import annotations

import pandas as pd
import pytest

from gristmill.cleaning import evaluate
from gristmill.exceptions import DataError


def test_hand_computed_scores() -> None:
    clean = pd.DataFrame({"a": ["1", "2", "3", "4"], "b": ["x", "y", "z", "w"]})
    dirty = pd.DataFrame({"a": ["1", "9", "3", "8"], "b": ["x", "q", "z", "w"]})
    # Errors: (1,a), (3,a), (1,b) -> 3. Changes: (1,a) right, (3,a) wrong value, (2,b) not an error.
    repaired = pd.DataFrame({"a": ["1", "2", "3", "7"], "b": ["x", "q", "k", "w"]})
    s = evaluate(dirty, repaired, clean)
    assert (s["n_errors"], s["n_changed"], s["n_correct"]) == (3, 3, 1)
    assert s["detection_precision"] == pytest.approx(2 / 3)
    assert s["detection_recall"] == pytest.approx(2 / 3)
    assert s["repair_precision"] == pytest.approx(1 / 3)
    assert s["repair_recall"] == pytest.approx(1 / 3)
    assert s["repair_f1"] == pytest.approx(1 / 3)


def test_normalisation_and_positional_alignment() -> None:
    clean = pd.DataFrame({"A": ["a &amp; b", "c  d"]})
    dirty = pd.DataFrame({"x": [" a & b", "c d"]})
    s = evaluate(dirty, dirty.copy(), clean)
    assert s["n_errors"] == 0
    assert s["repair_f1"] == 0.0


def test_missing_values_compare_as_empty() -> None:
    clean = pd.DataFrame({"a": ["1", ""]})
    dirty = pd.DataFrame({"a": [None, ""]})
    repaired = pd.DataFrame({"a": ["1", None]})
    s = evaluate(dirty, repaired, clean)
    assert (s["n_errors"], s["n_changed"], s["n_correct"]) == (1, 1, 1)
    assert s["repair_f1"] == 1.0


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(DataError, match="same shape"):
        evaluate(pd.DataFrame({"a": [1]}), pd.DataFrame({"a": [1, 2]}), pd.DataFrame({"a": [1]}))


def test_repeated_column_labels_still_align_cells_by_position() -> None:
    dirty = pd.DataFrame([["x", "b"], ["b", "b"]], columns=["a", "a"])
    clean = pd.DataFrame([["a", "b"], ["b", "b"]], columns=["a", "a"])
    scores = evaluate(dirty, clean, clean)
    assert scores["n_errors"] == 1 and scores["n_correct"] == 1 and scores["repair_f1"] == 1.0
