"""LF drift and model agreement of a multilabel task, with its binary-relevance label model."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from gristmill.exceptions import ParameterError
from gristmill.labeling import ABSTAIN, LabelMatrix, labeling_function
from gristmill.labelmodel import BinaryRelevanceLabelModel, MajorityVote
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


def _undecided_and_decided() -> np.ndarray:
    """Votes of ``song`` (+music), ``cash`` (+money) and ``no_music`` (-music), 120 rows.

    Per label, the majority of the votes: row 0 carries music and money; on row 1 the music
    votes tie; row 2 carries money and not music; on row 3 music ties and money applies.
    """
    return np.array([[0, 1, -1], [0, -1, K + 0], [-1, 1, K + 0], [0, 1, K + 0]] * 30)


def test_without_a_label_model_each_label_is_decided_by_the_majority_of_its_votes() -> None:
    L = _undecided_and_decided()
    names = ["song", "cash", "no_music"]
    drift = {d.name: d for d in lf_drift(L, L, lf_names=names, multilabel_classes=CLASSES)}
    # votes on different labels do not compete; a tie on a label decides it neither way
    assert drift["song"].agreement_reference == 1.0  # rows 0 (music applies), not 1 and 3 (ties)
    assert drift["cash"].agreement_reference == 1.0
    assert drift["no_music"].agreement_reference == 1.0  # row 2 only
    flipped = L.copy()
    flipped[2::4, 2] = -1  # no_music stops voting on row 2 ...
    flipped[0::4, 2] = K + 0  # ... and contradicts song on row 0 (a tie now)
    flipped = np.vstack([flipped, np.tile([[-1, -1, K + 0], [0, 0, K + 0]], (30, 1))])
    current = {d.name: d for d in lf_drift(L, flipped, lf_names=names, multilabel_classes=CLASSES)}
    # row 4: no_music alone says "no music" (agrees); row 5: two votes for music outvote it
    assert current["no_music"].agreement_current == pytest.approx(0.5)
    assert current["song"].agreement_current == 1.0


def test_without_a_label_model_served_label_sets_meet_the_lfs_majority_per_label() -> None:
    L = _undecided_and_decided()
    truth = np.tile([[1, 1], [1, 0], [0, 1], [1, 1]], (30, 1))
    decayed = truth.copy()
    decayed[3::4, 1] = 0  # the served model now misses "money" on row 3
    result = model_agreement(L, truth, L, decayed, multilabel_classes=CLASSES)
    # compared: both labels of rows 0 and 2, money on row 3 (row 1 ties on music, and no LF
    # votes on its money)
    assert result.n_reference == result.n_current == 30 * 5
    assert result.reference == 1.0
    assert result.current == pytest.approx(4 / 5)
    # label by label: the served model still gets music right, and money wrong on a third
    assert result.labels == {
        "music": {"reference": 1.0, "current": 1.0, "n_reference": 60, "n_current": 60},
        "money": {"reference": 1.0, "current": 2 / 3, "n_reference": 90, "n_current": 90},
    }
    with pytest.raises(ParameterError, match=r"120 reference rows; .*\(120, 2\) \(label sets need"):
        model_agreement(L, truth, L, truth)
    with pytest.raises(ParameterError, match=r"\['music', 'money'\] are not the labels"):
        model_agreement(L, truth, L, truth, multilabel_classes=CLASSES, label_model=MajorityVote())


def _served_tags(frame: pd.DataFrame) -> pd.DataFrame:
    """A served multilabel model: music when a song is named, money when cash is."""
    sets = [
        "|".join(t for t, w in (("music", "song"), ("money", "cash")) if w in text)
        for text in frame["text"]
    ]
    return pd.DataFrame({"prediction": sets})


@labeling_function()
def short_is_no_music(x: pd.Series) -> int:
    return K + 0 if len(x.text.split()) <= 2 and "song" not in x.text else ABSTAIN


def _tags_model(label_model: object) -> SimpleNamespace:
    """A served multilabel model (labels joined by "|") and its bundle's parts."""
    texts = ["a song", "cash now", "a song for cash", "hello there", "a song about cash", "ok"]
    return SimpleNamespace(
        name="tags",
        version="1",
        predict=_served_tags,
        classes=CLASSES,
        payload_columns=["text"],
        reference=pd.DataFrame({"text": texts * 20}),
        lfs=[says_song, says_cash, short_is_no_music],
        label_model=label_model,
        tasks=[{"name": "tags", "delimiter": "|"}],
        task=None,
    )


def test_monitor_of_a_multilabel_model_without_a_label_model_decides_label_by_label() -> None:
    model = _tags_model(None)
    current = pd.DataFrame({"text": ["a song", "cash", "a song for cash", "no"] * 30})
    result = monitor(model, current=current)
    assert [d.agreement_current for d in result.lfs] == [1.0, 1.0, 1.0]
    assert result.agreement is not None
    # (row, label) pairs some LF votes on: music of every row, money of rows 1 and 2
    assert result.agreement.n_current == 30 * 6
    assert result.agreement.estimated_accuracy == 1.0
    assert result.agreement.labels["money"]["n_current"] == 30 * 2
    metrics = result.metrics()
    assert metrics["estimated_accuracy.music"] == metrics["estimated_accuracy.money"] == 1.0


def test_monitor_gives_a_multilabel_label_model_its_sources_by_name() -> None:
    # fit on the LFs in another order than the bundle lists them, and on a crowd column the
    # monitored data lacks
    rng = np.random.default_rng(11)
    y = (rng.random((300, K)) < 0.5).astype(int)
    cash = np.where(y[:, 1] == 1, 1, ABSTAIN)
    song = np.where(y[:, 0] == 1, 0, ABSTAIN)
    short = np.where((y[:, 0] == 0) & (rng.random(300) < 0.5), K + 0, ABSTAIN)
    crowd = np.where(rng.random(300) < 0.5, np.where(y[:, 0] == 1, 0, K + 0), ABSTAIN)
    names = ["says_cash", "short_is_no_music", "says_song", "column:crowd:music"]
    fitted = BinaryRelevanceLabelModel(CLASSES).fit(
        LabelMatrix(np.column_stack([cash, short, song, crowd]), names)
    )
    model = _tags_model(fitted)
    result = monitor(model, current=model.reference)
    assert any("abstain in LF agreement: column:crowd:music" in note for note in result.notes)
    assert not any("majority vote" in note for note in result.notes), result.notes
    rows = [row for _, row in model.reference.iterrows()]
    votes = np.array(
        [[lf(row) for lf in (says_cash, short_is_no_music, says_song)] for row in rows]
    )
    with_crowd = np.column_stack([votes, np.full(len(votes), ABSTAIN)])
    decided = fitted.predict_proba(LabelMatrix(with_crowd, names)) >= 0.5
    drift = {d.name: d for d in result.lfs}
    song_rows, short_rows = votes[:, 2] == 0, votes[:, 1] == K
    assert drift["says_song"].agreement_reference == pytest.approx(decided[song_rows, 0].mean())
    assert drift["short_is_no_music"].agreement_reference == pytest.approx(
        (~decided[short_rows, 0]).mean()
    )
