"""Triplet's agreement rates, counted on the (source, vote) pairs that occur."""

from __future__ import annotations

import numpy as np
import pytest

from gristmill.labelmodel._triplet import _VotedPairs
from gristmill.labelmodel._votes import to_votes


@pytest.mark.parametrize("voting", ["several classes", "one class each", "some never vote"])
def test_source_sums_equal_the_whole_co_vote_tensor(voting: str) -> None:
    rng = np.random.default_rng(2)
    n, m, k = 400, 7, 4
    values = np.where(rng.random((n, m)) < 0.5, rng.integers(0, k, (n, m)), -1)
    if voting != "several classes":
        values = np.where(values >= 0, np.arange(m) % k, -1)
    if voting == "some never vote":
        values[:, [1, 4]] = -1
    votes = to_votes(values, k)
    whole = votes.co_votes().reshape(m, k, m, k)  # every (source, vote) pair
    pairs = _VotedPairs.of(votes)
    np.testing.assert_allclose(pairs.source_sums(pairs.co_votes), whole.sum(axis=(1, 3)))
    for c in range(k):
        sign = np.where(np.arange(k) == c, 1.0, -1.0)
        signs = sign[pairs.votes]
        agree = pairs.source_sums(signs[:, None] * pairs.co_votes * signs[None, :])
        expected = np.einsum("ivjw,v,w->ij", whole, sign, sign)
        np.testing.assert_allclose(agree, expected, atol=1e-9)
