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

What identifies the unvoted mass of a class is how often its sources fire *together*, as in
capture-recapture. Rules that split the rows between them (``score == 5`` and ``score == 4``,
both voting high) never overlap, and independence reads the missing overlap as a large unseen
class: rules of one class that fire together on no row where independence expects at least 10
are counted as one rule, their union. And the result is used only when the fitted firing rates
reproduce each class's mass of rows with two or more votes within a factor of 2. Otherwise
nothing in the votes tells the classes of the unvoted rows apart, and they get even shares
(a known class balance when one is given). Not the estimated class balance: it is no better
identified there, and with one-class sources it leans towards the classes whose sources fire
most, the classes *least* common among the rows no source fires on. Even shares are also what
ignorance of the balance implies: with sources that fire on their own class only and never
together, the unvoted share of class c is ``pi_c`` minus the share its sources catch, and a
flat prior on the balance gives every class the same expected unvoted share.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from gristmill.labelmodel._copies import merge_copies
from gristmill.labelmodel._votes import Votes

# EM stops when no class share moves by more than this.
_TOLERANCE = 1e-10
# Most EM iterations; each costs O(sources x classes).
_MAX_ITER = 2000
# Firing rates are kept below 1 so that every class keeps some probability.
_MAX_RATE = 1.0 - 1e-9
# Most a class's observed mass of rows with two or more votes may differ, as a factor, from the
# fitted firing model's prediction before the class balance is kept instead.
_OVERLAP_RATIO = 2.0
# Two rules of one class that never fire together on the sample, where independence expects at
# least this many rows (weighted) on which both fire, are taken as one rule split in two (the
# chance of seeing none is then about exp(-10)).
_EXCLUSIVE_ROWS = 10.0


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
        Class shares of a row on which no source votes: ``start`` when no row has a vote;
        ``prior``, or even shares without one, when the firing model does not reproduce the
        rows with several votes (see :func:`_reproduces_overlaps`).
    """
    covered = sample.has_votes[:, None]
    mass = np.where(covered, sample.weighted(posteriors), 0.0)
    if mass.sum() <= 0:
        return start
    uncovered_weight = float(votes.row_total(~votes.has_votes))
    scale = (votes.total_weight - uncovered_weight) / mass.sum()
    covered_mass = mass.sum(axis=0) * scale

    def fit(firing: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        # Rows without votes fire nothing: they add nothing to F.
        fired_mass = np.asarray(firing.T @ mass) * scale
        if prior is not None:
            return votes.total_weight * prior, fired_mass
        return _em_class_mass(covered_mass, fired_mass, uncovered_weight, start), fired_mass

    firing = sample.source_firing()
    class_mass, fired_mass = fit(firing)
    groups = _exclusive_rule_groups(votes, sample, firing, class_mass, fired_mass, scale)
    if groups is not None:
        # The members of a group vote one class, so their plurality fires when any of them does.
        firing = merge_copies(sample, groups).source_firing()
        class_mass, fired_mass = fit(firing)
    overlap_mass = mass[np.diff(firing.indptr) >= 2].sum(axis=0) * scale
    if not _reproduces_overlaps(class_mass, fired_mass, overlap_mass):
        return prior if prior is not None else np.full(start.shape, 1.0 / start.size)
    return _shares(class_mass, fired_mass)


def _exclusive_rule_groups(
    votes: Votes,
    sample: Votes,
    firing: sp.csr_matrix,
    class_mass: np.ndarray,
    fired_mass: np.ndarray,
    scale: float,
) -> np.ndarray | None:
    """Group of each source, joining rules of one class that never fire together; or None.

    Sources that only ever vote one class and vote the same one, and that fire together on no
    row of the sample where independence at the fitted rates expects at least
    ``_EXCLUSIVE_ROWS`` such rows, are one rule split in two (``score == 5`` and ``score == 4``):
    independence would read their missing overlap as rows of that class that no source
    catches. ``class_mass`` and ``fired_mass`` count all the rows, ``scale`` of them per
    (weighted) row of the sample.
    """
    totals = votes.source_class_counts()
    m = totals.shape[0]
    rates = _firing_rates(class_mass, fired_mass)
    candidates = _exclusive_candidates(totals, rates, class_mass, scale)
    if candidates.size < 2:
        return None
    target = np.argmax(totals[candidates], axis=1)
    pairs = target[:, None] == target[None, :]
    np.fill_diagonal(pairs, False)
    if not pairs.any():
        return None
    rates = rates[candidates]
    expected = (rates * class_mass) @ rates.T / scale
    weights = np.ones(sample.n_rows) if sample.row_weights is None else sample.row_weights
    fires = firing[:, candidates]
    together = (fires.T @ sp.diags(weights) @ fires).toarray()
    exclusive = pairs & (together == 0) & (expected >= _EXCLUSIVE_ROWS)
    if not exclusive.any():
        return None
    first, second = np.nonzero(exclusive)
    graph = sp.csr_matrix(
        (np.ones(first.size, dtype=bool), (candidates[first], candidates[second])), shape=(m, m)
    )
    return connected_components(graph, directed=False)[1]


def _exclusive_candidates(
    totals: np.ndarray, rates: np.ndarray, class_mass: np.ndarray, scale: float
) -> np.ndarray:
    """The sources that may belong to a pair of exclusive rules, ascending.

    They vote one class only, and independence expects them to fire together with some such
    source on at least ``_EXCLUSIVE_ROWS`` rows: ``rates_j . (class_mass * rates_l)`` is
    bounded by ``rates_j . (class_mass * max_l rates_l)``. Leaving out the others keeps the
    (sources, sources) arrays small when thousands of sources each fire on a few rows (crowd
    workers, keyword LFs): 5,000 sources take 200 MB per dense array.
    """
    one_class = np.flatnonzero(np.count_nonzero(totals, axis=1) == 1)
    if one_class.size < 2:
        return one_class
    bound = rates[one_class] @ (class_mass * rates[one_class].max(axis=0)) / scale
    # The margin covers rounding: the bound must not fall below an expected count it bounds.
    return one_class[bound >= _EXCLUSIVE_ROWS * (1 - 1e-9)]


def _em_class_mass(
    covered_mass: np.ndarray, fired_mass: np.ndarray, uncovered_weight: float, start: np.ndarray
) -> np.ndarray:
    """Class masses ``M_c = C_c + n0 q_c`` at EM's fixed point for the unvoted shares ``q``."""
    shares = start
    for _ in range(_MAX_ITER):
        updated = _shares(covered_mass + uncovered_weight * shares, fired_mass)
        converged = np.max(np.abs(updated - shares)) < _TOLERANCE
        shares = updated
        if converged:
            break
    return covered_mass + uncovered_weight * shares


def _reproduces_overlaps(
    class_mass: np.ndarray, fired_mass: np.ndarray, overlap_mass: np.ndarray
) -> bool:
    """Whether the fitted firing model predicts each class's mass of rows with 2+ votes.

    The rows on which several sources fire are what identifies how many rows of a class no
    source fires on (as in capture-recapture: two lists that never overlap say nothing about
    the population they both miss, and independence then reads them as sampling a huge one).
    Rules that split the rows between them (``stars >= 4`` and ``stars == 3 and ...``) are
    such lists; the fit is trusted only when, for every class, the observed mass of rows with
    two or more votes is within a factor ``_OVERLAP_RATIO`` of what independent firing at the
    fitted rates predicts.
    """
    rates = _firing_rates(class_mass, fired_mass)
    none = np.prod(1.0 - rates, axis=0)
    once = none * np.sum(rates / (1.0 - rates), axis=0)
    predicted = class_mass * np.maximum(1.0 - none - once, 0.0)
    return bool(
        np.all(predicted > 0)
        and np.all(overlap_mass >= predicted / _OVERLAP_RATIO)
        and np.all(overlap_mass <= predicted * _OVERLAP_RATIO)
    )


def _shares(class_mass: np.ndarray, fired_mass: np.ndarray) -> np.ndarray:
    """Class shares proportional to ``M_c * prod_j (1 - F_jc / M_c)``."""
    rates = _firing_rates(class_mass, fired_mass)
    log_shares = np.log(np.maximum(class_mass, 1e-300)) + np.log1p(-rates).sum(axis=0)
    shares = np.exp(log_shares - log_shares.max())
    return shares / shares.sum()


def _firing_rates(class_mass: np.ndarray, fired_mass: np.ndarray) -> np.ndarray:
    """``alpha_jc = F_jc / M_c``, shape (m, k), below 1 (1 - epsilon on a class without mass)."""
    rates = np.divide(fired_mass, class_mass, out=np.ones_like(fired_mass), where=class_mass > 0)
    return np.minimum(rates, _MAX_RATE)
