"""LF drift and model agreement of a multilabel task, with its binary-relevance label model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from gristmill.exceptions import ParameterError
from gristmill.labeling import ABSTAIN, labeling_function
from gristmill.labelmodel import BinaryRelevanceLabelModel
from gristmill.monitoring import lf_drift, model_agreement, monitor

CLASSES = ["music", "money"]
K = len(CLASSES)


def _tagged(n: int, seed: int, *, short_accuracy: float = 0.9) -> tuple[np.ndarray, np.ndarray]:
    """Gold label sets (n, 2) and the votes of three LFs and a crowd column voting on them.

    ``song`` says "music" applies on 60 % of the music rows; ``cash`` says "money" applies on
    60 % of the money rows; ``short`` says "music" does not apply on half the rows, right with
    probability ``short_accuracy``. The crowd column (the last) answers every label of a third
    of the rows, rightly.
    """
    rng = np.random.default_rng(seed)
    y = (rng.random((n, K)) < 0.4).astype(int)
    song = np.where((y[:, 0] == 1) & (rng.random(n) < 0.6), 0, ABSTAIN)
    cash = np.where((y[:, 1] == 1) & (rng.random(n) < 0.6), 1, ABSTAIN)
    asked = rng.random(n) < 0.5
    right = rng.random(n) < short_accuracy
    short = np.where(asked & (right == (y[:, 0] == 0)), K + 0, ABSTAIN)
    crowd = np.where(rng.random(n) < 0.33, 0, ABSTAIN)  # one column per label, as the pipeline
    crowd_music = np.where(crowd == 0, np.where(y[:, 0] == 1, 0, K + 0), ABSTAIN)
    crowd_money = np.where(crowd == 0, np.where(y[:, 1] == 1, 1, K + 1), ABSTAIN)
    return np.column_stack([song, cash, short, crowd_music, crowd_money]), y


@pytest.fixture(scope="module")
def label_model() -> BinaryRelevanceLabelModel:
    L, _ = _tagged(2000, 0)
    return BinaryRelevanceLabelModel(CLASSES).fit(L)


def test_lf_agreement_is_counted_per_label_with_the_label_models_decisions(
    label_model: BinaryRelevanceLabelModel,
) -> None:
    L_ref, _ = _tagged(2000, 1)
    L_cur, _ = _tagged(2000, 2, short_accuracy=0.5)
    names = ["song", "cash", "short", "crowd:music", "crowd:money"]
    drift = {d.name: d for d in lf_drift(L_ref, L_cur, lf_names=names, label_model=label_model)}
    assert not drift["song"].drifted and not drift["cash"].drifted
    # "short" is right 90 % of the time on the reference, a coin flip now: its "music does not
    # apply" votes meet the label model's "music applies" decisions on the rows "song" covers.
    assert drift["short"].drifted
    assert drift["short"].agreement_current < drift["short"].agreement_reference - 0.1
    # A vote for a label agrees when the label model decides that label the same way.
    proba = label_model.predict_proba(L_ref)
    song = L_ref[:, 0] == 0
    assert drift["song"].agreement_reference == pytest.approx((proba[song, 0] >= 0.5).mean())
    shorted = L_ref[:, 2] == K
    assert drift["short"].agreement_reference == pytest.approx((proba[shorted, 0] < 0.5).mean())


def test_sources_the_monitored_lfs_lack_abstain(label_model: BinaryRelevanceLabelModel) -> None:
    # The monitor runs the LFs only: the crowd columns the label model also read are not there.
    L_ref, _ = _tagged(500, 3)
    lfs_only = L_ref[:, :3]
    drift = lf_drift(
        lfs_only, lfs_only, lf_names=["song", "cash", "short"], label_model=label_model
    )
    padded = np.hstack([lfs_only, np.full((len(lfs_only), 2), ABSTAIN)])
    proba = label_model.predict_proba(padded)
    song = lfs_only[:, 0] == 0
    assert drift[0].agreement_reference == pytest.approx((proba[song, 0] >= 0.5).mean())


def test_model_agreement_compares_served_label_sets_where_lfs_vote(
    label_model: BinaryRelevanceLabelModel,
) -> None:
    rng = np.random.default_rng(4)
    L_ref, y_ref = _tagged(2000, 5)
    L_cur, y_cur = _tagged(2000, 6)
    served_ref = np.where(rng.random(y_ref.shape) < 0.95, y_ref, 1 - y_ref)
    served_cur = np.where(rng.random(y_cur.shape) < 0.6, y_cur, 1 - y_cur)  # decayed
    result = model_agreement(L_ref, served_ref, L_cur, served_cur, label_model=label_model)
    assert result.drifted
    assert result.reference > 0.85 and result.current < 0.7
    # counted over the (row, label) pairs some source votes on
    voted = np.stack([((L_ref == j) | (L_ref == K + j)).any(axis=1) for j in range(K)], axis=1)
    assert result.n_reference == int(voted.sum())
    unknown = served_ref.copy()
    unknown[:100] = ABSTAIN  # a served set not known: those pairs are not compared
    fewer = model_agreement(L_ref, unknown, L_ref, unknown, label_model=label_model)
    assert fewer.n_reference == int(voted[100:].sum())


def test_model_agreement_of_a_multilabel_model_needs_label_indicators(
    label_model: BinaryRelevanceLabelModel,
) -> None:
    L, _ = _tagged(50, 7)
    with pytest.raises(
        ParameterError,
        match=r"needs the served label sets of the reference rows "
        r"as \(50, 2\) indicators .*shape \(50,\)",
    ):
        model_agreement(L, np.zeros(50, dtype=int), L, np.zeros((50, K)), label_model=label_model)


@labeling_function()
def says_song(x: pd.Series) -> int:
    return 0 if "song" in x.text else ABSTAIN


@labeling_function()
def says_cash(x: pd.Series) -> int:
    return 1 if "cash" in x.text else ABSTAIN


def test_monitor_gives_lf_drift_with_a_multilabel_label_model() -> None:
    L = np.array([[0, -1], [-1, 1], [0, 1], [-1, -1], [0, K + 1], [K + 0, 1]] * 20)
    fitted = BinaryRelevanceLabelModel(CLASSES).fit(L)
    texts = ["a song", "cash now", "song for cash", "hello", "a song", "cash"]
    frame = pd.DataFrame({"text": texts * 20})
    result = monitor(current=frame, reference=frame, lfs=[says_song, says_cash], label_model=fitted)
    assert [d.name for d in result.lfs] == ["says_song", "says_cash"]
    assert [d.agreement_current for d in result.lfs] == [1.0, 1.0]
    assert not result.drifted
