"""Majority vote and weighted majority vote."""

from __future__ import annotations

import numpy as np
import pytest

from gristmill.exceptions import ParameterError
from gristmill.labelmodel import WeightedMajorityVote

VOTES = np.array([[0, 0, -1], [1, 1, 1], [0, -1, 0], [1, 1, -1], [-1, 0, 0]] * 20)


@pytest.mark.parametrize(
    ("weights", "got"),
    [
        ("abc", "Got 'abc' instead"),
        ({"a": 1.0}, r"Got \{'a': 1.0\} instead"),
        ([1.0, None, 2.0], "Got nan for source 1"),
        ([1.0, -1.0, 2.0], r"Got -1.0 for source 1"),
        ([1.0, 2.0], r"Got shape \(2,\)"),
    ],
)
def test_given_weights_that_are_not_one_number_per_source_are_a_parameter_error(
    weights, got: str
) -> None:
    with pytest.raises(ParameterError, match=f"must hold 3 finite non-negative numbers.*{got}"):
        WeightedMajorityVote(weights=weights).fit(VOTES)


def test_a_source_that_never_votes_has_no_accuracy_with_a_dev_set() -> None:
    votes = np.column_stack([VOTES, np.full(len(VOTES), -1)])
    gold = np.array([0, 1, 0, 1, 0] * 20)
    model = WeightedMajorityVote().fit(votes, L_dev=votes[:20], y_dev=gold[:20])
    assert np.isnan(model.lf_accuracies_[3])
    assert not np.isnan(model.lf_accuracies_[:3]).any()
