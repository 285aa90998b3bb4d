"""The data-programming / MeTaL estimator (Ratner et al., AAAI 2019), fit by L-BFGS."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
from scipy.optimize import minimize

from gristmill._snorkel import snorkel_keywords
from gristmill.exceptions import ParameterError
from gristmill.labelmodel._base import (
    SNORKEL_INIT,
    BaseLabelModel,
    check_int_param,
    fallback_fit,
    is_real,
    softmax,
    warn_unidentifiable,
)
from gristmill.labelmodel._votes import Votes

# Probabilities are clipped to this range before taking logs for prediction (as MeTaL does).
_CLIP = (0.01, 0.99)
# Most (source, vote) pairs whose co-vote residual is held as dense (d, d) arrays (32 MiB
# each). Beyond, the objective is summed from the sparse co-votes and (k, k) products; below,
# the dense form is as fast and exact (the sparse one expands the square, which loses a few
# digits when the residual is small against the co-vote rates).
_DENSE_MAX_PAIRS = 2048

# The co-vote part of the objective: given mu and mu * balance, ``||R||^2`` and ``R @ mu`` for
# the residual R, ``mu diag(balance) mu^T - O`` off the blocks of each source.
CoVoteTerm = Callable[[np.ndarray, np.ndarray], tuple[float, np.ndarray]]


class MatrixCompletion(BaseLabelModel):
    """MeTaL: match the sources' observed co-vote rates with a low-rank conditional model.

    Let ``mu[(j, v), c] = P(source j votes v | y = c)`` and ``O`` the observed rate at which
    two (source, vote) pairs co-occur. Under conditionally independent sources, the entries of
    ``O`` between different sources equal ``mu diag(p) mu^T`` and the vote rates equal
    ``mu p``. The model minimises the squared error of both, plus ``l2 * ||mu - mu_init||^2``,
    over ``0 <= mu <= 1`` with L-BFGS-B on the analytic gradient: a few hundred quasi-Newton
    steps on an (m k) x k problem, independent of the number of rows once ``O`` is counted (one
    sparse product; on thousands of (source, vote) pairs, such as crowd workers, the residual
    is summed from the stored co-votes, never held as a dense (m k) x (m k) array). As in
    Snorkel, ``mu_init[(j, v), v] = prec_init * P(j votes v) / p_v`` (zero off the diagonal),
    which also picks the better-than-random one of the symmetric solutions. When
    ``class_balance`` is not given it is estimated as the mean posterior of the fitted model
    (alternating ``balance_rounds`` times). Prediction is
    ``softmax(log p + sum_j log mu[(j, v_j), :])`` with ``mu`` clipped to [0.01, 0.99].

    Parameters
    ----------
    cardinality : int, optional
        Number of classes; inferred from the votes when omitted.
    prec_init : float, default 0.7
        Initial (and regularisation target) accuracy of every source.
    l2 : float, default 0.01
        Strength of the pull towards the initial estimate. Sources that vote for one class only
        (most rule-based LFs) leave ``mu`` weakly identified; a small pull keeps it sensible.
    max_iter : int, default 50
        Most L-BFGS iterations per round.
    balance_rounds : int, default 1
        Rounds of (fit ``mu``, re-estimate the class balance as the mean posterior) when
        ``class_balance`` is not given; the first fit assumes balanced classes.
    """

    name = "matrix_completion"

    @snorkel_keywords(**SNORKEL_INIT)
    def __init__(
        self,
        *,
        cardinality: int | None = None,
        prec_init: float = 0.7,
        l2: float = 0.01,
        max_iter: int = 50,
        balance_rounds: int = 1,
    ) -> None:
        super().__init__(cardinality=cardinality)
        self.prec_init = prec_init
        self.l2 = l2
        self.max_iter = max_iter
        self.balance_rounds = balance_rounds

    def _check_params(self) -> None:
        super()._check_params()
        name = type(self).__name__
        if not is_real(self.prec_init) or not 0 < self.prec_init < 1:
            raise ParameterError(
                f"The 'prec_init' parameter of {name} must be a float in (0, 1). "
                f"Got {self.prec_init!r} instead."
            )
        if not is_real(self.l2) or not self.l2 >= 0:
            raise ParameterError(
                f"The 'l2' parameter of {name} must be a float >= 0. Got {self.l2!r} instead."
            )
        check_int_param(self, "max_iter", 1)
        check_int_param(self, "balance_rounds", 1)

    def _fit(
        self,
        votes: Votes,
        prior: np.ndarray | None,
        dev: tuple[Votes, np.ndarray] | None,
        seed: int,
    ) -> None:
        k, m = votes.cardinality, votes.n_sources
        n = max(votes.total_weight, 1e-12)
        if warn_unidentifiable(type(self).__name__, votes, seed):
            fallback_fit(self, votes, prior)
            # mu[(j, v), c] = P(j votes | y = c) P(j votes v | y = c, j votes), the former taken
            # as each source's overall voting rate (nothing identifies it per class here).
            coverage = votes.source_class_counts().sum(axis=1) / n
            self.mu_ = (coverage[:, None, None] * self.confusion_.transpose(0, 2, 1)).reshape(
                m * k, k
            )
            return
        # Only the (source, vote) pairs that occur enter the fit: the rows of ``mu`` of the
        # others stay at their start, 0 (their rate is 0, so are their co-votes and gradient),
        # and a one-class source leaves k - 1 of its k pairs unused (trec's 68 LFs: 68 of 408).
        counts = votes.source_class_counts().ravel()
        voted = np.flatnonzero(counts > 0)
        columns = None if voted.size == counts.size else voted
        source = voted // k
        if voted.size <= _DENSE_MAX_PAIRS:
            co_votes = votes.co_votes(columns)
            co_votes /= n  # in place
            pair_rates = np.diag(co_votes).copy()
            term = _dense_term(co_votes, source)
        else:
            sparse_co_votes = votes.sparse_co_votes(columns)
            sparse_co_votes.data /= n
            pair_rates = sparse_co_votes.diagonal()
            term = _sparse_term(sparse_co_votes, source)
        rates = np.zeros(m * k)
        rates[voted] = pair_rates
        coverage = votes.source_class_counts().sum(axis=1) / n
        balance = prior if prior is not None else np.full(k, 1.0 / k)
        mu = _initial_mu(rates, balance, m, k, float(self.prec_init))
        mu_init = mu[voted]
        rounds = 1 if prior is not None else int(self.balance_rounds)
        for _ in range(rounds):
            mu[voted] = _solve_mu(
                term,
                rates[voted],
                balance,
                mu[voted],
                mu_init,
                float(self.l2),
                int(self.max_iter),
            )
            if prior is None:
                weights, bias = _prediction_weights(mu, balance, m, k)
                balance = votes.row_total(softmax(votes.scores(weights, bias))) / n
                balance = np.clip(balance, 1e-3, None) / np.clip(balance, 1e-3, None).sum()
        self.mu_ = mu
        self.class_balance_ = balance
        self.weights_, self.bias_ = _prediction_weights(mu, balance, m, k)
        per_class = mu.reshape(m, k, k).transpose(0, 2, 1)  # [j, c, v]
        propensity = per_class.sum(axis=2)
        self.confusion_ = _conditional_confusion(per_class, propensity, votes)
        diagonal = np.einsum("jcc->jc", self.confusion_)
        mass = propensity * balance[None, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            self.lf_accuracies_ = (diagonal * mass).sum(axis=1) / mass.sum(axis=1)
        self.lf_accuracies_[coverage == 0] = np.nan

    _fitted_arrays = (*BaseLabelModel._fitted_arrays, "mu_")


def _initial_mu(
    rates: np.ndarray, balance: np.ndarray, m: int, k: int, accuracy: float
) -> np.ndarray:
    """(m k, k) start: P(vote v | y = v) = accuracy * P(vote v) / p_v, zero off the diagonal."""
    diagonal = np.clip(rates.reshape(m, k) * accuracy / balance[None, :], 0.0, 1.0)
    mu = np.zeros((m * k, k))
    mu[np.arange(m * k), np.tile(np.arange(k), m)] = diagonal.ravel()
    return mu


def _conditional_confusion(
    per_class: np.ndarray, propensity: np.ndarray, votes: Votes
) -> np.ndarray:
    """P(source j votes v | y = c, j votes), shape (m, k, k), from ``per_class = mu`` as [j, c, v].

    Where the fit puts a source's propensity to vote on class c at zero (a bound of the fit:
    one-class sources, or near-copies that take over a class), the row is undefined; it gets the
    source's observed vote shares, which say nothing about the class, rather than zeros, which
    would claim that a vote of the source rules class c out.
    """
    counts = votes.source_class_counts()
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1e-12)
    confusion = np.repeat(shares[:, None, :], per_class.shape[1], axis=1)
    voting = propensity > 1e-12
    confusion[voting] = per_class[voting] / propensity[voting][:, None]
    return confusion


def _prediction_weights(
    mu: np.ndarray, balance: np.ndarray, m: int, k: int
) -> tuple[np.ndarray, np.ndarray]:
    log_mu = np.log(np.clip(mu, *_CLIP)).reshape(m, k, k)
    return log_mu, np.log(balance)


def _dense_term(co_votes: np.ndarray, source: np.ndarray) -> CoVoteTerm:
    """The co-vote term on dense (d, d) co-votes; those of a source with itself are zeroed."""
    same_source = np.nonzero(source[:, None] == source[None, :])
    co_votes[same_source] = 0.0  # in place: the target is the co-votes of different sources
    # The (d, d) residual is computed in one work array, reused by every evaluation: fresh
    # (d, d) temporaries cost a page fault per page, and four of them were alive at once.
    work = np.empty_like(co_votes)

    def term(mu: np.ndarray, scaled: np.ndarray) -> tuple[float, np.ndarray]:
        residual = np.matmul(scaled, mu.T, out=work)
        residual -= co_votes
        residual[same_source] = 0.0
        product = residual @ mu
        np.square(residual, out=residual)
        return float(np.sum(residual)), product

    return term


def _sparse_term(co_votes: sp.csr_matrix, source: np.ndarray) -> CoVoteTerm:
    """The co-vote term from sparse (d, d) co-votes, in O(stored co-votes * k + d * k^2);
    those of a source with itself are dropped from ``co_votes``.

    With ``M = S mu^T`` (``S = mu diag(balance)``), the target O (the co-votes of different
    sources) and B the blocks of each source with itself: ``||R||^2 = ||M||^2 - ||M_B||^2 -
    2 <M, O> + ||O||^2``, where ``||M||^2 = sum((S^T S) * (mu^T mu))`` and ``<M, O> =
    sum(S * (O mu))``; and ``R mu = S (mu^T mu) - M_B mu - O mu``. Only O's stored entries
    and the few entries of B (k^2 at most per source) are visited.
    """
    d = source.size
    by_source = sp.csr_matrix((np.ones(d), (np.arange(d), source)))
    blocks = sp.csr_matrix(by_source @ by_source.T)  # the pattern of B
    block_rows = np.repeat(np.arange(d), np.diff(blocks.indptr))
    block_cols = blocks.indices
    target = co_votes  # in place: the target is the co-votes of different sources
    target_rows = np.repeat(np.arange(d), np.diff(target.indptr))
    target.data[source[target_rows] == source[target.indices]] = 0.0
    target.eliminate_zeros()
    target_norm = float(target.data @ target.data)

    def term(mu: np.ndarray, scaled: np.ndarray) -> tuple[float, np.ndarray]:
        gram = mu.T @ mu
        in_blocks = np.einsum("ic,ic->i", scaled[block_rows], mu[block_cols])
        blocks.data = in_blocks
        target_mu = target @ mu
        value = (
            float(np.sum((scaled.T @ scaled) * gram))
            - float(in_blocks @ in_blocks)
            - 2.0 * float(np.sum(scaled * target_mu))
            + target_norm
        )
        product = scaled @ gram
        product -= blocks @ mu
        product -= target_mu
        return value, product

    return term


def _solve_mu(
    term: CoVoteTerm,
    rates: np.ndarray,
    balance: np.ndarray,
    start: np.ndarray,
    mu_init: np.ndarray,
    l2: float,
    max_iter: int,
) -> np.ndarray:
    """``mu`` of the (source, vote) pairs minimising the co-vote ``term``, the squared error of
    the vote rates and ``l2`` times the squared distance to ``mu_init``, from ``start``."""
    shape = start.shape

    def objective(flat: np.ndarray) -> tuple[float, np.ndarray]:
        mu = flat.reshape(shape)
        scaled = mu * balance[None, :]
        fit, product = term(mu, scaled)
        marginal = scaled.sum(axis=1) - rates
        drift = mu - mu_init
        gradient = 4.0 * product * balance[None, :]
        gradient += 2.0 * marginal[:, None] * balance[None, :]
        gradient += 2.0 * l2 * drift
        value = float(fit + np.sum(marginal**2) + l2 * np.sum(drift**2))
        return value, gradient.ravel()

    result = minimize(
        objective,
        start.ravel(),
        jac=True,
        method="L-BFGS-B",
        bounds=[(0.0, 1.0)] * start.size,
        options={"maxiter": max_iter, "ftol": 1e-15, "gtol": 1e-12},
    )
    return np.asarray(result.x).reshape(shape)
