"""Label-free drift signals from weak supervision.

Labeling functions can be run on live traffic. Changes in how often each LF votes (coverage), in
how often it agrees with the label model, and in how often the label model agrees with the served
model, reveal drift before any gold label arrives. The label-model / served-model agreement on
rows some LF covers is also a label-free estimate of the served model's accuracy.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from gristmill.exceptions import ParameterError
from gristmill.labeling import ABSTAIN, as_label_array
from gristmill.monitoring._drift import DriftThresholds

__all__ = ["AgreementDrift", "LFDrift", "lf_drift", "model_agreement"]


def _two_proportion_p(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value that two proportions are equal: the z-test, or Fisher's exact test when
    an expected count is below 5 (where the normal approximation overstates significance)."""
    if n1 == 0 or n2 == 0:
        return 1.0
    pooled = (k1 + k2) / (n1 + n2)
    if min(n1, n2) * min(pooled, 1 - pooled) < 5:
        from scipy.stats import fisher_exact

        return float(fisher_exact([[k1, n1 - k1], [k2, n2 - k2]]).pvalue)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    z = abs(k1 / n1 - k2 / n2) / se
    return math.erfc(z / math.sqrt(2))


def _changed(k1: int, n1: int, k2: int, n2: int, thresholds: DriftThresholds,
             n_tests: int = 1) -> tuple[float, bool]:
    """p-value of a change in proportion, and whether it counts: significant (Bonferroni over
    ``n_tests``), at least ``lf_change`` in size, on at least ``min_rows`` rows each side."""
    p = _two_proportion_p(k1, n1, k2, n2)
    if min(n1, n2) < thresholds.min_rows:
        return p, False
    significant = p < thresholds.p_value / n_tests
    return p, significant and abs(k2 / n2 - k1 / n1) >= thresholds.lf_change


def _share(k: int, n: int) -> float:
    return k / n if n else math.nan


@dataclasses.dataclass(frozen=True)
class LFDrift:
    """Coverage and label-model agreement of one LF on reference vs current data.

    ``agreement_*`` is the share of the LF's votes equal to the label model's prediction (NaN when
    the LF never votes where the label model predicts).
    """

    name: str
    coverage_reference: float
    coverage_current: float
    coverage_p_value: float
    agreement_reference: float
    agreement_current: float
    agreement_p_value: float
    drifted: bool

    @property
    def coverage_change(self) -> float:
        return self.coverage_current - self.coverage_reference

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "coverage_change": self.coverage_change}


@dataclasses.dataclass(frozen=True)
class AgreementDrift:
    """Agreement between the label model and the served model, on rows some LF covers.

    The current agreement is a label-free estimate of the served model's accuracy.
    """

    reference: float
    current: float
    n_reference: int
    n_current: int
    p_value: float
    drifted: bool

    @property
    def estimated_accuracy(self) -> float:
        return self.current

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "estimated_accuracy": self.estimated_accuracy}


def _agreement_counts(votes: np.ndarray, target: np.ndarray) -> tuple[int, int]:
    both = (votes != ABSTAIN) & (target != ABSTAIN)
    return int((votes[both] == target[both]).sum()), int(both.sum())


def lf_drift(
    L_reference: Any,
    L_current: Any,
    *,
    lf_names: Sequence[str],
    label_model: Any = None,
    thresholds: DriftThresholds | None = None,
) -> list[LFDrift]:
    """Compare each LF's coverage and its agreement with the label model on two label matrices.

    An LF drifts when its coverage or agreement changes by at least ``thresholds.lf_change``
    (absolute) and a two-proportion test (z, or Fisher's exact test for small counts) finds the
    change significant at ``thresholds.p_value`` with a Bonferroni correction over the ``2 m``
    tests of ``m`` LFs (so that many LFs do not raise false alarms by chance). Proportions of
    fewer than ``thresholds.min_rows`` rows never count as drift.

    Parameters
    ----------
    L_reference, L_current : label matrix
        LF votes on the reference and current rows (same LFs, same order; -1 = abstain).
    lf_names : sequence of str
        Name of each column.
    label_model : fitted label model, optional
        Its ``predict(L)`` is the target of agreement; majority vote of the LFs when omitted.
    thresholds : DriftThresholds, optional

    Returns
    -------
    list of LFDrift

    Raises
    ------
    ValueError
        When the matrices and ``lf_names`` disagree on the number of LFs.

    Examples
    --------
    >>> import numpy as np
    >>> ref = np.array([[0, -1], [1, 1], [0, -1], [1, 1]] * 50)
    >>> cur = np.array([[-1, -1], [1, 1], [-1, -1], [1, 1]] * 50)
    >>> [d.drifted for d in lf_drift(ref, cur, lf_names=["a", "b"])]
    [True, False]
    """
    thresholds = thresholds or DriftThresholds()
    ref, cur = as_label_array(L_reference), as_label_array(L_current)
    if ref.shape[1] != cur.shape[1] or ref.shape[1] != len(lf_names):
        raise ParameterError(
            f"lf_drift needs the same LFs in both matrices and lf_names; got {ref.shape[1]} and "
            f"{cur.shape[1]} columns for {len(lf_names)} names"
        )
    target_ref, target_cur = _targets(ref, label_model), _targets(cur, label_model)
    n_tests = 2 * len(lf_names)
    result = []
    for j, name in enumerate(lf_names):
        cov_ref, cov_cur = int((ref[:, j] != ABSTAIN).sum()), int((cur[:, j] != ABSTAIN).sum())
        cov_p, cov_changed = _changed(cov_ref, len(ref), cov_cur, len(cur), thresholds, n_tests)
        agree_ref, n_agree_ref = _agreement_counts(ref[:, j], target_ref)
        agree_cur, n_agree_cur = _agreement_counts(cur[:, j], target_cur)
        agree_p, agree_changed = _changed(agree_ref, n_agree_ref, agree_cur, n_agree_cur,
                                          thresholds, n_tests)
        result.append(LFDrift(
            name=str(name),
            coverage_reference=_share(cov_ref, len(ref)),
            coverage_current=_share(cov_cur, len(cur)),
            coverage_p_value=cov_p,
            agreement_reference=_share(agree_ref, n_agree_ref),
            agreement_current=_share(agree_cur, n_agree_cur),
            agreement_p_value=agree_p,
            drifted=cov_changed or agree_changed,
        ))
    return result


def _majority(L: np.ndarray) -> np.ndarray:
    k = int(L.max()) + 1 if L.size and L.max() >= 0 else 1
    counts = np.stack([(L == c).sum(axis=1) for c in range(k)], axis=1)
    best = counts.argmax(axis=1)
    top = counts.max(axis=1)
    tied = (counts == top[:, None]).sum(axis=1) > 1
    return np.where((top == 0) | tied, ABSTAIN, best)


def _targets(L: np.ndarray, label_model: Any) -> np.ndarray:
    if label_model is None:
        return _majority(L)
    predicted = np.asarray(label_model.predict(L), dtype=int)
    # Rows no LF covers carry no LF signal: the label model only echoes its prior there.
    return np.where((L != ABSTAIN).any(axis=1), predicted, ABSTAIN)


def model_agreement(
    L_reference: Any,
    served_reference: Sequence[int] | np.ndarray,
    L_current: Any,
    served_current: Sequence[int] | np.ndarray,
    *,
    label_model: Any = None,
    thresholds: DriftThresholds | None = None,
) -> AgreementDrift:
    """Agreement of the label model with the served model's predictions, reference vs current.

    Parameters
    ----------
    L_reference, L_current : label matrix
    served_reference, served_current : sequence of int
        The served model's predicted class indices on the same rows.
    label_model : fitted label model, optional
        Majority vote of the LFs when omitted.
    thresholds : DriftThresholds, optional
        Drift when the current agreement is at least ``lf_change`` lower and the drop is
        significant at ``p_value``, on at least ``min_rows`` covered rows each side.

    Returns
    -------
    AgreementDrift
    """
    thresholds = thresholds or DriftThresholds()
    ref, cur = as_label_array(L_reference), as_label_array(L_current)
    k_ref, n_ref = _agreement_counts(np.asarray(served_reference), _targets(ref, label_model))
    k_cur, n_cur = _agreement_counts(np.asarray(served_current), _targets(cur, label_model))
    p, changed = _changed(k_ref, n_ref, k_cur, n_cur, thresholds)
    dropped = changed and _share(k_cur, n_cur) < _share(k_ref, n_ref)
    return AgreementDrift(_share(k_ref, n_ref), _share(k_cur, n_cur), n_ref, n_cur, p, dropped)
