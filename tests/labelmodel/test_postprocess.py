"""Classes from kept probabilities, and the rows labeling functions cover (Snorkel's
probs_to_preds and filter_unlabeled_dataframe, the gristmill way)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from gristmill.exceptions import DataError, ParameterError
from gristmill.labeling import LabelMatrix
from gristmill.labelmodel import LABEL_MODELS, drop_uncovered, get_label_model, probs_to_labels

L = np.array([[0, 0, -1], [1, 1, 1], [-1, -1, -1], [0, 1, -1], [-1, 0, 0]] * 8)


@pytest.mark.filterwarnings("ignore::gristmill.exceptions.IdentifiabilityWarning")
@pytest.mark.parametrize("name", sorted(LABEL_MODELS))
@pytest.mark.parametrize("tie_break", ["abstain", "random", "prior"])
def test_probs_to_labels_decides_as_the_model_predicts(name: str, tie_break: str) -> None:
    model = get_label_model(name).fit(L)
    expected = model.predict(L, tie_break=tie_break, seed=4)
    labels = probs_to_labels(
        pd.DataFrame(model.predict_proba(L)),
        tie_break=tie_break,
        seed=4,
        class_balance=model.class_balance_,
    )
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(labels, expected)


def test_probs_to_labels_refuses_what_it_cannot_decide() -> None:
    with pytest.raises(ParameterError, match="class_balance= with one entry per class"):
        probs_to_labels([[0.5, 0.5]], tie_break="prior")
    with pytest.raises(ParameterError, match="tie_break must be one of"):
        probs_to_labels([[0.5, 0.5]], tie_break="true-random")
    with pytest.raises(DataError, match="2-D"):
        probs_to_labels([0.2, 0.8])
    with pytest.raises(DataError, match=r"probs\[1, 0\] is nan"):
        probs_to_labels([[0.2, 0.8], [np.nan, 0.5]])


def test_drop_uncovered_keeps_the_rows_some_lf_votes_on_in_each_input_type() -> None:
    frame = pd.DataFrame({"text": [f"t{i}" for i in range(len(L))]}, index=range(100, 140))
    probs = get_label_model("majority_vote").fit(L).predict_proba(L)
    covered = (L != -1).any(axis=1)
    for votes in (L, LabelMatrix(L, ["a", "b", "c"]), sp.csr_matrix(L + 1)):
        kept, kept_probs = drop_uncovered(frame, probs, votes)
        assert kept.index.tolist() == frame.index[covered].tolist()
        np.testing.assert_array_equal(kept_probs, probs[covered])
    texts, labels = drop_uncovered(frame["text"].tolist(), pd.Series(range(len(L))), L)
    assert isinstance(texts, np.ndarray) and len(texts) == covered.sum() == len(labels)


def test_drop_uncovered_refuses_inputs_of_other_lengths() -> None:
    with pytest.raises(DataError, match="probs has 3 rows but L has 40"):
        drop_uncovered(np.zeros(len(L)), np.zeros((3, 2)), L)
