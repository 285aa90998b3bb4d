"""Majority vote and weighted majority vote."""

from __future__ import annotations

from typing import Any

import numpy as np

from gristmill._snorkel import snorkel_keywords
from gristmill.exceptions import ParameterError
from gristmill.labelmodel._base import (
    FALLBACK_ACCURACY,
    PATTERN_SAMPLE,
    SNORKEL_INIT,
    BaseLabelModel,
    row_max,
    row_sum,
    softmax,
    symmetric_confusion,
    vote_share,
)
from gristmill.labelmodel._votes import Votes, row_chunks


def leave_one_out_agreement(all_votes: Votes, seed: int) -> np.ndarray:
    """How often each source agrees with the majority vote of the *other* sources, shape (m,).

    A vote counts 1 when it is the other sources' unique top class, 1/t when it is one of t tied
    top classes, and rows where no other source votes are skipped. Smoothed by one agreement and
    one disagreement; sources without any comparable vote get :data:`FALLBACK_ACCURACY`, sources
    that never vote NaN. Counted on the distinct vote patterns weighted by their rows (a hashed
    sample of them, drawn with ``seed``, beyond ``PATTERN_SAMPLE`` patterns).
    """
    votes = all_votes.pattern_sample(PATTERN_SAMPLE, seed)
    k, m = votes.cardinality, votes.n_sources
    agree = np.zeros(m)
    compared = np.zeros(m)
    projection = votes.class_projection()
    for start, stop in row_chunks(votes.indicator.indptr, k):
        block = votes.indicator[start:stop]
        counts = np.asarray(block @ projection)
        rows = np.repeat(np.arange(block.shape[0]), np.diff(block.indptr))
        sources, classes = np.divmod(block.indices.astype(np.int64), k)
        others = counts[rows]
        others[np.arange(rows.size), classes] -= 1
        top = row_max(others)
        valid = top > 0
        n_top = row_sum((others == top[:, None]).astype(np.int8))
        hit = (others[np.arange(rows.size), classes] == top) / n_top
        if votes.row_weights is None:
            row_weight = np.ones(rows.size)
        else:
            row_weight = votes.row_weights[start:stop][rows]
        agree += np.bincount(sources[valid], weights=(hit * row_weight)[valid], minlength=m)
        compared += np.bincount(sources[valid], weights=row_weight[valid], minlength=m)
    accuracies = (agree + 1.0) / (compared + 2.0)
    accuracies[compared == 0] = FALLBACK_ACCURACY
    accuracies[all_votes.source_class_counts().sum(axis=1) == 0] = np.nan
    return accuracies


class _VoteCounter(BaseLabelModel):
    """Votes counted with one weight per source; rows without votes get the class balance."""

    def _set_vote_weights(self, votes: Votes, source_weights: np.ndarray) -> None:
        k = votes.cardinality
        self.weights_ = source_weights[:, None, None] * np.eye(k)[None]
        self.bias_ = np.zeros(k)

    def _set_diagnostics(
        self, votes: Votes, prior: np.ndarray | None, accuracies: np.ndarray
    ) -> None:
        self.class_balance_ = prior if prior is not None else vote_share(votes)
        # A source with no vote to judge has no accuracy, whatever smoothing assumed for it.
        silent = votes.source_class_counts().sum(axis=1) == 0
        self.lf_accuracies_ = np.where(silent, np.nan, accuracies)
        self.confusion_ = symmetric_confusion(
            np.nan_to_num(accuracies, nan=1.0 / votes.cardinality), votes.cardinality
        )

    def _normalise(self, scores: np.ndarray) -> np.ndarray:
        return softmax(scores)

    def _proba(self, votes: Votes) -> np.ndarray:
        proba = self._normalise(votes.scores(self.weights_, self.bias_))
        proba[~votes.has_votes] = self.class_balance_
        return proba


class MajorityVote(_VoteCounter):
    """Each row's label is the class most sources vote for.

    ``predict_proba`` returns the share of the row's votes each class received; rows without
    votes get ``class_balance_`` (given, or the share of all votes cast for each class).
    ``lf_accuracies_`` is each source's agreement with the majority of the other sources.

    Parameters
    ----------
    cardinality : int, optional
        Number of classes; inferred from the votes when omitted.

    Examples
    --------
    >>> import numpy as np
    >>> L = np.array([[0, 0, 1], [1, 1, -1], [-1, -1, -1]])
    >>> MajorityVote().fit(L).predict(L, tie_break="prior").tolist()  # 3 of 5 votes are 1
    [0, 1, 1]
    """

    name = "majority_vote"

    def _fit(self, votes: Votes, prior: np.ndarray | None, dev: Any, seed: int) -> None:
        self._set_vote_weights(votes, np.ones(votes.n_sources))
        self._set_diagnostics(votes, prior, leave_one_out_agreement(votes, seed))

    def _normalise(self, scores: np.ndarray) -> np.ndarray:
        totals = row_sum(scores)[:, None]
        return np.divide(
            scores, totals, out=np.full_like(scores, 1.0 / scores.shape[1]), where=totals > 0
        )


class WeightedMajorityVote(_VoteCounter):
    """Votes weighted by each source's log-odds of being right.

    A source with accuracy a among k classes gets weight ``log((k - 1) a / (1 - a))`` (the
    Bayes-optimal weight when sources err independently and uniformly), floored at 0 so that a
    worse-than-random source is ignored rather than inverted. Accuracies come from the dev set
    when one is passed to ``fit``, else from each source's agreement with the majority vote of
    the others. Given ``weights`` are the vote weights as they are (``lf_accuracies_`` is then
    the agreement with the others). ``predict_proba`` is the softmax of the weighted vote; rows
    without votes get ``class_balance_``.

    Parameters
    ----------
    cardinality : int, optional
        Number of classes; inferred from the votes when omitted.
    weights : sequence of float, optional
        One non-negative vote weight per source, used instead of the log-odds of accuracies.
    """

    name = "weighted_majority_vote"

    @snorkel_keywords(**SNORKEL_INIT)
    def __init__(self, *, cardinality: int | None = None, weights: Any = None) -> None:
        super().__init__(cardinality=cardinality)
        self.weights = weights

    def _fit(
        self,
        votes: Votes,
        prior: np.ndarray | None,
        dev: tuple[Votes, np.ndarray] | None,
        seed: int,
    ) -> None:
        k = votes.cardinality
        if self.weights is not None:
            given = _source_weights(self.weights, votes.n_sources)
            self._set_vote_weights(votes, given)
            self._set_diagnostics(votes, prior, leave_one_out_agreement(votes, seed))
            return
        accuracies = leave_one_out_agreement(votes, seed) if dev is None else _dev_accuracies(*dev)
        self._set_vote_weights(votes, log_odds_weights(accuracies, k))
        self._set_diagnostics(votes, prior, accuracies)


def _source_weights(weights: Any, n_sources: int) -> np.ndarray:
    """The 'weights' parameter as floats, one finite non-negative weight per source."""
    expected = (
        f"The 'weights' parameter of WeightedMajorityVote must hold {n_sources} finite "
        "non-negative numbers (one per source)."
    )
    try:
        given = np.asarray(weights, dtype=np.float64)
    except (TypeError, ValueError):
        raise ParameterError(f"{expected} Got {weights!r} instead.") from None
    if given.shape != (n_sources,):
        raise ParameterError(f"{expected} Got shape {given.shape}.")
    bad = ~np.isfinite(given) | (given < 0)
    if bad.any():
        j = int(np.argmax(bad))
        raise ParameterError(f"{expected} Got {float(given[j])!r} for source {j}.")
    return given


def log_odds_weights(accuracies: np.ndarray, k: int) -> np.ndarray:
    """Vote weight ``log((k - 1) a / (1 - a))`` of accuracy a, floored at 0 (NaN: chance)."""
    clipped = np.clip(np.nan_to_num(accuracies, nan=1.0 / k), 1e-3, 1 - 1e-3)
    return np.maximum(np.log((k - 1) * clipped / (1 - clipped)), 0.0)


def _smoothed_accuracy(correct: np.ndarray, voted: np.ndarray) -> np.ndarray:
    return (correct + FALLBACK_ACCURACY * 2) / (voted + 2)


def _dev_accuracies(votes: Votes, gold: np.ndarray) -> np.ndarray:
    """Smoothed accuracy of each source on the dev rows where it votes."""
    k = votes.cardinality
    onehot = np.zeros((gold.shape[0], k))
    onehot[np.arange(gold.shape[0]), gold] = 1.0
    counts = votes.expected_counts(onehot)
    correct = np.einsum("jcc->j", counts)
    voted = counts.sum(axis=(1, 2))
    return _smoothed_accuracy(correct, voted)


def leave_one_out_dev_scores(votes: Votes, gold: np.ndarray) -> np.ndarray:
    """Weighted-vote scores (n, k) of dev rows, each weighted by accuracies from the *other* rows.

    The scores :class:`WeightedMajorityVote` fit on the dev set gives each dev row when that row
    is left out of the accuracy estimates, so its dev accuracy is not scored on its own fit.
    """
    k, n = votes.cardinality, votes.n_rows
    indicator = votes.indicator
    rows = np.repeat(np.arange(n), np.diff(indicator.indptr))
    sources, classes = np.divmod(indicator.indices.astype(np.int64), k)
    hit = (classes == gold[rows]).astype(np.float64)
    correct = np.bincount(sources, weights=hit, minlength=votes.n_sources)
    voted = np.bincount(sources, minlength=votes.n_sources).astype(np.float64)
    accuracy = _smoothed_accuracy(correct[sources] - hit, voted[sources] - 1)
    scores = np.zeros((n, k))
    np.add.at(scores, (rows, classes), log_odds_weights(accuracy, k))
    return scores
