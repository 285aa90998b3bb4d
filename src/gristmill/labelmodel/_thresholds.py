"""F1-optimal decision thresholds for binary label models.

Predicting the most probable class maximises accuracy, not F1: when the positive class is rare
the argmax predicts it too seldom. Lipton, Elkan & Naryanaswamy (2014, "Optimal thresholding of
classifiers to maximize F1 measure") show that with calibrated probabilities the F1-optimal rule
predicts positive when ``P(y = 1) >= F* / 2``, F* being the best F1 reachable. The threshold
here is found by sweeping every distinct probability as a cut-off, either against gold labels
(a labeled dev set) or, without labels, against the model's own posteriors: the plug-in
estimate of F1 for a cut-off is ``2 E[TP] / (#predicted + E[#positives])`` with the expectations
taken under the posteriors (the ratio-of-expectations approximation, Jansche 2007; Nan et al.
2012).
"""

from __future__ import annotations

import numpy as np

# Threshold used when F1 is undefined (no positive evidence at all): the binary argmax.
_ARGMAX_THRESHOLD = 0.5


def f1_threshold(
    positive: np.ndarray, gold: np.ndarray | None = None, weights: np.ndarray | None = None
) -> float:
    """Cut-off t on ``P(y = 1)`` maximising the F1 of "predict 1 when the probability >= t".

    Parameters
    ----------
    positive : ndarray of shape (n,)
        Probability of class 1 for each row.
    gold : ndarray of shape (n,), optional
        Gold labels (0/1). Without them F1 is estimated from ``positive`` itself (plug-in).
    weights : ndarray of shape (n,), optional
        Row weights (a row of weight w counts as w rows).

    Returns
    -------
    float
        The largest threshold among those reaching the best F1; 0.5 when no row can be positive.
    """
    positive = np.asarray(positive, dtype=np.float64)
    row_weight = np.ones(positive.shape[0]) if weights is None else np.asarray(weights, float)
    hits = positive if gold is None else (np.asarray(gold) == 1).astype(np.float64)
    hits = hits * row_weight
    total_hits = float(hits.sum())
    if positive.size == 0 or total_hits <= 0:
        return _ARGMAX_THRESHOLD
    values, group = np.unique(positive, return_inverse=True)
    # Cut-offs from the highest probability down: predicting every row with p >= values[i].
    predicted = np.cumsum(np.bincount(group, weights=row_weight, minlength=values.size)[::-1])
    true_pos = np.cumsum(np.bincount(group, weights=hits, minlength=values.size)[::-1])
    f1 = 2.0 * true_pos / (predicted + total_hits)
    return float(values[::-1][int(np.argmax(f1))])
