"""A conditional-logit (softmax over each cell's candidates) model with a linear score."""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

__all__ = ["fit_candidate_weights", "candidate_probabilities"]


def _segment_softmax(scores: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Softmax of ``scores`` within each segment ``starts[i]:starts[i+1]`` (sorted by cell)."""
    seg_max = np.maximum.reduceat(scores, starts[:-1])
    lengths = np.diff(starts)
    shifted = np.exp(scores - np.repeat(seg_max, lengths))
    return shifted / np.repeat(np.add.reduceat(shifted, starts[:-1]), lengths)


def candidate_probabilities(
    features: np.ndarray, cells: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """Probability of each candidate among its cell's candidates.

    Parameters
    ----------
    features : (n_candidates, n_features) array
    cells : (n_candidates,) int array, sorted
        Which cell each candidate belongs to.
    weights : (n_features,) array
    """
    if len(cells) == 0:
        return np.zeros(0)
    starts = np.r_[0, np.flatnonzero(np.diff(cells)) + 1, len(cells)]
    return _segment_softmax(features @ weights, starts)


def fit_candidate_weights(
    features: np.ndarray,
    cells: np.ndarray,
    is_true: np.ndarray,
    *,
    sample_weight: np.ndarray | None = None,
    l2: float = 1e-3,
    prior: np.ndarray | None = None,
    prior_strength: float = 0.0,
) -> np.ndarray:
    """Maximum-likelihood weights: the true candidate should win its cell's softmax.

    Parameters
    ----------
    features : (n_candidates, n_features) array
    cells : (n_candidates,) int array, sorted; cells without a true candidate are ignored
    is_true : (n_candidates,) bool array, at most one True per cell
    sample_weight : (n_cells,) array, optional
        Weight of each cell (indexed by the distinct values of ``cells`` in order).
    l2 : float
        Ridge penalty per training cell.
    prior : (n_features,) array, optional
        Weights to shrink towards (with ``prior_strength``) instead of zero.
    prior_strength : float
        Ridge penalty towards ``prior``.
    """
    starts = np.r_[0, np.flatnonzero(np.diff(cells)) + 1, len(cells)]
    has_true = np.add.reduceat(is_true.astype(np.int64), starts[:-1]) > 0
    keep = np.repeat(has_true, np.diff(starts))
    features, cells, is_true = features[keep], cells[keep], is_true[keep]
    cell_weight = np.ones(int(has_true.sum())) if sample_weight is None else sample_weight[has_true]
    starts = np.r_[0, np.flatnonzero(np.diff(cells)) + 1, len(cells)]
    lengths = np.diff(starts)
    row_weight = np.repeat(cell_weight, lengths)
    total = float(cell_weight.sum())
    center = np.zeros(features.shape[1]) if prior is None else prior
    penalty = l2 if prior is None else prior_strength
    if total == 0:
        return center.copy()

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        p = _segment_softmax(features @ w, starts)
        nll = -float(np.sum(row_weight[is_true] * np.log(np.maximum(p[is_true], 1e-300))))
        grad = features.T @ (row_weight * (p - is_true))
        gap = w - center
        return nll / total + penalty * float(gap @ gap), grad / total + 2 * penalty * gap

    result = minimize(loss, center.copy(), jac=True, method="L-BFGS-B")
    return np.asarray(result.x)
