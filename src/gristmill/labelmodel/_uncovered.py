"""What a label model should predict for rows on which no source votes.

The class balance is the answer only when sources fire as often on every class. Keyword and
regex LFs do not: an LF that votes SPAM fires on many spam rows and few ham rows, so a row on
which nothing fires is less likely to be of a class whose LFs cover it well. Under sources that
fire independently given the class (the latent class model of Dawid & Skene, 1979, with abstain
as one more outcome), a row without votes belongs to class c with probability

    P(y = c | no source fires)  proportional to  pi_c * prod_j (1 - alpha_jc),

where ``alpha_jc`` is source j's firing rate on class c. Fitting that model to the abstains of
every row does not work on real LFs (their abstains are not independent given the class: on
WRENCH's sms it puts 71% of the rows in the spam class). Here the posteriors of the rows *with*
votes stay what the label model says, and only the classes of the rows without votes are
estimated, by EM: with ``F_jc`` the posterior mass of class c on the rows where source j fires,
``C_c`` the posterior mass of class c on the rows with votes and ``n0`` rows without votes whose
class shares are ``q``, the class masses are ``M_c = C_c + n0 q_c`` (or ``N pi_c`` for a known
prior), ``alpha_jc = F_jc / M_c``, and ``q_c`` is proportional to ``M_c prod_j (1 - alpha_jc)``.
"""

from __future__ import annotations

import numpy as np

from gristmill.labelmodel._votes import Votes

# EM stops when no class share moves by more than this.
_TOLERANCE = 1e-10
# Most EM iterations; each costs O(sources x classes).
_MAX_ITER = 2000
# Firing rates are kept below 1 so that every class keeps some probability.
_MAX_RATE = 1.0 - 1e-9


def uncovered_balance(
    votes: Votes,
    sample: Votes,
    posteriors: np.ndarray,
    start: np.ndarray,
    prior: np.ndarray | None = None,
) -> np.ndarray:
    """P(y | no source fires), shape (k,), from the posteriors of the rows with votes.

    Parameters
    ----------
    votes : Votes
        All the rows the model was fit on (their rows without votes are counted here).
    sample : Votes
        The rows, or a weighted sample of the distinct vote patterns, that ``posteriors``
        belong to; sums over its rows with votes are scaled to all the rows with votes.
    posteriors : ndarray of shape (sample.n_rows, k)
        The label model's P(y | votes) on the rows of ``sample``.
    start : ndarray of shape (k,)
        Class shares of the rows without votes that EM starts from (the class balance).
    prior : ndarray of shape (k,), optional
        A known class balance: the class masses are then fixed to it and no EM is needed.

    Returns
    -------
    ndarray of shape (k,)
        Class shares of a row on which no source votes (``start`` when no row has a vote).
    """
    covered = sample.has_votes[:, None]
    mass = np.where(covered, sample.weighted(posteriors), 0.0)
    covered_mass = mass.sum(axis=0)
    if covered_mass.sum() <= 0:
        return start
    k = votes.cardinality
    # Rows without votes have no indicator entries: they add nothing to F.
    fired_mass = (sample.indicator.T @ mass).reshape(votes.n_sources, k, k).sum(axis=1)
    uncovered_weight = float(votes.row_total((~votes.has_votes).astype(np.float64)))
    scale = (votes.total_weight - uncovered_weight) / covered_mass.sum()
    fired_mass *= scale
    covered_mass *= scale
    if prior is not None:
        return _shares(votes.total_weight * prior, fired_mass)
    shares = start
    for _ in range(_MAX_ITER):
        updated = _shares(covered_mass + uncovered_weight * shares, fired_mass)
        converged = np.max(np.abs(updated - shares)) < _TOLERANCE
        shares = updated
        if converged:
            break
    return shares


def _shares(class_mass: np.ndarray, fired_mass: np.ndarray) -> np.ndarray:
    """Class shares proportional to ``M_c * prod_j (1 - F_jc / M_c)``."""
    rates = np.minimum(
        np.divide(fired_mass, class_mass, out=np.ones_like(fired_mass), where=class_mass > 0),
        _MAX_RATE,
    )
    log_shares = np.log(np.maximum(class_mass, 1e-300)) + np.log1p(-rates).sum(axis=0)
    shares = np.exp(log_shares - log_shares.max())
    return shares / shares.sum()
