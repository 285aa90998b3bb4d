"""LabelModel: the default label model, majority vote blended with a learned model."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import numpy as np

from gristmill._snorkel import snorkel_keywords
from gristmill.labelmodel._base import (
    PATTERN_SAMPLE,
    SNORKEL_INIT,
    BaseLabelModel,
    accuracies_from_posteriors,
    break_ties,
    fallback_fit,
    logistic,
    row_sum,
    softmax,
    warn_unidentifiable,
)
from gristmill.labelmodel._copies import has_copies, merge_copies, near_copy_groups
from gristmill.labelmodel._dawid_skene import DawidSkene
from gristmill.labelmodel._majority import WeightedMajorityVote, leave_one_out_dev_scores
from gristmill.labelmodel._matrix_completion import MatrixCompletion
from gristmill.labelmodel._uncovered import uncovered_balance
from gristmill.labelmodel._votes import Votes, row_chunks

# Mixture weights of majority vote tried.
_MIXTURES = (0.0, 0.25, 0.5, 0.75, 1.0)
# Share of majority vote kept when the votes cannot tell the mixtures apart.
_DEFAULT_MIXTURE = 0.5
# Gain in mean log-likelihood per vote below which a mixture does not beat the default.
_LIKELIHOOD_TOLERANCE = 1e-9


class LabelModel(BaseLabelModel):
    """The label model to reach for: majority vote and learned accuracies, blended.

    Method
    ------
    ``predict_proba`` is ``w * MV + (1 - w) * learned``: the share of the row's votes each class
    got (majority vote, MV) blended with the posterior of a learned model. Rows without any vote
    get ``uncovered_balance_`` (below).

    The learned model depends on how the sources vote. When most votes come from sources that
    vote for a single class (keyword and regex LFs), a confusion matrix conditional on voting
    says nothing, and the information is in *how often* a source fires for each class: the
    learned model is then :class:`MatrixCompletion` (MeTaL, fit by L-BFGS). When most votes come
    from sources that vote for several classes (crowd workers, classifiers), the learned model is
    :class:`DawidSkene`, whose full confusion matrices are identified there and which is the
    maximum-likelihood estimator for that setting. ``learner_`` records the choice.

    Why blend with majority vote: the two fail in different places. Majority vote needs no
    estimation, so it cannot be misled when the accuracies are not identifiable from the votes
    (one-class sources, correlated sources, few overlaps), but it ties often and ignores that
    some sources are far better than others. The learned model separates good from bad sources
    when its assumptions hold and can go badly wrong when they do not.

    Choosing ``w`` without gold labels: each vote is predicted from the *other* votes of its row
    (the blended posterior computed without that source, times the source's learned confusion
    row), and ``w`` in (0, 0.25, 0.5, 0.75, 1) maximises the mean log-probability of the votes
    (a held-out-source pseudo-likelihood, after Besag's 1975 pseudo-likelihood). Where the
    sources really are conditionally independent the learned posterior predicts held-out votes
    best and ``w`` goes to 0; where the learned model is misled, majority vote predicts them
    better and ``w`` rises. When the votes cannot tell the blends apart (sources that each vote
    one class carry no conditional information) ``w`` stays at 0.5. The criterion runs on the
    distinct vote patterns weighted by their rows (a random subset of 25,000 patterns when
    there are more).

    Near-copies: when the learned model is Dawid-Skene, sources that cast the same vote on at
    least 80% of the rows on which either votes (see :mod:`gristmill.labelmodel._copies`) are
    merged into one source voting their plurality before anything is fit, since EM reads the
    copies' agreement with each other as accuracy and lets them outvote the independent sources
    (``lf_groups_`` records the groups). With one-class sources they are left alone: there the
    accuracies are barely identifiable, and merging trec's exact duplicates (LFs that are 99%
    accurate) cost 3 to 6 points, the count of identical LFs carrying weight the learner cannot
    estimate (BENCHMARKS.md).

    With a dev set (``L_dev``, ``y_dev``), the dev labels join the Dawid-Skene M-step with their
    labels fixed, the learned model is fit twice, with the estimated class balance and with the
    dev labels' class balance (unless ``class_balance`` is given), and a third candidate is the
    :class:`WeightedMajorityVote` whose accuracies are counted on the dev rows. The pair
    (candidate, ``w``) with the best dev accuracy (ties: dev log-loss) is kept; the weighted
    vote is scored leave-one-out (each dev row with accuracies from the other dev rows), since
    it is fit on the dev rows themselves.

    Rows without votes: a keyword LF fires on many rows of its class and few of the others, so a
    row on which nothing fires is less likely to be of a class whose LFs cover it well. Such
    rows get ``uncovered_balance_``, P(y | no source fires) under sources that fire
    independently given the class, estimated by EM over the classes of the rows without votes
    while the posteriors of the rows with votes stay fixed (see
    :mod:`gristmill.labelmodel._uncovered`); it equals the class balance when sources fire as
    often on every class. Fitting the abstains of every row instead misleads the rows with votes
    on real LFs, whose abstains are not independent given the class. Sources that fire together
    are what identifies it: rules of one class that never fire together (``stars == 5`` and
    ``stars == 4``) are counted as one rule, and unless the fit reproduces each class's mass of
    rows with two or more votes (with sources that never fire together nothing identifies it)
    the rows without votes get even shares, or ``class_balance`` when it is given.

    F1 as the metric: the most probable class maximises accuracy, not F1. ``predict(L,
    threshold="f1")`` predicts class 1 when ``P(y = 1) >= f1_threshold_``, the cut-off that
    maximises F1 (Lipton, Elkan & Naryanaswamy 2014: with calibrated probabilities it is half
    the best reachable F1). With a dev set it is tuned on the dev labels; without one it is a
    plug-in estimate from the model's own posteriors, which is only as good as their
    calibration (see BENCHMARKS.md), so prefer a dev set when F1 matters.

    Parameters
    ----------
    cardinality : int, optional
        Number of classes; inferred from the votes when omitted.
    l2 : float, default 0.01
        Pull of the matrix-completion estimate towards its start (see :class:`MatrixCompletion`).
    max_iter : int, default 50
        Most L-BFGS iterations of the matrix-completion fit.

    Attributes
    ----------
    mixture_ : float
        Weight ``w`` of majority vote.
    f1_threshold_ : float
        Cut-off on ``P(y = 1)`` used by ``predict(L, threshold="f1")`` (binary; NaN otherwise).
    learner_ : str
        ``"matrix_completion"`` or ``"dawid_skene"``: the learned model used
        (``"weighted_majority_vote"`` when a dev set chose it).
    lf_groups_ : ndarray of shape (m,)
        Group of near-copies of each source (sources without copies are alone in theirs). A
        group's confusion matrix and accuracy are each member's, and its weights are split
        evenly among them.
    uncovered_balance_ : ndarray of shape (k,)
        Predicted class shares of a row on which no source votes: P(y | no source fires).
        With ``class_balance`` given, the class masses are fixed to it. With a dev set, its
        rows without votes choose between this and ``class_balance_`` (dev accuracy, then
        log-loss).
    lf_accuracies_ : ndarray of shape (m,)
        How often each source agrees with the labels this model gives: P(y = its vote | it
        votes) under the blended posteriors, on the rows it was fit on (the pattern sample).
        Read from the learned model where that is the same thing (Dawid-Skene alone, ``w =
        0``: its M-step estimates exactly this, on every row); 0.7 for every source in the
        fallback for unidentifiable votes (a vote's posteriors would only echo lone votes).
        Matrix completion's own (from confusion matrices that one-class sources identify
        weakly) were further from the gold accuracies on seven of nine real label matrices,
        level on one, closer on one (BENCHMARKS.md).
    class_balance_, confusion_, weights_, bias_
        Those of the learned model (see :class:`BaseLabelModel`).

    Examples
    --------
    >>> import numpy as np
    >>> L = np.array([[0, 0, -1], [1, 1, 1], [0, -1, 0], [1, 1, -1], [-1, 0, 0]] * 20)
    >>> model = LabelModel().fit(L)
    >>> model.predict(L[:2]).tolist()
    [0, 1]
    """

    name = "auto"
    _fitted_arrays = (*BaseLabelModel._fitted_arrays, "mixture_")

    @snorkel_keywords(**SNORKEL_INIT)
    def __init__(
        self, *, cardinality: int | None = None, l2: float = 0.01, max_iter: int = 50
    ) -> None:
        super().__init__(cardinality=cardinality)
        self.l2 = l2
        self.max_iter = max_iter

    def _check_params(self) -> None:
        super()._check_params()
        MatrixCompletion(l2=self.l2, max_iter=self.max_iter)._check_params()

    def _fit(
        self,
        votes: Votes,
        prior: np.ndarray | None,
        dev: tuple[Votes, np.ndarray] | None,
        seed: int,
    ) -> None:
        multi_class = votes.mostly_multi_class_voters()
        groups = np.arange(votes.n_sources)
        if multi_class:
            groups = near_copy_groups(votes.pattern_sample(PATTERN_SAMPLE, seed), seed)
        merged = votes
        if has_copies(groups):
            merged = merge_copies(votes, groups)
            dev = None if dev is None else (merge_copies(dev[0], groups), dev[1])
        self.lf_groups_ = np.arange(merged.n_sources)  # the fit below sees one source per group
        unidentifiable = self._fit_groups(merged, prior, dev, seed)
        self._spread_over(groups)
        sample = votes.pattern_sample(PATTERN_SAMPLE, seed)
        proba = self._proba(sample)
        self.uncovered_balance_ = uncovered_balance(
            votes, sample, proba, self.class_balance_, prior
        )
        # Dawid-Skene's own accuracies already are what its posteriors imply (its M-step, on
        # every row); a fallback vote's posteriors would only echo each lone vote.
        if not unidentifiable and (self.learner_ != "dawid_skene" or float(self.mixture_) > 0):
            self.lf_accuracies_ = accuracies_from_posteriors(sample, proba)
        if dev is not None:
            self.uncovered_balance_ = self._better_on_dev_rows_without_votes(*dev)

    def _fit_groups(
        self,
        votes: Votes,
        prior: np.ndarray | None,
        dev: tuple[Votes, np.ndarray] | None,
        seed: int,
    ) -> bool:
        """Fit the learned model(s) and choose the blend; True when the votes are unidentifiable."""
        k = votes.cardinality
        self.learner_ = "dawid_skene" if votes.mostly_multi_class_voters() else "matrix_completion"
        merged = " (near-copies counted once)" if votes.n_sources < self.n_sources_ else ""
        unidentifiable = warn_unidentifiable(type(self).__name__ + merged, votes, seed, depth=1)
        priors = [prior]
        if prior is None and dev is not None:
            priors.append((np.bincount(dev[1], minlength=k) + 1.0) / (dev[1].shape[0] + k))
        members = [
            (self.learner_, self._fit_learner(votes, p, dev, seed, unidentifiable)) for p in priors
        ]
        self._adopt(members[0][1])
        self.mixture_ = np.array(_DEFAULT_MIXTURE)
        if dev is not None:
            voter = WeightedMajorityVote(cardinality=k)
            voter._fit(votes, priors[-1], dev, seed)
            members.append((voter.name, voter))
            self._choose_with_dev(members, *dev)
        elif not unidentifiable:
            self.mixture_ = np.array(self._choose_mixture_without_labels(votes, seed))
        return unidentifiable

    def _fit_learner(
        self,
        votes: Votes,
        prior: np.ndarray | None,
        dev: tuple[Votes, np.ndarray] | None,
        seed: int,
        unidentifiable: bool,
    ) -> BaseLabelModel:
        k = votes.cardinality
        member: BaseLabelModel
        if self.learner_ == "dawid_skene":
            member = DawidSkene(cardinality=k)
        else:
            member = MatrixCompletion(cardinality=k, l2=self.l2, max_iter=self.max_iter)
        if unidentifiable:
            fallback_fit(member, votes, prior)
        else:
            member._fit(votes, prior, dev, seed)
        return member

    def _spread_over(self, groups: np.ndarray) -> None:
        """Give every source its group's fitted parameters; a group's weights are shared out.

        A group's confusion matrix and accuracy become each member's; its log-linear weights
        are split evenly among the members, so ``weights_`` still sums to the group's weights
        (what prediction uses, on the merged votes).
        """
        self.lf_groups_ = groups
        if not has_copies(groups):
            return
        size = np.bincount(groups)[groups]
        self.confusion_ = self.confusion_[groups]
        self.lf_accuracies_ = self.lf_accuracies_[groups]
        self.weights_ = self.weights_[groups] / size[:, None, None]

    def _group_weights(self) -> np.ndarray:
        """Log-linear weights per group of near-copies, shape (groups, k, k)."""
        if not has_copies(self.lf_groups_):
            return self.weights_
        weights = np.zeros((int(self.lf_groups_.max()) + 1, *self.weights_.shape[1:]))
        np.add.at(weights, self.lf_groups_, self.weights_)
        return weights

    def _adopt(self, member: BaseLabelModel) -> None:
        self.class_balance_ = member.class_balance_
        self.lf_accuracies_ = member.lf_accuracies_
        self.confusion_ = member.confusion_
        self.weights_ = member.weights_
        self.bias_ = member.bias_
        self.uncovered_balance_ = member.class_balance_  # until the fit's last step

    def _choose_mixture_without_labels(self, votes: Votes, seed: int) -> float:
        log_likelihood = held_out_source_log_likelihood(
            votes.pattern_sample(PATTERN_SAMPLE, seed),
            self.weights_,
            self.bias_,
            self.confusion_,
            self.class_balance_,
            _MIXTURES,
        )
        best = int(np.argmax(log_likelihood))
        default = log_likelihood[_MIXTURES.index(_DEFAULT_MIXTURE)]
        if log_likelihood[best] <= default + _LIKELIHOOD_TOLERANCE:
            return _DEFAULT_MIXTURE
        return float(_MIXTURES[best])

    def _choose_with_dev(
        self, members: list[tuple[str, BaseLabelModel]], dev_votes: Votes, gold: np.ndarray
    ) -> None:
        """Adopt the (learned model, mixture) with the best dev accuracy, then dev log-loss.

        The weighted vote learns its accuracies from the dev rows themselves, so each dev row is
        scored with accuracies estimated from the other dev rows.
        """
        best: tuple[float, float] | None = None
        choice = (*members[0], _DEFAULT_MIXTURE)
        for name, member in members:
            self._adopt(member)
            vote_share, learned = self._members_proba(dev_votes)
            if isinstance(member, WeightedMajorityVote):
                uncovered = ~dev_votes.has_votes
                learned = softmax(leave_one_out_dev_scores(dev_votes, gold))
                learned[uncovered] = self.class_balance_
            for w in _MIXTURES:
                proba = w * vote_share + (1 - w) * learned
                score = _dev_score(proba, gold, self.class_balance_)
                if best is None or score > best:
                    best, choice = score, (name, member, w)
        self.learner_ = choice[0]
        self._adopt(choice[1])
        self.mixture_ = np.array(choice[2])

    def _better_on_dev_rows_without_votes(self, dev_votes: Votes, gold: np.ndarray) -> np.ndarray:
        """Of ``uncovered_balance_`` and ``class_balance_``, the better on dev rows without votes.

        Scored by :func:`_dev_score`; ``uncovered_balance_`` on ties or without such rows.
        """
        labels = gold[~dev_votes.has_votes]
        candidates = (self.uncovered_balance_, self.class_balance_)
        if labels.size == 0:
            return candidates[0]
        scores = [
            _dev_score(np.tile(shares, (labels.size, 1)), labels, self.class_balance_)
            for shares in candidates
        ]
        return candidates[1] if scores[1] > scores[0] else candidates[0]

    def _members_proba(self, votes: Votes) -> tuple[np.ndarray, np.ndarray]:
        if has_copies(self.lf_groups_):
            votes = merge_copies(votes, self.lf_groups_)
        learned = softmax(votes.scores(self._group_weights(), self.bias_))
        learned[~votes.has_votes] = self.uncovered_balance_
        return votes.vote_shares(self.uncovered_balance_), learned

    def _proba(self, votes: Votes) -> np.ndarray:
        vote_share, learned = self._members_proba(votes)
        w = float(self.mixture_)
        return w * vote_share + (1 - w) * learned

    def _extra_state(self) -> dict[str, Any]:
        return {
            "learner_": self.learner_,
            "lf_groups_": self.lf_groups_.tolist(),
            "uncovered_balance_": self.uncovered_balance_.tolist(),
        }

    def _restore_extra_state(self, extra: dict[str, Any]) -> None:
        self.learner_ = str(extra["learner_"])
        # Models saved before copies were merged hold none.
        groups = extra.get("lf_groups_", range(self.n_sources_))
        self.lf_groups_ = np.asarray(groups, dtype=np.int64)
        # Models saved before rows without votes had their own shares used the class balance.
        uncovered = extra.get("uncovered_balance_", self.class_balance_)
        self.uncovered_balance_ = np.asarray(uncovered, dtype=np.float64)


def _dev_score(proba: np.ndarray, gold: np.ndarray, balance: np.ndarray) -> tuple[float, float]:
    """(accuracy, mean log-probability of the gold class) on dev rows: larger is better.

    Ties in ``proba`` go to the class with the larger ``balance``.
    """
    accuracy = float(np.mean(break_ties(proba, "prior", balance, 0) == gold))
    gold_proba = proba[np.arange(gold.shape[0]), gold]
    return accuracy, float(np.mean(np.log(np.clip(gold_proba, 1e-6, 1.0))))


def held_out_source_log_likelihood(
    votes: Votes,
    weights: np.ndarray,
    bias: np.ndarray,
    confusion: np.ndarray,
    balance: np.ndarray,
    mixtures: tuple[float, ...],
) -> np.ndarray:
    """Mean log-probability of each vote predicted from the other votes of its row, per mixture.

    For a vote of source j for class v on row i, the posterior of the row is computed without
    that vote, as ``w * MV + (1 - w) * learned`` (majority-vote share of the other votes, and the
    softmax of the log-linear scores minus source j's term; the class balance when no other
    source votes), and the vote's probability is ``sum_c posterior[c] * confusion[j, c, v]``.
    Returns the weighted mean of its log over all votes for each ``w`` in ``mixtures``.
    """
    k, m = votes.cardinality, votes.n_sources
    model = _Learned(
        flat=np.ascontiguousarray(weights.reshape(m * k, k)),
        bias=bias,
        likelihood=np.clip(confusion, 1e-6, 1.0).transpose(0, 2, 1).reshape(m * k, k),
        balance=balance,
        projection=votes.class_projection(),
    )
    predict = _binary_vote_probabilities if k == 2 else _vote_probabilities

    def part(first: int, last: int, matrix: Any) -> tuple[np.ndarray, float]:
        totals = np.zeros(len(mixtures))
        mass = 0.0
        for start, stop in row_chunks(matrix.indptr, k):
            block = matrix[start:stop]
            per_row = np.diff(block.indptr)
            from_share, from_learned = predict(block, per_row, model)
            vote_weight = None
            if votes.row_weights is not None:
                row_weights = votes.row_weights[first + start : first + stop]
                vote_weight = np.repeat(row_weights, per_row)
            totals += _mixture_log_likelihoods(from_share, from_learned, mixtures, vote_weight)
            mass += float(from_share.size if vote_weight is None else vote_weight.sum())
        return totals, mass

    parts = votes.map_rows(part)
    mass = sum(part_mass for _, part_mass in parts)
    return functools.reduce(np.add, [totals for totals, _ in parts]) / max(mass, 1e-12)


class _Learned(NamedTuple):
    """A learned model's arrays, laid out per indicator column (source j, vote v) = j * k + v."""

    flat: np.ndarray  # (m k, k) log-linear weights
    bias: np.ndarray  # (k,)
    likelihood: np.ndarray  # (m k, k): P(source j votes v | y = c), clipped
    balance: np.ndarray  # (k,)
    projection: np.ndarray  # (m k, k): sums indicator columns class by class


def _mixture_log_likelihoods(
    share: np.ndarray, learned: np.ndarray, mixtures: tuple[float, ...], weight: np.ndarray | None
) -> np.ndarray:
    """Summed log of ``w * share + (1 - w) * learned`` over the votes, for each ``w``."""
    gap = share - learned
    logs = np.empty_like(gap)  # one work array for every mixture: fresh memory is slow
    sums = np.empty(len(mixtures))
    for index, w in enumerate(mixtures):
        np.multiply(gap, w, out=logs)
        logs += learned
        np.log(logs, out=logs)
        sums[index] = logs.sum() if weight is None else weight @ logs
    return sums


def _vote_probabilities(
    block: Any, per_row: np.ndarray, model: _Learned
) -> tuple[np.ndarray, np.ndarray]:
    """Probability of each vote of ``block`` under majority vote and the learned posterior.

    Both posteriors are computed from the other votes of the vote's row (the class balance when
    there are none), then multiplied by the source's confusion row ``likelihood[column]``.
    ``per_row`` holds the number of votes of each row of ``block``.
    """
    columns = block.indices
    others = np.repeat(np.asarray(block @ model.projection), per_row, axis=0)
    others -= model.projection[columns]
    n_others = row_sum(others)
    alone = n_others == 0
    share = others / np.maximum(n_others, 1.0)[:, None]
    scores = np.repeat(np.asarray(block @ model.flat) + model.bias, per_row, axis=0)
    learned = softmax(scores - model.flat[columns])
    share[alone] = model.balance
    learned[alone] = model.balance
    vote_likelihood = model.likelihood[columns]
    return row_sum(share * vote_likelihood), row_sum(learned * vote_likelihood)


def _binary_vote_probabilities(
    block: Any, per_row: np.ndarray, model: _Learned
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`_vote_probabilities` for two classes, on P(y = 1) alone (a third of the work).

    Column ``2 j + v`` holds source j's votes for class v, so a vote is for class 1 when its
    column is odd.
    """
    columns = block.indices
    balance = model.balance[1]
    others = np.repeat(per_row - 1.0, per_row)
    alone = others == 0
    voted_one = np.ascontiguousarray(model.projection[:, 1])
    share = np.repeat(np.asarray(block @ voted_one), per_row)
    share -= columns & 1
    np.divide(share, others, out=share, where=~alone)
    share[alone] = balance
    margin = model.flat[:, 1] - model.flat[:, 0]
    offset = model.bias[1] - model.bias[0]
    scores = np.repeat(np.asarray(block @ margin) + offset, per_row)
    scores -= margin[columns]
    learned = logistic(scores, out=others)[0]  # ``others`` is not needed any more
    learned[alone] = balance
    if_zero = np.ascontiguousarray(model.likelihood[:, 0])[columns]
    gain = np.ascontiguousarray(model.likelihood[:, 1])[columns]
    gain -= if_zero
    share *= gain
    share += if_zero
    learned *= gain
    learned += if_zero
    return share, learned
