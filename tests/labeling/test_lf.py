"""Labeling functions and preprocessors: the decorator, both kinds, pre and resources."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import gristmill
from gristmill import ABSTAIN, LabelingFunction, LFError, labeling_function, preprocessor
from gristmill.labeling import Row


def test_row_lf_decorator_defaults_and_call() -> None:
    @labeling_function()
    def mentions_link(x):
        return 1 if "http" in x.text else ABSTAIN

    assert isinstance(mentions_link, LabelingFunction)
    assert mentions_link.name == "mentions_link"
    assert mentions_link.vectorized is False
    assert mentions_link({"text": "see http://a"}) == 1
    assert mentions_link(pd.Series({"text": "nice"})) == ABSTAIN


def test_name_and_resources_are_passed() -> None:
    @labeling_function(name="kb", resources={"spammers": {"bot1"}})
    def known_spammer(x, spammers):
        return 1 if x.author in spammers else -1

    assert known_spammer.name == "kb"
    assert known_spammer({"author": "bot1"}) == 1
    assert known_spammer({"author": "fan"}) == -1


def test_vectorized_lf_returns_compact_array() -> None:
    @labeling_function(vectorized=True)
    def long_text(frame):
        return np.where(frame["text"].str.len() > 3, 0, -1)

    votes = long_text(pd.DataFrame({"text": ["ab", "abcdef"]}))
    assert votes.tolist() == [-1, 0]
    assert votes.dtype == np.int8


def test_preprocessor_fields_are_visible_and_input_unchanged() -> None:
    @preprocessor()
    def words(x):
        return {"n_words": len(x.text.split())}

    @labeling_function(pre=[words])
    def short(x):
        return 0 if x.n_words < 3 else -1

    row = Row(text="so good")
    assert short(row) == 0
    assert "n_words" not in row
    assert words(row)["n_words"] == 2


def test_snorkel_style_preprocessor_returning_the_row() -> None:
    @preprocessor()
    def lower(x):
        x.low = x.text.lower()
        return x

    @labeling_function(pre=[lower])
    def shouts_buy(x):
        return 1 if "buy" in x.low else -1

    assert shouts_buy({"text": "BUY NOW"}) == 1


def test_vectorized_preprocessor() -> None:
    @preprocessor(vectorized=True)
    def lengths(frame):
        return {"length": frame["text"].str.len()}

    @labeling_function(vectorized=True, pre=[lengths])
    def long_text(frame):
        return np.where(frame["length"] > 4, 1, -1)

    frame = pd.DataFrame({"text": ["abc", "abcdefg"]})
    assert long_text(frame).tolist() == [-1, 1]
    assert "length" not in frame.columns


def test_preprocessor_kind_must_match() -> None:
    @preprocessor(vectorized=True)
    def frame_pre(frame):
        return {}

    with pytest.raises(LFError, match="must be row too"):
        labeling_function(pre=[frame_pre])(lambda x: -1)
    with pytest.raises(LFError, match="Preprocessor objects"):
        labeling_function(pre=[lambda x: x])(lambda x: -1)


def test_bad_preprocessor_result() -> None:
    @preprocessor()
    def broken(x):
        return 3

    @labeling_function(pre=[broken])
    def uses_it(x):
        return -1

    with pytest.raises(LFError, match="'broken' must return a mapping"):
        uses_it({"text": "a"})


@pytest.mark.parametrize("bad", [None, "1", 1.5, True, -2])
def test_invalid_row_votes_are_rejected(bad: object) -> None:
    lf = LabelingFunction("bad_vote", lambda x: bad)
    with pytest.raises(LFError, match="'bad_vote'"):
        lf({"a": 1})


def test_numpy_integer_votes_are_accepted() -> None:
    lf = LabelingFunction("np_vote", lambda x: np.int64(2))
    assert lf({"a": 1}) == 2


@pytest.mark.parametrize(
    ("votes", "message"),
    [
        ([1], "shape \\(2,\\)"),
        ([True, False], "dtype bool"),
        ([0.5, 1.0], "non-integer"),
        ([-3, 0], "must be >= -1"),
        (["a", "b"], "dtype"),
    ],
)
def test_invalid_vectorized_votes_are_rejected(votes: list[object], message: str) -> None:
    lf = LabelingFunction("vec", lambda frame: np.array(votes), vectorized=True)
    with pytest.raises(LFError, match=message):
        lf(pd.DataFrame({"a": [1, 2]}))


def test_vectorized_lf_needs_a_frame() -> None:
    lf = LabelingFunction("vec", lambda frame: frame, vectorized=True)
    with pytest.raises(LFError, match="takes a DataFrame"):
        lf({"a": 1})


def test_decorator_needs_parentheses_and_callables() -> None:
    with pytest.raises(LFError, match="parentheses"):
        labeling_function(lambda x: -1)  # type: ignore[arg-type]
    with pytest.raises(LFError, match="needs a callable"):
        LabelingFunction("x", 3)  # type: ignore[arg-type]


def test_row_attribute_errors_name_the_columns() -> None:
    with pytest.raises(AttributeError, match="no column 'txt'.*'text'"):
        Row(text="a").txt  # noqa: B018


def test_top_level_reexports() -> None:
    assert gristmill.labeling_function is labeling_function
    assert gristmill.ABSTAIN == -1
