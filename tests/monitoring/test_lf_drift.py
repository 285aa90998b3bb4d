"""LF drift: coverage and label-model agreement, and label-model vs served-model agreement."""

from __future__ import annotations

import numpy as np
import pytest

from gristmill.monitoring import lf_drift, model_agreement

rng = np.random.default_rng(7)


def _votes(n: int, coverage: list[float], accuracy: list[float]) -> tuple[np.ndarray, np.ndarray]:
    y = rng.integers(0, 2, size=n)
    columns = []
    for cov, acc in zip(coverage, accuracy, strict=True):
        vote = np.where(rng.random(n) < acc, y, 1 - y)
        columns.append(np.where(rng.random(n) < cov, vote, -1))
    return np.column_stack(columns), y


class _Oracle:
    """A stand-in fitted label model that knows the truth of each sample (by its size)."""

    def __init__(self, *truths: np.ndarray) -> None:
        self.truths = {len(t): t for t in truths}

    def predict(self, L: np.ndarray) -> np.ndarray:
        return self.truths[len(L)]


def test_unchanged_lfs_do_not_drift() -> None:
    ref, _ = _votes(3000, [0.5, 0.3, 0.2], [0.9, 0.8, 0.7])
    cur, _ = _votes(3000, [0.5, 0.3, 0.2], [0.9, 0.8, 0.7])
    assert [d.drifted for d in lf_drift(ref, cur, lf_names=["a", "b", "c"])] == [False] * 3


def test_coverage_drop_is_flagged() -> None:
    ref, _ = _votes(3000, [0.5, 0.3], [0.9, 0.8])
    cur, _ = _votes(3000, [0.1, 0.3], [0.9, 0.8])
    first, second = lf_drift(ref, cur, lf_names=["a", "b"])
    assert first.drifted and first.coverage_change == pytest.approx(-0.4, abs=0.05)
    assert not second.drifted


def test_agreement_drop_with_a_label_model_is_flagged() -> None:
    ref, y_ref = _votes(2000, [0.6, 0.6], [0.9, 0.9])
    cur, y_cur = _votes(1500, [0.6, 0.6], [0.9, 0.55])
    kept, decayed = lf_drift(ref, cur, lf_names=["a", "b"], label_model=_Oracle(y_ref, y_cur))
    assert not kept.drifted
    assert decayed.drifted
    assert decayed.agreement_reference == pytest.approx(0.9, abs=0.03)
    assert decayed.agreement_current == pytest.approx(0.55, abs=0.04)
    assert decayed.coverage_current == pytest.approx(decayed.coverage_reference, abs=0.05)


def test_model_agreement_estimates_accuracy_without_labels() -> None:
    L_ref, y_ref = _votes(2000, [0.9, 0.9, 0.9], [0.9, 0.9, 0.9])
    L_cur, y_cur = _votes(2000, [0.9, 0.9, 0.9], [0.9, 0.9, 0.9])
    served_ref = np.where(rng.random(2000) < 0.9, y_ref, 1 - y_ref)  # 90 % accurate
    served_cur = np.where(rng.random(2000) < 0.6, y_cur, 1 - y_cur)  # decayed to 60 %
    result = model_agreement(L_ref, served_ref, L_cur, served_cur)
    assert result.drifted
    assert result.reference > result.current + 0.2
    steady = model_agreement(L_ref, served_ref, L_ref, served_ref)
    assert not steady.drifted and steady.estimated_accuracy == pytest.approx(steady.reference)


def test_mismatched_lf_counts_raise() -> None:
    with pytest.raises(ValueError, match="same LFs"):
        lf_drift(np.zeros((3, 2)), np.zeros((3, 3)), lf_names=["a", "b"])


def test_too_few_rows_never_drift() -> None:
    # One current row that every LF covers: a certain change of coverage, but no evidence.
    ref = np.array([[0, -1], [-1, -1], [-1, 1], [-1, -1]] * 100)
    one = np.array([[0, 1]])
    assert not any(d.drifted for d in lf_drift(ref, one, lf_names=["a", "b"]))
    assert lf_drift(ref, np.repeat(one, 30, axis=0), lf_names=["a", "b"])[0].drifted
    # Small counts use Fisher's exact test: a coverage of 3 in 30 vs 10 in 400 is no significant
    # change at 0.05 / 2 (the z-test's p = 0.021 would call it one).
    votes = [[0]] * 10 + [[-1]] * 390
    drift = lf_drift(np.array(votes), np.array([[0]] * 3 + [[-1]] * 27), lf_names=["a"])[0]
    assert drift.coverage_p_value == pytest.approx(0.0545, abs=1e-3) and not drift.drifted
