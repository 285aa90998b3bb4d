"""Dawid-Skene: expectation-maximisation with a full confusion matrix per source."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import numpy as np

from gristmill._snorkel import snorkel_keywords
from gristmill.exceptions import ParameterError
from gristmill.labelmodel._base import (
    PATTERN_SAMPLE,
    SNORKEL_INIT,
    BaseLabelModel,
    check_int_param,
    fallback_fit,
    is_real,
    log_normalizer,
    logistic,
    softmax,
    warn_unidentifiable,
)
from gristmill.labelmodel._votes import Votes

# EM warm-starts from a pattern-sample fit on more than this many times PATTERN_SAMPLE rows.
_WARM_START_FACTOR = 4
# EM may stop on Aitken's extrapolation once a gain is below this many times tol.
_AITKEN_MARGIN = 10.0


@dataclass
class EMResult:
    """What :func:`fit_em` learned."""

    confusion: np.ndarray  # (m, k, k): P(vote v | y = c, the source votes)
    class_balance: np.ndarray  # (k,)
    weights: np.ndarray  # (m, k, k) laid out [source, vote, class]
    bias: np.ndarray  # (k,)
    n_iter: int
    converged: bool


def fit_em(
    votes: Votes,
    *,
    prior: np.ndarray | None,
    dev: tuple[Votes, np.ndarray] | None,
    smoothing: float,
    max_iter: int,
    tol: float,
    seed: int,
    warm_start: bool = True,
) -> EMResult:
    """Maximum a posteriori Dawid-Skene by EM.

    Each source has a confusion matrix P(vote | true class) with a Dirichlet prior of
    ``smoothing`` pseudo-votes per cell plus ``smoothing * (k - 1)`` extra on the diagonal (a
    prior mean accuracy above chance). Abstains are treated as independent of the class. Dev
    rows, when given, enter the M-step with their gold labels fixed. ``seed`` picks the hash of
    the pattern sample.

    Stopping (:func:`_converged`): when the log-likelihood per row improves by less than
    ``tol``, or by less than ``10 * tol`` while Aitken's extrapolation of the last three values
    puts the limit within ``tol`` of the current one (Böhning et al. 1994; McNicholas et al.
    2010): EM converges linearly, so when each improvement is a small fraction ``r`` of the
    one before, the improvements still to come add up to about ``r / (1 - r)`` of the last.
    Each iteration first tests the gain of its M-step as bounded from the expected counts
    (:func:`_bounded_gain`), so the last E-step, which would only measure a gain small enough
    to stop, is skipped.

    EM starts from the majority-vote posteriors. With ``warm_start`` and more than
    ``4 * PATTERN_SAMPLE`` rows (total weight, so that a weighted matrix of distinct patterns
    and its expanded rows take the same path) it first runs to convergence on a hashed sample
    of the distinct vote patterns (weighted by their rows, see :meth:`Votes.pattern_sample`)
    and starts from the posteriors of that fit: the full-data iterations then only polish it
    (2 instead of 4 on 1M x 50 votes).
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
    vote_totals = votes.source_class_counts()
    if not warm_start or votes.total_weight <= _WARM_START_FACTOR * PATTERN_SAMPLE:
        # Majority-vote posteriors of classes 1..k-1 (EM needs no column for class 0).
        fill = prior if prior is not None else np.full(k, 1.0 / k)
        rest, previous = votes.vote_shares(fill, first_class=1), -np.inf
        fitted: EMResult | None = None
    else:
        warm = fit_em(
            votes.pattern_sample(PATTERN_SAMPLE, seed),
            prior=prior,
            dev=dev,
            smoothing=smoothing,
            max_iter=max_iter,
            tol=tol,
            seed=seed,
            warm_start=False,
        )
        rest, previous = _e_step(votes, warm.weights, warm.bias, vote_totals)
        fitted = warm
    converged = False
    gain = np.inf
    for n_iter in range(1, max_iter + 1):
        counts = _expected_counts(votes, rest, vote_totals) + dev_counts
        rest_totals = votes.row_total(rest)
        class_totals = np.concatenate([[n - rest_totals.sum()], rest_totals]) + dev_totals
        balance = prior if prior is not None else _estimate_balance(class_totals, smoothing)
        result = _m_step(counts.transpose(0, 2, 1), balance, pseudo)
        result.n_iter = n_iter
        if fitted is not None:  # the step's likelihood gain, bounded without an E-step
            step_gain = _bounded_gain(fitted, result, counts, class_totals, pseudo, smoothing)
            if _converged(step_gain / max(n, 1e-12), gain, tol):
                converged = True
                break
        fitted = result
        rest, log_likelihood = _e_step(votes, result.weights, result.bias, vote_totals)
        gain, last_gain = (log_likelihood - previous) / max(n, 1e-12), gain
        if _converged(gain, last_gain, tol):
            converged = True
            break
        previous = log_likelihood
    result.converged = converged
    return result


def _converged(gain: float, last_gain: float, tol: float) -> bool:
    """Whether EM stops after an iteration that improved the log-likelihood per row by ``gain``.

    Stops below ``tol``; also below ``10 * tol`` when the ratio ``r`` of the last two gains is in
    [0, 1) and the remaining improvement Aitken's extrapolation predicts, ``gain * r / (1 - r)``,
    is below ``tol``.
    """
    if abs(gain) <= tol:
        return True
    if not np.isfinite(last_gain) or abs(gain) > _AITKEN_MARGIN * tol or last_gain == 0:
        return False
    ratio = gain / last_gain
    return bool(0.0 <= ratio < 1.0 and abs(gain) * ratio / (1.0 - ratio) <= tol)


def _bounded_gain(
    before: EMResult,
    after: EMResult,
    counts: np.ndarray,
    class_totals: np.ndarray,
    pseudo: np.ndarray,
    smoothing: float,
) -> float:
    """Twice the gain of the M-step from ``before`` to ``after`` in its own objective.

    The M-step maximises the expected complete-data log-posterior ``Q`` under the posteriors of
    ``before`` (``counts``, ``class_totals``); EM guarantees that the log-posterior (the
    log-likelihood plus the smoothing prior) gains at least as much as ``Q``, and near
    convergence, where both are quadratic in the step, at most ``1 + r`` times as much, ``r <
    1`` being EM's rate of convergence (the fraction of missing information; Dempster, Laird &
    Rubin 1977). Twice the gain in ``Q`` thus bounds the step's gain from above, from counts
    already at hand (tested: the gain is 0.69-0.89 of it on synthetic votes; the likelihood
    alone can gain a few percent more where the prior's share of the gain is negative): when it
    is small enough to stop, the E-step that would have measured the gain is skipped.
    """
    # What the M-step maximises: sum of (counts + pseudo-votes) * log confusion, laid out
    # [source, vote, class] like ``weights``, plus (class totals + smoothing) * log balance.
    gain = float(np.sum((counts + pseudo.T[None]) * (after.weights - before.weights)))
    gain += float((class_totals + smoothing) @ (after.bias - before.bias))
    return 2.0 * gain


def _expected_counts(votes: Votes, rest: np.ndarray, vote_totals: np.ndarray) -> np.ndarray:
    """``counts[j, v, c]`` from the posteriors of classes 1..k-1; class 0 gets what remains.

    Posteriors sum to one per row, so the counts of class 0 are each (source, vote)'s total
    minus the others': one sparse product fewer (half the work for binary tasks).
    """
    others = votes.expected_counts(rest)
    return np.concatenate([vote_totals[:, :, None] - others.sum(axis=2, keepdims=True), others], 2)


def _e_step(
    votes: Votes, weights: np.ndarray, bias: np.ndarray, vote_totals: np.ndarray
) -> tuple[np.ndarray, float]:
    """Posteriors of classes 1..k-1 and the log-likelihood of the votes, from log-linear weights.

    Scores are computed relative to class 0 (k - 1 columns instead of k); the class-0 score
    summed over rows is a dot product of the vote totals with its weights.
    """
    base = float(vote_totals.ravel() @ weights[:, :, 0].ravel()) + votes.total_weight * bias[0]
    if votes.cardinality == 2:
        rest = np.empty((votes.n_rows, 1))
        log_norms = votes.map_rows(
            functools.partial(
                _binary_e_step,
                margin=(weights[:, :, 1] - weights[:, :, 0]).ravel(),
                offset=float(bias[1] - bias[0]),
                row_weights=votes.row_weights,
                posterior=rest[:, 0],
            )
        )
        return rest, base + sum(log_norms)
    relative = votes.scores(weights[:, :, 1:] - weights[:, :, :1], bias[1:] - bias[0])
    full = np.concatenate([np.zeros((relative.shape[0], 1)), relative], axis=1)
    rest = np.ascontiguousarray(softmax(full)[:, 1:])
    return rest, base + float(np.sum(votes.weighted(log_normalizer(full))))


def _binary_e_step(
    start: int,
    stop: int,
    rows: Any,
    *,
    margin: np.ndarray,
    offset: float,
    row_weights: np.ndarray | None,
    posterior: np.ndarray,
) -> float:
    """Summed (weighted) ``log(1 + e^score)`` of the rows ``start:stop``.

    Their P(y = 1) goes into ``posterior[start:stop]``.
    """
    scores = np.asarray(rows @ margin)
    scores += offset
    log_normalizers = logistic(scores, out=posterior[start:stop])[1]
    if row_weights is None:
        return float(log_normalizers.sum())
    return float(row_weights[start:stop] @ log_normalizers)


def _estimate_balance(class_totals: np.ndarray, smoothing: float) -> np.ndarray:
    smoothed = class_totals + smoothing
    return smoothed / smoothed.sum()


def _m_step(counts: np.ndarray, balance: np.ndarray, pseudo: np.ndarray) -> EMResult:
    voted = counts + pseudo[None]
    confusion = voted / voted.sum(axis=2, keepdims=True)
    weights = np.log(confusion).transpose(0, 2, 1).copy()
    return EMResult(confusion, balance, weights, np.log(balance), 0, False)


def em_accuracies(result: EMResult, votes: Votes) -> np.ndarray:
    """P(vote correct | source votes): the confusion diagonal averaged over the class balance.

    Abstains are independent of the class in this model, so the class of a row a source votes
    on follows the class balance. NaN for sources that never vote.
    """
    accuracies = np.einsum("jcc->jc", result.confusion) @ result.class_balance
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
        Stop when the log-likelihood per row improves by less than this, or is predicted to
        (Aitken's extrapolation, see :func:`fit_em`).
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

    @snorkel_keywords(**SNORKEL_INIT)
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
        seed: int,
    ) -> None:
        self.n_iter_, self.converged_ = 0, False
        if warn_unidentifiable(type(self).__name__, votes, seed):
            fallback_fit(self, votes, prior)
            return
        result = fit_em(
            votes,
            prior=prior,
            dev=dev,
            smoothing=float(self.smoothing),
            max_iter=int(self.max_iter),
            tol=float(self.tol),
            seed=seed,
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
    if not is_real(model.tol) or not model.tol >= 0:
        raise ParameterError(
            f"The 'tol' parameter of {name} must be a float >= 0. Got {model.tol!r} instead."
        )
    if not is_real(model.smoothing) or not model.smoothing > 0:
        raise ParameterError(
            f"The 'smoothing' parameter of {name} must be a float > 0. "
            f"Got {model.smoothing!r} instead."
        )


def store_em_result(model: Any, result: EMResult, votes: Votes) -> None:
    """Copy an :class:`EMResult` onto a model's fitted attributes."""
    model.confusion_ = result.confusion
    model.class_balance_ = result.class_balance
    model.weights_ = result.weights
    model.bias_ = result.bias
    model.lf_accuracies_ = em_accuracies(result, votes)
    model.n_iter_ = result.n_iter
    model.converged_ = result.converged
