"""Synthetic label matrices with known source accuracies (conditionally independent sources)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

Synth = Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]]


def make_votes(
    n: int,
    accuracies: np.ndarray,
    *,
    k: int = 2,
    coverage: float | np.ndarray = 0.6,
    balance: np.ndarray | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Votes (n, m) with -1 abstains, gold labels (n,), and the true accuracies (m,)."""
    rng = np.random.default_rng(seed)
    accuracies = np.asarray(accuracies, dtype=np.float64)
    m = accuracies.size
    gold = rng.choice(k, size=n, p=balance)
    right = rng.random((n, m)) < accuracies
    wrong = (gold[:, None] + rng.integers(1, k, (n, m))) % k
    votes = np.where(right, gold[:, None], wrong)
    votes[rng.random((n, m)) >= np.broadcast_to(coverage, (m,))] = -1
    return votes, gold, accuracies


def make_keyword_votes(
    n: int, prior: list[float], lfs: list[tuple[int, float, float]], seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Votes (n, m) of binary keyword-style LFs and gold labels (n,).

    ``lfs`` holds one (class voted, firing rate on class 0, firing rate on class 1) per LF; each
    fires independently given the class and abstains otherwise.
    """
    rng = np.random.default_rng(seed)
    gold = rng.choice(2, size=n, p=prior)
    votes = np.full((n, len(lfs)), -1)
    for j, (target, rate_0, rate_1) in enumerate(lfs):
        votes[rng.random(n) < np.where(gold == 1, rate_1, rate_0), j] = target
    return votes, gold


@pytest.fixture
def synth() -> Synth:
    return make_votes
