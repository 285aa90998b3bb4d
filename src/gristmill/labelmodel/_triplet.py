"""FlyingSquid's closed-form triplet method of moments (Fu et al., ICML 2020)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from gristmill._snorkel import snorkel_keywords
from gristmill.exceptions import IdentifiabilityWarning, LabelModelError
from gristmill.labelmodel._base import (
    FALLBACK_ACCURACY,
    SNORKEL_INIT,
    BaseLabelModel,
    check_int_param,
    fallback_fit,
    softmax,
    vote_share,
    warn_unidentifiable,
)
from gristmill.labelmodel._votes import Votes

# Largest |a| allowed, so that log-odds stay finite.
_MAX_CORRELATION = 0.98
# Smallest probability of a vote or abstention given the class, so that logs stay finite.
_MIN_PROBABILITY = 1e-6
# Most triplets whose products are held at once (a dozen arrays of 2 MiB).
_TRIPLETS_PER_STEP = 1 << 18


class Triplet(BaseLabelModel):
    """Closed-form source accuracies from agreement rates of source triplets.

    Write a binary vote as ``s = +1 / -1`` and the label as ``Y = +1 / -1``. When sources err
    independently given Y, with an accuracy that does not depend on the class, the agreement
    rate of two sources on the rows where both vote is ``E[s_i s_j] = a_i a_j`` with
    ``a_i = E[s_i Y] = 2 P(correct) - 1``. Any third source l then gives
    ``a_i^2 = E[s_i s_j] E[s_i s_l] / E[s_j s_l]``; the estimate is the median over the
    triplets formed with the ``max_partners`` sources that co-vote most with i (pairs that
    share fewer than ``min_overlap`` rows, or whose agreement is near 0, are skipped). The sign
    of ``a_i`` is that of the source's agreement with the others (most sources beat chance).
    The class balance, when not given, follows from ``E[s_i] = a_i E[Y]``.

    That agreement says nothing about sources that vote one class only (keyword and regex LFs):
    two of them agree whenever both vote. With k > 2 classes, and with two classes when most
    votes come from such sources, each class c is a binary problem of its own, solved with the
    same triplets on all the rows rather than on co-voted ones: the variables are the indicators
    ``u_i = [source i votes c]`` and the label ``[y = c]``, so that a source voting one class
    only (a keyword LF) informs by *when* it votes. If a source's chance of voting c depends on
    whether y is c, not on which other class y is, the correlations of two indicators factor
    as ``r(u_i, u_j) = rho_i rho_j`` with ``rho_i`` the correlation of ``u_i`` with ``[y = c]``,
    and the triplets give ``rho_i^2`` (pairs whose correlation is within one standard error
    ``1 / sqrt(n)`` of 0 are skipped as denominators). The sign makes voting c evidence for c
    for most sources. With the class balance (given, else each class's share of the votes),
    ``rho_i`` yields ``P(vote c | y = c)`` and ``P(vote c | y != c)``, and the posterior is
    the naive Bayes one over every source's vote, abstentions included.

    Parameters
    ----------
    cardinality : int, optional
        Number of classes; inferred from the votes when omitted.
    max_partners : int, default 50
        Partner sources considered per source (bounds the cost at m * max_partners^2).
    min_overlap : int, default 10
        Fewest co-voted rows for a pair's agreement rate to be used.

    Attributes
    ----------
    correlations_ : ndarray of shape (m,) or (k, m)
        The estimated ``a_i`` (two classes, sources mostly voting both); otherwise ``rho_i``
        per class (0 where i never votes it).
    """

    name = "triplet"
    _fitted_arrays = (*BaseLabelModel._fitted_arrays, "correlations_")

    @snorkel_keywords(**SNORKEL_INIT)
    def __init__(
        self, *, cardinality: int | None = None, max_partners: int = 50, min_overlap: int = 10
    ) -> None:
        super().__init__(cardinality=cardinality)
        self.max_partners = max_partners
        self.min_overlap = min_overlap

    def _check_params(self) -> None:
        super()._check_params()
        check_int_param(self, "max_partners", 2)
        check_int_param(self, "min_overlap", 1)

    def _fit(
        self,
        votes: Votes,
        prior: np.ndarray | None,
        dev: tuple[Votes, np.ndarray] | None,
        seed: int,
    ) -> None:
        k, m = votes.cardinality, votes.n_sources
        if warn_unidentifiable(type(self).__name__, votes, seed):
            fallback_fit(self, votes, prior)
            self.correlations_ = np.full((m,) if k == 2 else (k, m), 2 * FALLBACK_ACCURACY - 1)
            return
        pairs = _VotedPairs.of(votes)
        # Only pairs of sources that co-vote on min_overlap rows enter a triplet: their
        # statistics are kept, never (m, m) or (d, d) arrays (6 GB at 5,000 workers, 5 classes).
        overlap = pairs.source_sums()
        first, second = _usable_pairs(overlap, self.min_overlap)
        if k == 2 and votes.mostly_multi_class_voters():
            sign = np.array([-1.0, 1.0])
            agree = pairs.source_sums(sign[pairs.votes])
            a, unresolved = self._correlations(agree, overlap, first, second, votes)
            _warn_unresolved(f"{unresolved} labeling function accuracies", unresolved)
            totals = votes.source_class_counts()
            self._set_binary(a, _label_mean(a, totals @ sign, totals.sum(axis=1)), prior, votes)
        else:
            rho = self._class_correlations(pairs, first, second, votes.total_weight)
            unresolved = int(np.isnan(rho).sum())
            _warn_unresolved(f"{unresolved} (labeling function, class) vote rates", unresolved)
            balance = prior if prior is not None else vote_share(votes)
            self._set_classes(rho, balance, pairs, votes)

    def _correlations(
        self,
        agree: sp.csr_matrix,
        overlap: sp.csr_matrix,
        first: np.ndarray,
        second: np.ndarray,
        votes: Votes,
    ) -> tuple[np.ndarray, int]:
        """``a_i`` per source from the agreement and overlap of the usable pairs of sources
        (``first``, ``second``), and the number of sources that vote without a usable triplet.
        """
        agree_of, overlap_of = _entries(agree, first, second), _entries(overlap, first, second)
        rate = agree_of / overlap_of  # the usable pairs co-vote on min_overlap >= 1 rows
        pair_rates = _PairStatistics(votes.n_sources, first, second, rate, overlap_of, agree_of)
        a = pair_rates.triplet_estimates(self.max_partners, min_denominator=0.05)
        missing = np.isnan(a) & (votes.source_class_counts().sum(axis=1) > 0)
        a[np.isnan(a)] = 2 * FALLBACK_ACCURACY - 1
        return a, int(missing.sum())

    def _class_correlations(
        self, pairs: _VotedPairs, first: np.ndarray, second: np.ndarray, n_rows: float
    ) -> np.ndarray:
        """Per (source, class c) pair, the correlation of its vote with ``[y = c]``.

        NaN where no triplet is usable. ``first, second`` are the sources of the usable pairs.
        """
        rho = np.full(pairs.votes.size, np.nan)
        rates = pairs.co_votes.diagonal() / n_rows
        for c in np.unique(pairs.votes):
            columns = np.flatnonzero(pairs.votes == c)
            # The pairs of columns of class c whose sources form a usable pair.
            position = np.full(pairs.n_sources, -1)
            position[pairs.source[columns]] = np.arange(columns.size)
            left, right = position[first], position[second]
            both = (left >= 0) & (right >= 0)
            left, right = left[both], right[both]
            co_votes = _entries(pairs.co_votes, columns[left], columns[right]) / n_rows
            rate = rates[columns]
            spread = np.sqrt(rate * (1.0 - rate))
            scale = spread[left] * spread[right]
            covariance = co_votes - rate[left] * rate[right]
            correlation = np.divide(
                covariance, scale, out=np.zeros_like(covariance), where=scale > 0
            )
            # Pairs whose correlation is within one standard error of 0 are no denominators.
            kept = np.abs(correlation) * np.sqrt(n_rows) > 1.0
            correlations = _PairStatistics(
                columns.size,
                left[kept],
                right[kept],
                correlation[kept],
                co_votes[kept],
                correlation[kept],
            )
            rho[columns] = correlations.triplet_estimates(self.max_partners, min_denominator=0.0)
        return rho

    def _set_binary(
        self, a: np.ndarray, mean: float, prior: np.ndarray | None, votes: Votes
    ) -> None:
        balance = prior if prior is not None else np.array([(1 - mean) / 2, (1 + mean) / 2])
        accuracy = (1 + a) / 2
        confusion = np.empty((a.size, 2, 2))
        confusion[:, 0, 0] = confusion[:, 1, 1] = accuracy
        confusion[:, 0, 1] = confusion[:, 1, 0] = 1 - accuracy
        self.correlations_ = a
        self.class_balance_ = balance
        self.confusion_ = confusion
        self.weights_ = np.log(confusion).transpose(0, 2, 1).copy()
        self.bias_ = np.log(balance)
        self.lf_accuracies_ = _silent_nan(accuracy, votes)

    def _set_classes(
        self, rho: np.ndarray, balance: np.ndarray, pairs: _VotedPairs, votes: Votes
    ) -> None:
        """Naive Bayes over every source's vote or abstention, from each pair's ``rho``."""
        k, m = votes.cardinality, votes.n_sources
        rate = pairs.co_votes.diagonal() / votes.total_weight
        prior = balance[pairs.votes]
        # A pair without a usable triplet is right FALLBACK_ACCURACY of the times it votes.
        fallback = (FALLBACK_ACCURACY * rate / prior - rate) / (1 - prior)
        shift = np.sqrt(rate * (1 - rate) / (prior * (1 - prior)))
        lift = np.where(np.isnan(rho), fallback, np.nan_to_num(rho) * shift)
        # P(source votes c | y = c) and P(source votes c | y != c) of each (source, c) pair.
        hit = np.clip(rate + (1 - prior) * lift, _MIN_PROBABILITY, 1 - _MIN_PROBABILITY)
        false_hit = np.clip(rate - prior * lift, _MIN_PROBABILITY, 1 - _MIN_PROBABILITY)
        source = pairs.source
        voting = np.zeros((m, k, k))  # [j, c, v]: P(source j votes v | y = c)
        voting[source, :, pairs.votes] = false_hit[:, None]
        voting[source, pairs.votes, pairs.votes] = hit
        abstain = np.clip(1 - voting.sum(axis=2), _MIN_PROBABILITY, None)  # (m, k)
        log_voting = np.log(voting, out=np.zeros_like(voting), where=voting > 0)
        self.weights_ = log_voting.transpose(0, 2, 1) - np.log(abstain)[:, None, :]
        self.weights_[voting.transpose(0, 2, 1) == 0] = 0.0
        self.bias_ = np.log(balance) + np.log(abstain).sum(axis=0)
        self.class_balance_ = balance
        correlations = np.zeros((k, m))
        correlations[pairs.votes, source] = np.clip(
            np.divide(lift, shift, out=np.zeros_like(lift), where=shift > 0),
            -_MAX_CORRELATION,
            _MAX_CORRELATION,
        )
        self.correlations_ = correlations
        cast = voting.sum(axis=2, keepdims=True)
        self.confusion_ = np.divide(voting, cast, out=np.full_like(voting, 1.0 / k), where=cast > 0)
        right = np.einsum("jcc,c->j", voting, balance)
        self.lf_accuracies_ = _silent_nan(right / np.maximum(cast[:, :, 0] @ balance, 1e-12), votes)

    def _restore_extra_state(self, extra: dict[str, bool]) -> None:
        if extra.get("one_vs_rest_"):
            raise LabelModelError(
                "a one-vs-rest Triplet saved by an earlier gristmill; fit it again to save it "
                "in the current form"
            )

    def _proba(self, votes: Votes) -> np.ndarray:
        return softmax(votes.scores(self.weights_, self.bias_))


def _warn_unresolved(what: str, count: int) -> None:
    if count:
        warnings.warn(
            f"Triplet: {what} have no usable triplet (too few co-voted rows); their votes are "
            f"taken as right {FALLBACK_ACCURACY:.0%} of the time",
            IdentifiabilityWarning,
            stacklevel=5,  # _warn_unresolved, _fit, fit and its snorkel_keywords wrapper
        )


def _label_mean(a: np.ndarray, signed_votes: np.ndarray, voted: np.ndarray) -> float:
    """Least-squares E[Y] from E[s_i | votes] = a_i E[Y], weighted by each source's votes."""
    rates = np.divide(signed_votes, voted, out=np.zeros_like(signed_votes), where=voted > 0)
    denominator = float(np.sum(voted * a**2))
    if denominator <= 0:
        return 0.0
    return float(
        np.clip(np.sum(voted * a * rates) / denominator, -_MAX_CORRELATION, _MAX_CORRELATION)
    )


def _silent_nan(accuracies: np.ndarray, votes: Votes) -> np.ndarray:
    accuracies = np.asarray(accuracies, dtype=np.float64).copy()
    accuracies[votes.source_class_counts().sum(axis=1) == 0] = np.nan
    return accuracies


@dataclass(frozen=True)
class _VotedPairs:
    """Co-vote counts of the (source, vote) pairs that occur, and how to sum them by source.

    A source that votes one class (a keyword LF) casts one of its k possible votes: the
    (m k)^2 co-vote matrix of every pair would be mostly zeros (80 GB for 1,000 LFs over 100
    classes); this one is d x d for the d pairs that occur, sorted by source, and sparse: a
    crowd of 5,000 workers over 5 classes votes d = 25,000 pairs, each worker co-voting with
    a few hundred of the others.
    """

    co_votes: sp.csr_matrix  # (d, d)
    votes: np.ndarray  # (d,) the class of each pair
    source: np.ndarray  # (d,) the source of each pair, ascending
    n_sources: int

    @classmethod
    def of(cls, votes: Votes) -> _VotedPairs:
        k = votes.cardinality
        counts = votes.source_class_counts().ravel()
        voted = np.flatnonzero(counts > 0)
        co_votes = votes.sparse_co_votes(None if voted.size == counts.size else voted)
        return cls(co_votes, voted % k, voted // k, votes.n_sources)

    def source_sums(self, sign: np.ndarray | None = None) -> sp.csr_matrix:
        """(m, m): the co-votes summed over the pairs of each source, rows and columns.

        With ``sign`` (d,), each co-vote of pairs p and q counts ``sign[p] * sign[q]`` times.
        """
        d = self.votes.size
        weight = np.ones(d) if sign is None else sign
        by_source = sp.csr_matrix((weight, (np.arange(d), self.source)), shape=(d, self.n_sources))
        # Rows first, then columns, as the sums of the dense co-votes were taken.
        sums = sp.csr_matrix((by_source.T @ self.co_votes) @ by_source)
        sums.sort_indices()
        return sums


def _usable_pairs(overlap: sp.csr_matrix, min_overlap: int) -> tuple[np.ndarray, np.ndarray]:
    """Row and column of the entries of ``overlap`` off its diagonal that reach ``min_overlap``,
    row by row."""
    rows = np.repeat(np.arange(overlap.shape[0]), np.diff(overlap.indptr))
    usable = (overlap.data >= min_overlap) & (rows != overlap.indices)
    return rows[usable], overlap.indices[usable].astype(np.int64)


def _entries(matrix: sp.csr_matrix, rows: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """``matrix[rows[i], columns[i]]`` for every i, 0 where nothing is stored."""
    if not rows.size:
        return np.zeros(0)
    return np.asarray(matrix[rows, columns], dtype=np.float64).ravel()


@dataclass(frozen=True)
class _PairStatistics:
    """A statistic of the usable pairs of n items (sources, or (source, class) pairs).

    The pairs are given row by row, ``second`` ascending within each ``first``; ``value`` is
    the statistic that factors as ``a_i a_j`` (an agreement rate, a correlation), ``rank``
    orders an item's partners (most co-voted first) and ``evidence`` is summed over them for
    the sign of ``a_i``.
    """

    n_items: int
    first: np.ndarray
    second: np.ndarray
    value: np.ndarray
    rank: np.ndarray
    evidence: np.ndarray

    def triplet_estimates(self, max_partners: int, *, min_denominator: float) -> np.ndarray:
        """(n,): ``a_i``, the signed square root of the median over the triplets of item i.

        Each item's partners are its ``max_partners`` usable pairs of highest rank (ties: the
        first stored); a triplet (i, j, l) of two of them counts when (j, l) is usable too and
        its statistic exceeds ``min_denominator`` in magnitude. NaN where no triplet counts.
        """
        chosen = self._partners(max_partners)
        sizes = np.bincount(self.first[chosen], minlength=self.n_items)
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        keys = self.first * self.n_items + self.second  # ascending: the pairs' order
        estimates = np.full(self.n_items, np.nan)
        # Items with as many partners are done together, a few thousand triplets at a time.
        for size in np.unique(sizes[sizes >= 2]):
            items = np.flatnonzero(sizes == size)
            rows, cols = np.triu_indices(size, k=1)
            step = max(1, _TRIPLETS_PER_STEP // rows.size)
            for start in range(0, items.size, step):
                batch = items[start : start + step]
                partners = chosen[offsets[batch][:, None] + np.arange(size)]
                estimates[batch] = self._estimates_of(partners, rows, cols, keys, min_denominator)
        return estimates

    def _partners(self, max_partners: int) -> np.ndarray:
        """Positions of the pairs kept as partners: at most ``max_partners`` per item, those
        of highest rank, in stored order."""
        counts = np.bincount(self.first, minlength=self.n_items)
        if counts.max(initial=0) <= max_partners:
            return np.arange(self.first.size)
        positions = np.arange(self.first.size)
        order = np.lexsort((positions, -self.rank, self.first))
        starts = np.concatenate([[0], np.cumsum(counts)])
        place = positions - starts[self.first[order]]
        return np.sort(order[place < max_partners])

    def _estimates_of(
        self,
        partners: np.ndarray,
        rows: np.ndarray,
        cols: np.ndarray,
        keys: np.ndarray,
        min_denominator: float,
    ) -> np.ndarray:
        """The estimates of items whose partners are the rows of ``partners`` (positions);
        their triplets are the partner columns ``rows[t], cols[t]``; ``keys`` code the pairs."""
        second = self.second[partners]
        query = second[:, rows] * self.n_items + second[:, cols]
        found = np.minimum(np.searchsorted(keys, query), keys.size - 1)
        denominator = self.value[found]
        valid = (keys[found] == query) & (np.abs(denominator) > min_denominator)
        value = self.value[partners]
        products = np.full(query.shape, np.inf)
        np.divide(value[:, rows] * value[:, cols], denominator, out=products, where=valid)
        np.abs(products, out=products)
        products.sort(axis=1)  # the invalid ones (inf) last
        counted = valid.sum(axis=1)
        some = np.flatnonzero(counted > 0)
        # The median of the counted products, as np.median takes it.
        low = products[some, (counted[some] - 1) // 2]
        high = products[some, counted[some] // 2]
        median = (low + high) / 2
        direction = np.sign(np.sum(self.evidence[partners[some]], axis=1))
        direction[direction == 0] = 1.0
        estimates = np.full(partners.shape[0], np.nan)
        estimates[some] = direction * np.minimum(np.sqrt(median), _MAX_CORRELATION)
        return estimates
