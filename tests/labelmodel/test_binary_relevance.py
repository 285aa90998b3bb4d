"""BinaryRelevanceLabelModel: per-label binary votes, priors, the auto choice, save/load."""

from __future__ import annotations

import numpy as np
import pytest

from gristmill.labelmodel import BinaryRelevanceLabelModel, binary_votes


def test_binary_votes_decompose_one_label() -> None:
    L = np.array([[0, 3, -1], [2, 5, 1], [-1, -1, 4]])
    assert binary_votes(L, 0, 3).tolist() == [[1, 0, -1], [-1, -1, -1], [-1, -1, -1]]
    assert binary_votes(L, 2, 3).tolist() == [[-1, -1, -1], [1, 0, -1], [-1, -1, -1]]


def _votes(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two labels (prevalence 0.3 and 0.6): one-sided LFs for each, a two-sided worker on x."""
    rng = np.random.default_rng(seed)
    Y = np.column_stack([rng.random(n) < 0.3, rng.random(n) < 0.6]).astype(int)
    L = np.full((n, 6), -1)
    for j, columns in enumerate(((0, 1), (2, 3, 5))):
        for col in columns:
            fires = (Y[:, j] == 1) & (rng.random(n) < 0.5)
            L[fires, col] = j
    worker = rng.random(n) < 0.3
    noisy = np.where(rng.random(n) < 0.9, Y[:, 0], 1 - Y[:, 0])
    L[worker, 4] = np.where(noisy[worker] == 1, 0, 2)  # 0: x applies, 2 (= k + 0): it does not
    return L, Y


def test_prior_comes_from_two_sided_sources() -> None:
    L, Y = _votes()
    model = BinaryRelevanceLabelModel(["x", "y"], name="majority_vote").fit(L)
    # label 0: the worker votes both ways on it, so its share of "present" votes is the prior;
    # label 1: only one-sided LFs, so the prior is the share of rows with a "present" vote
    worker_votes = L[:, 4][L[:, 4] >= 0]
    assert model.models_[0].class_balance_[1] == pytest.approx(np.mean(worker_votes == 0))
    assert model.models_[1].class_balance_[1] == pytest.approx(np.mean((L == 1).any(axis=1)))
    assert model.sources_ == [[0, 1, 4], [2, 3, 5]]
    proba = model.predict_proba(L)
    assert proba.shape == (600, 2)
    # rows without a vote on a label lean to "absent"; the accuracy beats the majority guess
    assert ((proba >= 0.5) == Y).mean() > 0.75


def test_auto_fits_the_label_model_only_to_labels_with_two_sided_sources(tmp_path) -> None:
    L, Y = _votes(seed=1)
    rng = np.random.default_rng(2)
    # three crowd workers answer about label y on 40% of the rows, right 85% of the time
    for _ in range(3):
        asked = rng.random(len(L)) < 0.4
        answer = np.where(rng.random(len(L)) < 0.85, Y[:, 1], 1 - Y[:, 1])
        L = np.column_stack([L, np.where(asked, np.where(answer == 1, 1, 3), -1)])
    model = BinaryRelevanceLabelModel(["x", "y"]).fit(L, seed=3)
    # x: one two-sided source (the worker of _votes); y: three
    assert model.names_ == ["majority_vote", "auto"]
    # y applies to 60% of rows; the fitted model does clearly better than guessing that
    assert ((model.predict_proba(L)[:, 1] >= 0.5) == Y[:, 1]).mean() > 0.75
    loaded = BinaryRelevanceLabelModel.load(model.save(tmp_path / "lm"))
    assert loaded.classes == ["x", "y"] and loaded.sources_ == model.sources_
    assert loaded.names_ == model.names_
    assert np.allclose(loaded.predict_proba(L), model.predict_proba(L))
