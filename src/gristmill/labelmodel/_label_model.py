"""LabelModel: the default label model, majority vote averaged with a learned model."""

from __future__ import annotations

import numpy as np

from gristmill.labelmodel._base import (
    BaseLabelModel,
    fallback_fit,
    row_sum,
    softmax,
    warn_unidentifiable,
)
from gristmill.labelmodel._dawid_skene import DawidSkene
from gristmill.labelmodel._matrix_completion import MatrixCompletion
from gristmill.labelmodel._votes import Votes

# Mixture weights of majority vote tried when a dev set is given.
_MIXTURES = (0.0, 0.25, 0.5, 0.75, 1.0)
# Share of majority vote without a dev set.
_DEFAULT_MIXTURE = 0.5


class LabelModel(BaseLabelModel):
    """The label model to reach for: majority vote and learned accuracies, averaged.

    Method
    ------
    ``predict_proba`` is ``w * MV + (1 - w) * learned``: the share of the row's votes each class
    got (majority vote, MV) averaged with the posterior of a learned model, ``w = 0.5``.

    The learned model depends on how the sources vote. When most votes come from sources that
    vote for a single class (keyword and regex LFs), a confusion matrix conditional on voting
    says nothing, and the information is in *how often* a source fires for each class: the
    learned model is then :class:`MatrixCompletion` (MeTaL, fit by L-BFGS). When most votes come
    from sources that vote for several classes (crowd workers, classifiers), the learned model is
    :class:`DawidSkene`, whose full confusion matrices are identified there and which is the
    maximum-likelihood estimator for that setting. ``learner_`` records the choice.

    Why average with majority vote: the two fail in different places. Majority vote needs no
    estimation, so it cannot be misled when the accuracies are not identifiable from the votes
    (one-class sources, correlated sources, few overlaps), but it ties often and ignores that
    some sources are far better than others. The learned model separates good from bad sources
    when its assumptions hold and can go badly wrong when they do not. The average follows
    majority vote where it is decisive and lets the learned accuracies decide ties and close
    calls, so it is never far below either and often above both (see BENCHMARKS.md). Rows
    without any vote get ``class_balance_``.

    With a dev set (``L_dev``, ``y_dev``) the dev labels estimate the class balance (unless it
    is given), join the Dawid-Skene M-step with their labels fixed, and pick ``w`` from
    (0, 0.25, 0.5, 0.75, 1) by the dev log-loss.

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
    learner_ : str
        ``"matrix_completion"`` or ``"dawid_skene"``: the learned model used.
    lf_accuracies_, class_balance_, confusion_, weights_, bias_
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
        rng: np.random.Generator,
    ) -> None:
        k = votes.cardinality
        if prior is None and dev is not None:
            prior = (np.bincount(dev[1], minlength=k) + 1.0) / (dev[1].shape[0] + k)
        member: BaseLabelModel
        if _mostly_multi_class_voters(votes):
            self.learner_ = "dawid_skene"
            member = DawidSkene(cardinality=k)
        else:
            self.learner_ = "matrix_completion"
            member = MatrixCompletion(cardinality=k, l2=self.l2, max_iter=self.max_iter)
        if warn_unidentifiable(type(self).__name__, votes):
            fallback_fit(member, votes, prior)
        else:
            member._fit(votes, prior, dev, rng)
        self.class_balance_ = member.class_balance_
        self.lf_accuracies_ = member.lf_accuracies_
        self.confusion_ = member.confusion_
        self.weights_ = member.weights_
        self.bias_ = member.bias_
        self.mixture_ = np.array(_DEFAULT_MIXTURE)
        if dev is not None:
            self.mixture_ = np.array(self._choose_mixture(*dev))

    def _choose_mixture(self, dev_votes: Votes, gold: np.ndarray) -> float:
        vote_share, learned = self._members_proba(dev_votes)
        losses = []
        for w in _MIXTURES:
            proba = w * vote_share + (1 - w) * learned
            picked = proba[np.arange(gold.shape[0]), gold]
            losses.append(-np.mean(np.log(np.clip(picked, 1e-6, 1.0))))
        return float(_MIXTURES[int(np.argmin(losses))])

    def _members_proba(self, votes: Votes) -> tuple[np.ndarray, np.ndarray]:
        counts = votes.class_counts()
        totals = row_sum(counts)[:, None]
        vote_share = np.where(
            totals > 0, counts / np.maximum(totals, 1.0), self.class_balance_[None, :]
        )
        learned = softmax(votes.scores(self.weights_, self.bias_))
        learned[totals[:, 0] == 0] = self.class_balance_
        return vote_share, learned

    def _proba(self, votes: Votes) -> np.ndarray:
        vote_share, learned = self._members_proba(votes)
        w = float(self.mixture_)
        return w * vote_share + (1 - w) * learned

    def _extra_state(self) -> dict[str, str]:
        return {"learner_": self.learner_}

    def _restore_extra_state(self, extra: dict[str, str]) -> None:
        self.learner_ = str(extra["learner_"])


def _mostly_multi_class_voters(votes: Votes) -> bool:
    """Whether at least half of all votes come from sources that vote for several classes."""
    per_source = votes.source_class_counts()
    multi = (per_source > 0).sum(axis=1) >= 2
    total = per_source.sum()
    return bool(total > 0 and per_source[multi].sum() >= 0.5 * total)
