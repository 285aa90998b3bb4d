"""FlyingSquid's closed-form triplet method of moments (Fu et al., ICML 2020)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from gristmill.exceptions import IdentifiabilityWarning
from gristmill.labelmodel._base import (
    FALLBACK_ACCURACY,
    BaseLabelModel,
    check_int_param,
    fallback_fit,
    row_sum,
    softmax,
    warn_unidentifiable,
)
from gristmill.labelmodel._votes import Votes

# Largest |a| allowed, so that log-odds stay finite.
_MAX_CORRELATION = 0.98


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

    With k > 2 classes the method runs one-vs-rest: class c against the others, with each
    source's vote mapped to +1 (votes c) or -1 (votes another class). The k binary posteriors
    are normalised to sum to 1.

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
        The estimated ``a_i`` (per class for k > 2).
    one_vs_rest_ : bool
        Whether the one-vs-rest posteriors are used (k > 2 and the model was identifiable).
    """

    name = "triplet"
    _fitted_arrays = (*BaseLabelModel._fitted_arrays, "correlations_")

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
            self.one_vs_rest_ = False
            self.correlations_ = np.full((m,) if k == 2 else (k, m), 2 * FALLBACK_ACCURACY - 1)
            return
        totals = votes.source_class_counts()
        pairs = _VotedPairs.of(votes)
        overlap = pairs.source_sums(pairs.co_votes)
        positives = [1] if k == 2 else list(range(k))
        correlations = np.zeros((len(positives), m))
        means = np.zeros(len(positives))
        unresolved = 0
        for row, c in enumerate(positives):
            sign = np.where(np.arange(k) == c, 1.0, -1.0)
            signs = sign[pairs.votes]
            agree = pairs.source_sums(signs[:, None] * pairs.co_votes * signs[None, :])
            signed_votes = totals @ sign
            a, missing = self._correlations(agree, overlap)
            unresolved += missing
            correlations[row] = a
            means[row] = _label_mean(a, signed_votes, totals.sum(axis=1))
        if unresolved:
            warnings.warn(
                f"Triplet: {unresolved} labeling function accuracies have no usable triplet "
                f"(too few co-voted rows); set to {FALLBACK_ACCURACY}",
                IdentifiabilityWarning,
                stacklevel=3,
            )
        self.one_vs_rest_ = k > 2
        if k == 2:
            self._set_binary(correlations[0], means[0], prior, votes)
        else:
            self._set_one_vs_rest(correlations, means, prior, votes)

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

    def _set_one_vs_rest(
        self, a: np.ndarray, means: np.ndarray, prior: np.ndarray | None, votes: Votes
    ) -> None:
        k = a.shape[0]
        if prior is None:
            balance = np.clip((1 + means) / 2, 1e-3, None)
            balance /= balance.sum()
        else:
            balance = prior
        log_odds = np.log((1 + a) / (1 - a))  # (k, m)
        # weights_[j, v, c]: +log-odds of classifier c when source j votes c, - otherwise.
        sign = np.where(np.eye(k, dtype=bool), 1.0, -1.0)  # [v, c]
        self.weights_ = sign[None, :, :] * log_odds.T[:, None, :]
        self.bias_ = np.log(balance / (1 - balance))
        self.correlations_ = a
        self.class_balance_ = balance
        correct = (1 + a.T) / 2  # (m, k): P(vote c | y = c)
        eye = np.eye(k)[None]
        self.confusion_ = (
            eye * correct[:, :, None] + (1 - eye) * ((1 - correct) / (k - 1))[:, :, None]
        )
        self.lf_accuracies_ = _silent_nan(correct @ balance, votes)

    def _extra_state(self) -> dict[str, bool]:
        return {"one_vs_rest_": bool(self.one_vs_rest_)}

    def _restore_extra_state(self, extra: dict[str, bool]) -> None:
        self.one_vs_rest_ = bool(extra["one_vs_rest_"])

    def _proba(self, votes: Votes) -> np.ndarray:
        scores = votes.scores(self.weights_, self.bias_)
        if not self.one_vs_rest_:
            return softmax(scores)
        positive = 1.0 / (1.0 + np.exp(-np.clip(scores, -50, 50)))
        return positive / row_sum(positive)[:, None]


def _median_triplet(
    rate: np.ndarray, usable: np.ndarray, i: int, partners: np.ndarray
) -> float | None:
    if partners.size < 2:
        return None
    rows, cols = np.triu_indices(partners.size, k=1)
    j, l_ = partners[rows], partners[cols]
    denominator = rate[j, l_]
    valid = usable[j, l_] & (np.abs(denominator) > 0.05)
    if not valid.any():
        return None
    products = rate[i, j[valid]] * rate[i, l_[valid]] / denominator[valid]
    return float(np.median(np.abs(products)))


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

    def source_sums(self, per_pair: np.ndarray) -> np.ndarray:
        """(m, m): ``per_pair`` (d, d) summed over the pairs of each source, rows and columns."""
        out = np.zeros((self.n_sources, self.n_sources))
        if self.starts.size:
            summed = np.add.reduceat(
                np.add.reduceat(per_pair, self.starts, axis=0), self.starts, axis=1
            )
            out[np.ix_(self.sources, self.sources)] = summed
        return out
