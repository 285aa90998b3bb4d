"""Dawid-Skene: expectation-maximisation with a full confusion matrix per source."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gristmill.labelmodel._base import (
    BaseLabelModel,
    check_int_param,
    fallback_fit,
    log_normalizer,
    row_sum,
    softmax,
    warn_unidentifiable,
)
from gristmill.labelmodel._votes import Votes


@dataclass
class EMResult:
    """What :func:`fit_em` learned."""

    confusion: np.ndarray  # (m, k, k): P(vote v | y = c, the source votes)
    propensity: np.ndarray  # (m, k): P(the source votes | y = c)
    class_balance: np.ndarray  # (k,)
    weights: np.ndarray  # (m, k, k) laid out [source, vote, class]
    bias: np.ndarray  # (k,)
    n_iter: int
    converged: bool


def majority_posteriors(votes: Votes, prior: np.ndarray | None) -> np.ndarray:
    """Share of each row's votes per class; rows without votes get ``prior`` (or uniform)."""
    counts = votes.class_counts()
    totals = row_sum(counts)[:, None]
    fill = prior if prior is not None else np.full(votes.cardinality, 1.0 / votes.cardinality)
    posteriors = np.where(totals > 0, counts / np.maximum(totals, 1.0), fill[None, :])
    return posteriors


def fit_em(
    votes: Votes,
    *,
    init: np.ndarray,
    prior: np.ndarray | None,
    dev: tuple[Votes, np.ndarray] | None,
    smoothing: float,
    max_iter: int,
    tol: float,
    model_abstains: bool,
) -> EMResult:
    """Maximum a posteriori Dawid-Skene by EM, starting from row posteriors ``init``.

    Each source has a confusion matrix P(vote | true class) with a Dirichlet prior of
    ``smoothing`` pseudo-votes per cell plus ``smoothing * (k - 1)`` extra on the diagonal (a
    prior mean accuracy above chance). With ``model_abstains`` the abstain is one more outcome of
    the confusion matrix, so a source that fires mostly on one class is informative also when it
    is silent; without it, abstains are treated as independent of the class. Dev rows, when
    given, enter the M-step with their gold labels fixed. Stops when the log-likelihood per row
    improves by less than ``tol``.
    """
    k, m, n = votes.cardinality, votes.n_sources, votes.total_weight
    pseudo = smoothing * (1.0 + (k - 1) * np.eye(k))
    dev_counts = np.zeros((m, k, k))
    dev_totals = np.zeros(k)
    if dev is not None:
        dev_votes, gold = dev
        onehot = np.zeros((gold.shape[0], k))
        onehot[np.arange(gold.shape[0]), gold] = 1.0
        dev_counts = dev_votes.expected_counts(onehot)
        dev_totals = onehot.sum(axis=0)
    posteriors = init
    previous = -np.inf
    converged = False
    for n_iter in range(1, max_iter + 1):
        counts = (votes.expected_counts(posteriors) + dev_counts).transpose(0, 2, 1)  # [j, c, v]
        class_totals = votes.row_total(posteriors) + dev_totals
        balance = prior if prior is not None else _estimate_balance(class_totals, smoothing)
        result = _m_step(counts, class_totals, balance, pseudo, smoothing, model_abstains)
        result.n_iter = n_iter
        scores = votes.scores(result.weights, result.bias)
        log_likelihood = float(np.sum(votes.weighted(log_normalizer(scores))))
        posteriors = softmax(scores)
        if abs(log_likelihood - previous) <= tol * max(n, 1):
            converged = True
            break
        previous = log_likelihood
    result.converged = converged
    return result


def _estimate_balance(class_totals: np.ndarray, smoothing: float) -> np.ndarray:
    smoothed = class_totals + smoothing
    return smoothed / smoothed.sum()


def _m_step(
    counts: np.ndarray,
    class_totals: np.ndarray,
    balance: np.ndarray,
    pseudo: np.ndarray,
    smoothing: float,
    model_abstains: bool,
) -> EMResult:
    voted = counts + pseudo[None]
    confusion = voted / voted.sum(axis=2, keepdims=True)
    log_balance = np.log(balance)
    if not model_abstains:
        weights = np.log(confusion).transpose(0, 2, 1).copy()
        propensity = np.ones(counts.shape[:2])
        return EMResult(confusion, propensity, balance, weights, log_balance, 0, False)
    silent = np.maximum(class_totals[None, :] - counts.sum(axis=2), 0.0) + smoothing
    outcome_totals = silent + voted.sum(axis=2)
    log_silent = np.log(silent / outcome_totals)
    log_vote = np.log(voted / outcome_totals[:, :, None])
    weights = (log_vote - log_silent[:, :, None]).transpose(0, 2, 1).copy()
    bias = log_balance + log_silent.sum(axis=0)
    propensity = 1.0 - silent / outcome_totals
    return EMResult(confusion, propensity, balance, weights, bias, 0, False)


def accuracies_with_propensity(result: EMResult, votes: Votes) -> np.ndarray:
    """P(vote correct | source votes): the confusion diagonal averaged over P(y = c | it votes)."""
    diagonal = np.einsum("jcc->jc", result.confusion)
    mass = result.propensity * result.class_balance[None, :]
    accuracies = (diagonal * mass).sum(axis=1) / mass.sum(axis=1)
    accuracies[votes.source_class_counts().sum(axis=1) == 0] = np.nan
    return accuracies


class DawidSkene(BaseLabelModel):
    """Dawid & Skene (1979): a full confusion matrix per source, learned by EM.

    Starts from the majority-vote posteriors and alternates estimating every source's confusion
    matrix P(vote | true class) and the class balance (M-step) with the row posteriors (E-step).
    Dirichlet smoothing keeps sources with few votes from getting degenerate (0/1) confusion
    matrices; abstains are treated as independent of the class, which suits crowdsourcing. With a
    dev set, dev rows join the M-step with their gold labels fixed.

    Parameters
    ----------
    cardinality : int, optional
        Number of classes; inferred from the votes when omitted.
    max_iter : int, default 100
        Most EM iterations.
    tol : float, default 1e-6
        Stop when the log-likelihood per row improves by less than this.
    smoothing : float, default 1.0
        Dirichlet pseudo-votes per confusion cell (plus ``smoothing * (k - 1)`` on the diagonal).

    Attributes
    ----------
    n_iter_ : int
        EM iterations run.
    converged_ : bool
        Whether the tolerance was reached before ``max_iter``.
    """

    name = "dawid_skene"

    def __init__(
        self,
        *,
        cardinality: int | None = None,
        max_iter: int = 100,
        tol: float = 1e-6,
        smoothing: float = 1.0,
    ) -> None:
        super().__init__(cardinality=cardinality)
        self.max_iter = max_iter
        self.tol = tol
        self.smoothing = smoothing

    def _check_params(self) -> None:
        super()._check_params()
        check_em_params(self)

    def _fit(
        self,
        votes: Votes,
        prior: np.ndarray | None,
        dev: tuple[Votes, np.ndarray] | None,
        rng: np.random.Generator,
    ) -> None:
        self.n_iter_, self.converged_ = 0, False
        if warn_unidentifiable(type(self).__name__, votes):
            fallback_fit(self, votes, prior)
            return
        result = fit_em(
            votes,
            init=majority_posteriors(votes, prior),
            prior=prior,
            dev=dev,
            smoothing=float(self.smoothing),
            max_iter=int(self.max_iter),
            tol=float(self.tol),
            model_abstains=False,
        )
        store_em_result(self, result, votes)

    def _extra_state(self) -> dict[str, Any]:
        return {"n_iter_": int(self.n_iter_), "converged_": bool(self.converged_)}

    def _restore_extra_state(self, extra: dict[str, Any]) -> None:
        self.n_iter_ = int(extra.get("n_iter_", 0))
        self.converged_ = bool(extra.get("converged_", False))


def check_em_params(model: Any) -> None:
    """Validate ``max_iter``, ``tol`` and ``smoothing`` of an EM-based model."""
    name = type(model).__name__
    check_int_param(model, "max_iter", 1)
    if not isinstance(model.tol, int | float) or not model.tol >= 0:
        raise ValueError(
            f"The 'tol' parameter of {name} must be a float >= 0. Got {model.tol!r} instead."
        )
    if not isinstance(model.smoothing, int | float) or not model.smoothing > 0:
        raise ValueError(
            f"The 'smoothing' parameter of {name} must be a float > 0. "
            f"Got {model.smoothing!r} instead."
        )


def store_em_result(model: Any, result: EMResult, votes: Votes) -> None:
    """Copy an :class:`EMResult` onto a model's fitted attributes."""
    model.confusion_ = result.confusion
    model.class_balance_ = result.class_balance
    model.weights_ = result.weights
    model.bias_ = result.bias
    model.lf_accuracies_ = accuracies_with_propensity(result, votes)
    model.n_iter_ = result.n_iter
    model.converged_ = result.converged
