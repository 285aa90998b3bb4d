"""Label-free drift signals from weak supervision.

Labeling functions can be run on live traffic. Changes in how often each LF votes (coverage), in
how often it agrees with the label model, and in how often the label model agrees with the served
model, reveal drift before any gold label arrives. The label-model / served-model agreement on
rows some LF covers is also a label-free estimate of the served model's accuracy.

A multilabel task's label model (:class:`~gristmill.labelmodel.BinaryRelevanceLabelModel`)
decides each label apart, so agreement is counted per vote: an LF vote ``j`` ("label j applies")
or ``k + j`` ("it does not") agrees when the label model decides label ``j`` the same way, and the
served model agrees on a (row, label) pair some LF votes on when it decides that label the same
way. Without a label model, a multilabel task's labels are decided one by one too, by the
majority of the LF votes on each (a tie decides nothing, and is not compared).
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


def _changed(
    k1: int, n1: int, k2: int, n2: int, thresholds: DriftThresholds, n_tests: int = 1
) -> tuple[float, bool]:
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
    the LF never votes where the label model predicts); for a multilabel label model, the share
    of its votes on a label that the label model decides the same way.
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

    The current agreement is a label-free estimate of the served model's accuracy. For a
    multilabel task it is counted over the (row, label) pairs some LF votes on, so ``n_*`` count
    pairs and the estimate is the served model's per-label accuracy (1 - Hamming loss) there;
    ``labels`` gives each label's ``reference``, ``current``, ``n_reference`` and ``n_current``
    (empty for other tasks), to tell which label the served model gets wrong.
    """

    reference: float
    current: float
    n_reference: int
    n_current: int
    p_value: float
    drifted: bool
    labels: dict[str, dict[str, float]] = dataclasses.field(default_factory=dict)

    @property
    def estimated_accuracy(self) -> float:
        return self.current

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "estimated_accuracy": self.estimated_accuracy}


def _agreement_counts(votes: np.ndarray, target: np.ndarray) -> tuple[int, int]:
    both = (votes != ABSTAIN) & (target != ABSTAIN)
    return int((votes[both] == target[both]).sum()), int(both.sum())


def _multilabel(label_model: Any) -> bool:
    from gristmill.labelmodel import BinaryRelevanceLabelModel

    return isinstance(label_model, BinaryRelevanceLabelModel)


def _labels_of(label_model: Any, multilabel_classes: Sequence[str] | None) -> list[str] | None:
    """The labels of a multilabel task, or None for a single-label one.

    Raises
    ------
    ParameterError
        When ``multilabel_classes`` contradicts the label model.
    """
    if multilabel_classes is None:
        return [str(c) for c in label_model.classes] if _multilabel(label_model) else None
    classes = [str(c) for c in multilabel_classes]
    if label_model is not None and (
        not _multilabel(label_model) or [str(c) for c in label_model.classes] != classes
    ):
        fitted = (
            f"its labels are {list(label_model.classes)}"
            if _multilabel(label_model)
            else "it is not multilabel"
        )
        raise ParameterError(
            f"multilabel_classes {classes} are not the labels of the label model "
            f"{type(label_model).__name__}: {fitted}"
        )
    return classes


def _lf_agreement(
    L: np.ndarray, label_model: Any, k: int | None, lf_names: Sequence[str] | None
) -> list[tuple[int, int]]:
    """Per LF column: how many of its votes agree with the label model, of how many compared."""
    if k is None:
        target = _targets(L, label_model)
        return [_agreement_counts(L[:, j], target) for j in range(L.shape[1])]
    decided = _label_decisions(L, k, label_model, lf_names)
    counts = []
    for column in L.T:
        voted = np.flatnonzero((column >= 0) & (column < 2 * k))
        votes = column[voted]
        target = decided[voted, votes % k]
        says = (votes < k).astype(int)  # vote j: label j applies; k + j: it does not
        compared = target != ABSTAIN
        counts.append((int((target[compared] == says[compared]).sum()), int(compared.sum())))
    return counts


def _label_decisions(
    L: np.ndarray, k: int, label_model: Any, lf_names: Sequence[str] | None
) -> np.ndarray:
    """(n, k) decisions on each label: 1 = it applies, 0 = it does not, -1 = undecided.

    A multilabel label model decides every label (probability >= 0.5); without one, the LF
    votes on each label decide it by majority, and a tie (no vote included) decides nothing.
    """
    if label_model is None:
        applies = np.stack([(L == j).sum(axis=1) for j in range(k)], axis=1)
        against = np.stack([(L == k + j).sum(axis=1) for j in range(k)], axis=1)
        return np.where(applies > against, 1, np.where(against > applies, 0, ABSTAIN))
    votes = _source_votes(L, label_model, lf_names)
    return (np.asarray(label_model.predict_proba(votes)) >= 0.5).astype(int)


def _source_votes(L: np.ndarray, label_model: Any, lf_names: Sequence[str] | None) -> np.ndarray:
    """The votes of a multilabel label model's sources, from the LF columns of ``L``.

    Sources are matched by name when the label model recorded its sources' names and
    ``lf_names`` names the columns, else by position. Sources that are none of the columns
    (the label columns of the training data, which follow the LFs in its label matrix) abstain,
    as they are not part of the monitored data.
    """
    fitted = label_model.lf_names_
    votes = np.full((len(L), label_model.n_sources_), ABSTAIN, dtype=np.int64)
    if fitted and lf_names is not None:
        position = {name: j for j, name in enumerate(lf_names)}
        for source, name in enumerate(fitted):
            if name in position:
                votes[:, source] = L[:, position[name]]
        return votes
    width = min(L.shape[1], label_model.n_sources_)
    votes[:, :width] = L[:, :width]
    return votes


def _label_votes(L: np.ndarray, k: int) -> np.ndarray:
    """(n, k): whether some LF votes on each label of each row (``j`` or ``k + j``)."""
    return np.stack([((L == j) | (L == k + j)).any(axis=1) for j in range(k)], axis=1)


def lf_drift(
    L_reference: Any,
    L_current: Any,
    *,
    lf_names: Sequence[str],
    label_model: Any = None,
    thresholds: DriftThresholds | None = None,
    multilabel_classes: Sequence[str] | None = None,
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
        A :class:`~gristmill.labelmodel.BinaryRelevanceLabelModel` (a multilabel task, whose
        votes are ``j`` or ``k + j``) decides each label by ``predict_proba(L) >= 0.5``; it
        gets its sources by name when it recorded their names (``lf_names_``), and those that
        are none of ``lf_names`` abstain.
    thresholds : DriftThresholds, optional
    multilabel_classes : sequence of str, optional
        The labels of a multilabel task, whose LFs vote ``j`` or ``k + j``: without a label
        model, each label is then decided by the majority of the LF votes on it. Taken from a
        multilabel label model when omitted.

    Returns
    -------
    list of LFDrift

    Raises
    ------
    ValueError
        When the matrices and ``lf_names`` disagree on the number of LFs, or
        ``multilabel_classes`` are not the label model's labels.

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
    labels = _labels_of(label_model, multilabel_classes)
    k = None if labels is None else len(labels)
    agreement_ref = _lf_agreement(ref, label_model, k, lf_names)
    agreement_cur = _lf_agreement(cur, label_model, k, lf_names)
    n_tests = 2 * len(lf_names)
    result = []
    for j, name in enumerate(lf_names):
        cov_ref, cov_cur = int((ref[:, j] != ABSTAIN).sum()), int((cur[:, j] != ABSTAIN).sum())
        cov_p, cov_changed = _changed(cov_ref, len(ref), cov_cur, len(cur), thresholds, n_tests)
        agree_ref, n_agree_ref = agreement_ref[j]
        agree_cur, n_agree_cur = agreement_cur[j]
        agree_p, agree_changed = _changed(
            agree_ref, n_agree_ref, agree_cur, n_agree_cur, thresholds, n_tests
        )
        result.append(
            LFDrift(
                name=str(name),
                coverage_reference=_share(cov_ref, len(ref)),
                coverage_current=_share(cov_cur, len(cur)),
                coverage_p_value=cov_p,
                agreement_reference=_share(agree_ref, n_agree_ref),
                agreement_current=_share(agree_cur, n_agree_cur),
                agreement_p_value=agree_p,
                drifted=cov_changed or agree_changed,
            )
        )
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
    lf_names: Sequence[str] | None = None,
    multilabel_classes: Sequence[str] | None = None,
) -> AgreementDrift:
    """Agreement of the label model with the served model's predictions, reference vs current.

    Parameters
    ----------
    L_reference, L_current : label matrix
    served_reference, served_current : sequence of int, or (n, k) array
        The served model's predicted class indices on the same rows; for a multilabel task,
        the served label sets as (n, k) indicators (1 = the label applies, 0 = it does not,
        -1 = unknown), counted on the (row, label) pairs some LF votes on.
    label_model : fitted label model, optional
        Majority vote of the LFs when omitted (per label for a multilabel task).
    thresholds : DriftThresholds, optional
        Drift when the current agreement is at least ``lf_change`` lower and the drop is
        significant at ``p_value``, on at least ``min_rows`` covered rows each side.
    lf_names : sequence of str, optional
        Name of each LF column, by which a multilabel label model that recorded the names of
        its sources gets them (by position otherwise).
    multilabel_classes : sequence of str, optional
        The labels of a multilabel task (see :func:`lf_drift`); taken from a multilabel label
        model when omitted.

    Returns
    -------
    AgreementDrift

    Raises
    ------
    ValueError
        When the task is multilabel and the served predictions are not (n, k) label indicators
        of the label matrices' rows, or it is not and they are not one class per row, or
        ``multilabel_classes`` are not the label model's labels.
    """
    thresholds = thresholds or DriftThresholds()
    ref, cur = as_label_array(L_reference), as_label_array(L_current)
    labels = _labels_of(label_model, multilabel_classes)
    k = None if labels is None else len(labels)
    agree_ref, compared_ref = _served_agreement(
        ref, np.asarray(served_reference), label_model, k, lf_names, "reference"
    )
    agree_cur, compared_cur = _served_agreement(
        cur, np.asarray(served_current), label_model, k, lf_names, "current"
    )
    k_ref, n_ref = int(agree_ref.sum()), int(compared_ref.sum())
    k_cur, n_cur = int(agree_cur.sum()), int(compared_cur.sum())
    p, changed = _changed(k_ref, n_ref, k_cur, n_cur, thresholds)
    dropped = changed and _share(k_cur, n_cur) < _share(k_ref, n_ref)
    per_label = {
        label: {
            "reference": _share(int(agree_ref[j]), int(compared_ref[j])),
            "current": _share(int(agree_cur[j]), int(compared_cur[j])),
            "n_reference": int(compared_ref[j]),
            "n_current": int(compared_cur[j]),
        }
        for j, label in enumerate(labels or [])
    }
    return AgreementDrift(
        _share(k_ref, n_ref), _share(k_cur, n_cur), n_ref, n_cur, p, dropped, per_label
    )


def _served_agreement(
    L: np.ndarray,
    served: np.ndarray,
    label_model: Any,
    k: int | None,
    lf_names: Sequence[str] | None,
    which: str,
) -> tuple[np.ndarray, np.ndarray]:
    """How many served predictions agree with the label model, of how many compared: in all
    for a single-label task (arrays of one), per label for a multilabel one."""
    if k is None:
        if served.shape != (len(L),):
            sets = " (label sets need multilabel_classes or a multilabel label model)"
            raise ParameterError(
                f"model_agreement needs the served class of each of the {len(L)} {which} rows; "
                f"got an array of shape {served.shape}" + (sets if served.ndim == 2 else "")
            )
        agree, compared = _agreement_counts(served, _targets(L, label_model))
        return np.array([agree]), np.array([compared])
    if served.shape != (len(L), k):
        raise ParameterError(
            f"model_agreement of a multilabel task needs the served label sets of the "
            f"{which} rows as ({len(L)}, {k}) indicators of its {k} labels; got an array of "
            f"shape {served.shape}"
        )
    target = np.where(_label_votes(L, k), _label_decisions(L, k, label_model, lf_names), ABSTAIN)
    both = (served != ABSTAIN) & (target != ABSTAIN)
    return ((served == target) & both).sum(axis=0), both.sum(axis=0)
