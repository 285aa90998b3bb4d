"""Weights of the attention network against its chained-regression partner, per column.

Both predict every held-out cell of early stopping (observed cells hidden from training); the
weight of the network in a convex blend of the two is the one that predicts those cells best
(least squares for a numeric column, log-loss for a categorical one), shrunk by ``m / (m +
prior)`` for ``m`` held-out cells so that a handful of cells cannot swing it to either extreme.
This is stacking (Wolpert 1992; Breiman 1996) with two members.

A numeric weight is shrunk towards an even blend. A categorical weight is shrunk towards the
partner, for two reasons. The network's held-out loss is optimistic: the same cells chose its
early-stopping epoch, while the partner never saw them. And the partner (one logistic regression)
has far fewer parameters than the network, so on little evidence it is the safer member: on a
small table a column may have only some thirty held-out cells, on which the log-loss of the two
members differs by less than its noise.
"""

from __future__ import annotations

import numpy as np

#: Held-out cells worth as much as the prior of an even blend (numeric columns).
BLEND_PRIOR = 10
#: Held-out cells worth as much as the prior that the partner alone predicts a categorical
#: column: with this many cells the network gets half the weight its cells ask for.
CLASS_PRIOR = 30
_GRID = np.linspace(0.0, 1.0, 21)


def _shrunk(best: float, cells: int, centre: float, prior: int) -> float:
    shrink = cells / (cells + prior)
    return centre + (min(max(best, 0.0), 1.0) - centre) * shrink


def numeric_blend_weight(network: np.ndarray, partner: np.ndarray, truth: np.ndarray) -> float:
    """Weight of the network's prediction of a numeric column (the partner gets the rest).

    Parameters
    ----------
    network, partner, truth : numpy.ndarray
        (m,) predictions and true values of the held-out cells.

    Returns
    -------
    float
        In [0, 1], shrunk towards 0.5; 0.5 without held-out cells.
    """
    if len(truth) == 0:
        return 0.5
    difference = network - partner
    denominator = float(difference @ difference)
    best = float(difference @ (truth - partner)) / denominator if denominator > 0 else 0.5
    return _shrunk(best, len(truth), 0.5, BLEND_PRIOR)


def class_blend_weight(network: np.ndarray, partner: np.ndarray, truth: np.ndarray) -> float:
    """Weight of the network's class probabilities of a categorical column.

    Parameters
    ----------
    network, partner : numpy.ndarray
        (m, n_classes) class probabilities of the held-out cells.
    truth : numpy.ndarray
        (m,) index of each cell's true class.

    Returns
    -------
    float
        In [0, 1], the grid point (steps of 0.05) of least log-loss, shrunk towards 0 (the
        partner alone); 0 without held-out cells.
    """
    if len(truth) == 0:
        return 0.0
    rows = np.arange(len(truth))
    mixed = _GRID[:, None] * network[rows, truth] + (1.0 - _GRID[:, None]) * partner[rows, truth]
    log_loss = -np.log(np.clip(mixed, 1e-12, None)).mean(axis=1)
    return _shrunk(float(_GRID[int(np.argmin(log_loss))]), len(truth), 0.0, CLASS_PRIOR)
