"""FlyingSquid's closed-form triplet method of moments (Fu et al., ICML 2020)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

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
        overlap = pairs.source_sums(pairs.co_votes)
        if k == 2 and votes.mostly_multi_class_voters():
            sign = np.array([-1.0, 1.0])
            signs = sign[pairs.votes]
            agree = pairs.source_sums(signs[:, None] * pairs.co_votes * signs[None, :])
            a, unresolved = self._correlations(agree, overlap)
            _warn_unresolved(f"{unresolved} labeling function accuracies", unresolved)
            totals = votes.source_class_counts()
            self._set_binary(a, _label_mean(a, totals @ sign, totals.sum(axis=1)), prior, votes)
        else:
            rho = self._class_correlations(pairs, overlap, votes.total_weight)
            unresolved = int(np.isnan(rho).sum())
            _warn_unresolved(f"{unresolved} (labeling function, class) vote rates", unresolved)
            balance = prior if prior is not None else vote_share(votes)
            self._set_classes(rho, balance, pairs, votes)

    def _correlations(self, agree: np.ndarray, overlap: np.ndarray) -> tuple[np.ndarray, int]:
        m = agree.shape[0]
        usable = overlap >= self.min_overlap
        np.fill_diagonal(usable, False)
        rate = np.divide(agree, overlap, out=np.zeros_like(agree), where=overlap > 0)
        a = np.full(m, 2 * FALLBACK_ACCURACY - 1)
        missing = 0
        for i in range(m):
            partners = np.flatnonzero(usable[i])
            if partners.size > self.max_partners:
                order = np.argsort(-overlap[i, partners], kind="stable")
                partners = np.sort(partners[order[: self.max_partners]])
            estimate = _median_triplet(rate, usable, i, partners)
            if estimate is None:
                if overlap[i].sum() > 0 or partners.size:
                    missing += 1
                continue
            direction = np.sign(np.sum(agree[i, partners])) or 1.0
            a[i] = direction * min(np.sqrt(estimate), _MAX_CORRELATION)
        return a, missing

    def _class_correlations(
        self, pairs: _VotedPairs, overlap: np.ndarray, n_rows: float
    ) -> np.ndarray:
        """Per (source, class c) pair, the correlation of its vote with ``[y = c]``.

        NaN where no triplet is usable.
        """
        rho = np.full(pairs.votes.size, np.nan)
        sources = pairs.source_of()
        for c in np.unique(pairs.votes):
            columns = np.flatnonzero(pairs.votes == c)
            co_votes = pairs.co_votes[np.ix_(columns, columns)] / n_rows
            rate = np.diag(co_votes).copy()
            spread = np.sqrt(rate * (1.0 - rate))
            scale = np.outer(spread, spread)
            covariance = co_votes - np.outer(rate, rate)
            correlation = np.divide(
                covariance, scale, out=np.zeros_like(covariance), where=scale > 0
            )
            usable = overlap[np.ix_(sources[columns], sources[columns])] >= self.min_overlap
            usable &= np.abs(correlation) * np.sqrt(n_rows) > 1.0
            rho[columns] = self._median_correlations(correlation, usable, co_votes)
        return rho

    def _median_correlations(
        self, correlation: np.ndarray, usable: np.ndarray, co_votes: np.ndarray
    ) -> np.ndarray:
        np.fill_diagonal(usable, False)
        rho = np.full(correlation.shape[0], np.nan)
        for i in range(rho.size):
            partners = np.flatnonzero(usable[i])
            if partners.size > self.max_partners:
                order = np.argsort(-co_votes[i, partners], kind="stable")
                partners = np.sort(partners[order[: self.max_partners]])
            estimate = _median_triplet(correlation, usable, i, partners, min_denominator=0.0)
            if estimate is not None:
                direction = np.sign(np.sum(correlation[i, partners])) or 1.0
                rho[i] = direction * min(np.sqrt(estimate), _MAX_CORRELATION)
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
        rate = np.diag(pairs.co_votes) / votes.total_weight
        prior = balance[pairs.votes]
        # A pair without a usable triplet is right FALLBACK_ACCURACY of the times it votes.
        fallback = (FALLBACK_ACCURACY * rate / prior - rate) / (1 - prior)
        shift = np.sqrt(rate * (1 - rate) / (prior * (1 - prior)))
        lift = np.where(np.isnan(rho), fallback, np.nan_to_num(rho) * shift)
        # P(source votes c | y = c) and P(source votes c | y != c) of each (source, c) pair.
        hit = np.clip(rate + (1 - prior) * lift, _MIN_PROBABILITY, 1 - _MIN_PROBABILITY)
        false_hit = np.clip(rate - prior * lift, _MIN_PROBABILITY, 1 - _MIN_PROBABILITY)
        source = pairs.source_of()
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


def _median_triplet(
    rate: np.ndarray,
    usable: np.ndarray,
    i: int,
    partners: np.ndarray,
    *,
    min_denominator: float = 0.05,
) -> float | None:
    if partners.size < 2:
        return None
    rows, cols = np.triu_indices(partners.size, k=1)
    j, l_ = partners[rows], partners[cols]
    denominator = rate[j, l_]
    valid = usable[j, l_] & (np.abs(denominator) > min_denominator)
    if not valid.any():
        return None
    products = rate[i, j[valid]] * rate[i, l_[valid]] / denominator[valid]
    return float(np.median(np.abs(products)))


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
    classes); this one is d x d for the d pairs that occur, sorted by source.
    """

    co_votes: np.ndarray  # (d, d)
    votes: np.ndarray  # (d,) the class of each pair
    sources: np.ndarray  # the sources that vote, ascending
    starts: np.ndarray  # first pair of each of them
    n_sources: int

    @classmethod
    def of(cls, votes: Votes) -> _VotedPairs:
        k = votes.cardinality
        counts = votes.source_class_counts().ravel()
        voted = np.flatnonzero(counts > 0)
        co_votes = votes.co_votes(None if voted.size == counts.size else voted)
        sources, starts = np.unique(voted // k, return_index=True)
        return cls(co_votes, voted % k, sources, starts, votes.n_sources)

    def source_of(self) -> np.ndarray:
        """(d,): the source of each pair."""
        return np.repeat(self.sources, np.diff(np.append(self.starts, self.votes.size)))

    def source_sums(self, per_pair: np.ndarray) -> np.ndarray:
        """(m, m): ``per_pair`` (d, d) summed over the pairs of each source, rows and columns."""
        out = np.zeros((self.n_sources, self.n_sources))
        if self.starts.size:
            summed = np.add.reduceat(
                np.add.reduceat(per_pair, self.starts, axis=0), self.starts, axis=1
            )
            out[np.ix_(self.sources, self.sources)] = summed
        return out
