"""Porting a Snorkel notebook: Snorkel's calls and habits get errors that say the gristmill way."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from gristmill.exceptions import LFError, ParameterError
from gristmill.labeling import (
    ABSTAIN,
    LabelingFunction,
    LabelMatrix,
    LFFailureWarning,
    apply_lfs,
    labeling_function,
    lf_summary,
    preprocessor,
)
from gristmill.labelmodel import MajorityVote

SPAM, HAM = 1, 0
FRAME = pd.DataFrame({"text": ["check out my channel", "great song", "subscribe now"]})


@labeling_function()
def check_out(x):
    return SPAM if "check" in x.text else ABSTAIN


@labeling_function()
def song(x):
    return HAM if "song" in x.text else ABSTAIN


LFS = [check_out, song]


def test_apply_lfs_refuses_snorkel_applier_keywords_saying_the_gristmill_way() -> None:
    with pytest.raises(ParameterError, match=r"'df'.*apply_lfs\(lfs, df\)"):
        apply_lfs(LFS, df=FRAME)
    with pytest.raises(ParameterError, match="'progress_bar'.*progress="):
        apply_lfs(LFS, FRAME, progress_bar=False)
    with pytest.raises(ParameterError, match="'fault_tolerant'.*on_error=\"abstain\""):
        apply_lfs(LFS, FRAME, fault_tolerant=True)
    with pytest.raises(ParameterError, match="'return_meta'.*failures"):
        apply_lfs(LFS, FRAME, return_meta=True)


def test_lf_failure_warning_points_at_the_apply_lfs_call() -> None:
    failing = labeling_function(name="failing")(lambda x: 1 // 0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        apply_lfs([failing], FRAME, on_error="abstain")
    assert [w.filename for w in caught if w.category is LFFailureWarning] == [__file__]


def test_lf_summary_refuses_snorkel_keywords_saying_the_gristmill_way() -> None:
    L = apply_lfs(LFS, FRAME)
    with pytest.raises(ParameterError, match="'Y'.*y=Y"):
        lf_summary(L, Y=[1, 0, 1])
    model = MajorityVote().fit(L)
    with pytest.raises(ParameterError, match="'est_weights'.*label_model="):
        lf_summary(L, est_weights=model.lf_accuracies_)
    assert "Est. Acc." in lf_summary(L, y=[1, 0, 1], label_model=model)


def test_lf_summary_given_the_lfs_as_in_lfanalysis_says_where_names_come_from() -> None:
    votes = apply_lfs(LFS, FRAME).values
    with pytest.raises(ParameterError, match=r"not labeling functions.*LabelMatrix\(L, \["):
        lf_summary(votes, LFS)
    named = lf_summary(LabelMatrix(votes, [lf.name for lf in LFS]))
    assert list(named.index) == ["check_out", "song"]


def test_preprocessor_refuses_snorkel_memoize_saying_why() -> None:
    with pytest.raises(ParameterError, match="'memoize'.*once per row"):
        preprocessor(memoize=True)


def test_pre_none_is_no_preprocessor_as_in_snorkel() -> None:
    lf = labeling_function(pre=None)(lambda x: SPAM)
    direct = LabelingFunction("direct", lambda x: HAM, pre=None)
    assert lf.pre == direct.pre == ()
    assert apply_lfs([lf, direct], FRAME).values.tolist() == [[SPAM, HAM]] * 3


def test_pre_given_one_preprocessor_asks_for_a_list() -> None:
    words = preprocessor()(lambda x: {"words": x.text.split()})
    with pytest.raises(LFError, match=r"pre takes a list of preprocessors; write pre=\[<lambda>\]"):
        labeling_function(pre=words)(lambda x: SPAM)


def test_a_label_matrix_compared_with_a_vote_is_refused_not_a_single_bool() -> None:
    L = apply_lfs(LFS, FRAME)
    with pytest.raises(TypeError, match=r"L\.values != -1"):
        _ = L != ABSTAIN
    with pytest.raises(TypeError, match=r"L\.values == 1"):
        _ = L == np.int8(SPAM)
    with pytest.raises(TypeError, match=r"L\.values == array"):
        _ = L == L.values
    assert L == LabelMatrix(L.values, L.lf_names)
    assert L != LabelMatrix(L.values, ["a", "b"])
    assert L != "L" and L is not None


def test_indexing_a_label_matrix_says_how() -> None:
    L = apply_lfs(LFS, FRAME)
    with pytest.raises(TypeError, match=r"L\.values\[\.\.\.\].*L\.column\(name\)"):
        L[:, 0]
    assert L.values[:, 0].tolist() == L.column("check_out").tolist() == [SPAM, -1, -1]
